"""Who is calling: tokens and client certificates, down to the uniform refusals."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gateway_harness import LoopThread, Registry, recorded, start_registry

from gateway.authn import Authenticator, Caller
from gateway.revocations import RecordedCredentials, RevocationList
from zhijian import certs, identity
from zhijian.errors import Unauthenticated, ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as rpb
from zhijian.types.v1 import ai_result_pb2 as tpb


class Setup:
    def __init__(self, home: Path) -> None:
        self.settings = identity.IdentitySettings.from_env({"ZHIJIAN_HOME": str(home)})
        self.issuer = identity.IssuerKey.load_or_create(self.settings.keys_dir)
        self.revoked: set[str] = set()
        self.now = datetime.now(UTC).timestamp()
        self.authenticator = Authenticator(
            identity.TokenVerifier.from_settings(self.settings,
                                                 is_revoked=self.revoked.__contains__),
            is_revoked=self.revoked.__contains__, clock=lambda: self.now)
        self.ca = certs.create_ca()

    def token(self, subject: str = "user:review-system",
              roles: tuple[str, ...] = ("business_system",), clearance: str = "L2", *,
              ttl_s: int = 3600, now: datetime | None = None) -> identity.IssuedToken:
        return identity.issue_token(self.issuer, subject=subject, roles=roles,
                                    clearance=clearance, ttl_s=ttl_s, now=now,
                                    issuer_name=self.settings.issuer_name,
                                    audience=self.settings.audience)


@pytest.fixture()
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def refusal(setup: Setup, authorization: str | None, cert: bytes | None = None) -> str:
    with pytest.raises(Unauthenticated) as caught:
        setup.authenticator.authenticate(authorization, cert)
    return caught.value.reason


def test_a_token_yields_the_caller(setup: Setup) -> None:
    token = setup.token(clearance="L3")
    caller = setup.authenticator.authenticate(f"Bearer {token.token}", None)
    assert caller == Caller("user:review-system", frozenset({"business_system"}), "L3",
                            token.jti, tpb.DATA_LEVEL_L3_IMPORTANT)
    # The scheme is case-insensitive (RFC 7235).
    assert setup.authenticator.authenticate(f"bearer {token.token}", None) == caller


def test_missing_malformed_expired_and_revoked_tokens_are_refused_uniformly(
        setup: Setup, tmp_path: Path) -> None:
    assert refusal(setup, None) == identity.REASON_MISSING
    assert refusal(setup, "") == identity.REASON_MISSING
    assert refusal(setup, "Token abc") == identity.REASON_MISSING
    assert refusal(setup, "Bearer a.b.c") == identity.REASON_INVALID
    expired = setup.token(ttl_s=60, now=datetime.now(UTC) - timedelta(hours=2))
    assert refusal(setup, f"Bearer {expired.token}") == identity.REASON_EXPIRED
    token = setup.token()
    setup.revoked.add(token.jti)
    assert refusal(setup, f"Bearer {token.token}") == identity.REASON_REVOKED
    # Signed by a key the platform never published: the same message as garbage.
    stranger = identity.IssuerKey.load_or_create(tmp_path / "elsewhere")
    foreign = identity.issue_token(stranger, subject="user:x", roles=("reviewer",),
                                   clearance="L4", ttl_s=60,
                                   issuer_name=setup.settings.issuer_name,
                                   audience=setup.settings.audience)
    with pytest.raises(Unauthenticated) as caught:
        setup.authenticator.authenticate(f"Bearer {foreign.token}", None)
    assert caught.value.message == identity.INVALID_MESSAGE


def test_a_token_for_another_audience_is_invalid(setup: Setup) -> None:
    other = identity.issue_token(setup.issuer, subject="user:x", roles=("reviewer",),
                                 clearance="L4", ttl_s=60,
                                 issuer_name=setup.settings.issuer_name, audience="elsewhere")
    assert refusal(setup, f"Bearer {other.token}") == identity.REASON_INVALID


def test_a_rotated_issuer_key_is_picked_up_without_a_restart(setup: Setup) -> None:
    old = setup.token()
    setup.authenticator.authenticate(f"Bearer {old.token}", None)
    setup.issuer = identity.IssuerKey.rotate(setup.settings.keys_dir)
    new = setup.token()
    assert json.loads(identity.b64url_decode(new.token.split(".")[0]))["kid"] != \
        json.loads(identity.b64url_decode(old.token.split(".")[0]))["kid"]
    assert setup.authenticator.authenticate(f"Bearer {new.token}", None).credential_id == \
        new.jti
    assert setup.authenticator.authenticate(f"Bearer {old.token}", None).credential_id == \
        old.jti


def test_a_client_certificate_yields_the_caller(setup: Setup) -> None:
    issued = certs.issue_client_certificate(setup.ca, subject="svc:batch-import",
                                            roles=["service"], clearance="L4")
    caller = setup.authenticator.authenticate(None, issued.cert_pem)
    assert caller == Caller("svc:batch-import", frozenset({"service"}), "L4",
                            issued.fingerprint, tpb.DATA_LEVEL_L4_CORE)
    # Served from the cache the second time, and still checked.
    assert setup.authenticator.authenticate(None, issued.cert_pem) == caller
    setup.revoked.add(issued.fingerprint)
    assert refusal(setup, None, issued.cert_pem) == identity.REASON_REVOKED


def test_a_certificate_past_its_end_is_expired_even_on_an_old_connection(
        setup: Setup) -> None:
    issued = certs.issue_client_certificate(setup.ca, subject="user:portal",
                                            roles=["business_system"], clearance="L1",
                                            days=1)
    setup.authenticator.authenticate(None, issued.cert_pem)
    setup.now += 2 * 86400
    assert refusal(setup, None, issued.cert_pem) == identity.REASON_EXPIRED


def test_a_certificate_without_an_identity_is_invalid_every_time(setup: Setup) -> None:
    assert refusal(setup, None, b"not a certificate") == identity.REASON_INVALID
    assert refusal(setup, None, b"not a certificate") == identity.REASON_INVALID


def test_a_token_names_who_acts_on_a_certificate_connection(setup: Setup) -> None:
    issued = certs.issue_client_certificate(setup.ca, subject="svc:portal-gateway",
                                            roles=["service"], clearance="L4")
    token = setup.token(subject="user:reviewer-li", roles=("reviewer",), clearance="L3")
    caller = setup.authenticator.authenticate(f"Bearer {token.token}", issued.cert_pem)
    assert caller.subject == "user:reviewer-li" and caller.credential_id == token.jti
    # A bad token is not rescued by the certificate.
    assert refusal(setup, "Bearer junk", issued.cert_pem) == identity.REASON_INVALID


# --- the revocation list ------------------------------------------------------------------

def test_revocations_are_read_page_by_page_and_kept_while_the_registry_is_away(
        setup: Setup) -> None:
    loop = LoopThread()
    try:
        registry = Registry(identity.TokenVerifier.from_settings(
            setup.settings, is_revoked=lambda _: False), revoked=["j1", "j2", "j3"])
        server, target = loop.run(start_registry(registry))
        token = setup.token("svc:gateway-extranet", ("service",), "L4").token
        revocations = RevocationList(target, lambda: token, interval_s=0.05)
        # Until the first read, nothing passes: a registry down at start fails closed.
        with pytest.raises(ZhijianError) as unknown:
            revocations.is_revoked("j1")
        assert unknown.value.reason == "REVOCATIONS_UNKNOWN" and not revocations.loaded
        assert loop.run(revocations.refresh())
        assert [revocations.is_revoked(j) for j in ("j1", "j2", "j3", "j4")] == [
            True, True, True, False]
        assert registry.callers == {"svc:gateway-extranet"} and registry.polls == 2

        # The poller follows new revocations on its own.
        registry.revoked.append("sha256:" + "ab" * 32)
        poller = loop.run(_start(revocations))
        deadline = time.monotonic() + 5
        while not revocations.is_revoked("sha256:" + "ab" * 32):
            assert time.monotonic() < deadline, "the poller never picked up the revocation"
            time.sleep(0.02)

        # The registry goes away: the list stays as it was, and says why it is stale.
        loop.run(server.stop(0))
        loop.run(_stop(poller))
        assert not loop.run(revocations.refresh())
        assert revocations.last_error and "UNAVAILABLE" in revocations.last_error
        assert revocations.is_revoked("j2") and len(revocations) == 4
        loop.run(revocations.close())
    finally:
        loop.close()


def test_a_registry_that_refuses_the_gateways_token_changes_nothing(setup: Setup) -> None:
    loop = LoopThread()
    try:
        registry = Registry(identity.TokenVerifier.from_settings(
            setup.settings, is_revoked=lambda _: False), revoked=["j1"])
        server, target = loop.run(start_registry(registry))
        revocations = RevocationList(target, lambda: "not-a-token")
        assert not loop.run(revocations.refresh())
        assert revocations.last_error and "UNAUTHENTICATED" in revocations.last_error
        assert not revocations.loaded
        with pytest.raises(ZhijianError):  # still failing closed
            revocations.is_revoked("j1")
        loop.run(revocations.close())
        loop.run(server.stop(0))
    finally:
        loop.close()


async def _start(revocations: RevocationList | RecordedCredentials) -> asyncio.Task[None]:
    return asyncio.create_task(revocations.run())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_only_credentials_the_registry_recorded_pass(setup: Setup) -> None:
    """A token signed with the real issuer key and a certificate from the real CA, both
    refused until the registry's list names them; the list is polled like revocations."""
    loop = LoopThread()
    try:
        recorded_token, offline_token = setup.token(), setup.token()
        recorded_cert = certs.issue_client_certificate(setup.ca, subject="svc:batch-import",
                                                       roles=["service"], clearance="L4")
        offline_cert = certs.issue_client_certificate(setup.ca, subject="svc:batch-import",
                                                      roles=["service"], clearance="L4")
        cert_record = rpb.Credential(credential_id=recorded_cert.fingerprint,
                                     subject="svc:batch-import", roles=["service"],
                                     clearance="L4")
        cert_record.expire_time.FromSeconds(int(certs.read_client_certificate(
            recorded_cert.cert_pem).not_after) + 1)
        registry = Registry(identity.TokenVerifier.from_settings(
            setup.settings, is_revoked=lambda _: False),
            recorded=[recorded(recorded_token.token), cert_record])
        server, target = loop.run(start_registry(registry))
        token = setup.token("svc:gateway-intranet", ("service",), "L4").token
        polled = RecordedCredentials(target, lambda: token, interval_s=30)
        with pytest.raises(ZhijianError) as unknown:  # fails closed before the first read
            polled.is_recorded(recorded_token.jti, "user:review-system",
                               frozenset({"business_system"}), "L2", 0.0)
        assert unknown.value.reason == "REVOCATIONS_UNKNOWN"
        assert loop.run(polled.refresh())
        authenticator = Authenticator(
            identity.TokenVerifier.from_settings(setup.settings, is_revoked=lambda _: False),
            is_revoked=lambda _: False, is_recorded=polled.is_recorded)
        assert authenticator.authenticate(f"Bearer {recorded_token.token}",
                                          None).credential_id == recorded_token.jti
        assert authenticator.authenticate(None, recorded_cert.cert_pem).credential_id == \
            recorded_cert.fingerprint
        # A recorded token id reused by whoever holds the issuer key, with other roles:
        # the record names the roles, so it is not admitted either.
        reused = identity.issue_token(setup.issuer, subject="user:review-system",
                                      roles=("platform_admin",), clearance="L4", ttl_s=600,
                                      jti=recorded_token.jti,
                                      issuer_name=setup.settings.issuer_name,
                                      audience=setup.settings.audience)
        for authorization, cert in ((f"Bearer {offline_token.token}", None),
                                    (None, offline_cert.cert_pem),
                                    (f"Bearer {reused.token}", None)):
            with pytest.raises(Unauthenticated) as refused:
                authenticator.authenticate(authorization, cert)
            assert refused.value.reason == identity.REASON_INVALID
        # A miss wakes the poller at once, so a credential issued a moment ago passes on
        # the retry rather than after the next interval.
        poller = loop.run(_start(polled))
        time.sleep(0.5)  # its first read is done; the next is 30 s away
        registry.recorded.append(recorded(offline_token.token))
        deadline = time.monotonic() + 5
        while not polled.is_recorded(offline_token.jti, "user:review-system",
                                     frozenset({"business_system"}), "L2",
                                     offline_token.expires_at.timestamp()):
            assert time.monotonic() < deadline, "the miss did not wake the poller"
            time.sleep(0.05)
        loop.run(_stop(poller))
        loop.run(polled.close())
        loop.run(server.stop(0))
    finally:
        loop.close()
