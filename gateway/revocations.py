"""The registry's revocation list, polled and kept in memory for per-call checks.

The gateway asks the registry directly (not through itself) with its own service token,
every ``interval_s``, for every page of ``ListRevocations``. If the registry cannot be
reached the last list stays in force: a revocation, once seen, is never forgotten
because the registry blinked. Before the first complete read every check fails closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

import grpc

from zhijian import metadata as md
from zhijian.client import open_channel
from zhijian.errors import Unavailable, ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.registry.v1 import registry_service_pb2_grpc as pb_grpc

log = logging.getLogger("gateway.revocations")

REVOCATIONS_UNKNOWN: Final = "REVOCATIONS_UNKNOWN"
DEFAULT_INTERVAL_S: Final = 2.0
PAGE_SIZE: Final = 5000
CALL_TIMEOUT_S: Final = 5.0
# A loop in page tokens must not spin forever.
MAX_PAGES: Final = 10_000


class RevocationList:
    """``is_revoked(jti_or_fingerprint)``, refreshed from the registry by :meth:`run`."""

    def __init__(self, target: str, token: Callable[[], str], *,
                 interval_s: float = DEFAULT_INTERVAL_S, page_size: int = PAGE_SIZE) -> None:
        self._target = target
        self._token = token
        self._interval_s = interval_s
        self._page_size = page_size
        self._revoked: frozenset[str] = frozenset()
        self._channel: grpc.aio.Channel | None = None
        self.loaded = False  # True once a complete list has been read
        self.last_error: str | None = None

    def is_revoked(self, credential_id: str) -> bool:
        """Raises UNAVAILABLE until the list was read once: a gateway started while the
        registry is down must not let revoked credentials through (fail closed)."""
        if not self.loaded:
            raise Unavailable("the gateway has not yet read the revocation list from the "
                              "registry; retry shortly", reason=REVOCATIONS_UNKNOWN)
        return credential_id in self._revoked

    def __len__(self) -> int:
        return len(self._revoked)

    async def refresh(self) -> bool:
        """Read the whole list; True on success. On failure the previous list stays."""
        if self._channel is None:
            # Not traced: a poll every two seconds would drown the traces that matter.
            self._channel = open_channel(self._target, traced=False)
        stub = pb_grpc.RegistryServiceStub(self._channel)
        try:
            metadata = ((md.AUTHORIZATION, f"Bearer {self._token()}"),)
            found: set[str] = set()
            page_token = ""
            for _ in range(MAX_PAGES):
                page = await stub.ListRevocations(
                    pb.ListRevocationsRequest(page_size=self._page_size, page_token=page_token),
                    metadata=metadata, timeout=CALL_TIMEOUT_S)
                found.update(r.jti for r in page.revocations if r.jti)
                page_token = page.next_page_token
                if not page_token:
                    break
            else:
                raise RuntimeError(f"more than {MAX_PAGES} pages of revocations")
        except (grpc.aio.AioRpcError, ZhijianError, RuntimeError, OSError) as error:
            # ZhijianError: the token file could not be read (token_from_file).
            self._failed(error)
            return False
        # Revocations are permanent, so the union also covers a registry that restarts
        # from an older backup.
        self._revoked = self._revoked | found
        self.loaded = True
        self.last_error = None
        return True

    def _failed(self, error: Exception) -> None:
        text = (f"{error.code().name}: {error.details()}"
                if isinstance(error, grpc.aio.AioRpcError) else str(error))
        if text != self.last_error:
            log.warning("cannot refresh revocations from %s (keeping %d known): %s",
                        self._target, len(self._revoked), text)
        self.last_error = text

    async def run(self) -> None:
        """Refresh every interval until cancelled."""
        while True:
            try:
                await self.refresh()
            except Exception as error:  # a bad token file must not end the poller
                self._failed(error)
            await asyncio.sleep(self._interval_s)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
