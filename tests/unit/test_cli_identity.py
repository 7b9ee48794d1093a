"""``zhijian identity …`` through argparse on a temporary ZHIJIAN_HOME; enrolment and
revocation against an in-process stand-in for the registry that checks tokens and proofs
the way the real one must."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from zhijian.cli.identity import add_identity_commands, issue_identity
from zhijian.cli.output import Output
from zhijian.errors import PermissionDenied, ZhijianError
from zhijian.identity import (
    IdentitySettings,
    IssuerKey,
    LocalIdentity,
    Principal,
    TokenVerifier,
    enrollment_statement,
    key_id_of,
    principal_from_metadata,
    verify_signature,
)
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.registry.v1 import registry_service_pb2_grpc
from zhijian.supervisor import free_port


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ZHIJIAN_HOME", str(tmp_path))
    for name in ("ZHIJIAN_KEYS_DIR", "ZHIJIAN_IDENTITIES_DIR", "ZHIJIAN_AS",
                 "ZHIJIAN_TOKEN_TTL_S", "ZHIJIAN_TOKEN_ISSUER", "ZHIJIAN_TOKEN_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture()
def settings(home: Path) -> IdentitySettings:
    settings = IdentitySettings.from_env()
    IssuerKey.load_or_create(settings.keys_dir)  # what `zhijian up` does
    return settings


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture()
def run(capsys: pytest.CaptureFixture[str]) -> Any:
    def invoke(*argv: str) -> Run:
        parser = argparse.ArgumentParser(prog="zhijian")
        add_identity_commands(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(["identity", *argv])
        capsys.readouterr()
        code = args.handler(args, Output(args.json))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)
    return invoke


def listed(run: Any) -> dict[str, dict[str, Any]]:
    result = run("list", "--json")
    assert result.code == 0
    return {row["name"]: row for row in result.json()["identities"]}


# --- without a registry -----------------------------------------------------------------

def test_issue_then_list(settings: IdentitySettings, run: Any) -> None:
    issued = run("issue", "alice", "--role", "reviewer", "--role", "auditor",
                 "--clearance", "L2", "--ttl", "600", "--json")
    assert issued.code == 0, issued.stderr
    rows = listed(run)
    assert set(rows) == {"alice"}
    alice = rows["alice"]
    assert alice["subject"] == "user:alice"
    assert alice["roles"] == ["reviewer", "auditor"]
    assert alice["clearance"] == "L2"
    assert alice["signing_key_id"] is None
    assert (alice["revoked"], alice["expired"]) == (False, False)
    assert alice["jti"] == issued.json()["jti"]
    assert "token" not in alice and "token" not in issued.json()  # bearer secrets stay put

    # The stored token is a real one: it verifies against the published issuer keys.
    identity = LocalIdentity.load(settings.identities_dir, "alice")
    verifier = TokenVerifier.from_settings(settings, is_revoked=lambda _: False)
    principal = verifier.verify(identity.token)
    assert principal.roles == frozenset({"reviewer", "auditor"})
    assert (principal.subject, principal.clearance, principal.jti) == (
        "user:alice", "L2", alice["jti"])
    assert principal.expires_at == identity.expires_at
    lifetime = identity.expires_at - datetime.now(UTC)
    assert timedelta(seconds=590) < lifetime <= timedelta(seconds=600)


def test_approver_gets_a_signing_key_and_reissue_keeps_it(settings: IdentitySettings,
                                                         run: Any) -> None:
    first = run("issue", "vera", "--role", "validator", "--clearance", "L3", "--no-enrol",
                "--json")
    assert first.code == 0, first.stderr
    key_id = first.json()["signing_key_id"]
    identity = LocalIdentity.load(settings.identities_dir, "vera")
    assert key_id == key_id_of(identity.signing_key().public_key())
    assert first.json()["signing_key_enrolled"] is False

    again = run("issue", "vera", "--role", "validator", "--role", "reviewer",
                "--clearance", "L4", "--no-enrol", "--json")
    assert again.code == 0, again.stderr
    assert again.json()["signing_key_id"] == key_id
    assert again.json()["replaced_jti"] == first.json()["jti"]
    assert again.json()["jti"] != first.json()["jti"]
    assert listed(run)["vera"]["clearance"] == "L4"
    text = run("list")
    assert "vera" in text.stdout and "(not enrolled)" in text.stdout


def test_service_identity(settings: IdentitySettings, run: Any) -> None:
    result = run("issue", "gateway-intranet", "--svc", "--clearance", "L4", "--json")
    assert result.code == 0, result.stderr
    row = listed(run)["gateway-intranet"]
    assert (row["subject"], row["roles"]) == ("svc:gateway-intranet", ["service"])


@pytest.mark.parametrize("argv, message", [
    (["issue", "bob", "--clearance", "L2"], "at least one --role"),
    (["issue", "bob", "--role", "root", "--clearance", "L2"], "unknown role"),
    (["issue", "bob", "--role", "reviewer", "--clearance", "L7"], "clearance"),
    (["issue", "Bob", "--role", "reviewer", "--clearance", "L2"], "must match"),
    (["issue", "bob", "--role", "service", "--clearance", "L2"], "platform components"),
    (["issue", "bob", "--svc", "--role", "sre", "--clearance", "L2"], "only role"),
])
def test_issue_refuses_bad_input(settings: IdentitySettings, run: Any, argv: list[str],
                                 message: str) -> None:
    result = run(*argv)
    assert result.code == 2
    assert message in result.stderr
    assert listed(run) == {}


def test_issue_without_the_issuer_key_fails(home: Path, run: Any) -> None:
    result = run("issue", "bob", "--role", "reviewer", "--clearance", "L2", "--json")
    assert result.code == 2
    assert "issuer's private key" in result.json()["error"]
    assert listed(run) == {}


def test_unreachable_registry_keeps_the_identity_with_a_warning(settings: IdentitySettings,
                                                                run: Any) -> None:
    target = f"127.0.0.1:{free_port()}"
    result = run("issue", "carol", "--role", "platform_admin", "--clearance", "L4",
                 "--registry", target, "--json")
    assert result.code == 0, result.stderr
    assert "zhijian identity enrol carol" in result.stderr
    assert target in result.json()["warning"]
    row = listed(run)["carol"]
    assert row["signing_key_id"] and row["signing_key_enrolled"] is False


def test_list_is_empty_and_says_how_to_start(home: Path, run: Any) -> None:
    result = run("list")
    assert result.code == 0 and "zhijian identity issue" in result.stdout


def test_revoke_needs_an_identity_to_act_as(settings: IdentitySettings, run: Any) -> None:
    assert run("issue", "alice", "--role", "reviewer", "--clearance", "L2").code == 0
    result = run("revoke", "alice", "--reason", "left")
    assert result.code == 2
    assert "no identity: pass --as NAME" in result.stderr


def test_issue_identity_library_function(settings: IdentitySettings) -> None:
    identity = issue_identity(settings.keys_dir, settings.identities_dir, "demo-admin", None,
                              ["platform_admin"], "L4", None, settings)
    assert identity.subject == "user:demo-admin" and identity.signing_key_id
    assert LocalIdentity.load(settings.identities_dir, "demo-admin") == identity


# --- against a stand-in registry --------------------------------------------------------

@dataclass
class FakeRegistry(registry_service_pb2_grpc.RegistryServiceServicer):
    """Checks the caller's token and the enrolment proof as the registry must."""

    settings: IdentitySettings
    revoked: set[str] = field(default_factory=set)
    keys: dict[str, bytes] = field(default_factory=dict)
    revocations: list[pb.RevokeTokenRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _caller(self, context: grpc.ServicerContext) -> Principal:
        verifier = TokenVerifier.from_settings(self.settings, is_revoked=self.revoked.__contains__)
        return principal_from_metadata(dict(context.invocation_metadata()), verifier)

    def EnrollSigningKey(self, request: pb.EnrollSigningKeyRequest,
                         context: grpc.ServicerContext) -> pb.SigningKey:
        try:
            caller = self._caller(context)
            key_id = key_id_of(request.public_key)
            statement = enrollment_statement(subject=caller.subject, key_id=key_id)
            if not verify_signature(request.public_key, statement, request.proof):
                raise PermissionDenied("proof does not verify", reason="PROOF_INVALID")
        except ZhijianError as error:
            context.abort_with_status(error.to_grpc_status())
        with self.lock:
            self.keys[caller.subject] = request.public_key
        return pb.SigningKey(subject=caller.subject, key_id=key_id, public_key=request.public_key,
                             state=pb.SIGNING_KEY_STATE_ACTIVE)

    def RevokeToken(self, request: pb.RevokeTokenRequest,
                    context: grpc.ServicerContext) -> pb.Revocation:
        try:
            caller = self._caller(context)
            if "platform_admin" not in caller.roles:
                raise PermissionDenied("only platform_admin revokes tokens",
                                       reason="ROLE_REQUIRED")
        except ZhijianError as error:
            context.abort_with_status(error.to_grpc_status())
        with self.lock:
            self.revoked.add(request.jti)
            self.revocations.append(request)
        return pb.Revocation(jti=request.jti, subject=request.subject, actor=caller.subject,
                             reason=request.reason)


@pytest.fixture()
def registry(settings: IdentitySettings) -> Iterator[tuple[FakeRegistry, str]]:
    fake = FakeRegistry(settings)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    registry_service_pb2_grpc.add_RegistryServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield fake, f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)


def test_issue_enrols_an_approvers_key(registry: tuple[FakeRegistry, str], run: Any) -> None:
    fake, target = registry
    result = run("issue", "vera", "--role", "validator", "--clearance", "L3",
                 "--registry", target, "--json")
    assert result.code == 0, result.stderr
    assert result.json()["signing_key_enrolled"] is True
    row = listed(run)["vera"]
    assert row["signing_key_enrolled"] is True
    assert key_id_of(fake.keys["user:vera"]) == row["signing_key_id"]


def test_enrol_with_a_new_key_replaces_the_enrolled_one(registry: tuple[FakeRegistry, str],
                                                        run: Any) -> None:
    fake, target = registry
    assert run("issue", "vera", "--role", "validator", "--clearance", "L3", "--no-enrol").code == 0
    first = run("enrol", "vera", "--registry", target, "--json")
    assert first.code == 0, first.stderr
    second = run("enrol", "vera", "--new-key", "--registry", target, "--json")
    assert second.code == 0, second.stderr
    assert second.json()["signing_key_id"] != first.json()["signing_key_id"]
    assert key_id_of(fake.keys["user:vera"]) == second.json()["signing_key_id"]


def test_enrol_of_a_non_approver_fails(registry: tuple[FakeRegistry, str], run: Any) -> None:
    _, target = registry
    assert run("issue", "rita", "--role", "reviewer", "--clearance", "L2").code == 0
    result = run("enrol", "rita", "--registry", target)
    assert result.code == 2 and "no signing key" in result.stderr


def test_revoke_by_name_and_by_jti(registry: tuple[FakeRegistry, str], run: Any) -> None:
    fake, target = registry
    for argv in (["admin", "--role", "platform_admin", "--clearance", "L4"],
                 ["alice", "--role", "reviewer", "--clearance", "L2"],
                 ["bob", "--role", "reviewer", "--clearance", "L2"]):
        assert run("issue", *argv, "--no-enrol").code == 0
    before = listed(run)

    by_name = run("revoke", "alice", "--reason", "left the unit", "--as", "admin",
                  "--registry", target, "--json")
    assert by_name.code == 0, by_name.stderr
    assert by_name.json()["jti"] == before["alice"]["jti"]
    assert by_name.json()["actor"] == "user:admin"
    by_jti = run("revoke", "--jti", before["bob"]["jti"], "--reason", "lost laptop",
                 "--as", "admin", "--registry", target, "--json")
    assert by_jti.code == 0, by_jti.stderr
    assert by_jti.json()["local_identity"] == "bob"

    assert [(r.jti, r.subject, r.reason) for r in fake.revocations] == [
        (before["alice"]["jti"], "user:alice", "left the unit"),
        (before["bob"]["jti"], "user:bob", "lost laptop")]
    after = listed(run)
    assert (after["alice"]["revoked"], after["bob"]["revoked"], after["admin"]["revoked"]) == (
        True, True, False)
    refused = run("revoke", "--jti", "x", "--reason", "r", "--as", "alice",
                  "--registry", target)
    assert refused.code == 2 and "alice was revoked" in refused.stderr


def test_revoke_refused_by_the_registry_is_reported(registry: tuple[FakeRegistry, str],
                                                    run: Any) -> None:
    fake, target = registry
    for name in ("alice", "bob"):
        assert run("issue", name, "--role", "reviewer", "--clearance", "L2").code == 0
    result = run("revoke", "bob", "--reason", "r", "--as", "alice", "--registry", target)
    assert result.code == 1
    assert "PERMISSION_DENIED [ROLE_REQUIRED]: only platform_admin" in result.stderr
    assert fake.revocations == [] and listed(run)["bob"]["revoked"] is False


def test_registry_with_other_issuer_keys_refuses_enrolment(
        registry: tuple[FakeRegistry, str], settings: IdentitySettings, run: Any) -> None:
    _, target = registry
    assert run("issue", "vera", "--role", "validator", "--clearance", "L3", "--no-enrol").code == 0
    settings.jwks_path.write_text(json.dumps({"keys": []}))  # the registry trusts no key now
    result = run("enrol", "vera", "--registry", target)
    assert result.code == 1
    assert "UNAUTHENTICATED [CREDENTIALS_INVALID]: invalid credentials" in result.stderr
