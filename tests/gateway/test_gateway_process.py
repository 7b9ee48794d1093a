"""``python -m gateway`` as a real process, and its configuration.

The process runs with its production parts: the write-ahead call audit shipping to a
registry, the revocation poller, the file policy with hot reload, Prometheus metrics, and
an orderly stop on SIGTERM. The registry it ships to and polls is a small grpc.aio server
in this test with the real registry's AppendCallRecords / ListRevocations contract
(service bearer token, pages) — the real registry needs MLflow and a database, and is
exercised with the gateways in tests/integration/test_gateway.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from gateway_harness import (
    CLASSIFY,
    CLASSIFY_SERVICE,
    REGISTRY_SERVICE,
    BackendServicer,
    Keys,
    LoopThread,
    Registry,
    recorded,
    start_backend,
    start_registry,
)

from gateway import authz
from gateway.settings import GatewaySettings
from zhijian import identity
from zhijian import metadata as md
from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.classify.v1 import classify_service_pb2_grpc as cgrpc
from zhijian.config import ConfigError
from zhijian.errors import parse_error
from zhijian.supervisor import free_port, grpc_serving

REPO = Path(__file__).resolve().parents[2]


# --- configuration --------------------------------------------------------------------------

def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    token = tmp_path / "gateway.jwt"
    token.write_text("x")
    return {"ZHIJIAN_HOME": str(tmp_path), "ZHIJIAN_IDENTITY_TOKEN_FILE": str(token), **extra}


def test_each_domain_has_its_own_default_ports(tmp_path: Path) -> None:
    ports = {}
    for domain in ("internet", "extranet", "intranet"):
        settings = GatewaySettings.from_env(_env(tmp_path, ZHIJIAN_GATEWAY_DOMAIN=domain))
        ports[domain] = (settings.port, settings.metrics_port)
        assert settings.identity == f"svc:gateway-{domain}"
        assert settings.audit_dir == tmp_path.resolve() / "gateway" / domain / "audit"
        assert settings.tls is None and settings.routes == {}
    assert ports == {"internet": (50070, 9470), "extranet": (50071, 9471),
                     "intranet": (50072, 9472)}
    settings = GatewaySettings.from_env(_env(tmp_path, ZHIJIAN_GATEWAY_DOMAIN="internet"))
    assert (settings.rate_per_s, settings.burst, settings.max_message_bytes,
            settings.default_deadline_s, settings.retries) == (200, 400, 4 * 1024 * 1024,
                                                                30, 2)
    assert settings.model_path == authz.DEFAULT_MODEL
    assert settings.policy_path == authz.DEFAULT_POLICY
    assert settings.keys_dir == tmp_path.resolve() / "keys"


def test_routes_are_parsed_and_checked(tmp_path: Path) -> None:
    settings = GatewaySettings.from_env(_env(
        tmp_path, ZHIJIAN_GATEWAY_DOMAIN="extranet",
        ZHIJIAN_GATEWAY_ROUTES=" zhijian.classify.v1.ClassifyService=127.0.0.1:50051 , "
                               "zhijian.registry.v1.RegistryService=registry:50060,"))
    assert dict(settings.routes) == {CLASSIFY_SERVICE: "127.0.0.1:50051",
                                     REGISTRY_SERVICE: "registry:50060"}


@pytest.mark.parametrize("variables, complaint", [
    ({}, "ZHIJIAN_GATEWAY_DOMAIN"),
    ({"ZHIJIAN_GATEWAY_DOMAIN": "dmz"}, "ZHIJIAN_GATEWAY_DOMAIN"),
    ({"ZHIJIAN_GATEWAY_ROUTES": "zhijian.classify.v1.Classify=127.0.0.1:1"}, "unknown service"),
    ({"ZHIJIAN_GATEWAY_ROUTES": "zhijian.classify.v1.ClassifyService"}, "host:port"),
    ({"ZHIJIAN_GATEWAY_ROUTES": "zhijian.classify.v1.ClassifyService=127.0.0.1"}, "host:port"),
    ({"ZHIJIAN_GATEWAY_ROUTES": "zhijian.classify.v1.ClassifyService=h:1,"
                                "zhijian.classify.v1.ClassifyService=h:2"}, "twice"),
    ({"ZHIJIAN_GATEWAY_TLS_CERT": "/etc/hostname"}, "ZHIJIAN_GATEWAY_TLS_KEY"),
    ({"ZHIJIAN_GATEWAY_RATE_PER_S": "0"}, "positive"),
    ({"ZHIJIAN_GATEWAY_RETRIES": "9"}, "0..5"),
    ({"ZHIJIAN_GATEWAY_PORT": "70000"}, "not a port"),
])
def test_bad_configuration_is_refused_at_start(tmp_path: Path, variables: dict[str, str],
                                               complaint: str) -> None:
    env = _env(tmp_path, ZHIJIAN_GATEWAY_DOMAIN="internet") | variables
    if not variables:  # the domain has no default
        del env["ZHIJIAN_GATEWAY_DOMAIN"]
    with pytest.raises(ConfigError, match=complaint):
        GatewaySettings.from_env(env)


def test_the_gateways_identity_token_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ZHIJIAN_IDENTITY_TOKEN_FILE"):
        GatewaySettings.from_env({"ZHIJIAN_HOME": str(tmp_path),
                                  "ZHIJIAN_GATEWAY_DOMAIN": "intranet"})


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("ZHIJIAN_", "OTEL_"))}


def test_a_misconfigured_gateway_exits_with_a_message() -> None:
    done = subprocess.run([sys.executable, "-m", "gateway"], cwd=REPO, env={
        **_base_env(), "ZHIJIAN_GATEWAY_DOMAIN": "everywhere"}, capture_output=True,
        text=True, timeout=60)
    assert done.returncode == 2
    assert "ZHIJIAN_GATEWAY_DOMAIN='everywhere' must be one of" in done.stderr


# --- the process ------------------------------------------------------------------------------

@dataclass
class Running:
    process: subprocess.Popen[bytes]
    target: str
    metrics_url: str
    log: Path
    policy: Path
    registry: Registry
    backend: BackendServicer
    keys: Keys


@pytest.fixture()
def running(tmp_path: Path) -> Iterator[Running]:
    loop = LoopThread()
    # The gateway makes its own domain's assertion key, as when it runs alone.
    keys = Keys(tmp_path / "home", assertion_keys=False)
    backend = BackendServicer()
    backend_server, backend_target = loop.run(start_backend(keys, backend))
    registry = Registry(identity.TokenVerifier.from_settings(keys.settings,
                                                             is_revoked=lambda _: False),
                        revoked=[uuid.uuid4().hex for _ in range(3)])
    registry_server, registry_target = loop.run(start_registry(registry))
    token_file = tmp_path / "gateway-internet.jwt"
    token_file.write_text(keys.token("svc:gateway-internet", ("service",)).token)
    policy = tmp_path / "policy"
    policy.mkdir()
    shutil.copy(authz.DEFAULT_MODEL, policy / "model.conf")
    shutil.copy(authz.DEFAULT_POLICY, policy / "policy.csv")
    port, metrics_port = free_port(), free_port()
    routes = f"{CLASSIFY_SERVICE}={backend_target},{REGISTRY_SERVICE}={backend_target}"
    log = tmp_path / "gateway.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway"], cwd=REPO, stdout=output, stderr=output,
            env={**_base_env(), "ZHIJIAN_HOME": str(keys.home),
                 "ZHIJIAN_GATEWAY_DOMAIN": "internet", "ZHIJIAN_GATEWAY_PORT": str(port),
                 "ZHIJIAN_GATEWAY_METRICS_PORT": str(metrics_port),
                 "ZHIJIAN_GATEWAY_ROUTES": routes, "ZHIJIAN_REGISTRY_TARGET": registry_target,
                 "ZHIJIAN_IDENTITY_TOKEN_FILE": str(token_file),
                 "ZHIJIAN_GATEWAY_POLICY_DIR": str(policy)})
    target = f"127.0.0.1:{port}"
    try:
        _wait_serving(process, target, log)
        yield Running(process, target, f"http://127.0.0.1:{metrics_port}/metrics", log,
                      policy, registry, backend, keys)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        loop.run(backend_server.stop(0))
        loop.run(registry_server.stop(0))
        loop.close()


def _wait_serving(process: subprocess.Popen[bytes], target: str, log: Path) -> None:
    """The supervisor's own readiness probe (gRPC health), until the gateway is SERVING."""
    deadline = time.monotonic() + 60
    while not asyncio.run(grpc_serving(target, 1.0)):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the gateway did not start:\n{log.read_text()}")
        time.sleep(0.05)


def _classify(target: str, token: str, request_id: str, text: str = "一次性使用无菌注射器",
              level: str | None = None) -> cpb.ClassifyResponse:
    metadata = [(md.AUTHORIZATION, f"Bearer {token}"), (md.REQUEST_ID, request_id)]
    if level:
        metadata.append((md.DATA_LEVEL, level))
    with grpc.insecure_channel(target) as channel:
        response: cpb.ClassifyResponse = cgrpc.ClassifyServiceStub(channel).Classify(
            cpb.ClassifyRequest(text=text), metadata=metadata, timeout=10)
        return response


def _eventually(check: object, within_s: float, message: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def test_a_gateway_process_serves_records_follows_revocations_and_policy_and_stops_clean(
        running: Running) -> None:
    marker = "payload-marker-93c1 患者王五"
    business = running.keys.token("user:review-system", ("business_system",), "L2")
    # Signed with the real issuer key, but the registry has no record of it: refused
    # (issue 10). Once the registry records it, its very next call passes: the gateway
    # re-reads the list instead of waiting for its next poll.
    unrecorded = uuid.uuid4().hex
    with pytest.raises(grpc.RpcError) as minted_offline:
        _classify(running.target, business.token, unrecorded)
    assert parse_error(minted_offline.value).reason == "CREDENTIALS_INVALID"
    assert not running.backend.calls(unrecorded)
    running.registry.recorded.append(recorded(business.token))
    answered = uuid.uuid4().hex
    response = _classify(running.target, business.token, answered, text=marker)
    assert response.result.result_id == answered
    [seen] = running.backend.calls(answered)
    assert (seen.assertion.subject, seen.assertion.domain, seen.assertion.ceiling,
            seen.assertion.issuer) == ("user:review-system", "internet", "L1",
                                       "svc:gateway-internet")
    # It made the internet domain's assertion key and no other (issue 10: with one key
    # for all, a compromised internet gateway could vouch for intranet callers).
    assert sorted(path.name for path in running.keys.keys_dir.glob("assertion*")) == [
        "assertion-internet.jwks.json", "assertion-internet.pem"]
    request_ids = [unrecorded, answered]

    # Refused above the internet ceiling, before the backend.
    refused = uuid.uuid4().hex
    with pytest.raises(grpc.RpcError) as caught:
        _classify(running.target, business.token, refused, level="L3")
    assert parse_error(caught.value).reason == "DATA_LEVEL_EXCEEDS_CEILING"
    assert not running.backend.calls(refused)
    request_ids.append(refused)

    # Revoked at the registry: refused within a poll or two, not at the next restart.
    assert running.registry.polls >= 1
    running.registry.revoked.append(business.jti)
    revoked: list[str] = []

    def refused_as_revoked() -> bool:
        request_id = uuid.uuid4().hex
        request_ids.append(request_id)
        try:
            _classify(running.target, business.token, request_id)
        except grpc.RpcError as error:
            revoked.append(request_id)
            return parse_error(error).reason == "CREDENTIALS_REVOKED"
        return False
    _eventually(refused_as_revoked, 6.0, "the revocation never reached the gateway")

    # The policy file changes under a running gateway: business systems lose the
    # internet's Classify without a restart.
    other = running.keys.token("user:other-system", ("business_system",), "L1")
    running.registry.recorded.append(recorded(other.token))
    policy = running.policy / "policy.csv"
    # Classify's allow comes from its service spec; an operator takes it back with a deny.
    text = policy.read_text() + (
        "p, business_system, internet, /zhijian.classify.v1.ClassifyService/Classify, deny\n")
    replacement = running.policy / "policy.csv.new"
    replacement.write_text(text)
    replacement.rename(policy)

    def refused_by_policy() -> bool:
        request_id = uuid.uuid4().hex
        request_ids.append(request_id)
        try:
            _classify(running.target, other.token, request_id)
        except grpc.RpcError as error:
            return parse_error(error).reason == "ROLE_NOT_PERMITTED"
        return False
    _eventually(refused_by_policy, 6.0, "the policy change was not picked up")

    metrics = httpx.get(running.metrics_url, timeout=5, trust_env=False).text
    assert 'zhijian_gateway_requests_total{code="OK",decision="allowed",domain="internet",' \
           f'method="{CLASSIFY}"}}' in metrics
    assert "zhijian_gateway_request_duration_seconds_bucket" in metrics

    # SIGTERM: drain, flush the write-ahead log to the registry, exit 0.
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=30) == 0
    for request_id in request_ids:
        records = running.registry.of(request_id)
        assert len(records) == 1, f"{len(records)} records for {request_id}"
    assert running.registry.of(answered)[0].status_code == 0
    assert running.registry.of(refused)[0].reason == "DATA_LEVEL_EXCEEDS_CEILING"
    assert running.registry.of(revoked[-1])[0].reason == "CREDENTIALS_REVOKED"
    assert running.registry.callers == {"svc:gateway-internet"}

    # Nothing of the payload or the credentials in the log or the write-ahead files.
    leaks = [marker.encode(), business.token.encode(), b"x-zhijian-assertion:"]
    for path in [running.log, *(running.keys.home / "gateway").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert not [leak for leak in leaks if leak in data], f"leak in {path}"
    assert b"gateway for the internet network domain" in running.log.read_bytes()
