"""Credentials the fuzzer presents: the demo identities' real tokens, and every kind of
bad one an outside attacker can produce or steal.

The bad ones are minted here against the platform's own issuer where that is the
point (expired, not yet valid, wrong audience, unknown role: all correctly signed), and
with keys nobody trusts where it is not (forged, algorithm confusion, ``alg: none``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from zhijian.identity import (
    ALGORITHM,
    IdentityError,
    IdentitySettings,
    IssuerKey,
    LocalIdentity,
    key_id_of,
    list_identities,
)


@dataclass(frozen=True)
class Credential:
    label: str
    authorization: str | None  # the header value; None sends no header


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(settings: IdentitySettings, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer_name, "aud": settings.audience, "sub": "user:fuzz.intruder",
        "roles": ["platform_admin"], "clearance": "L4", "iat": now, "nbf": now,
        "exp": now + 3600, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    return claims


class Credentials:
    """Tokens by identity name, and the bad credentials, built once per run."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.settings = IdentitySettings.from_env(env)
        self._tokens: dict[str, str] = {}
        self.jtis: set[str] = set()
        self.bad: list[Credential] = []

    def token(self, identity: str) -> str:
        token = self._tokens.get(identity)
        if token is None:
            loaded = LocalIdentity.load(self.settings.identities_dir, identity)
            token = self._tokens[identity] = loaded.token
            self.jtis.add(str(jwt.decode(token, options={"verify_signature": False})["jti"]))
        return token

    def protect_all(self) -> None:
        """Remember the token ids of every local identity (platform components too), so
        that no fuzzed RevokeToken can name one."""
        for identity in list_identities(self.settings.identities_dir):
            with contextlib.suppress(jwt.PyJWTError, KeyError):
                self.jtis.add(str(jwt.decode(identity.token,
                                             options={"verify_signature": False})["jti"]))

    def bearer(self, identity: str) -> str:
        return f"Bearer {self.token(identity)}"

    def add_bad(self, label: str, authorization: str | None) -> None:
        self.bad.append(Credential(label, authorization))

    def build_bad(self, sample_identity: str) -> None:
        """Every bad credential; ``sample_identity``'s real token is the one tampered with."""
        real = self.token(sample_identity)
        header, payload, signature = real.split(".")
        tampered = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        tampered["roles"] = ["platform_admin"]
        tampered["clearance"] = "L4"
        stranger = Ed25519PrivateKey.generate()
        issuer_kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
        for label, value in (
                ("no credentials", None), ("empty bearer", "Bearer "), ("bearer only", "Bearer"),
                ("not a JWT", "Bearer not-a-jwt"), ("basic auth", "Basic ZnV6ejpmdXp6"),
                ("token without scheme", real), ("truncated signature", f"Bearer {real[:-6]}"),
                ("two parts", f"Bearer {header}.{payload}"),
                ("claims edited under the old signature",
                 f"Bearer {header}.{_b64(json.dumps(tampered).encode())}.{signature}"),
                ("signature of another token", f"Bearer {header}.{payload}.{_b64(bytes(64))}"),
                ("forged with the issuer's key id", "Bearer " + jwt.encode(
                    _claims(self.settings), stranger, algorithm=ALGORITHM,
                    headers={"kid": issuer_kid})),
                ("forged with a key of its own", "Bearer " + jwt.encode(
                    _claims(self.settings), stranger, algorithm=ALGORITHM,
                    headers={"kid": key_id_of(stranger.public_key())})),
                ("alg none", "Bearer " + _b64(json.dumps({"alg": "none", "typ": "JWT",
                                                           "kid": issuer_kid}).encode())
                 + "." + _b64(json.dumps(_claims(self.settings)).encode()) + "."),
                ("oversized token", "Bearer " + "A" * 6000),
                ("padded with spaces", f"Bearer    {real}   "),
                ("scheme in capitals", f"BEARER {real[:-1]}"),
        ):
            self.add_bad(label, value)
        self._signed_by_issuer(issuer_kid)

    def _signed_by_issuer(self, issuer_kid: str) -> None:
        """Bad tokens that only the issuer could sign: the harness holds the key only on a
        platform whose keys directory it can read (its own, or the test suite's)."""
        try:
            issuer = IssuerKey.load(self.settings.keys_dir)
        except (IdentityError, OSError, ValueError):
            return
        now = int(time.time())
        raw_public = issuer.public_key.public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)
        for label, claims in (
                ("expired", _claims(self.settings, iat=now - 7200, nbf=now - 7200,
                                    exp=now - 3600)),
                ("not yet valid", _claims(self.settings, nbf=now + 3600)),
                ("wrong audience", _claims(self.settings, aud="someone-else")),
                ("wrong issuer", _claims(self.settings, iss="evil")),
                ("unknown role", _claims(self.settings, roles=["superuser"])),
                ("no roles", _claims(self.settings, roles=[])),
                ("roles not a list", _claims(self.settings, roles="platform_admin")),
                ("unknown clearance", _claims(self.settings, clearance="L9")),
                ("empty subject", _claims(self.settings, sub="")),
                ("no token id", _claims(self.settings, jti="")),
                ("expiry not a number", _claims(self.settings, exp="tomorrow")),
        ):
            token = jwt.encode(claims, issuer.private_key, algorithm=ALGORITHM,
                               headers={"kid": issuer_kid})
            self.add_bad(label, f"Bearer {token}")
        # Algorithm confusion: HMAC keyed with the issuer's public key.
        confused = jwt.api_jws.PyJWS().encode(
            json.dumps(_claims(self.settings)).encode(), raw_public, algorithm="HS256",
            headers={"kid": issuer_kid})
        self.add_bad("HS256 keyed with the public key", f"Bearer {confused}")

    def issue(self, subject: str, roles: list[str], clearance: str = "L3") -> tuple[str, str]:
        """A valid token of the platform's issuer; (token, jti). For setup only."""
        issuer = IssuerKey.load(self.settings.keys_dir)
        jti = uuid.uuid4().hex
        claims = _claims(self.settings, sub=subject, roles=roles, clearance=clearance, jti=jti)
        return jwt.encode(claims, issuer.private_key, algorithm=ALGORITHM,
                          headers={"kid": issuer.kid}), jti


def identities_dir(env: Mapping[str, str]) -> Path:
    return IdentitySettings.from_env(env).identities_dir
