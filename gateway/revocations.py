"""What the registry says of credentials, polled and kept in memory for per-call checks:
the ids it revoked (``ListRevocations``) and the ids it recorded as issued
(``ListCredentials``; a credential it never recorded was minted from a key file alone).

The gateway asks the registry directly (not through itself) with its own service token,
every ``interval_s``, for every page. If the registry cannot be reached the last list
stays in force: a revocation or a record, once seen, is never forgotten because the
registry blinked. Before the first complete read every check fails closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Final

import grpc

from zhijian import identity
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
# A call with a credential the list lacks re-reads it, but not more often than this: a
# flood of unrecorded tokens must not become a flood of registry reads.
MIN_REREAD_S: Final = 0.2


class _PolledIds:
    """A set of credential ids read page by page from the registry."""

    what = "credential ids"

    def __init__(self, target: str, token: Callable[[], str], *,
                 interval_s: float = DEFAULT_INTERVAL_S, page_size: int = PAGE_SIZE) -> None:
        self._target = target
        self._token = token
        self._interval_s = interval_s
        self._page_size = page_size
        self._ids: frozenset[str] = frozenset()
        self._channel: grpc.aio.Channel | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.loaded = False  # True once a complete list has been read
        self.last_error: str | None = None

    def _require_loaded(self) -> None:
        """UNAVAILABLE until the list was read once: a gateway started while the registry
        is down must not let revoked or unrecorded credentials through (fail closed)."""
        if not self.loaded:
            raise Unavailable(f"the gateway has not yet read the {self.what} from the "
                              "registry; retry shortly", reason=REVOCATIONS_UNKNOWN)

    def __len__(self) -> int:
        return len(self._ids)

    async def _page(self, stub: pb_grpc.RegistryServiceStub, page_token: str,
                    metadata: tuple[tuple[str, str], ...]) -> tuple[list[str], str]:
        raise NotImplementedError

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
                ids, page_token = await self._page(stub, page_token, metadata)
                found.update(i for i in ids if i)
                if not page_token:
                    break
            else:
                raise RuntimeError(f"more than {MAX_PAGES} pages of {self.what}")
        except (grpc.aio.AioRpcError, ZhijianError, RuntimeError, OSError) as error:
            # ZhijianError: the token file could not be read (token_from_file).
            self._failed(error)
            return False
        # Revocations and records are permanent, so the union also covers a registry that
        # restarts from an older backup.
        self._ids = self._ids | found
        self.loaded = True
        self.last_error = None
        return True

    def _failed(self, error: Exception) -> None:
        text = (f"{error.code().name}: {error.details()}"
                if isinstance(error, grpc.aio.AioRpcError) else str(error))
        if text != self.last_error:
            log.warning("cannot refresh %s from %s (keeping %d known): %s", self.what,
                        self._target, len(self._ids), text)
        self.last_error = text

    async def run(self) -> None:
        """Refresh every interval (or sooner, when woken) until cancelled."""
        self._loop = asyncio.get_running_loop()
        while True:
            try:
                await self.refresh()
            except Exception as error:  # a bad token file must not end the poller
                self._failed(error)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval_s)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


class RevocationList(_PolledIds):
    """``is_revoked(jti_or_fingerprint)``, refreshed from the registry by :meth:`run`."""

    what = "revocation list"

    def is_revoked(self, credential_id: str) -> bool:
        self._require_loaded()
        return credential_id in self._ids

    async def _page(self, stub: pb_grpc.RegistryServiceStub, page_token: str,
                    metadata: tuple[tuple[str, str], ...]) -> tuple[list[str], str]:
        page = await stub.ListRevocations(
            pb.ListRevocationsRequest(page_size=self._page_size, page_token=page_token),
            metadata=metadata, timeout=CALL_TIMEOUT_S)
        return [r.jti for r in page.revocations], page.next_page_token


class RecordedCredentials(_PolledIds):
    """``is_recorded(...)``: did the registry record this credential's issue, as
    presented (subject, roles, clearance, no later expiry)?"""

    what = "recorded credentials"

    def __init__(self, target: str, token: Callable[[], str], *,
                 interval_s: float = DEFAULT_INTERVAL_S, page_size: int = PAGE_SIZE) -> None:
        super().__init__(target, token, interval_s=interval_s, page_size=page_size)
        self._records: dict[str, identity.CredentialRecord] = {}
        self._reading: asyncio.Future[bool] | None = None
        self._read_at = 0.0

    def is_recorded(self, credential_id: str, subject: str, roles: Iterable[str],
                    clearance: str, expires_at: float) -> bool:
        self._require_loaded()
        record = self._records.get(credential_id)
        if record is not None:
            return record.admits(subject, roles, clearance, expires_at)
        # Perhaps issued since the last poll: read again now rather than at the next
        # interval, so that a retry a moment later finds it. (Thread-safe: the check may
        # run off the poller's loop.)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)
        return False

    async def refresh_now(self) -> None:
        """Read the list again before answering a call whose credential it lacks. Calls
        that arrive together share one read, and reads start at most every
        MIN_REREAD_S."""
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self._spaced_refresh())
        await asyncio.shield(self._reading)

    async def _spaced_refresh(self) -> bool:
        wait = self._read_at + MIN_REREAD_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._read_at = time.monotonic()
        return await self.refresh()

    async def _page(self, stub: pb_grpc.RegistryServiceStub, page_token: str,
                    metadata: tuple[tuple[str, str], ...]) -> tuple[list[str], str]:
        page = await stub.ListCredentials(
            pb.ListCredentialsRequest(page_size=self._page_size, page_token=page_token),
            metadata=metadata, timeout=CALL_TIMEOUT_S)
        for credential in page.credentials:
            # Kept like the ids: a record, once read, is not forgotten.
            self._records[credential.credential_id] = identity.CredentialRecord(
                credential.subject, frozenset(credential.roles), credential.clearance,
                credential.expire_time.ToNanoseconds() / 1e9)
        return [c.credential_id for c in page.credentials], page.next_page_token
