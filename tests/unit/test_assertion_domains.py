"""One assertion key per network domain (issue 10): each gateway holds only its own
domain's private key, and every verifier binds each key id to the domain it was published
for. Real keys in a temporary keys directory; the gateway's signer built from the
settings a gateway process reads, and the environment ``zhijian up`` gives each one."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.server import assertion_signer
from gateway.settings import GatewaySettings
from zhijian import identity
from zhijian.assertion import (
    DOMAIN_CEILINGS,
    LEGACY_ASSERTION_FILES,
    REASON_DOMAIN_MISMATCH,
    REASON_INVALID,
    AssertionSigner,
    AssertionVerifier,
    assertion_jwks_path,
    assertion_key_path,
    provision_domain_keys,
    read_domain_keys,
)
from zhijian.errors import Unauthenticated

AUDIENCE = "zhijian.classify.v1.ClassifyService"


def mint(signer: AssertionSigner, *, request_id: str = "r-1") -> str:
    return signer.mint(subject="user:zhang.san", roles=("business_system",), clearance="L4",
                       domain=signer.domain, request_id=request_id, audience=AUDIENCE)


def refusal(verifier: AssertionVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as failure:
        verifier.verify(token, request_id="r-1", audiences=(AUDIENCE,))
    return failure.value.reason


def private_key(keys_dir: Path, domain: str) -> Ed25519PrivateKey:
    return identity.load_private_key(assertion_key_path(keys_dir, domain))


def test_each_domain_gets_its_own_key_published_for_it_alone(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    files = provision_domain_keys(keys_dir)
    assert set(files) == set(DOMAIN_CEILINGS)
    kids = {domain: identity.key_id_of(private_key(keys_dir, domain).public_key())
            for domain in DOMAIN_CEILINGS}
    assert len(set(kids.values())) == 3
    for domain, kid in kids.items():
        assert files[domain].stat().st_mode & 0o077 == 0
        assert set(identity.load_public_keys(assertion_jwks_path(keys_dir, domain))) == {kid}
    assert {kid: key.domain for kid, key in read_domain_keys(keys_dir).items()} == {
        kid: domain for domain, kid in kids.items()}
    # Provisioning again keeps every key (gateways running with them stay valid).
    provision_domain_keys(keys_dir)
    assert {domain: identity.key_id_of(private_key(keys_dir, domain).public_key())
            for domain in DOMAIN_CEILINGS} == kids


def test_the_shared_key_of_before_is_removed_and_never_trusted(tmp_path: Path) -> None:
    keys_dir = identity.private_dir(tmp_path / "keys")
    shared = Ed25519PrivateKey.generate()
    (keys_dir / "assertion.pem").write_bytes(identity.private_key_pem(shared))
    identity.write_jwks(keys_dir / "assertion.jwks.json", [shared.public_key()])
    provision_domain_keys(keys_dir)
    assert not any((keys_dir / name).exists() for name in LEGACY_ASSERTION_FILES)
    old = AssertionSigner(shared, issuer="svc:gateway-intranet", domain="intranet")
    assert refusal(AssertionVerifier.from_keys_dir(keys_dir), mint(old)) == REASON_INVALID


@pytest.mark.parametrize(("holder", "claimed"), [
    ("internet", "intranet"), ("internet", "extranet"), ("extranet", "intranet"),
    ("intranet", "internet")])
def test_a_key_vouching_for_another_domain_is_refused(tmp_path: Path, holder: str,
                                                       claimed: str) -> None:
    keys_dir = tmp_path / "keys"
    provision_domain_keys(keys_dir)
    verifier = AssertionVerifier.from_keys_dir(keys_dir)
    # What a compromised gateway can do with its own key: sign any payload it likes.
    compromised = AssertionSigner(private_key(keys_dir, holder),
                                  issuer=f"svc:gateway-{claimed}", domain=claimed)
    assert refusal(verifier, mint(compromised)) == REASON_DOMAIN_MISMATCH
    own = AssertionSigner.load(keys_dir, domain=holder, issuer=f"svc:gateway-{holder}")
    assertion = verifier.verify(mint(own), request_id="r-1", audiences=(AUDIENCE,))
    assert assertion.domain == holder


def test_a_signer_mints_for_its_own_domain_only(tmp_path: Path) -> None:
    signer = AssertionSigner.load_or_create(tmp_path / "keys", issuer="svc:tests",
                                            domain="extranet")
    with pytest.raises(identity.IdentityError, match="extranet"):
        signer.mint(subject="user:zhang.san", roles=("business_system",), clearance="L4",
                    domain="intranet", request_id="r-1", audience=AUDIENCE)
    # Only a gateway's name says which domain it is for; anyone else must say so.
    assert AssertionSigner.load_or_create(tmp_path / "keys",
                                          issuer="svc:gateway-internet").domain == "internet"
    with pytest.raises(identity.IdentityError, match="network domain"):
        AssertionSigner.load_or_create(tmp_path / "keys", issuer="svc:tests")
    with pytest.raises(identity.IdentityError):
        AssertionSigner(Ed25519PrivateKey.generate(), issuer="svc:tests", domain="everywhere")


def test_a_key_published_for_two_domains_is_trusted_for_neither(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    provision_domain_keys(keys_dir)
    internet = AssertionSigner.load(keys_dir, domain="internet", issuer="svc:gateway-internet")
    identity.publish_public_key(assertion_jwks_path(keys_dir, "intranet"), internet.public_key)
    verifier = AssertionVerifier.from_keys_dir(keys_dir)
    assert refusal(verifier, mint(internet)) == REASON_INVALID
    with pytest.raises(identity.IdentityError, match="not published"):
        AssertionSigner.load(keys_dir, domain="internet", issuer="svc:gateway-internet")


def test_a_domain_key_rotates_without_a_restart(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    provision_domain_keys(keys_dir)
    verifier = AssertionVerifier.from_keys_dir(keys_dir)
    before = AssertionSigner.load(keys_dir, domain="extranet", issuer="svc:gateway-extranet")
    # A new extranet key, published beside the old one, as a restarted gateway would.
    assertion_key_path(keys_dir, "extranet").unlink()
    after = AssertionSigner.load_or_create(keys_dir, issuer="svc:gateway-extranet")
    assert after.kid != before.kid
    for signer in (after, before):
        assert verifier.verify(mint(signer), request_id="r-1",
                               audiences=(AUDIENCE,)).domain == "extranet"
    # Still bound: the new key claiming the intranet is no better than the old one.
    rogue = AssertionSigner(private_key(keys_dir, "extranet"), issuer="x", domain="intranet")
    assert refusal(verifier, mint(rogue)) == REASON_DOMAIN_MISMATCH


def _token_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")  # read by the gateway only once it runs
    return str(path)


def _settings(tmp_path: Path, domain: str, **extra: str) -> GatewaySettings:
    return GatewaySettings.from_env({
        "ZHIJIAN_HOME": str(tmp_path / "home"), "ZHIJIAN_GATEWAY_DOMAIN": domain,
        "ZHIJIAN_IDENTITY_TOKEN_FILE": _token_file(tmp_path / "gateway.jwt"), **extra})


def test_a_gateway_signs_with_the_key_file_it_is_given_and_no_other(tmp_path: Path) -> None:
    keys_dir = _settings(tmp_path, "internet").keys_dir
    files = provision_domain_keys(keys_dir)
    published = read_domain_keys(keys_dir)
    for domain in DOMAIN_CEILINGS:
        settings = _settings(tmp_path, domain,
                             ZHIJIAN_GATEWAY_ASSERTION_KEY=str(files[domain]))
        signer = assertion_signer(settings)
        assert (signer.domain, published[signer.kid].domain) == (domain, domain)
    # Handed the intranet's key file, the internet gateway refuses to start.
    wrong = _settings(tmp_path, "internet", ZHIJIAN_GATEWAY_ASSERTION_KEY=str(files["intranet"]))
    with pytest.raises(identity.IdentityError, match="not published for the internet"):
        assertion_signer(wrong)
    # A key file that is not there is an error, never a fresh key.
    missing = _settings(tmp_path, "internet",
                        ZHIJIAN_GATEWAY_ASSERTION_KEY=str(tmp_path / "typo.pem"))
    with pytest.raises(identity.IdentityError, match="no internet assertion signing key"):
        assertion_signer(missing)
    assert not (tmp_path / "typo.pem").exists()


def test_a_gateway_alone_creates_its_own_domains_key_only(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "extranet")
    signer = assertion_signer(settings)
    assert signer.domain == "extranet"
    assert sorted(p.name for p in settings.keys_dir.glob("assertion*")) == [
        "assertion-extranet.jwks.json", "assertion-extranet.pem"]


def test_zhijian_up_hands_each_gateway_its_own_domains_key_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zhijian.cli.stack import StackPorts, gateway_components
    from zhijian.config import HomeLayout

    monkeypatch.setenv("ZHIJIAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZHIJIAN_KEYS_DIR", raising=False)
    keys_dir = identity.IdentitySettings.from_env().keys_dir
    files = provision_domain_keys(keys_dir)
    specs = gateway_components(HomeLayout(tmp_path / "home"), StackPorts.from_env({}))
    assert {spec.env["ZHIJIAN_GATEWAY_DOMAIN"] for spec in specs} == set(DOMAIN_CEILINGS)
    for spec in specs:
        domain = spec.env["ZHIJIAN_GATEWAY_DOMAIN"]
        assert spec.env["ZHIJIAN_GATEWAY_ASSERTION_KEY"] == str(files[domain])
        others = [str(path) for other, path in files.items() if other != domain]
        assert not [value for value in (*spec.env.values(), *spec.argv)
                    if any(other in value for other in others)]
        _token_file(Path(spec.env["ZHIJIAN_IDENTITY_TOKEN_FILE"]))
        env = {"ZHIJIAN_HOME": str(tmp_path / "home"), **spec.env}
        assert assertion_signer(GatewaySettings.from_env(env)).domain == domain
