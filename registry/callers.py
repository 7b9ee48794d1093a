"""Who is calling the registry.

People and business systems reach the registry only through a gateway, which
authenticated them, decided, and forwards the call with its signed assertion: the
registry takes the caller from that assertion. Platform components (``svc:<name>``:
deployment watchers, gateways shipping call records) call it directly with their own
token. Anyone else presenting a token directly is refused, so that the gateway's
authorization, network-domain ceiling and call audit cannot be walked around.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

from zhijian import identity
from zhijian import metadata as md
from zhijian.assertion import AssertionVerifier, assertion_from_metadata
from zhijian.errors import Unauthenticated

ASSERTION_REQUIRED: Final = "ASSERTION_REQUIRED"

# Assertions are bound to the service they were forwarded to; only the registry's count.
REGISTRY_AUDIENCE: Final = ("zhijian.registry.v1.RegistryService",)


@dataclass(frozen=True)
class Caller:
    principal: identity.Principal
    # The network domain the gateway asserted, by name; None for a component calling
    # directly, which is inside the platform rather than behind any domain's gateway.
    network_domain: str | None


class CallerAuthenticator:
    def __init__(self, tokens: identity.TokenVerifier, assertions: AssertionVerifier, *,
                 is_revoked: Callable[[str], bool],
                 is_recorded: Callable[..., bool] | None = None) -> None:
        self._tokens = tokens
        self._assertions = assertions
        self._is_revoked = is_revoked
        # is_recorded(principal, asserted=...): was the credential recorded as presented?
        # One the registry never recorded was minted from a key file alone. None: every
        # credential counts as recorded (tests of the other checks only).
        self._is_recorded = is_recorded

    def authenticate(self, metadata: Mapping[str, str]) -> Caller:
        if metadata.get(md.ASSERTION):
            assertion = assertion_from_metadata(metadata, self._assertions, REGISTRY_AUDIENCE)
            # The gateway checked revocation when it minted the assertion; checked again
            # here because a revocation takes effect on the registry first, and an
            # assertion lives for seconds after it.
            if assertion.credential_id and self._is_revoked(assertion.credential_id):
                raise Unauthenticated("credentials revoked", reason=identity.REASON_REVOKED)
            asserted = assertion.principal()
            if self._is_recorded is not None and not self._is_recorded(asserted, asserted=True):
                raise _unrecorded()
            return Caller(asserted, assertion.domain)
        principal = identity.principal_from_metadata(metadata, self._tokens)
        if self._is_recorded is not None and not self._is_recorded(principal, asserted=False):
            raise _unrecorded()
        if principal.is_service and identity.SERVICE_ROLE in principal.roles:
            return Caller(principal, None)
        raise Unauthenticated("call the registry through a gateway",
                              reason=ASSERTION_REQUIRED)


def _unrecorded() -> Unauthenticated:
    # The uniform "invalid" answer: a caller is not told which check its credential failed.
    return Unauthenticated(identity.INVALID_MESSAGE, reason=identity.REASON_INVALID)
