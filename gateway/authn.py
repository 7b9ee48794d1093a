"""Who is calling: a registry token (``authorization: Bearer <jwt>``) or a client
certificate the TLS layer verified against the platform CA.

Either way the result is a :class:`Caller` (subject, roles, clearance, the credential's
revocation id). Every failure is :class:`zhijian.errors.Unauthenticated` with the identity
module's uniform messages: a caller learns that its credentials were missing, invalid,
expired or revoked, never which check failed or why.

A bearer token wins over the certificate when both are sent: the certificate then only
admitted the connection, and the token names who acts on it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from zhijian import identity
from zhijian import metadata as md
from zhijian.certs import CertificateError, CertificateIdentity, read_client_certificate
from zhijian.errors import Unauthenticated

DEFAULT_CERT_CACHE: Final = 4096


@dataclass(frozen=True, slots=True)
class Caller:
    subject: str
    roles: frozenset[str]
    clearance: str  # "L1".."L4"
    credential_id: str  # the token's jti, or "sha256:<hex>" of the certificate
    clearance_level: int  # DataLevel value of ``clearance``


class Unrecorded(Unauthenticated):
    """The uniform "invalid" refusal, for a credential the registry has no record of."""


def _invalid() -> Unauthenticated:
    return Unauthenticated(identity.INVALID_MESSAGE, reason=identity.REASON_INVALID)


def _missing() -> Unauthenticated:
    return Unauthenticated("credentials missing: send `authorization: Bearer <token>` or a "
                           "client certificate", reason=identity.REASON_MISSING)


class Authenticator:
    def __init__(self, tokens: identity.TokenVerifier, *, is_revoked: Callable[[str], bool],
                 is_recorded: Callable[[str, str, frozenset[str], str, float], bool]
                 | None = None,
                 cert_cache_size: int = DEFAULT_CERT_CACHE,
                 clock: Callable[[], float] = time.time) -> None:
        self._tokens = tokens
        self._is_revoked = is_revoked
        # Whether the registry recorded a credential's issue; None (unit tests of the
        # other checks only) skips it. The gateway's server always passes it.
        self._is_recorded = is_recorded
        self._clock = clock
        # Parsing a certificate costs ~50 µs and a connection presents the same one on
        # every call, so the parse (or its failure, as None) is kept per PEM.
        self._certs: dict[bytes, CertificateIdentity | None] = {}
        self._cert_cache_size = cert_cache_size

    @classmethod
    def from_settings(cls, settings: identity.IdentitySettings, *,
                      is_revoked: Callable[[str], bool],
                      is_recorded: Callable[[str, str, frozenset[str], str, float], bool]
                      ) -> Authenticator:
        return cls(identity.TokenVerifier.from_settings(settings, is_revoked=is_revoked),
                   is_revoked=is_revoked, is_recorded=is_recorded)

    def _require_recorded(self, credential_id: str, subject: str, roles: frozenset[str],
                          clearance: str, expires_at: float) -> None:
        if self._is_recorded is not None and not self._is_recorded(
                credential_id, subject, roles, clearance, expires_at):
            # Signed by a real key, but never issued through the registry (or issued since
            # the gateway last read the list: the proxy re-reads it and tries once more).
            raise Unrecorded(identity.INVALID_MESSAGE, reason=identity.REASON_INVALID)

    def authenticate(self, authorization: str | None, client_cert: bytes | None) -> Caller:
        """The caller of one call; ``client_cert`` is the verified peer certificate (PEM)
        of an mTLS connection, None on a plaintext one."""
        if authorization:
            principal = identity.principal_from_metadata({md.AUTHORIZATION: authorization},
                                                         self._tokens)
            self._require_recorded(principal.jti, principal.subject, principal.roles,
                                   principal.clearance, principal.expires_at.timestamp())
            return Caller(principal.subject, principal.roles, principal.clearance,
                          principal.jti, principal.level)
        if client_cert:
            return self._certificate_caller(client_cert)
        raise _missing()

    def _certificate_caller(self, pem: bytes) -> Caller:
        try:
            claims = self._certs[pem]
        except KeyError:
            claims = self._parse(pem)
        if claims is None:
            raise _invalid()
        # The handshake checked validity when the connection opened; a long-lived
        # connection must not outlive its certificate.
        if self._clock() > claims.not_after:
            raise Unauthenticated("credentials expired", reason=identity.REASON_EXPIRED)
        if self._is_revoked(claims.fingerprint):
            raise Unauthenticated("credentials revoked", reason=identity.REASON_REVOKED)
        self._require_recorded(claims.fingerprint, claims.subject, claims.roles,
                               claims.clearance, claims.not_after)
        return Caller(claims.subject, claims.roles, claims.clearance, claims.fingerprint,
                      identity.clearance_to_level(claims.clearance))

    def _parse(self, pem: bytes) -> CertificateIdentity | None:
        try:
            claims: CertificateIdentity | None = read_client_certificate(pem)
        except CertificateError:
            claims = None
        if len(self._certs) >= self._cert_cache_size:
            with contextlib.suppress(StopIteration, KeyError):
                del self._certs[next(iter(self._certs))]
        self._certs[pem] = claims
        return claims
