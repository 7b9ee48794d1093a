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
from zhijian.errors import InvalidArgument, PermissionDenied, ZhijianError
from zhijian.identity import (
    IdentityError,
    IdentitySettings,
    IssuerKey,
    LocalIdentity,
    Principal,
    TokenVerifier,
    check_roles,
    check_subject,
    clearance_to_level,
    enrollment_statement,
    issue_token,
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


# --- issuing through the (stand-in) registry --------------------------------------------
# The registry mints and records tokens; the CLI asks it as a platform admin. "root" is
# that admin, minted the way `zhijian up`'s bootstrap mints the first one.


def issue(run: Any, target: str, *argv: str) -> Run:
    return run("issue", *argv, "--as", "root", "--registry", target)

def test_issue_then_list(settings: IdentitySettings, registry: tuple[FakeRegistry, str],
                         run: Any) -> None:
    fake, target = registry
    issued = issue(run, target, "alice", "--role", "reviewer", "--role", "auditor",
                   "--clearance", "L2", "--ttl", "600", "--json")
    assert issued.code == 0, issued.stderr
    assert fake.issued == [("user:root", "user:alice", "")]
    rows = listed(run)
    assert set(rows) == {"alice", "root", "root2"}
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


def test_approver_gets_a_signing_key_and_reissue_keeps_it(
        settings: IdentitySettings, registry: tuple[FakeRegistry, str], run: Any) -> None:
    _, target = registry
    first = approved(run, target, "vera", "--role", "validator", "--clearance", "L3",
                     "--no-enrol")
    assert first.code == 0, first.stderr
    key_id = first.json()["signing_key_id"]
    identity = LocalIdentity.load(settings.identities_dir, "vera")
    assert key_id == key_id_of(identity.signing_key().public_key())
    assert first.json()["signing_key_enrolled"] is False

    again = approved(run, target, "vera", "--role", "validator", "--role", "reviewer",
                     "--clearance", "L4", "--no-enrol")
    assert again.code == 0, again.stderr
    assert again.json()["signing_key_id"] == key_id
    assert again.json()["replaced_jti"] == first.json()["jti"]
    assert again.json()["jti"] != first.json()["jti"]
    assert listed(run)["vera"]["clearance"] == "L4"
    text = run("list")
    assert "vera" in text.stdout and "(not enrolled)" in text.stdout


def test_service_identity(registry: tuple[FakeRegistry, str], run: Any) -> None:
    result = issue(run, registry[1], "gateway-intranet", "--svc", "--clearance", "L4", "--json")
    assert result.code == 0, result.stderr
    row = listed(run)["gateway-intranet"]
    assert (row["subject"], row["roles"]) == ("svc:gateway-intranet", ["service"])


@pytest.mark.parametrize("argv, message, code", [
    (["bob", "--clearance", "L2"], "at least one --role", 2),
    (["Bob", "--role", "reviewer", "--clearance", "L2"], "must match", 2),
    # Checked by the registry, which refuses to issue.
    (["bob", "--role", "root", "--clearance", "L2"], "unknown role", 1),
    (["bob", "--role", "reviewer", "--clearance", "L7"], "clearance", 1),
    (["bob", "--role", "service", "--clearance", "L2"], "platform components", 1),
    (["bob", "--svc", "--role", "sre", "--clearance", "L2"], "only role", 1),
])
def test_issue_refuses_bad_input(registry: tuple[FakeRegistry, str], run: Any,
                                 argv: list[str], message: str, code: int) -> None:
    result = issue(run, registry[1], *argv)
    assert result.code == code, result.stderr
    assert message in result.stderr
    assert set(listed(run)) == {"root", "root2"}


def test_issue_needs_an_admin_the_registry_accepts(registry: tuple[FakeRegistry, str],
                                                   run: Any) -> None:
    _, target = registry
    assert issue(run, target, "rita", "--role", "reviewer", "--clearance", "L2").code == 0
    refused = run("issue", "eve", "--role", "reviewer", "--clearance", "L2", "--as", "rita",
                  "--registry", target)
    assert refused.code == 1 and "only platform_admin" in refused.stderr
    assert "eve" not in listed(run)


def test_a_privileged_identity_waits_for_a_second_admin(registry: tuple[FakeRegistry, str],
                                                        run: Any) -> None:
    fake, target = registry
    pending = issue(run, target, "carol", "--role", "platform_admin", "--clearance", "L4",
                    "--json")
    assert pending.code == 0, pending.stderr
    assert pending.json()["state"] == "PENDING_APPROVAL" and "carol" not in listed(run)
    name = pending.json()["issuance"]
    alone = run("approve", name, "--as", "root", "--registry", target)
    assert alone.code == 1 and "SECOND_ADMIN_REQUIRED" in alone.stderr
    done = run("approve", name, "--name", "carol", "--as", "root2", "--registry", target,
               "--json")
    assert done.code == 0, done.stderr
    assert listed(run)["carol"]["roles"] == ["platform_admin"]
    assert fake.issued[-1] == ("user:root", "user:carol", "user:root2")


def test_unreachable_registry_issues_nothing(registry: tuple[FakeRegistry, str],
                                             run: Any) -> None:
    target = f"127.0.0.1:{free_port()}"
    result = run("issue", "carol", "--role", "reviewer", "--clearance", "L4",
                 "--as", "root", "--registry", target, "--json")
    assert result.code == 1
    assert target in result.json()["error"] and "carol" not in listed(run)


def test_list_is_empty_and_says_how_to_start(home: Path, run: Any) -> None:
    result = run("list")
    assert result.code == 0 and "zhijian identity issue" in result.stdout


def test_revoke_needs_an_identity_to_act_as(registry: tuple[FakeRegistry, str],
                                           run: Any) -> None:
    assert issue(run, registry[1], "alice", "--role", "reviewer", "--clearance", "L2").code == 0
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
    # (requester, subject, approver) of each credential issued, and pending issuances.
    issued: list[tuple[str, str, str]] = field(default_factory=list)
    pending: dict[str, tuple[str, pb.IssueCredentialRequest]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _admin(self, context: grpc.ServicerContext) -> Principal:
        caller = self._caller(context)
        if "platform_admin" not in caller.roles:
            raise PermissionDenied("only platform_admin issues credentials",
                                   reason="ROLE_REQUIRED")
        return caller

    def _mint(self, request: pb.IssueCredentialRequest, requester: str, approver: str,
              name: str) -> pb.CredentialIssuance:
        ttl = request.ttl.ToSeconds() if request.HasField("ttl") else self.settings.ttl_s
        token = issue_token(IssuerKey.load(self.settings.keys_dir), subject=request.subject,
                            roles=list(request.roles), clearance=request.clearance, ttl_s=ttl,
                            issuer_name=self.settings.issuer_name,
                            audience=self.settings.audience)
        with self.lock:
            self.issued.append((requester, request.subject, approver))
        credential = pb.Credential(credential_id=token.jti, subject=request.subject,
                                   roles=request.roles, clearance=request.clearance,
                                   issuer=requester, approver=approver)
        credential.expire_time.FromDatetime(token.expires_at)
        return pb.CredentialIssuance(name=name, state=pb.ISSUANCE_STATE_ISSUED,
                                     credential=credential, token=token.token,
                                     subject=request.subject, audit_event="ledgers/x/1")

    def IssueCredential(self, request: pb.IssueCredentialRequest,
                        context: grpc.ServicerContext) -> pb.CredentialIssuance:
        name = f"credentialIssuances/{len(self.issued) + len(self.pending)}"
        try:
            caller = self._admin(context)
            try:
                roles = check_roles(request.roles)
                check_subject(request.subject, roles)
                clearance_to_level(request.clearance)
            except IdentityError as error:
                raise InvalidArgument(str(error), reason="INVALID_IDENTITY") from None
        except ZhijianError as error:
            context.abort_with_status(error.to_grpc_status())
        if {"platform_admin", "validator"} & set(roles):
            with self.lock:
                self.pending[name] = (caller.subject, request)
            return pb.CredentialIssuance(name=name, state=pb.ISSUANCE_STATE_PENDING_APPROVAL,
                                         subject=request.subject, requester=caller.subject)
        return self._mint(request, caller.subject, "", name)

    def ApproveCredentialIssuance(self, request: pb.ApproveCredentialIssuanceRequest,
                                  context: grpc.ServicerContext) -> pb.CredentialIssuance:
        try:
            caller = self._admin(context)
            requester, asked = self.pending[request.name]
            if requester == caller.subject:
                raise PermissionDenied("the one who asked cannot approve",
                                       reason="SECOND_ADMIN_REQUIRED")
        except ZhijianError as error:
            context.abort_with_status(error.to_grpc_status())
        with self.lock:
            del self.pending[request.name]
        return self._mint(asked, requester, caller.subject, request.name)

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


def issue_identity_for(fake: FakeRegistry, name: str, roles: list[str],
                       clearance: str) -> LocalIdentity:
    """Minted with the issuer key, as `zhijian up`'s bootstrap does."""
    return issue_identity(fake.settings.keys_dir, fake.settings.identities_dir, name, None,
                          roles, clearance, None, fake.settings)


def approved(run: Any, target: str, *argv: str) -> Run:
    """Issue a privileged identity: "root" asks, "root2" approves."""
    pending = issue(run, target, *argv, "--json")
    assert pending.code == 0, pending.stderr
    no_enrol = ["--no-enrol"] if "--no-enrol" in argv else []
    return run("approve", pending.json()["issuance"], "--name", argv[0], "--as", "root2",
               "--registry", target, "--json", *no_enrol)


@pytest.fixture()
def registry(settings: IdentitySettings) -> Iterator[tuple[FakeRegistry, str]]:
    fake = FakeRegistry(settings)
    for name in ("root", "root2"):
        issue_identity_for(fake, name, ["platform_admin"], "L4")
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
    result = approved(run, target, "vera", "--role", "validator", "--clearance", "L3")
    assert result.code == 0, result.stderr
    assert result.json()["signing_key_enrolled"] is True
    row = listed(run)["vera"]
    assert row["signing_key_enrolled"] is True
    assert key_id_of(fake.keys["user:vera"]) == row["signing_key_id"]


def test_enrol_with_a_new_key_replaces_the_enrolled_one(registry: tuple[FakeRegistry, str],
                                                        run: Any) -> None:
    fake, target = registry
    assert approved(run, target, "vera", "--role", "validator", "--clearance", "L3",
                    "--no-enrol").code == 0
    first = run("enrol", "vera", "--registry", target, "--json")
    assert first.code == 0, first.stderr
    second = run("enrol", "vera", "--new-key", "--registry", target, "--json")
    assert second.code == 0, second.stderr
    assert second.json()["signing_key_id"] != first.json()["signing_key_id"]
    assert key_id_of(fake.keys["user:vera"]) == second.json()["signing_key_id"]


def test_enrol_of_a_non_approver_fails(registry: tuple[FakeRegistry, str], run: Any) -> None:
    _, target = registry
    assert issue(run, target, "rita", "--role", "reviewer", "--clearance", "L2").code == 0
    result = run("enrol", "rita", "--registry", target)
    assert result.code == 2 and "no signing key" in result.stderr


def test_revoke_by_name_and_by_jti(registry: tuple[FakeRegistry, str], run: Any) -> None:
    fake, target = registry
    issue_identity_for(fake, "admin", ["platform_admin"], "L4")
    for argv in (["alice", "--role", "reviewer", "--clearance", "L2"],
                 ["bob", "--role", "reviewer", "--clearance", "L2"]):
        assert issue(run, target, *argv, "--no-enrol").code == 0
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
        assert issue(run, target, name, "--role", "reviewer", "--clearance", "L2").code == 0
    result = run("revoke", "bob", "--reason", "r", "--as", "alice", "--registry", target)
    assert result.code == 1
    assert "PERMISSION_DENIED [ROLE_REQUIRED]: only platform_admin" in result.stderr
    assert fake.revocations == [] and listed(run)["bob"]["revoked"] is False


def test_registry_with_other_issuer_keys_refuses_enrolment(
        registry: tuple[FakeRegistry, str], settings: IdentitySettings, run: Any) -> None:
    _, target = registry
    assert approved(run, target, "vera", "--role", "validator", "--clearance", "L3",
                    "--no-enrol").code == 0
    settings.jwks_path.write_text(json.dumps({"keys": []}))  # the registry trusts no key now
    result = run("enrol", "vera", "--registry", target)
    assert result.code == 1
    assert "UNAUTHENTICATED [CREDENTIALS_INVALID]: invalid credentials" in result.stderr
