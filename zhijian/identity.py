"""Who is acting: roles, clearances, EdDSA tokens, local identities and signed statements.

Tokens are EdDSA JWTs (``iss, aud, sub, roles, clearance, iat, nbf, exp, jti``, header
``kid``) signed by the issuer key under ``$ZHIJIAN_HOME/keys``; whoever verifies needs only
the public JWKS beside it, which may hold several keys so that rotation does not
invalidate tokens already out. Approvers additionally hold an Ed25519 signing key of their
own: governance decisions are signed statements verified against the key the registry
enrolled for them, so a stolen bearer token alone cannot approve anything.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.types import Options

from zhijian import metadata as md
from zhijian.config import ConfigError, env_int, env_str, zhijian_home
from zhijian.errors import Unauthenticated
from zhijian.files import write_file
from zhijian.types.v1 import ai_result_pb2

ROLES: Final = ("model_developer", "validator", "platform_admin", "reviewer",
                "business_system", "sre", "auditor", "service")
SERVICE_ROLE: Final = "service"
# Roles whose decisions are signed statements, so they hold an enrolled signing key.
APPROVER_ROLES: Final = frozenset({"validator", "platform_admin"})

_LEVELS: Final[Mapping[str, int]] = {
    "L1": ai_result_pb2.DATA_LEVEL_L1_PUBLIC,
    "L2": ai_result_pb2.DATA_LEVEL_L2_GENERAL,
    "L3": ai_result_pb2.DATA_LEVEL_L3_IMPORTANT,
    "L4": ai_result_pb2.DATA_LEVEL_L4_CORE,
}
CLEARANCES: Final = tuple(_LEVELS)

USER_PREFIX: Final = "user:"
SVC_PREFIX: Final = "svc:"
NAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")

ALGORITHM: Final = "EdDSA"
# What `zhijian up` leaves, on the platform's first start, in the registry's work folder:
# the credentials it minted, which the registry records once as its bootstrap act.
BOOTSTRAP_CREDENTIALS: Final = "bootstrap-credentials.json"
REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "roles", "clearance", "iat", "nbf", "exp", "jti")

# One message for every invalid token: telling an attacker whether the key id was unknown
# or the signature bad would help them probe.
INVALID_MESSAGE: Final = "invalid credentials"
REASON_MISSING: Final = "CREDENTIALS_MISSING"
REASON_INVALID: Final = "CREDENTIALS_INVALID"
REASON_EXPIRED: Final = "CREDENTIALS_EXPIRED"
REASON_REVOKED: Final = "CREDENTIALS_REVOKED"

ISSUER_PEM: Final = "issuer.pem"
ISSUER_JWKS: Final = "issuer.jwks.json"

DEFAULT_ISSUER: Final = "zhijian"
DEFAULT_AUDIENCE: Final = "zhijian"
DEFAULT_TTL_S: Final = 30 * 24 * 3600


class IdentityError(ValueError):
    """A local identity problem (missing key or identity, malformed input); never sent to
    a remote caller, who gets :class:`zhijian.errors.Unauthenticated` instead."""


# ---------------------------------------------------------------------------------------
# Roles, clearances, subjects
# ---------------------------------------------------------------------------------------

def clearance_to_level(clearance: str) -> int:
    """``"L3"`` -> ``DataLevel.DATA_LEVEL_L3_IMPORTANT`` (3)."""
    try:
        return _LEVELS[clearance]
    except KeyError:
        raise IdentityError(f"clearance {clearance!r} is not one of "
                            f"{', '.join(CLEARANCES)}") from None


def level_to_clearance(level: int) -> str:
    """``DataLevel`` value -> ``"L1"`` .. ``"L4"``."""
    for clearance, value in _LEVELS.items():
        if value == level:
            return clearance
    raise IdentityError(f"data level {level} has no clearance (expected 1..4)")


def check_name(name: str) -> str:
    """Identity names double as file names, so they are kept to a safe alphabet."""
    if not NAME_PATTERN.fullmatch(name):
        raise IdentityError(f"identity name {name!r} must match {NAME_PATTERN.pattern}")
    return name


def user_subject(name: str) -> str:
    return USER_PREFIX + check_name(name)


def svc_subject(name: str) -> str:
    return SVC_PREFIX + check_name(name)


def check_subject(subject: str, roles: Iterable[str]) -> None:
    """A subject is ``user:<name>`` or ``svc:<name>``; only platform components carry the
    ``service`` role, and they carry nothing else, so a human can never pass as one."""
    prefix, _, name = subject.partition(":")
    if prefix + ":" not in (USER_PREFIX, SVC_PREFIX) or not NAME_PATTERN.fullmatch(name):
        raise IdentityError(f"subject {subject!r} must be user:<name> or svc:<name> with "
                            f"<name> matching {NAME_PATTERN.pattern}")
    is_service = subject.startswith(SVC_PREFIX)
    role_set = set(roles)
    if is_service and role_set != {SERVICE_ROLE}:
        raise IdentityError(f"{subject} is a platform component: its only role is "
                            f"{SERVICE_ROLE!r}")
    if not is_service and SERVICE_ROLE in role_set:
        raise IdentityError(f"role {SERVICE_ROLE!r} is for platform components (svc:<name>), "
                            f"not {subject}")


def check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """Known roles, deduplicated in the order given; at least one."""
    ordered = tuple(dict.fromkeys(roles))
    unknown = [role for role in ordered if role not in ROLES]
    if unknown:
        raise IdentityError(f"unknown role(s) {', '.join(unknown)}; roles are "
                            f"{', '.join(ROLES)}")
    if not ordered:
        raise IdentityError("an identity needs at least one role")
    return ordered


# ---------------------------------------------------------------------------------------
# Keys: thumbprints, JWKS, files
# ---------------------------------------------------------------------------------------

def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_key: Ed25519PublicKey | bytes) -> str:
    """RFC 7638 thumbprint of the OKP/Ed25519 JWK (RFC 8037), base64url without padding."""
    raw = public_key if isinstance(public_key, bytes) else _raw_public(public_key)
    # RFC 7638: only the required members, lexicographic order, no whitespace.
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)},
                           sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(_raw_public(public_key)),
            "kid": key_id_of(public_key), "use": "sig", "alg": ALGORITHM}


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode is subject to umask and ignored for existing dirs
    return path


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError(f"{path} does not hold an Ed25519 private key")
    return key


def _jwk_to_key(jwk: Mapping[str, Any]) -> tuple[str, Ed25519PublicKey]:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not isinstance(
            jwk.get("x"), str):
        raise IdentityError(f"JWK {jwk.get('kid')!r} is not an OKP/Ed25519 public key")
    raw = b64url_decode(jwk["x"])
    if len(raw) != 32:
        raise IdentityError(f"JWK {jwk.get('kid')!r} has a {len(raw)}-byte key, not 32")
    kid = key_id_of(raw)
    # A kid that is not the key's own thumbprint would let one key masquerade as another.
    if jwk.get("kid", kid) != kid:
        raise IdentityError(f"JWK kid {jwk['kid']!r} is not the thumbprint of its key")
    return kid, Ed25519PublicKey.from_public_bytes(raw)


def load_public_keys(jwks_path: Path) -> dict[str, Ed25519PublicKey]:
    """Every public key of a JWKS by kid, decoded once for fast verification."""
    try:
        document = json.loads(jwks_path.read_text())
    except FileNotFoundError:
        raise IdentityError(f"no issuer public keys at {jwks_path}; `zhijian up` creates "
                            "them") from None
    except json.JSONDecodeError as error:
        raise IdentityError(f"{jwks_path} is not JSON: {error}") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise IdentityError(f"{jwks_path} has no \"keys\" list")
    return dict(_jwk_to_key(jwk) for jwk in keys)


def write_jwks(jwks_path: Path, keys: Iterable[Ed25519PublicKey]) -> None:
    document = {"keys": [public_jwk(key) for key in keys]}
    write_file(jwks_path, (json.dumps(document, indent=2) + "\n").encode(), mode=0o644)


def publish_public_key(jwks_path: Path, key: Ed25519PublicKey) -> None:
    """Add a key to the JWKS, keeping those already there (tokens they signed stay valid
    until they expire or the key is removed)."""
    existing = load_public_keys(jwks_path) if jwks_path.exists() else {}
    if key_id_of(key) not in existing:
        write_jwks(jwks_path, [*existing.values(), key])


@dataclass(frozen=True)
class IssuerKey:
    """The token issuer's Ed25519 key; whoever holds it can mint any identity."""

    private_key: Ed25519PrivateKey
    kid: str

    @classmethod
    def _from_private(cls, key: Ed25519PrivateKey) -> IssuerKey:
        return cls(key, key_id_of(key.public_key()))

    @classmethod
    def load(cls, keys_dir: Path) -> IssuerKey:
        path = keys_dir / ISSUER_PEM
        if not path.exists():
            raise IdentityError(f"issuing needs the issuer's private key at {path}; it is "
                                "created by `zhijian up` (ZHIJIAN_KEYS_DIR selects another "
                                "directory)")
        return cls._from_private(load_private_key(path))

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> IssuerKey:
        """The existing key, else a new one; either way its public key is in the JWKS."""
        private_dir(keys_dir)
        path = keys_dir / ISSUER_PEM
        if not path.exists():
            # If another process created it meanwhile, theirs is used.
            with contextlib.suppress(FileExistsError):
                write_file(path, private_key_pem(Ed25519PrivateKey.generate()), mode=0o600,
                            exclusive=True)
        issuer = cls.load(keys_dir)
        publish_public_key(keys_dir / ISSUER_JWKS, issuer.public_key)
        return issuer

    @classmethod
    def rotate(cls, keys_dir: Path) -> IssuerKey:
        """A new issuing key; the previous public key stays in the JWKS so that tokens it
        signed keep verifying. The previous private key is discarded: nothing needs it."""
        private_dir(keys_dir)
        key = Ed25519PrivateKey.generate()
        publish_public_key(keys_dir / ISSUER_JWKS, key.public_key())
        write_file(keys_dir / ISSUER_PEM, private_key_pem(key), mode=0o600)
        return cls._from_private(key)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


# ---------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


def issue_token(issuer: IssuerKey, *, subject: str, roles: Sequence[str], clearance: str,
                ttl_s: int, issuer_name: str, audience: str, jti: str | None = None,
                now: datetime | None = None) -> IssuedToken:
    checked_roles = check_roles(roles)
    check_subject(subject, checked_roles)
    clearance_to_level(clearance)
    if ttl_s <= 0:
        raise IdentityError(f"token lifetime must be positive, not {ttl_s} s")
    issued = int((now or datetime.now(UTC)).timestamp())
    token_id = jti or uuid.uuid4().hex
    claims = {"iss": issuer_name, "aud": audience, "sub": subject, "roles": list(checked_roles),
              "clearance": clearance, "iat": issued, "nbf": issued, "exp": issued + ttl_s,
              "jti": token_id}
    token = jwt.encode(claims, issuer.private_key, algorithm=ALGORITHM,
                       headers={"kid": issuer.kid})
    return IssuedToken(token, token_id, datetime.fromtimestamp(issued + ttl_s, UTC))


@dataclass(frozen=True)
class CredentialRecord:
    """What the registry recorded when it issued a credential. A token is admitted only
    as recorded: its id alone would let whoever holds the issuer key mint a token with a
    recorded id and other roles, or bring an expired one back."""

    subject: str
    roles: frozenset[str]
    clearance: str
    expire_time: float  # POSIX seconds

    def admits(self, subject: str, roles: Iterable[str], clearance: str | None = None,
               expires_at: float | None = None) -> bool:
        """``clearance`` and ``expires_at`` None: not compared (an assertion carries the
        gateway's ceiling and its own lifetime, not the credential's)."""
        return (subject == self.subject and frozenset(roles) == self.roles
                and (clearance is None or clearance == self.clearance)
                # A second of slack: the record keeps the expiry as a float.
                and (expires_at is None or expires_at <= self.expire_time + 1.0))


@dataclass(frozen=True)
class Principal:
    """The caller as verified from its token."""

    subject: str
    roles: frozenset[str]
    clearance: str
    jti: str
    expires_at: datetime

    @property
    def level(self) -> int:
        return _LEVELS[self.clearance]

    @property
    def is_service(self) -> bool:
        return self.subject.startswith(SVC_PREFIX)


KEY_RELOAD_INTERVAL_S = 5.0


def _invalid() -> Unauthenticated:
    return Unauthenticated(INVALID_MESSAGE, reason=REASON_INVALID)


class TokenVerifier:
    """Checks signature, issuer, audience, validity window, claims and revocation.

    Keys arrive decoded and are looked up by kid, so a verification parses no key."""

    def __init__(self, public_keys: Mapping[str, Ed25519PublicKey], *, issuer_name: str,
                 audience: str, is_revoked: Callable[[str], bool], leeway_s: float = 5,
                 cache_size: int = 4096,
                 reload_keys: Callable[[], Mapping[str, Ed25519PublicKey]] | None = None
                 ) -> None:
        self._keys = dict(public_keys)
        # Rotation without downtime: a token signed by a key published after start makes
        # the verifier re-read the published keys (at most once per interval, so that
        # garbage key ids cannot turn every call into a file read).
        self._reload_keys = reload_keys
        self._next_reload = 0.0
        self._issuer = issuer_name
        self._audience = audience
        self._is_revoked = is_revoked
        self._leeway = leeway_s
        self._options: Options = {"require": list(REQUIRED_CLAIMS), "strict_aud": True}
        # A gateway sees the same token on every call of a session; re-checking the
        # signature each time costs ~100 µs, so verified tokens are remembered. Only the
        # exact token string hits, and expiry and revocation are still checked per call.
        self._verified: dict[str, Principal] = {}
        self._cache_size = cache_size

    @classmethod
    def from_settings(cls, settings: IdentitySettings, *,
                      is_revoked: Callable[[str], bool]) -> TokenVerifier:
        return cls(load_public_keys(settings.jwks_path), issuer_name=settings.issuer_name,
                   audience=settings.audience, is_revoked=is_revoked,
                   reload_keys=lambda: load_public_keys(settings.jwks_path))

    def verify(self, token: str) -> Principal:
        principal = self._verified.get(token)
        if principal is None:
            principal = _principal(self._decode(token))
            self._remember(token, principal)
        elif datetime.now(UTC).timestamp() > principal.expires_at.timestamp() + self._leeway:
            self._verified.pop(token, None)
            raise Unauthenticated("credentials expired", reason=REASON_EXPIRED)
        # Checked last, so that only a genuine token learns it has been revoked.
        if self._is_revoked(principal.jti):
            raise Unauthenticated("credentials revoked", reason=REASON_REVOKED)
        return principal

    def _remember(self, token: str, principal: Principal) -> None:
        if self._cache_size <= 0:
            return
        if len(self._verified) >= self._cache_size:
            # Evict the oldest (dicts keep insertion order). Lock-free: if another thread
            # changes the dict meanwhile, skipping one eviction does no harm.
            with contextlib.suppress(RuntimeError, KeyError, StopIteration):
                del self._verified[next(iter(self._verified))]
        self._verified[token] = principal

    def _reloaded_key(self, kid: str) -> Ed25519PublicKey | None:
        now = time.monotonic()
        if not kid or self._reload_keys is None or now < self._next_reload:
            return None
        self._next_reload = now + KEY_RELOAD_INTERVAL_S
        try:
            self._keys = dict(self._reload_keys())
        except (OSError, IdentityError, ValueError):
            return None
        return self._keys.get(kid)

    def _decode(self, token: str) -> dict[str, Any]:
        try:
            kid = _unverified_kid(token)
            key = self._keys.get(kid) or self._reloaded_key(kid)
            if key is None:
                raise _invalid()
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=self._audience,
                issuer=self._issuer, leeway=self._leeway, options=self._options)
        except jwt.ExpiredSignatureError:
            # PyJWT checks expiry only after the signature, so this is a genuine token.
            raise Unauthenticated("credentials expired", reason=REASON_EXPIRED) from None
        except jwt.PyJWTError:
            raise _invalid() from None
        return claims


def _unverified_kid(token: str) -> str:
    """The header's kid, only to pick the key; PyJWT then parses the token strictly."""
    try:
        header = json.loads(b64url_decode(token.partition(".")[0]))
    except (ValueError, UnicodeDecodeError):
        return ""
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else ""


def _principal(claims: Mapping[str, Any]) -> Principal:
    """Typed principal from verified claims; a well-signed token with claims this
    platform does not understand (unknown role, bad clearance) is still refused."""
    subject, roles, clearance, jti = (claims["sub"], claims["roles"], claims["clearance"],
                                      claims["jti"])
    if not (isinstance(roles, list) and all(isinstance(role, str) for role in roles)
            and isinstance(clearance, str) and isinstance(subject, str) and jti):
        raise _invalid()
    try:
        checked = check_roles(roles)
        check_subject(subject, checked)
        clearance_to_level(clearance)
    except IdentityError:
        raise _invalid() from None
    return Principal(subject, frozenset(checked), clearance, str(jti),
                     datetime.fromtimestamp(int(claims["exp"]), UTC))


def principal_from_metadata(metadata: Mapping[str, str], verifier: TokenVerifier) -> Principal:
    """The caller of a gRPC call from ``authorization: Bearer <jwt>``."""
    header = metadata.get(md.AUTHORIZATION, "")
    scheme, _, token = header.strip().partition(" ")
    # RFC 7235: the scheme name is case-insensitive.
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("credentials missing: send `authorization: Bearer <token>`",
                              reason=REASON_MISSING)
    return verifier.verify(token.strip())


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class IdentitySettings:
    issuer_name: str
    audience: str
    ttl_s: int
    keys_dir: Path
    identities_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IdentitySettings:
        home = zhijian_home(env)
        ttl_s = env_int("ZHIJIAN_TOKEN_TTL_S", DEFAULT_TTL_S, env)
        if ttl_s <= 0:
            raise ConfigError(f"ZHIJIAN_TOKEN_TTL_S={ttl_s} must be positive")
        return cls(
            issuer_name=env_str("ZHIJIAN_TOKEN_ISSUER", DEFAULT_ISSUER, env),
            audience=env_str("ZHIJIAN_TOKEN_AUDIENCE", DEFAULT_AUDIENCE, env),
            ttl_s=ttl_s,
            keys_dir=Path(env_str("ZHIJIAN_KEYS_DIR", str(home / "keys"), env)),
            identities_dir=Path(env_str("ZHIJIAN_IDENTITIES_DIR", str(home / "identities"),
                                        env)),
        )

    @property
    def jwks_path(self) -> Path:
        return self.keys_dir / ISSUER_JWKS


# ---------------------------------------------------------------------------------------
# Local identities (what the CLI's `--as NAME` acts as)
# ---------------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class LocalIdentity:
    """A named identity on this machine: its token and, for approvers, a signing key.

    Stored as ``<dir>/<name>.json`` and ``<dir>/<name>.signing.pem``, both 0600: the token
    is a bearer credential."""

    name: str
    subject: str
    roles: tuple[str, ...]
    clearance: str
    token: str
    jti: str
    expires_at: datetime
    directory: Path
    signing_key_id: str | None = None
    signing_key_enrolled: bool = False
    revoked_at: datetime | None = None

    @property
    def path(self) -> Path:
        return self.directory / f"{self.name}.json"

    @property
    def signing_key_path(self) -> Path:
        return self.directory / f"{self.name}.signing.pem"

    @property
    def is_approver(self) -> bool:
        return bool(APPROVER_ROLES.intersection(self.roles))

    def is_expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expires_at

    @classmethod
    def load(cls, identities_dir: Path, name: str) -> LocalIdentity:
        path = identities_dir / f"{check_name(name)}.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise IdentityError(f"no identity {name}; issue one with "
                                f"`zhijian identity issue {name} --role …`") from None
        except json.JSONDecodeError as error:
            raise IdentityError(f"{path} is not JSON: {error}") from None
        return cls._from_json(data, identities_dir, path)

    @classmethod
    def _from_json(cls, data: Any, directory: Path, path: Path) -> LocalIdentity:
        try:
            identity = cls(
                name=data["name"], subject=data["subject"], roles=tuple(data["roles"]),
                clearance=data["clearance"], token=data["token"], jti=data["jti"],
                expires_at=_parse_iso(data["expires_at"]), directory=directory,
                signing_key_id=data.get("signing_key_id"),
                signing_key_enrolled=bool(data.get("signing_key_enrolled", False)),
                revoked_at=_parse_iso(data["revoked_at"]) if data.get("revoked_at") else None)
        except (KeyError, TypeError, ValueError) as error:
            raise IdentityError(f"{path} is not a zhijian identity ({error!r})") from None
        if identity.path != path:
            raise IdentityError(f"{path} names identity {identity.name!r}, not its file name")
        return identity

    def to_json(self, *, with_token: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name, "subject": self.subject, "roles": list(self.roles),
            "clearance": self.clearance, "jti": self.jti, "expires_at": _iso(self.expires_at),
            "signing_key_id": self.signing_key_id,
            "signing_key_enrolled": self.signing_key_enrolled,
            "revoked_at": _iso(self.revoked_at) if self.revoked_at else None,
        }
        if with_token:
            data["token"] = self.token
        return data

    def save(self) -> LocalIdentity:
        private_dir(self.directory)
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=2) + "\n"
        write_file(self.path, text.encode("utf-8"), mode=0o600)
        return self

    def signing_key(self) -> Ed25519PrivateKey:
        if not self.signing_key_path.exists():
            raise IdentityError(f"identity {self.name} has no signing key at "
                                f"{self.signing_key_path}; only approvers "
                                f"({', '.join(sorted(APPROVER_ROLES))}) sign")
        return load_private_key(self.signing_key_path)

    def with_signing_key(self, key: Ed25519PrivateKey) -> LocalIdentity:
        """Store a (new) signing key; it counts as enrolled only once the registry says so."""
        private_dir(self.directory)
        write_file(self.signing_key_path, private_key_pem(key), mode=0o600)
        return replace(self, signing_key_id=key_id_of(key.public_key()),
                       signing_key_enrolled=False)


def list_identities(identities_dir: Path) -> list[LocalIdentity]:
    if not identities_dir.is_dir():
        return []
    return [LocalIdentity.load(identities_dir, path.stem)
            for path in sorted(identities_dir.glob("*.json"))
            if NAME_PATTERN.fullmatch(path.stem)]


# ---------------------------------------------------------------------------------------
# Signed statements
# ---------------------------------------------------------------------------------------

APPROVAL_TYPE: Final = "zhijian.approval.v1"
REJECTION_TYPE: Final = "zhijian.rejection.v1"
ENROLLMENT_TYPE: Final = "zhijian.signing_key_enrollment.v1"
APPROVAL_DECISIONS: Final = ("approve", "renew")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def canonical_statement(fields: Mapping[str, Any]) -> bytes:
    """The exact bytes a signature covers: signer and verifier rebuild them from the same
    fields, so the encoding must not depend on dict order or JSON library defaults. The
    ``type`` field keeps a signature for one kind of statement from passing for another."""
    kind = fields.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("a statement needs a non-empty \"type\" field")
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _sha256_field(name: str, value: str) -> str:
    if not _SHA256_HEX.fullmatch(value):
        raise ValueError(f"{name} must be a lowercase hex SHA-256, not {value!r}")
    return value


def _nonempty(name: str, value: str) -> str:
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


def approval_statement(*, filing: str, evidence_sha256: str, validation_run_sha256: str,
                       decision: str, conditions: Sequence[str] = ()) -> bytes:
    """What an approver signs to approve (or renew) a filing: the frozen evidence and the
    validation run it relied on, so the signature cannot be moved to other evidence."""
    if decision not in APPROVAL_DECISIONS:
        raise ValueError(f"decision {decision!r} is not one of {APPROVAL_DECISIONS}; a "
                         "rejection is signed with rejection_statement")
    return canonical_statement({
        "type": APPROVAL_TYPE, "filing": _nonempty("filing", filing),
        "evidence_sha256": _sha256_field("evidence_sha256", evidence_sha256),
        "validation_run_sha256": _sha256_field("validation_run_sha256", validation_run_sha256),
        "decision": decision, "conditions": list(conditions)})


def rejection_statement(*, filing: str, evidence_sha256: str, reason: str) -> bytes:
    return canonical_statement({
        "type": REJECTION_TYPE, "filing": _nonempty("filing", filing),
        "evidence_sha256": _sha256_field("evidence_sha256", evidence_sha256),
        "decision": "reject", "reason": _nonempty("reason", reason)})


def enrollment_statement(*, subject: str, key_id: str) -> bytes:
    """Proof of possession for EnrollSigningKey; binding the subject stops one identity
    from replaying another's enrolment."""
    return canonical_statement({"type": ENROLLMENT_TYPE, "subject": _nonempty("subject", subject),
                                "key_id": _nonempty("key_id", key_id)})


def generate_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_raw(private_key: Ed25519PrivateKey) -> bytes:
    return _raw_public(private_key.public_key())


def sign(private_key: Ed25519PrivateKey, statement: bytes) -> bytes:
    return private_key.sign(statement)


def verify_signature(public_key_raw: bytes, statement: bytes, signature: bytes) -> bool:
    if len(public_key_raw) != 32:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(signature, statement)
    except (InvalidSignature, ValueError):
        return False
    return True
