"""The identity kernel: issuer keys, tokens and their rejection, local identities, signed
statements."""

from __future__ import annotations

import base64
import json
import stat
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zhijian.config import ConfigError
from zhijian.errors import Unauthenticated
from zhijian.identity import (
    CLEARANCES,
    INVALID_MESSAGE,
    ISSUER_JWKS,
    ISSUER_PEM,
    ROLES,
    IdentityError,
    IdentitySettings,
    IssuerKey,
    LocalIdentity,
    TokenVerifier,
    approval_statement,
    canonical_statement,
    clearance_to_level,
    enrollment_statement,
    generate_signing_key,
    issue_token,
    key_id_of,
    level_to_clearance,
    list_identities,
    load_public_keys,
    principal_from_metadata,
    public_key_raw,
    rejection_statement,
    sign,
    svc_subject,
    verify_signature,
)
from zhijian.types.v1 import ai_result_pb2

ISS = "zhijian-test"
AUD = "zhijian-test-aud"
EVIDENCE = "a" * 64
RUN = "b" * 64


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture()
def issuer(keys_dir: Path) -> IssuerKey:
    return IssuerKey.load_or_create(keys_dir)


@pytest.fixture()
def revoked() -> set[str]:
    return set()


@pytest.fixture()
def verifier(issuer: IssuerKey, keys_dir: Path, revoked: set[str]) -> TokenVerifier:
    return TokenVerifier(load_public_keys(keys_dir / ISSUER_JWKS), issuer_name=ISS,
                         audience=AUD, is_revoked=revoked.__contains__)


def token_for(issuer: IssuerKey, **overrides: object) -> str:
    fields: dict[str, object] = {"subject": "user:li.si", "roles": ["validator", "reviewer"],
                                 "clearance": "L3", "ttl_s": 3600, "issuer_name": ISS,
                                 "audience": AUD}
    fields.update(overrides)
    return issue_token(issuer, **fields).token  # type: ignore[arg-type]


def raw_token(issuer: IssuerKey, claims: dict[str, object], *, kid: str | None = None) -> str:
    """A token signed with the issuer key whose claims issue_token would never produce."""
    return jwt.encode(claims, issuer.private_key, algorithm="EdDSA",
                      headers={"kid": kid or issuer.kid})


def good_claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {"iss": ISS, "aud": AUD, "sub": "user:li.si",
                                 "roles": ["reviewer"], "clearance": "L2", "iat": now,
                                 "nbf": now, "exp": now + 600, "jti": "j-1"}
    claims.update(overrides)
    return claims


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- keys -------------------------------------------------------------------------------

def test_kid_is_the_rfc_7638_thumbprint_of_the_rfc_8037_example_key() -> None:
    raw = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert key_id_of(raw) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_issuer_key_is_created_private_and_published(keys_dir: Path) -> None:
    issuer = IssuerKey.load_or_create(keys_dir)
    assert mode(keys_dir) == 0o700
    assert mode(keys_dir / ISSUER_PEM) == 0o600
    assert list(load_public_keys(keys_dir / ISSUER_JWKS)) == [issuer.kid]
    again = IssuerKey.load_or_create(keys_dir)
    assert again.kid == issuer.kid
    assert list(load_public_keys(keys_dir / ISSUER_JWKS)) == [issuer.kid]


def test_issuing_without_the_issuer_key_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="issuer's private key") as caught:
        IssuerKey.load(tmp_path / "nothing-here")
    assert str(tmp_path / "nothing-here" / ISSUER_PEM) in str(caught.value)


def test_a_jwks_whose_kid_is_not_the_key_thumbprint_is_refused(tmp_path: Path) -> None:
    key = generate_signing_key()
    other = generate_signing_key()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519",
                                          "x": b64(public_key_raw(key)),
                                          "kid": key_id_of(other.public_key())}]}))
    with pytest.raises(IdentityError, match="thumbprint"):
        load_public_keys(jwks)


def test_rotation_keeps_tokens_of_the_previous_key_valid(keys_dir: Path) -> None:
    first = IssuerKey.load_or_create(keys_dir)
    old_token = token_for(first)
    second = IssuerKey.rotate(keys_dir)
    new_token = token_for(second)
    keys = load_public_keys(keys_dir / ISSUER_JWKS)
    assert set(keys) == {first.kid, second.kid} and first.kid != second.kid
    assert IssuerKey.load(keys_dir).kid == second.kid
    verifier = TokenVerifier(keys, issuer_name=ISS, audience=AUD, is_revoked=lambda _: False)
    assert verifier.verify(old_token).jti != verifier.verify(new_token).jti
    assert jwt.get_unverified_header(new_token)["kid"] == second.kid


def test_a_key_published_after_start_is_picked_up(keys_dir: Path) -> None:
    first = IssuerKey.load_or_create(keys_dir)
    jwks = keys_dir / ISSUER_JWKS
    verifier = TokenVerifier(load_public_keys(jwks), issuer_name=ISS, audience=AUD,
                             is_revoked=lambda _: False,
                             reload_keys=lambda: load_public_keys(jwks))
    assert verifier.verify(token_for(first))
    second = IssuerKey.rotate(keys_dir)  # published while the verifier runs
    assert verifier.verify(token_for(second)).subject
    # A kid nobody published stays refused.
    stranger = IssuerKey._from_private(Ed25519PrivateKey.generate())
    with pytest.raises(Unauthenticated):
        verifier.verify(token_for(stranger))


# --- tokens -----------------------------------------------------------------------------

def test_issue_and_verify_round_trip(issuer: IssuerKey, verifier: TokenVerifier) -> None:
    issued = issue_token(issuer, subject="user:li.si", roles=["validator", "reviewer"],
                         clearance="L3", ttl_s=3600, issuer_name=ISS, audience=AUD)
    principal = verifier.verify(issued.token)
    assert principal.subject == "user:li.si"
    assert principal.roles == frozenset({"validator", "reviewer"})
    assert principal.clearance == "L3"
    assert principal.level == ai_result_pb2.DATA_LEVEL_L3_IMPORTANT
    assert principal.jti == issued.jti and len(issued.jti) == 32
    assert principal.expires_at == issued.expires_at
    assert abs(issued.expires_at - datetime.now(UTC) - timedelta(hours=1)) < timedelta(
        seconds=5)
    header = jwt.get_unverified_header(issued.token)
    assert header["kid"] == issuer.kid and header["alg"] == "EdDSA"


def test_service_identities_verify_as_services(issuer: IssuerKey,
                                               verifier: TokenVerifier) -> None:
    principal = verifier.verify(token_for(issuer, subject=svc_subject("gateway-extranet"),
                                          roles=["service"]))
    assert principal.is_service and principal.roles == frozenset({"service"})


@pytest.mark.parametrize("overrides, message", [
    ({"roles": ["superuser"]}, "unknown role"),
    ({"roles": []}, "at least one role"),
    ({"subject": "li.si"}, "user:<name> or svc:<name>"),
    ({"subject": "user:../x"}, "user:<name> or svc:<name>"),
    ({"subject": "svc:gateway", "roles": ["service", "platform_admin"]}, "only role"),
    ({"subject": "user:li.si", "roles": ["service"]}, "platform components"),
    ({"clearance": "L5"}, "clearance"),
    ({"ttl_s": 0}, "positive"),
])
def test_issue_token_refuses_malformed_identities(issuer: IssuerKey, overrides: dict[str, object],
                                                  message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        token_for(issuer, **overrides)


def forger() -> IssuerKey:
    key = Ed25519PrivateKey.generate()
    return IssuerKey(key, key_id_of(key.public_key()))


def other_key_same_kid(issuer: IssuerKey) -> str:
    return jwt.encode(good_claims(), forger().private_key, algorithm="EdDSA",
                      headers={"kid": issuer.kid})


def unknown_kid(issuer: IssuerKey) -> str:
    return token_for(forger())


def tampered_payload(issuer: IssuerKey) -> str:
    header, _, signature = token_for(issuer, roles=["reviewer"]).split(".")
    escalated = b64(json.dumps(good_claims(roles=["platform_admin"])).encode())
    return f"{header}.{escalated}.{signature}"


def tampered_signature(issuer: IssuerKey) -> str:
    header, payload, signature = token_for(issuer).split(".")
    flipped = bytearray(base64.urlsafe_b64decode(signature + "=="))
    flipped[0] ^= 1
    return f"{header}.{payload}.{b64(bytes(flipped))}"


def unsigned(issuer: IssuerKey) -> str:
    header = b64(json.dumps({"alg": "none", "kid": issuer.kid}).encode())
    return f"{header}.{b64(json.dumps(good_claims()).encode())}."


def missing_claim(claim: str) -> Callable[[IssuerKey], str]:
    def build(issuer: IssuerKey) -> str:
        claims = good_claims()
        del claims[claim]
        return raw_token(issuer, claims)
    return build


INVALID_TOKENS: dict[str, Callable[[IssuerKey], str]] = {
    "unknown kid": unknown_kid,
    "other key under the issuer's kid": other_key_same_kid,
    "tampered payload": tampered_payload,
    "tampered signature": tampered_signature,
    "alg none": unsigned,
    "not a jwt": lambda issuer: "not.a.jwt",
    "nbf in the future": lambda issuer: token_for(
        issuer, now=datetime.now(UTC) + timedelta(minutes=10)),
    "wrong audience": lambda issuer: token_for(issuer, audience="someone-else"),
    "wrong issuer": lambda issuer: token_for(issuer, issuer_name="mallory"),
    "unknown role": lambda issuer: raw_token(issuer, good_claims(roles=["superuser"])),
    "roles not a list": lambda issuer: raw_token(issuer, good_claims(roles="reviewer")),
    "service role on a human": lambda issuer: raw_token(issuer, good_claims(roles=["service"])),
    "bad clearance": lambda issuer: raw_token(issuer, good_claims(clearance="L9")),
    **{f"missing {claim}": missing_claim(claim)
       for claim in ("sub", "roles", "clearance", "exp", "nbf", "jti", "aud", "iss")},
}


@pytest.mark.parametrize("case", sorted(INVALID_TOKENS))
def test_invalid_tokens_are_unauthenticated_with_one_message(
        case: str, issuer: IssuerKey, verifier: TokenVerifier) -> None:
    token = INVALID_TOKENS[case](issuer)
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert caught.value.reason == "CREDENTIALS_INVALID"
    assert caught.value.message == INVALID_MESSAGE


def test_expired_token_says_so(issuer: IssuerKey, verifier: TokenVerifier) -> None:
    token = token_for(issuer, ttl_s=3600, now=datetime.now(UTC) - timedelta(hours=2))
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.reason == "CREDENTIALS_EXPIRED"
    assert "expired" in caught.value.message


def test_clock_skew_within_leeway_is_tolerated(issuer: IssuerKey,
                                               verifier: TokenVerifier) -> None:
    token = token_for(issuer, ttl_s=60, now=datetime.now(UTC) - timedelta(seconds=62))
    assert verifier.verify(token).subject == "user:li.si"


def test_revoked_token_is_refused_even_after_it_was_accepted(
        issuer: IssuerKey, verifier: TokenVerifier, revoked: set[str]) -> None:
    issued = issue_token(issuer, subject="user:li.si", roles=["reviewer"], clearance="L2",
                         ttl_s=600, issuer_name=ISS, audience=AUD)
    verifier.verify(issued.token)  # now remembered as verified
    revoked.add(issued.jti)
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(issued.token)
    assert caught.value.reason == "CREDENTIALS_REVOKED"


def test_a_remembered_token_still_expires(issuer: IssuerKey, keys_dir: Path) -> None:
    verifier = TokenVerifier(load_public_keys(keys_dir / ISSUER_JWKS), issuer_name=ISS,
                             audience=AUD, is_revoked=lambda _: False, leeway_s=0)
    token = token_for(issuer, ttl_s=1)
    verifier.verify(token)
    time.sleep(1.2)
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert caught.value.reason == "CREDENTIALS_EXPIRED"


def test_verification_cache_is_bounded(issuer: IssuerKey, keys_dir: Path) -> None:
    verifier = TokenVerifier(load_public_keys(keys_dir / ISSUER_JWKS), issuer_name=ISS,
                             audience=AUD, is_revoked=lambda _: False, cache_size=3)
    tokens = [token_for(issuer) for _ in range(5)]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._verified) == 3
    assert set(verifier._verified) == set(tokens[2:])


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic dXNlcjpwdw=="])
def test_missing_bearer_is_credentials_missing(header: str | None,
                                               verifier: TokenVerifier) -> None:
    metadata = {} if header is None else {"authorization": header}
    with pytest.raises(Unauthenticated) as caught:
        principal_from_metadata(metadata, verifier)
    assert caught.value.reason == "CREDENTIALS_MISSING"


def test_bearer_from_metadata(issuer: IssuerKey, verifier: TokenVerifier) -> None:
    token = token_for(issuer)
    for scheme in ("Bearer", "bearer"):
        principal = principal_from_metadata({"authorization": f"{scheme} {token}"}, verifier)
        assert principal.subject == "user:li.si"
    with pytest.raises(Unauthenticated) as caught:
        principal_from_metadata({"authorization": f"Bearer {tampered_signature(issuer)}"},
                                verifier)
    assert caught.value.reason == "CREDENTIALS_INVALID"


def test_clearances_map_to_the_data_level_enum() -> None:
    for clearance in CLEARANCES:
        level = clearance_to_level(clearance)
        assert ai_result_pb2.DataLevel.Name(level).startswith(f"DATA_LEVEL_{clearance}_")
        assert level_to_clearance(level) == clearance
    assert [clearance_to_level(c) for c in CLEARANCES] == [1, 2, 3, 4]
    with pytest.raises(IdentityError):
        clearance_to_level("L0")
    with pytest.raises(IdentityError):
        level_to_clearance(ai_result_pb2.DATA_LEVEL_UNSPECIFIED)


# --- settings ---------------------------------------------------------------------------

def test_settings_default_under_zhijian_home(tmp_path: Path) -> None:
    settings = IdentitySettings.from_env({"ZHIJIAN_HOME": str(tmp_path)})
    assert settings.keys_dir == tmp_path.resolve() / "keys"
    assert settings.identities_dir == tmp_path.resolve() / "identities"
    assert (settings.issuer_name, settings.audience) == ("zhijian", "zhijian")
    assert settings.ttl_s == 30 * 24 * 3600
    assert settings.jwks_path == settings.keys_dir / ISSUER_JWKS


def test_settings_from_environment(tmp_path: Path) -> None:
    settings = IdentitySettings.from_env({
        "ZHIJIAN_HOME": str(tmp_path), "ZHIJIAN_TOKEN_ISSUER": "iss",
        "ZHIJIAN_TOKEN_AUDIENCE": "aud", "ZHIJIAN_TOKEN_TTL_S": "60",
        "ZHIJIAN_KEYS_DIR": str(tmp_path / "k"), "ZHIJIAN_IDENTITIES_DIR": str(tmp_path / "i")})
    assert (settings.issuer_name, settings.audience, settings.ttl_s) == ("iss", "aud", 60)
    assert (settings.keys_dir, settings.identities_dir) == (tmp_path / "k", tmp_path / "i")
    for bad in ("0", "soon"):
        with pytest.raises(ConfigError):
            IdentitySettings.from_env({"ZHIJIAN_TOKEN_TTL_S": bad})


# --- local identities -------------------------------------------------------------------

def local_identity(directory: Path, name: str, roles: tuple[str, ...] = ("reviewer",)
                   ) -> LocalIdentity:
    return LocalIdentity(name=name, subject=f"user:{name}", roles=roles, clearance="L2",
                         token=f"token-of-{name}", jti=f"jti-{name}",
                         expires_at=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
                         directory=directory)


def test_local_identity_save_load_list(tmp_path: Path) -> None:
    directory = tmp_path / "identities"
    bob = local_identity(directory, "bob").save()
    alice = local_identity(directory, "alice", ("validator",))
    alice = alice.with_signing_key(generate_signing_key()).save()
    assert mode(directory) == 0o700
    assert mode(bob.path) == 0o600
    assert mode(alice.signing_key_path) == 0o600
    assert LocalIdentity.load(directory, "bob") == bob
    assert LocalIdentity.load(directory, "alice") == alice
    assert alice.signing_key_id == key_id_of(alice.signing_key().public_key())
    assert [identity.name for identity in list_identities(directory)] == ["alice", "bob"]
    assert list_identities(tmp_path / "absent") == []
    stored = json.loads(bob.path.read_text())
    assert stored["expires_at"] == "2030-01-02T03:04:05Z"
    assert stored["signing_key_id"] is None


def test_missing_identity_tells_how_to_issue_one(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match=r"no identity bob; issue one with "
                                            r"`zhijian identity issue bob --role"):
        LocalIdentity.load(tmp_path, "bob")


@pytest.mark.parametrize("name", ["../etc", "Bob", "", ".hidden", "a/b", "x" * 64])
def test_identity_names_are_safe_file_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(IdentityError, match="must match"):
        LocalIdentity.load(tmp_path, name)


def test_identity_file_must_match_its_name(tmp_path: Path) -> None:
    bob = local_identity(tmp_path, "bob").save()
    bob.path.rename(tmp_path / "eve.json")
    with pytest.raises(IdentityError, match="names identity 'bob'"):
        LocalIdentity.load(tmp_path, "eve")


def test_a_non_approver_has_no_signing_key(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="no signing key"):
        local_identity(tmp_path, "bob").signing_key()


# --- signed statements ------------------------------------------------------------------

APPROVAL = {"filing": "filings/f-1", "evidence_sha256": EVIDENCE,
            "validation_run_sha256": RUN, "decision": "approve",
            "conditions": ["human review of every L3 result", "再验证 6 个月"]}


def test_canonical_statement_is_stable_across_dict_order() -> None:
    forward = {"type": "t", "b": 1, "a": {"y": "审评", "x": [1, 2]}}
    backward = {"a": {"x": [1, 2], "y": "审评"}, "b": 1, "type": "t"}
    assert canonical_statement(forward) == canonical_statement(backward)
    encoded = canonical_statement(forward)
    assert encoded == '{"a":{"x":[1,2],"y":"审评"},"b":1,"type":"t"}'.encode()
    with pytest.raises(ValueError, match="type"):
        canonical_statement({"a": 1})


def test_approval_signature_verifies_with_the_signers_key_only() -> None:
    signer, other = generate_signing_key(), generate_signing_key()
    statement = approval_statement(**APPROVAL)  # type: ignore[arg-type]
    signature = sign(signer, statement)
    assert verify_signature(public_key_raw(signer), statement, signature)
    assert not verify_signature(public_key_raw(other), statement, signature)
    assert not verify_signature(public_key_raw(signer)[:31], statement, signature)
    assert not verify_signature(public_key_raw(signer), statement, b"\0" * 64)


@pytest.mark.parametrize("field, value", [
    ("filing", "filings/f-2"),
    ("evidence_sha256", "c" * 64),
    ("validation_run_sha256", "d" * 64),
    ("decision", "renew"),
    ("conditions", []),
    ("conditions", ["再验证 6 个月", "human review of every L3 result"]),
    ("conditions", ["human review of every L3 result", "再验证 6 个月", "extra"]),
])
def test_approval_signature_fails_for_any_changed_field(field: str, value: object) -> None:
    signer = generate_signing_key()
    signature = sign(signer, approval_statement(**APPROVAL))  # type: ignore[arg-type]
    changed = approval_statement(**{**APPROVAL, field: value})  # type: ignore[arg-type]
    assert not verify_signature(public_key_raw(signer), changed, signature)


def test_a_rejection_signature_is_no_approval() -> None:
    signer = generate_signing_key()
    rejection = rejection_statement(filing="filings/f-1", evidence_sha256=EVIDENCE,
                                    reason="insufficient test coverage")
    signature = sign(signer, rejection)
    assert verify_signature(public_key_raw(signer), rejection, signature)
    approval = approval_statement(**APPROVAL)  # type: ignore[arg-type]
    assert not verify_signature(public_key_raw(signer), approval, signature)
    other_reason = rejection_statement(filing="filings/f-1", evidence_sha256=EVIDENCE,
                                       reason="another reason")
    assert not verify_signature(public_key_raw(signer), other_reason, signature)


@pytest.mark.parametrize("overrides, message", [
    ({"decision": "reject"}, "rejection_statement"),
    ({"decision": "APPROVE"}, "decision"),
    ({"evidence_sha256": "A" * 64}, "evidence_sha256"),
    ({"validation_run_sha256": "b" * 63}, "validation_run_sha256"),
    ({"filing": " "}, "filing"),
])
def test_approval_statement_refuses_malformed_fields(overrides: dict[str, object],
                                                     message: str) -> None:
    with pytest.raises(ValueError, match=message):
        approval_statement(**{**APPROVAL, **overrides})  # type: ignore[arg-type]


def test_enrollment_statement_binds_subject_and_key() -> None:
    key = generate_signing_key()
    key_id = key_id_of(key.public_key())
    proof = sign(key, enrollment_statement(subject="user:li.si", key_id=key_id))
    raw = public_key_raw(key)
    assert verify_signature(raw, enrollment_statement(subject="user:li.si", key_id=key_id),
                            proof)
    assert not verify_signature(raw, enrollment_statement(subject="user:eve", key_id=key_id),
                                proof)
    assert key_id == key_id_of(raw) == key_id_of(Ed25519PrivateKey.from_private_bytes(
        key.private_bytes_raw()).public_key())


def test_roles_are_the_documented_eight() -> None:
    assert set(ROLES) == {"model_developer", "validator", "platform_admin", "reviewer",
                          "business_system", "sre", "auditor", "service"}
