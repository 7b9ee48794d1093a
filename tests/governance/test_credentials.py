"""Credentials are issued on the record: the registry mints them as governance acts, a
privileged identity needs a second admin, the bootstrap is recorded once, and only what
the ledger records is admitted."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from governance.harness import ADMIN, ADMIN2, Harness
from registry import credentials
from zhijian import certs, identity
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as pb


@pytest.fixture()
def issuing(harness: Harness) -> tuple[credentials.Mint, credentials.RecordedCredentials]:
    keys = harness.tmp / "keys"
    identity.IssuerKey.load_or_create(keys)
    settings = identity.IdentitySettings.from_env({"ZHIJIAN_HOME": str(harness.tmp)})
    recorded = credentials.RecordedCredentials()
    recorded.load(harness.ctx)
    return credentials.Mint(keys, settings), recorded


def ask(h: Harness, issuing: tuple[credentials.Mint, credentials.RecordedCredentials],
        subject: str, roles: list[str], *, certificate_public_key_pem: str = ""
        ) -> pb.CredentialIssuance:
    mint, recorded = issuing
    return credentials.issue(h.ctx, mint, recorded, ADMIN, pb.IssueCredentialRequest(
        subject=subject, roles=roles, clearance="L3", reason="test",
        certificate_public_key_pem=certificate_public_key_pem))


def test_an_issued_token_is_recorded_on_the_ledger_and_admitted(
        harness: Harness, issuing: tuple[credentials.Mint, credentials.RecordedCredentials]
        ) -> None:
    _, recorded = issuing
    issued = ask(harness, issuing, "user:li.si", ["reviewer"])
    assert issued.state == pb.ISSUANCE_STATE_ISSUED and issued.token
    jti = issued.credential.credential_id
    assert jti in recorded
    [event] = harness.ctx.ledger.list_events("governance", page_size=10,
                                             action="identity.issue")
    assert event.actor == ADMIN.subject and event.details["credential"]["id"] == jti
    assert event.details["credential"]["roles"] == ["reviewer"]
    # A token minted with the same issuer key, never recorded, is not admitted.
    offline = identity.issue_token(identity.IssuerKey.load(harness.tmp / "keys"),
                                   subject="user:li.si", roles=["platform_admin"],
                                   clearance="L4", ttl_s=60, issuer_name="zhijian",
                                   audience="zhijian")
    assert offline.jti not in recorded
    # Admitted as recorded only: the same token id with other roles, another subject, a
    # higher clearance or a later expiry is what the issuer key alone could mint.
    verifier = identity.TokenVerifier.from_settings(
        identity.IdentitySettings.from_env({"ZHIJIAN_HOME": str(harness.tmp)}),
        is_revoked=lambda _: False)
    genuine = verifier.verify(issued.token)
    assert recorded.admits(genuine, asserted=False)
    for forged in (replace(genuine, roles=frozenset({"platform_admin"})),
                   replace(genuine, subject="user:someone.else"),
                   replace(genuine, clearance="L4"),
                   replace(genuine, expires_at=genuine.expires_at + timedelta(days=30))):
        assert not recorded.admits(forged, asserted=False)
    # A fresh registry process reads the same from the ledger.
    again = credentials.RecordedCredentials()
    again.load(harness.ctx)
    assert jti in again and offline.jti not in again


def test_a_privileged_identity_needs_a_second_admin(
        harness: Harness, issuing: tuple[credentials.Mint, credentials.RecordedCredentials]
        ) -> None:
    mint, recorded = issuing
    for roles in (["platform_admin"], ["validator"]):
        pending = ask(harness, issuing, f"user:new.{roles[0].replace('_', '-')}", roles)
        assert pending.state == pb.ISSUANCE_STATE_PENDING_APPROVAL and not pending.token
        # The admin who asked cannot approve it alone.
        with pytest.raises(ZhijianError) as alone:
            credentials.approve(harness.ctx, mint, recorded, ADMIN,
                                pb.ApproveCredentialIssuanceRequest(name=pending.name))
        assert (alone.value.code.name, alone.value.reason) == ("PERMISSION_DENIED",
                                                               "SECOND_ADMIN_REQUIRED")
        issued = credentials.approve(harness.ctx, mint, recorded, ADMIN2,
                                     pb.ApproveCredentialIssuanceRequest(name=pending.name))
        assert issued.state == pb.ISSUANCE_STATE_ISSUED and issued.token
        assert issued.credential.approver == ADMIN2.subject
        assert issued.credential.issuer == ADMIN.subject
        assert issued.credential.credential_id in recorded
        with pytest.raises(ZhijianError) as twice:
            credentials.approve(harness.ctx, mint, recorded, ADMIN2,
                                pb.ApproveCredentialIssuanceRequest(name=pending.name))
        assert twice.value.reason == "ISSUANCE_ALREADY_ISSUED"


def test_a_client_certificate_is_issued_for_the_holders_key_and_recorded(
        harness: Harness, issuing: tuple[credentials.Mint, credentials.RecordedCredentials]
        ) -> None:
    _, recorded = issuing
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    issued = ask(harness, issuing, "svc:batch-import", ["service"],
                 certificate_public_key_pem=pem.decode())
    read = certs.read_client_certificate(issued.certificate_pem.encode())
    assert read.subject == "svc:batch-import" and read.fingerprint in recorded
    assert issued.credential.kind == pb.CREDENTIAL_KIND_CERTIFICATE
    # One from the same CA key file, never recorded.
    offline = certs.issue_client_certificate(certs.load_ca(harness.tmp / "keys"),
                                             subject="svc:batch-import", roles=["service"],
                                             clearance="L4")
    assert offline.fingerprint not in recorded


def test_bad_requests_are_refused_with_their_field(
        harness: Harness, issuing: tuple[credentials.Mint, credentials.RecordedCredentials]
        ) -> None:
    for subject, roles, reason in (("user:x", ["root"], "INVALID_ROLES"),
                                   ("svc:x", ["reviewer"], "INVALID_SUBJECT"),
                                   ("user:x", ["service"], "INVALID_SUBJECT")):
        with pytest.raises(ZhijianError) as refused:
            ask(harness, issuing, subject, roles)
        assert (refused.value.code.name, refused.value.reason) == ("INVALID_ARGUMENT", reason)
    with pytest.raises(ZhijianError) as key:
        ask(harness, issuing, "svc:x", ["service"], certificate_public_key_pem="nope")
    assert key.value.reason == "INVALID_PUBLIC_KEY"


def test_the_bootstrap_is_recorded_once(
        harness: Harness, issuing: tuple[credentials.Mint, credentials.RecordedCredentials],
        tmp_path: Path) -> None:
    _, recorded = issuing
    first = tmp_path / "bootstrap-credentials.json"
    records = [credentials.record_of("jti-admin", "token", "user:admin.li",
                                     ["platform_admin"], "L4", 2e9)]
    first.write_text(json.dumps(records))
    assert credentials.bootstrap(harness.ctx, first) == 1 and not first.exists()
    recorded.load(harness.ctx)
    assert "jti-admin" in recorded
    # A second bootstrap (e.g. someone minting a new "first admin") is refused and set
    # aside; nothing in it is admitted.
    first.write_text(json.dumps([credentials.record_of(
        "jti-intruder", "token", "user:intruder", ["platform_admin"], "L4", 2e9)]))
    with pytest.raises(ZhijianError) as again:
        credentials.bootstrap(harness.ctx, first)
    assert again.value.reason == "ALREADY_BOOTSTRAPPED"
    assert (tmp_path / "bootstrap-credentials.json.refused").exists()
    recorded.load(harness.ctx)
    assert "jti-intruder" not in recorded
    assert len(harness.ctx.ledger.list_events("governance", page_size=10,
                                              action="identity.bootstrap")) == 1


def test_a_start_without_a_bootstrap_file_closes_the_bootstrap(
        harness: Harness, issuing: tuple[credentials.Mint, credentials.RecordedCredentials],
        tmp_path: Path) -> None:
    _, recorded = issuing
    path = tmp_path / "bootstrap-credentials.json"
    assert credentials.bootstrap(harness.ctx, path) == 0
    # A file put there before a later restart is not the platform's first identities.
    path.write_text(json.dumps([credentials.record_of(
        "jti-late", "token", "user:late", ["platform_admin"], "L4", 2e9)]))
    with pytest.raises(ZhijianError) as late:
        credentials.bootstrap(harness.ctx, path)
    assert late.value.reason == "ALREADY_BOOTSTRAPPED"
    recorded.load(harness.ctx)
    assert "jti-late" not in recorded


def test_an_issue_appended_without_the_ledger_key_is_not_admitted(
        harness: Harness, issuing: tuple[credentials.Mint, credentials.RecordedCredentials]
        ) -> None:
    _, recorded = issuing
    genuine = ask(harness, issuing, "user:li.si", ["reviewer"])
    # Someone who can write the database and read the issuer key, but not the ledger
    # key: a platform_admin token minted offline, and its identity.issue appended at the
    # head, well formed, unsigned or carrying the genuine issue's signature.
    for signature_of in (None, harness.governance_head()):
        offline = identity.issue_token(identity.IssuerKey.load(harness.tmp / "keys"),
                                       subject="user:mallory", roles=["platform_admin"],
                                       clearance="L4", ttl_s=600, issuer_name="zhijian",
                                       audience="zhijian")
        harness.append_behind_the_ledger(credentials.ISSUE_ACTION, "credentials/forged", {
            "credential": credentials.record_of(
                offline.jti, credentials.TOKEN, "user:mallory", ["platform_admin"], "L4",
                offline.expires_at.timestamp()),
            "requester": ADMIN.subject, "approver": ADMIN2.subject},
            actor=ADMIN.subject, signature_of=signature_of)
        recorded.load(harness.ctx)
        fresh = credentials.RecordedCredentials()
        fresh.load(harness.ctx)
        assert offline.jti not in recorded and offline.jti not in fresh
        assert genuine.credential.credential_id in fresh
