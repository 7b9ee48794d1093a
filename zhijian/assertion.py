"""The signed caller assertion on every hop behind a gateway.

A gateway authenticates the caller (token or client certificate), decides, and forwards
the call with a short-lived assertion of what it established: who is calling, with which
roles and clearance, through which network domain, under which data-level ceiling
(min(domain ceiling, clearance)), for which request id, to which service (its audience:
an assertion seen by one service, or by the model server behind it, cannot be replayed
to another). Services and model servers accept
no call without a valid one, so reaching them around the gateway gets nothing.

The format is deliberately small, not a JWT: ``<payload>.<signature>``, both base64url,
the payload compact JSON naming its key id, the signature Ed25519 over the payload text.

Each network domain has a key of its own (``keys/assertion-<domain>.pem``), and each
gateway is given only its own domain's: a compromised internet gateway must not be able to
vouch for an intranet caller. Whoever verifies reads only the public keys, published per
domain (``keys/assertion-<domain>.jwks.json``, several per file so that a key rotates
without a restart), and refuses an assertion whose claimed domain is not the one its key
was published for (``ASSERTION_DOMAIN_MISMATCH``).

Tests and benchmarks that call a service directly mint an assertion with
:func:`assertion_metadata`, holding the key of the one domain they act for; there is no
flag that switches the check off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from zhijian import identity
from zhijian import metadata as md
from zhijian.errors import Unauthenticated
from zhijian.files import write_file

log = logging.getLogger("zhijian.assertion")

ASSERTION_KEY_PREFIX: Final = "assertion-"
# What one key for every domain was published as, before keys were per domain. Never
# read for verification: an assertion signed by it is refused as of an unknown key.
LEGACY_ASSERTION_FILES: Final = ("assertion.pem", "assertion.jwks.json")
DEFAULT_TTL_S: Final = 30
# Clock skew between a gateway and a service on another host.
LEEWAY_S: Final = 2.0
MAX_ASSERTION_CHARS: Final = 4096

# The highest data level each ingress may carry (ARCHITECTURE.md, default ceilings).
DOMAIN_CEILINGS: Final[Mapping[str, str]] = {"internet": "L1", "extranet": "L3",
                                             "intranet": "L4"}

REASON_MISSING: Final = "ASSERTION_MISSING"
REASON_INVALID: Final = "ASSERTION_INVALID"
REASON_DOMAIN_MISMATCH: Final = "ASSERTION_DOMAIN_MISMATCH"
MISSING_MESSAGE: Final = "this endpoint serves platform traffic only: call it through a gateway"
INVALID_MESSAGE: Final = "invalid caller assertion"
DOMAIN_MISMATCH_MESSAGE: Final = ("caller assertion claims a network domain its key was not "
                                  "issued for")
KEY_RELOAD_INTERVAL_S: Final = 5.0


def _check_domain(domain: str) -> str:
    if domain not in DOMAIN_CEILINGS:
        raise identity.IdentityError(f"unknown network domain {domain!r}")
    return domain


def assertion_key_path(keys_dir: Path, domain: str) -> Path:
    """Where a domain's private assertion key lives; its gateway is given this file only."""
    return keys_dir / f"{ASSERTION_KEY_PREFIX}{_check_domain(domain)}.pem"


def assertion_jwks_path(keys_dir: Path, domain: str) -> Path:
    """The public keys of one domain's gateways: the file name is what binds them to it."""
    return keys_dir / f"{ASSERTION_KEY_PREFIX}{_check_domain(domain)}.jwks.json"


def caller_ceiling(domain: str, clearance: str) -> str:
    """min(domain ceiling, caller clearance), as a clearance name ``L1``..``L4``."""
    if domain not in DOMAIN_CEILINGS:
        raise identity.IdentityError(f"unknown network domain {domain!r}")
    return min(DOMAIN_CEILINGS[domain], clearance,
               key=identity.clearance_to_level)


@dataclass(frozen=True)
class Assertion:
    """What the gateway established about one call."""

    subject: str
    roles: frozenset[str]
    clearance: str
    domain: str
    ceiling: str
    request_id: str
    # The token's jti or the client certificate's fingerprint: what revocation names.
    credential_id: str
    issuer: str
    expires_at: float
    # The full name of the gRPC service the call was forwarded to.
    audience: str = ""

    @property
    def ceiling_level(self) -> int:
        """The ceiling as a ``DataLevel`` enum value."""
        return identity.clearance_to_level(self.ceiling)

    def principal(self) -> identity.Principal:
        return identity.Principal(self.subject, self.roles, self.clearance, self.credential_id,
                                  datetime.fromtimestamp(self.expires_at, UTC))


def _encode(payload: Mapping[str, Any]) -> bytes:
    return identity.b64url(json.dumps(payload, separators=(",", ":"),
                                       ensure_ascii=False).encode()).encode("ascii")


class AssertionSigner:
    """Held by one domain's gateways only: whoever has the key can vouch for any caller of
    that domain, and of no other."""

    def __init__(self, private_key: Ed25519PrivateKey, *, issuer: str, domain: str,
                 ttl_s: float = DEFAULT_TTL_S) -> None:
        self._key = private_key
        self.kid = identity.key_id_of(private_key.public_key())
        self.issuer = issuer
        self.domain = _check_domain(domain)
        self.ttl_s = ttl_s

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    @classmethod
    def load(cls, keys_dir: Path, *, domain: str, issuer: str, ttl_s: float = DEFAULT_TTL_S,
             key_file: Path | None = None) -> AssertionSigner:
        """The domain's key, from ``key_file`` if given; it must be published for that
        domain, so that a gateway handed another domain's key file refuses to start
        rather than have every assertion it mints refused."""
        path = key_file or assertion_key_path(keys_dir, domain)
        if not path.exists():
            raise identity.IdentityError(f"no {domain} assertion signing key at {path}; "
                                         "`zhijian up` creates it")
        signer = cls(identity.load_private_key(path), issuer=issuer, domain=domain,
                     ttl_s=ttl_s)
        published = read_domain_keys(keys_dir).get(signer.kid)
        if published is None or published.domain != domain:
            raise identity.IdentityError(
                f"the assertion key in {path} is not published for the {domain} domain in "
                f"{assertion_jwks_path(keys_dir, domain)}")
        return signer

    @classmethod
    def load_or_create(cls, keys_dir: Path, *, issuer: str, domain: str | None = None,
                       ttl_s: float = DEFAULT_TTL_S) -> AssertionSigner:
        """The domain's existing key, else a new one; either way published for it.

        ``domain`` defaults to the one a gateway's own name (``svc:gateway-<domain>``)
        states; any other issuer must name the domain it acts for."""
        domain = domain if domain is not None else _gateway_domain(issuer)
        identity.private_dir(keys_dir)
        path = assertion_key_path(keys_dir, domain)
        if not path.exists():
            with contextlib.suppress(FileExistsError):
                write_file(path, identity.private_key_pem(Ed25519PrivateKey.generate()),
                           mode=0o600, exclusive=True)
        signer = cls(identity.load_private_key(path), issuer=issuer, domain=domain,
                     ttl_s=ttl_s)
        identity.publish_public_key(assertion_jwks_path(keys_dir, domain), signer.public_key)
        return signer

    def mint(self, *, subject: str, roles: Iterable[str], clearance: str, domain: str,
             request_id: str, audience: str, credential_id: str = "",
             now: float | None = None) -> str:
        # Verifiers would refuse it anyway; failing here names the bug where it is.
        if domain != self.domain:
            raise identity.IdentityError(f"a {self.domain} assertion key cannot vouch for "
                                         f"the {domain} domain")
        issued = time.time() if now is None else now
        payload = {"kid": self.kid, "iss": self.issuer, "aud": audience, "sub": subject,
                   "roles": sorted(roles), "clr": clearance, "dom": domain,
                   "ceil": caller_ceiling(domain, clearance), "rid": request_id,
                   "cid": credential_id, "exp": round(issued + self.ttl_s, 3)}
        body = _encode(payload)
        return body.decode("ascii") + "." + identity.b64url(self._key.sign(body))


def _gateway_domain(issuer: str) -> str:
    name = issuer.removeprefix(f"{identity.SVC_PREFIX}gateway-")
    if name == issuer or name not in DOMAIN_CEILINGS:
        raise identity.IdentityError(f"{issuer!r} is not a gateway's name: say which network "
                                     "domain its assertion key is for")
    return name


def provision_domain_keys(keys_dir: Path) -> dict[str, Path]:
    """Every domain's assertion key, created where missing and published for its domain
    (done once by ``zhijian up``, not raced for by the gateways); the key one domain-less
    scheme shared is removed. Returns each domain's private key file."""
    for domain in DOMAIN_CEILINGS:
        AssertionSigner.load_or_create(keys_dir, issuer=f"{identity.SVC_PREFIX}zhijian-up",
                                       domain=domain)
    for name in LEGACY_ASSERTION_FILES:
        (keys_dir / name).unlink(missing_ok=True)
    return {domain: assertion_key_path(keys_dir, domain) for domain in DOMAIN_CEILINGS}


@dataclass(frozen=True)
class DomainKey:
    """A public assertion key and the one network domain it may vouch for."""

    domain: str
    key: Ed25519PublicKey


def read_domain_keys(keys_dir: Path) -> dict[str, DomainKey]:
    """Every published assertion key by kid, with its domain. A key published for two
    domains could claim either, so it is trusted for neither."""
    keys: dict[str, DomainKey] = {}
    ambiguous: set[str] = set()
    for domain in DOMAIN_CEILINGS:
        path = assertion_jwks_path(keys_dir, domain)
        if not path.exists():
            continue
        for kid, key in identity.load_public_keys(path).items():
            if kid in keys:
                ambiguous.add(kid)
            keys[kid] = DomainKey(domain, key)
    for kid in ambiguous:
        log.error("assertion key %s is published for more than one network domain; "
                  "refusing every assertion it signed", kid)
        del keys[kid]
    return keys


def _invalid() -> Unauthenticated:
    return Unauthenticated(INVALID_MESSAGE, reason=REASON_INVALID)


class AssertionVerifier:
    """Checks signature, expiry, claims and the request id an assertion was minted for."""

    def __init__(self, public_keys: Mapping[str, DomainKey], *,
                 reload_keys: Callable[[], Mapping[str, DomainKey]] | None = None,
                 leeway_s: float = LEEWAY_S) -> None:
        self._keys = dict(public_keys)
        self._reload_keys = reload_keys
        self._next_reload = 0.0
        self._leeway = leeway_s

    @classmethod
    def from_keys_dir(cls, keys_dir: Path) -> AssertionVerifier:
        def read() -> Mapping[str, DomainKey]:
            return read_domain_keys(keys_dir)
        return cls(read(), reload_keys=read)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AssertionVerifier:
        return cls.from_keys_dir(identity.IdentitySettings.from_env(env).keys_dir)

    def _key(self, kid: str) -> DomainKey | None:
        key = self._keys.get(kid)
        if key is not None or self._reload_keys is None:
            return key
        # A gateway started with a new key: re-read the published keys, at most once per
        # interval so that garbage key ids cannot turn every call into a file read.
        now = time.monotonic()
        if now < self._next_reload:
            return None
        self._next_reload = now + KEY_RELOAD_INTERVAL_S
        with contextlib.suppress(OSError, ValueError):
            self._keys = dict(self._reload_keys())
        return self._keys.get(kid)

    def verify(self, token: str, *, request_id: str | None = None,
               audiences: Collection[str] | None = None, now: float | None = None
               ) -> Assertion:
        if len(token) > MAX_ASSERTION_CHARS:
            raise _invalid()
        body, _, signature = token.strip().partition(".")
        try:
            payload = json.loads(identity.b64url_decode(body))
            raw_signature = identity.b64url_decode(signature)
        except (ValueError, UnicodeDecodeError):
            raise _invalid() from None
        if not isinstance(payload, dict):
            raise _invalid()
        published = self._key(str(payload.get("kid", "")))
        if published is None:
            raise _invalid()
        try:
            published.key.verify(raw_signature, body.encode("ascii"))
        except (InvalidSignature, UnicodeEncodeError):
            raise _invalid() from None
        assertion = _assertion(payload)
        # Checked only once the signature holds, so that the reason tells nothing to
        # whoever does not hold a key: one domain's gateway cannot speak for another.
        if assertion.domain != published.domain:
            raise Unauthenticated(DOMAIN_MISMATCH_MESSAGE, reason=REASON_DOMAIN_MISMATCH)
        moment = time.time() if now is None else now
        if moment > assertion.expires_at + self._leeway:
            raise Unauthenticated("caller assertion expired", reason=REASON_INVALID)
        # Bound to one request: an assertion lifted from one call does not carry another.
        if request_id is not None and request_id != assertion.request_id:
            raise _invalid()
        if audiences is not None and assertion.audience not in audiences:
            raise _invalid()
        return assertion


def _assertion(payload: Mapping[str, Any]) -> Assertion:
    try:
        roles = payload["roles"]
        if not (isinstance(roles, list) and all(isinstance(r, str) for r in roles)):
            raise _invalid()
        fields = [payload[k] for k in ("sub", "clr", "dom", "ceil", "rid", "cid", "iss", "aud")]
        if not all(isinstance(f, str) for f in fields):
            raise _invalid()
        subject, clearance, domain, ceiling, request_id, credential_id, issuer, audience = fields
        checked = identity.check_roles(roles)
        identity.check_subject(subject, checked)
        # The ceiling must be the one the domain and clearance imply, never wider.
        if caller_ceiling(domain, clearance) != ceiling or not request_id:
            raise _invalid()
        expires_at = float(payload["exp"])
    except (KeyError, TypeError, ValueError):
        raise _invalid() from None
    return Assertion(subject, frozenset(checked), clearance, domain, ceiling, request_id,
                     credential_id, issuer, expires_at, audience)


def assertion_from_metadata(metadata: Mapping[str, str], verifier: AssertionVerifier,
                            audiences: Collection[str] | None) -> Assertion:
    """The verified assertion of a call, bound to its ``x-zhijian-request-id`` and meant
    for one of ``audiences`` (the receiving gRPC services' full names)."""
    token = metadata.get(md.ASSERTION, "")
    if not token:
        raise Unauthenticated(MISSING_MESSAGE, reason=REASON_MISSING)
    request_id = metadata.get(md.REQUEST_ID, "")
    if not request_id:
        raise _invalid()
    return verifier.verify(token, request_id=request_id, audiences=audiences)


def assertion_metadata(signer: AssertionSigner, *, subject: str, roles: Iterable[str],
                       audience: str, clearance: str = "L4", domain: str | None = None,
                       request_id: str | None = None, credential_id: str = ""
                       ) -> tuple[tuple[str, str], ...]:
    """Metadata for one direct call to a service, as the signer's domain's gateway would
    send it. For tests and benchmarks, which hold that domain's key; ``domain``, if
    given, must be the signer's. A fresh request id per call."""
    import uuid

    rid = request_id or uuid.uuid4().hex
    token = signer.mint(subject=subject, roles=roles, clearance=clearance,
                        domain=signer.domain if domain is None else domain,
                        request_id=rid, audience=audience, credential_id=credential_id)
    return ((md.ASSERTION, token), (md.REQUEST_ID, rid))
