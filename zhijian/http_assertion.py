"""ASGI middleware for HTTP endpoints of the platform (model servers): a request that
does not carry a gateway's valid assertion is answered 401 and reaches nothing.

The same check as the gRPC kernel's (:func:`zhijian.assertion.assertion_from_metadata`):
``x-zhijian-assertion`` bound to ``x-zhijian-request-id``. Probes and metrics stay open,
because the supervisor, Kubernetes and Prometheus call them and they carry no payload.
Pure ASGI, so it sits in front of any framework (BentoML's Starlette app here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Final

from zhijian.assertion import AssertionVerifier, assertion_from_metadata
from zhijian.errors import Unauthenticated

log = logging.getLogger("zhijian.http_assertion")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROBE_PATHS: Final = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})
# Where a handler finds the verified assertion (``request.scope["state"][CALLER_KEY]``).
CALLER_KEY: Final = "zhijian_caller"
# RFC 6455 policy violation: what a refused WebSocket handshake closes with.
WS_POLICY_VIOLATION: Final = 1008


def _headers(scope: Scope) -> dict[str, str]:
    # ASGI gives header names lower-cased; latin-1 is HTTP's own byte-for-byte decoding.
    return {name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())}


def refusal_body(error: Unauthenticated) -> bytes:
    return json.dumps({"error": {"reason": error.reason, "message": error.message}},
                      ensure_ascii=False).encode()


class AssertionMiddleware:
    """Admit HTTP and WebSocket requests with a valid assertion, and ``open_paths``."""

    def __init__(self, app: ASGIApp, *, audiences: Iterable[str],
                 verifier: AssertionVerifier | None = None,
                 open_paths: Iterable[str] = PROBE_PATHS) -> None:
        self.app = app
        # From the environment by default: BentoML builds middleware from a class and
        # options in each worker, and the keys directory is the platform's.
        self._verifier = verifier if verifier is not None else AssertionVerifier.from_env()
        self._open = frozenset(open_paths)
        # The gRPC services whose calls may reach this HTTP server (a model server takes
        # the assertion its service forwards).
        self._audiences = frozenset(audiences)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path", "") in self._open:
            await self.app(scope, receive, send)
            return
        try:
            caller = assertion_from_metadata(_headers(scope), self._verifier, self._audiences)
        except Unauthenticated as error:
            # Never the token itself: it is a bearer credential for its short life.
            log.warning("refused %s %s: %s", scope.get("method", kind.upper()),
                        scope.get("path", ""), error.reason)
            await self._refuse(kind, send, error)
            return
        scope.setdefault("state", {})[CALLER_KEY] = caller
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(kind: str, send: Send, error: Unauthenticated) -> None:
        if kind == "websocket":
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION})
            return
        body = refusal_body(error)
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode("ascii"))]})
        await send({"type": "http.response.body", "body": body})
