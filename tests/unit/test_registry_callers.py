"""Who may call the registry: people only through a gateway (its assertion), platform
components directly with their own token. Real keys and tokens in a temporary keys
directory; the servicer's ``_actor`` is exercised without a database (it needs none)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry import credentials
from registry.callers import ASSERTION_REQUIRED, CallerAuthenticator
from registry.identities import RevocationList
from registry.servicer import RegistryServicer
from zhijian import identity
from zhijian import metadata as md
from zhijian.assertion import (
    DOMAIN_CEILINGS,
    AssertionSigner,
    AssertionVerifier,
    assertion_metadata,
)
from zhijian.errors import PermissionDenied, Unauthenticated
from zhijian.server import Call

ISSUER, AUDIENCE = "zhijian", "zhijian"


class Keys:
    def __init__(self, keys_dir: Path) -> None:
        self.issuer = identity.IssuerKey.load_or_create(keys_dir)
        self.gateways = {domain: AssertionSigner.load_or_create(
            keys_dir, issuer=f"svc:gateway-{domain}") for domain in DOMAIN_CEILINGS}
        self.gateway = self.gateways["intranet"]
        self.revoked = RevocationList()
        self.tokens = identity.TokenVerifier(
            identity.load_public_keys(keys_dir / identity.ISSUER_JWKS), issuer_name=ISSUER,
            audience=AUDIENCE, is_revoked=self.revoked.__contains__)
        self.assertions = AssertionVerifier.from_keys_dir(keys_dir)
        # Credential ids the registry never recorded (registry/credentials.py).
        self.unrecorded: set[str] = set()

    def bearer(self, subject: str, roles: tuple[str, ...], jti: str | None = None
               ) -> dict[str, str]:
        issued = identity.issue_token(self.issuer, subject=subject, roles=roles,
                                      clearance="L4", ttl_s=600, issuer_name=ISSUER,
                                      audience=AUDIENCE, jti=jti)
        return {md.AUTHORIZATION: f"Bearer {issued.token}"}

    def asserted(self, subject: str, roles: tuple[str, ...], *, domain: str = "intranet",
                 credential_id: str = "") -> dict[str, str]:
        request_id = "request-7"
        token = self.gateways[domain].mint(
            subject=subject, roles=roles, clearance="L3", domain=domain,
            request_id=request_id, credential_id=credential_id,
            audience="zhijian.registry.v1.RegistryService")
        return {md.ASSERTION: token, md.REQUEST_ID: request_id}

    def authenticator(self) -> CallerAuthenticator:
        return CallerAuthenticator(self.tokens, self.assertions,
                                   is_revoked=self.revoked.__contains__,
                                   is_recorded=lambda p, asserted: p.jti not in self.unrecorded)


@pytest.fixture()
def keys(tmp_path: Path) -> Keys:
    return Keys(tmp_path / "keys")


def refusal(keys: Keys, metadata: dict[str, str]) -> str:
    with pytest.raises(Unauthenticated) as failure:
        keys.authenticator().authenticate(metadata)
    return failure.value.reason


def test_a_person_with_a_token_but_no_assertion_must_go_through_a_gateway(keys: Keys) -> None:
    for roles in (("platform_admin",), ("auditor",), ("model_developer", "validator")):
        metadata = keys.bearer("user:zhang.san", roles)
        with pytest.raises(Unauthenticated) as failure:
            keys.authenticator().authenticate(metadata)
        assert failure.value.reason == ASSERTION_REQUIRED
        assert "gateway" in failure.value.message


def test_a_platform_component_calls_directly_with_its_token(keys: Keys) -> None:
    caller = keys.authenticator().authenticate(keys.bearer("svc:classify", ("service",)))
    assert caller.principal.subject == "svc:classify" and caller.network_domain is None


def test_a_gateways_assertion_names_the_caller(keys: Keys) -> None:
    caller = keys.authenticator().authenticate(
        keys.asserted("user:li.si", ("auditor",), domain="extranet", credential_id="jti-9"))
    principal = caller.principal
    assert (principal.subject, principal.roles, principal.clearance, principal.jti) == (
        "user:li.si", frozenset({"auditor"}), "L3", "jti-9")
    assert caller.network_domain == "extranet"


def test_the_assertion_wins_over_a_token_sent_beside_it(keys: Keys) -> None:
    metadata = {**keys.bearer("svc:gateway-intranet", ("service",)),
                **keys.asserted("user:li.si", ("auditor",))}
    assert keys.authenticator().authenticate(metadata).principal.subject == "user:li.si"


def test_bad_assertions_and_tokens_are_refused(keys: Keys) -> None:
    asserted = keys.asserted("user:li.si", ("auditor",))
    assert refusal(keys, {**asserted, md.REQUEST_ID: "another"}) == "ASSERTION_INVALID"
    impostor = AssertionSigner(Ed25519PrivateKey.generate(), issuer="svc:gateway-intranet",
                               domain="intranet")
    forged = dict(assertion_metadata(impostor, subject="user:li.si", roles=("auditor",),
                                     audience="zhijian.registry.v1.RegistryService"))
    assert refusal(keys, forged) == "ASSERTION_INVALID"
    # Lifted from a call to another service (the classify model server sees those).
    elsewhere = dict(assertion_metadata(keys.gateway, subject="user:li.si", roles=("auditor",),
                                        audience="zhijian.classify.v1.ClassifyService"))
    assert refusal(keys, elsewhere) == "ASSERTION_INVALID"
    assert refusal(keys, {}) == identity.REASON_MISSING
    assert refusal(keys, {md.AUTHORIZATION: "Bearer not-a-token"}) == identity.REASON_INVALID


def test_a_revoked_credential_is_refused_behind_a_gateway_too(keys: Keys) -> None:
    asserted = keys.asserted("user:li.si", ("auditor",), credential_id="jti-revoked")
    assert keys.authenticator().authenticate(asserted).principal.subject == "user:li.si"
    keys.revoked.add("jti-revoked")
    assert refusal(keys, asserted) == identity.REASON_REVOKED
    keys.revoked.add("svc-jti")
    assert refusal(keys, keys.bearer("svc:classify", ("service",), jti="svc-jti")) == \
        identity.REASON_REVOKED


def test_a_credential_the_registry_never_recorded_is_refused(keys: Keys) -> None:
    """Signed with the real issuer key (or vouched for by a real gateway) and still
    refused: the registry has no record of its issue."""
    keys.unrecorded |= {"minted-offline", "svc-offline"}
    assert refusal(keys, keys.bearer("svc:classify", ("service",), jti="svc-offline")) == \
        identity.REASON_INVALID
    asserted = keys.asserted("user:li.si", ("platform_admin",), credential_id="minted-offline")
    assert refusal(keys, asserted) == identity.REASON_INVALID
    recorded = keys.bearer("svc:classify", ("service",), jti="svc-recorded")
    assert keys.authenticator().authenticate(recorded).principal.subject == "svc:classify"


class AdmitAll(credentials.RecordedCredentials):
    """Every id counts as recorded: this test is about authorization."""

    def admits(self, principal: object, *, asserted: bool) -> bool:
        return True


def test_the_registry_servicer_authenticates_then_authorizes(keys: Keys) -> None:
    nothing: Any = None  # _actor touches neither the database nor the validation jobs
    servicer = RegistryServicer(nothing, keys.tokens, keys.revoked, nothing,
                                assertions=keys.assertions, recorded=AdmitAll())

    def call(metadata: dict[str, str]) -> Call:
        return Call(metadata, metadata.get(md.REQUEST_ID, "r"), time.monotonic() + 5)

    actor, _ = servicer._actor("GetFiling", call(keys.asserted("user:li.si", ("auditor",))))
    assert actor.subject == "user:li.si"
    with pytest.raises(Unauthenticated) as direct:
        servicer._actor("GetFiling", call(keys.bearer("user:li.si", ("auditor",))))
    assert direct.value.reason == ASSERTION_REQUIRED
    # Roles still decide per method: an asserted business system reads no filing.
    with pytest.raises(PermissionDenied) as role:
        servicer._actor("GetFiling", call(keys.asserted("user:erp", ("business_system",))))
    assert role.value.reason == "ROLE_NOT_PERMITTED"
    actor, _ = servicer._actor("AppendCallRecords",
                               call(keys.bearer("svc:gateway-internet", ("service",))))
    assert actor.subject == "svc:gateway-internet"


@pytest.mark.parametrize("claimed", ["intranet", "extranet"])
def test_an_internet_key_cannot_vouch_for_another_domain(keys: Keys, tmp_path: Path,
                                                         claimed: str) -> None:
    """The attack of issue 10: a compromised internet gateway, signing with its own key,
    claims an intranet (or extranet) caller to reach registry writes."""
    internet_key = identity.load_private_key(tmp_path / "keys" / "assertion-internet.pem")
    compromised = AssertionSigner(internet_key, issuer=f"svc:gateway-{claimed}",
                                  domain=claimed)
    metadata = dict(assertion_metadata(compromised, subject="user:zhang.san",
                                       roles=("platform_admin",),
                                       audience="zhijian.registry.v1.RegistryService"))
    assert refusal(keys, metadata) == "ASSERTION_DOMAIN_MISMATCH"
    assert keys.authenticator().authenticate(
        keys.asserted("user:li.si", ("auditor",), domain="internet")).network_domain == \
        "internet"
