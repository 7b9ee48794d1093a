"""The kernel's gRPC bootstrap, served by a real process on a loopback port with a test
servicer behind the classify contract (no model involved), requiring gateway assertions
as every service does; the keys are a real gateway key pair in a temporary directory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from zhijian import identity
from zhijian import metadata as md
from zhijian.assertion import (
    DOMAIN_CEILINGS,
    AssertionSigner,
    assertion_key_path,
    assertion_metadata,
)
from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.classify.v1 import classify_service_pb2_grpc
from zhijian.errors import parse_error
from zhijian.supervisor import free_port

SERVICER = textwrap.dedent("""
    import asyncio, json, os
    from zhijian.assertion import AssertionVerifier
    from zhijian.classify.v1 import classify_service_pb2 as pb
    from zhijian.config import ServerSettings
    from zhijian.errors import invalid_field
    from zhijian.server import Service, serve

    class TestServicer:
        async def Classify(self, request, call):
            if request.text == "boom":
                raise RuntimeError("secret detail that must not reach the caller")
            if request.text == "bad":
                raise invalid_field("text", "is bad", reason="TEXT_BAD")
            if request.text.startswith("sleep:"):
                await asyncio.sleep(float(request.text[6:]))
            if request.text == "whoami":
                caller = call.caller
                call.set_trailer("x-test-caller", json.dumps({
                    "subject": caller.subject, "roles": sorted(caller.roles),
                    "clearance": caller.clearance, "domain": caller.domain,
                    "ceiling": caller.ceiling, "ceiling_level": caller.ceiling_level,
                    "request_id": caller.request_id, "issuer": caller.issuer}))
            call.set_trailer("x-zhijian-model-version", "test/1")
            return pb.ClassifyResponse()

        async def ClassifyBatch(self, request, call):
            return pb.ClassifyBatchResponse()

        async def ReviewResult(self, request, call):
            raise NotImplementedError

    settings = ServerSettings.from_env("test", default_port=0, default_metrics_port=0)
    service = Service(pb.DESCRIPTOR.services_by_name["ClassifyService"], TestServicer())
    asyncio.run(serve(settings, [service], assertions=AssertionVerifier.from_env()))
""")


@pytest.fixture()
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture()
def gateways(keys_dir: Path) -> dict[str, AssertionSigner]:
    """Each domain's gateway signing key; the server reads only the public keys published
    beside them."""
    return {domain: AssertionSigner.load_or_create(keys_dir, issuer=f"svc:gateway-{domain}")
            for domain in DOMAIN_CEILINGS}


@pytest.fixture()
def gateway(gateways: dict[str, AssertionSigner]) -> AssertionSigner:
    return gateways["intranet"]


def vouched(gateway: AssertionSigner, request_id: str | None = None,
            **claims: str) -> tuple[tuple[str, str], ...]:
    return assertion_metadata(gateway, subject=claims.get("subject", "user:zhang.san"),
                              roles=("business_system",), request_id=request_id,
                              clearance=claims.get("clearance", "L3"),
                              domain=claims.get("domain"),
                              audience=claims.get("audience",
                                                  "zhijian.classify.v1.ClassifyService"))


@pytest.fixture()
def server(tmp_path: Path, keys_dir: Path, gateway: AssertionSigner,
           ) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    script = tmp_path / "server.py"
    script.write_text(SERVICER)
    port = free_port()
    env = {"ZHIJIAN_TEST_GRPC_PORT": str(port), "ZHIJIAN_TEST_METRICS_PORT": "0",
           "ZHIJIAN_KEYS_DIR": str(keys_dir),
           "ZHIJIAN_DEFAULT_DEADLINE_S": "1.0", "ZHIJIAN_SHUTDOWN_GRACE_S": "5",
           "ZHIJIAN_MAX_MESSAGE_BYTES": "65536"}
    process = subprocess.Popen([sys.executable, str(script)], env={**_base_env(), **env},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(process.stdout.read().decode() if process.stdout else "")
            time.sleep(0.1)
    yield process, target
    if process.poll() is None:
        process.kill()
    process.wait()


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("ZHIJIAN_", "OTEL_"))}


def stub(target: str) -> classify_service_pb2_grpc.ClassifyServiceStub:
    return classify_service_pb2_grpc.ClassifyServiceStub(grpc.insecure_channel(target))


def test_unexpected_errors_are_internal_without_details_but_with_a_request_id(server, gateway):
    _, target = server
    with pytest.raises(grpc.RpcError) as failure:
        stub(target).Classify(pb.ClassifyRequest(text="boom"), timeout=5,
                              metadata=vouched(gateway, "req-42"))
    assert failure.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in failure.value.details() and "req-42" in failure.value.details()
    assert ("x-zhijian-request-id", "req-42") in failure.value.trailing_metadata()


def test_domain_errors_carry_google_rpc_details(server, gateway):
    _, target = server
    with pytest.raises(grpc.RpcError) as failure:
        stub(target).Classify(pb.ClassifyRequest(text="bad"), timeout=5,
                              metadata=vouched(gateway))
    status = rpc_status.from_call(failure.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "TEXT_BAD"


def test_trailers_and_request_ids_come_back(server, gateway):
    _, target = server
    metadata = vouched(gateway)
    _, call = stub(target).Classify.with_call(pb.ClassifyRequest(text="ok"), timeout=5,
                                              metadata=metadata)
    trailers = dict(call.trailing_metadata())
    assert trailers["x-zhijian-model-version"] == "test/1"
    assert trailers["x-zhijian-request-id"] == dict(metadata)[md.REQUEST_ID]


def test_the_handler_sees_the_asserted_caller(server, gateways):
    _, target = server
    metadata = vouched(gateways["extranet"], subject="user:li.si", clearance="L4",
                       domain="extranet")
    _, call = stub(target).Classify.with_call(pb.ClassifyRequest(text="whoami"), timeout=5,
                                              metadata=metadata)
    caller = json.loads(dict(call.trailing_metadata())["x-test-caller"])
    assert caller == {"subject": "user:li.si", "roles": ["business_system"],
                      "clearance": "L4", "domain": "extranet",
                      # min(extranet ceiling L3, clearance L4)
                      "ceiling": "L3", "ceiling_level": 3,
                      "request_id": dict(metadata)[md.REQUEST_ID],
                      "issuer": "svc:gateway-extranet"}


def refusal(target: str, metadata: tuple[tuple[str, str], ...]) -> tuple[str, str, str]:
    with pytest.raises(grpc.RpcError) as failure:
        stub(target).Classify(pb.ClassifyRequest(text="bad"), timeout=5, metadata=metadata)
    error = parse_error(failure.value)
    return error.code.name, error.reason, error.message


def test_a_call_without_an_assertion_is_refused_before_the_handler(server):
    _, target = server
    # "bad" would be INVALID_ARGUMENT from the handler: the caller learns nothing of it.
    code, reason, _ = refusal(target, ((md.REQUEST_ID, "r-1"),))
    assert (code, reason) == ("UNAUTHENTICATED", "ASSERTION_MISSING")
    code, reason, _ = refusal(target, ())
    assert (code, reason) == ("UNAUTHENTICATED", "ASSERTION_MISSING")


def test_an_assertion_of_another_request_is_refused(server, gateway):
    _, target = server
    lifted = dict(vouched(gateway, "request-of-someone-else"))[md.ASSERTION]
    code, reason, _ = refusal(target, ((md.ASSERTION, lifted), (md.REQUEST_ID, "mine")))
    assert (code, reason) == ("UNAUTHENTICATED", "ASSERTION_INVALID")
    # Bound to a request id, so a call must send one.
    code, reason, _ = refusal(target, ((md.ASSERTION, lifted),))
    assert (code, reason) == ("UNAUTHENTICATED", "ASSERTION_INVALID")


def test_an_assertion_for_another_service_is_refused(server, gateway):
    _, target = server
    elsewhere = vouched(gateway, audience="zhijian.registry.v1.RegistryService")
    assert refusal(target, elsewhere)[:2] == ("UNAUTHENTICATED", "ASSERTION_INVALID")


def test_an_expired_assertion_is_refused(server, gateway):
    _, target = server
    token = gateway.mint(subject="user:zhang.san", roles=("business_system",), clearance="L3",
                         domain="intranet", request_id="r-old", now=time.time() - 120,
                         audience="zhijian.classify.v1.ClassifyService")
    code, reason, message = refusal(target, ((md.ASSERTION, token), (md.REQUEST_ID, "r-old")))
    assert (code, reason) == ("UNAUTHENTICATED", "ASSERTION_INVALID")
    assert "expired" in message


def test_an_assertion_signed_by_an_unknown_key_is_refused(server, gateway):
    _, target = server
    impostor = AssertionSigner(Ed25519PrivateKey.generate(), issuer="svc:gateway-intranet",
                               domain="intranet")
    code, reason, _ = refusal(target, vouched(impostor))
    assert (code, reason) == ("UNAUTHENTICATED", "ASSERTION_INVALID")
    # A genuine signature over a payload that was then changed (a wider ceiling, say).
    token = dict(vouched(gateway, "r-1", clearance="L1"))[md.ASSERTION]
    body, _, signature = token.partition(".")
    forged = dict(vouched(gateway, "r-1", clearance="L4"))[md.ASSERTION].partition(".")[0]
    assert forged != body
    code, reason, _ = refusal(target, ((md.ASSERTION, f"{forged}.{signature}"),
                                       (md.REQUEST_ID, "r-1")))
    assert (code, reason) == ("UNAUTHENTICATED", "ASSERTION_INVALID")


def test_an_assertion_claiming_a_domain_its_key_is_not_for_is_refused(server, keys_dir):
    """A compromised internet gateway signs with its own key and claims the intranet."""
    _, target = server
    internet_key = identity.load_private_key(assertion_key_path(keys_dir, "internet"))
    compromised = AssertionSigner(internet_key, issuer="svc:gateway-intranet",
                                  domain="intranet")
    metadata = vouched(compromised, subject="user:li.si", clearance="L4")
    code, reason, _ = refusal(target, metadata)
    assert (code, reason) == ("UNAUTHENTICATED", "ASSERTION_DOMAIN_MISMATCH")
    # Its key still speaks for its own domain.
    _, call = stub(target).Classify.with_call(
        pb.ClassifyRequest(text="whoami"), timeout=5,
        metadata=vouched(AssertionSigner(internet_key, issuer="svc:gateway-internet",
                                         domain="internet")))
    assert json.loads(dict(call.trailing_metadata())["x-test-caller"])["domain"] == "internet"


def test_health_answers_without_an_assertion(server):
    _, target = server
    with grpc.insecure_channel(target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="zhijian.classify.v1.ClassifyService"),
            timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_call_without_deadline_gets_the_server_default(server, gateway):
    _, target = server
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failure:
        stub(target).Classify(pb.ClassifyRequest(text="sleep:5"),  # no client deadline
                              metadata=vouched(gateway))
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 3


def test_oversized_messages_are_refused_by_the_configured_limit(server, gateway):
    _, target = server
    with pytest.raises(grpc.RpcError) as failure:
        stub(target).Classify(pb.ClassifyRequest(text="x" * 70_000), timeout=5,
                              metadata=vouched(gateway))
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_sigterm_drains_calls_in_flight_then_exits(server, gateway):
    process, target = server
    outcome: dict[str, object] = {}

    def slow_call() -> None:
        try:
            stub(target).Classify(pb.ClassifyRequest(text="sleep:0.8"), timeout=5,
                                  metadata=vouched(gateway))
            outcome["ok"] = True
        except grpc.RpcError as error:
            outcome["error"] = error.code()

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    caller.join(10)
    assert outcome == {"ok": True}
    assert process.wait(timeout=10) == 0
    with pytest.raises(grpc.RpcError):
        stub(target).Classify(pb.ClassifyRequest(text="ok"), timeout=1,
                              metadata=vouched(gateway))
