"""The gateway's call audit: a local write-ahead log shipped in batches to the registry.

Every call the gateway answers leaves a ``CallRecord`` on the registry's call ledger, and
killing the gateway must not lose one. The path of a record:

1. ``append()`` frames the record and hands it to the kernel with one ``write()`` before
   the gateway sends its response. Once ``write()`` has returned the bytes sit in the
   page cache, which belongs to the kernel, not to the process: a SIGKILL, a crash or an
   OOM kill a moment later cannot take them back. Only a power loss or kernel crash can.
2. A background thread ``fsync``\\s the segment every ``fsync_interval_s`` while there
   have been writes, so a power loss costs at most that window of records. Syncing per
   record would put a disk flush (milliseconds) on every call; syncing in groups puts
   none on the call path and bounds the loss instead. The thread never holds the append
   lock during ``fsync``, so neither the event loop nor other appenders wait for a disk.
   The default window is 20 ms: at a few hundred calls a second a 2 ms window woke the
   thread for nearly every call, and handing the GIL to it cost the gateway more (about
   0.2 ms per call, measured with ``python -m bench gateway``) than the flush saved.
3. An asyncio task reads the records that are not yet acknowledged, from a cursor
   (segment, offset) kept in a file, and ships them with ``ship()`` in batches. The
   cursor moves, durably, only after the registry has acknowledged a batch; a segment is
   deleted once the cursor has passed it. Failures are retried with back-off for as long
   as it takes: nothing is ever dropped. A crash between the registry's acknowledgement
   and the cursor write ships that batch again on the next start; the registry ignores
   records whose ``record_id`` it already holds, so the ledger still has each call once.

On disk a segment is a run of frames: 4-byte little-endian payload length, 4-byte CRC-32
over the length and the payload, then the serialized ``CallRecord``. Segments are named
by an increasing sequence number. Each start opens a fresh segment, so new records never
follow a tail a killed process may have torn; recovery reads older segments up to their
first torn or corrupt frame, logs what it skips, and keeps every complete record before
it. A lock file keeps two processes from sharing one directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import json
import logging
import os
import re
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import grpc
from prometheus_client import Counter, Gauge

from zhijian.client import open_channel
from zhijian.files import fsync_directory, write_file
from zhijian.metadata import AUTHORIZATION
from zhijian.registry.v1 import registry_service_pb2 as registry_pb
from zhijian.registry.v1 import registry_service_pb2_grpc as registry_grpc

log = logging.getLogger("zhijian.gateway.audit")

Ship = Callable[[Sequence[registry_pb.CallRecord]], Awaitable[None]]

# The registry's AppendCallRecords refuses larger batches.
REGISTRY_BATCH_LIMIT: Final = 1000
# A call record is a few hundred bytes; a length beyond this is a corrupt header, not data.
MAX_RECORD_BYTES: Final = 64 * 1024
BACKOFF_FIRST_S: Final = 0.2
BACKOFF_MAX_S: Final = 5.0

_HEADER: Final = struct.Struct("<II")
_READ_CHUNK: Final = 1024 * 1024
_SEGMENT_NAME: Final = re.compile(r"^(\d{16})\.wal$")
_CURSOR_FILE: Final = "cursor"
_LOCK_FILE: Final = "lock"

PENDING = Gauge("zhijian_gateway_audit_pending",
                "Call records written ahead but not yet acknowledged by the registry")
SHIPPED = Counter("zhijian_gateway_audit_shipped",
                  "Call records acknowledged by the registry")
SHIP_FAILURES = Counter("zhijian_gateway_audit_ship_failures",
                        "Failed attempts to ship a batch of call records")
SKIPPED_BYTES = Counter("zhijian_gateway_audit_skipped_bytes",
                        "Bytes of torn or corrupt write-ahead frames passed over in recovery")

T = TypeVar("T")


@dataclass(frozen=True, order=True)
class Position:
    """Where the next unshipped frame starts."""

    segment: int
    offset: int


def frame(payload: bytes) -> bytes:
    length = len(payload).to_bytes(4, "little")
    checksum = zlib.crc32(payload, zlib.crc32(length))
    return length + checksum.to_bytes(4, "little") + payload


def check_record(record: registry_pb.CallRecord) -> None:
    """Refuse here what the registry would refuse: one such record in the log would
    block every batch behind it, since a batch is never shipped without it."""
    if not 0 < len(record.record_id) <= 64:
        raise ValueError("a call record needs a record_id of 1 to 64 characters")
    if not record.caller or not record.method:
        raise ValueError("a call record must name the caller and the method")
    if len(record.caller) > 200 or len(record.method) > 200 or len(record.trace_id) > 32:
        raise ValueError("caller and method are at most 200 characters, trace_id 32")


class _SegmentReader:
    """Intact frames of one segment from an offset, up to ``limit`` (the end of the last
    complete write, for the segment still being written) or the end of the file.

    ``next()`` returns a payload, or None at the end; ``problem`` then says whether the
    end was a torn frame or a corrupt one rather than a clean end."""

    def __init__(self, descriptor: int, offset: int, limit: int | None) -> None:
        self._descriptor = descriptor
        self._limit = limit
        self.offset = offset
        self.problem: str | None = None
        self._data = b""
        self._data_start = offset

    def _available(self, needed: int) -> memoryview:
        start = self.offset - self._data_start
        if len(self._data) - start < needed:
            size = max(_READ_CHUNK, needed)
            if self._limit is not None:
                size = max(0, min(size, self._limit - self.offset))
            self._data = os.pread(self._descriptor, size, self.offset)
            self._data_start, start = self.offset, 0
        return memoryview(self._data)[start:]

    def next(self) -> bytes | None:
        data = self._available(_HEADER.size)
        if len(data) == 0:
            return None
        if len(data) < _HEADER.size:
            self.problem = f"torn frame header ({len(data)} bytes)"
            return None
        length, checksum = _HEADER.unpack_from(data)
        if not 0 < length <= MAX_RECORD_BYTES:
            self.problem = f"corrupt frame length {length}"
            return None
        data = self._available(_HEADER.size + length)
        if len(data) < _HEADER.size + length:
            self.problem = f"torn frame ({len(data)} of {_HEADER.size + length} bytes)"
            return None
        payload = bytes(data[_HEADER.size:_HEADER.size + length])
        if zlib.crc32(payload, zlib.crc32(data[:4])) != checksum:
            self.problem = "frame checksum mismatch"
            return None
        self.offset += _HEADER.size + length
        return payload


class CallAuditLog:
    """Write-ahead log of call records in ``directory``, shipped with ``ship``.

    ``append()`` may be called from any thread, the event loop's included, before or
    after ``start()``; records appended before ``start()`` are shipped once it runs.
    ``close()`` must come after the server has stopped answering calls: an append after
    ``close()`` raises, since its record would not be written ahead.
    """

    def __init__(self, directory: Path, *, ship: Ship, batch_size: int = 500,
                 fsync_interval_s: float = 0.02, ship_interval_s: float = 0.2,
                 segment_bytes: int = 16 * 1024 * 1024) -> None:
        if not 0 < batch_size <= REGISTRY_BATCH_LIMIT:
            raise ValueError(f"batch_size must be 1 to {REGISTRY_BATCH_LIMIT}")
        self._directory = directory
        self._ship = ship
        self._batch_size = batch_size
        self._fsync_interval_s = fsync_interval_s
        self._ship_interval_s = ship_interval_s
        self._segment_bytes = segment_bytes

        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_descriptor = self._take_directory_lock()

        # Guards the writer's state below; held for one write(), never for an fsync.
        self._lock = threading.Lock()
        self._closed = False
        self._pending = 0
        existing = self._segments()
        saved = self._read_cursor()
        self._segment = max([*existing, saved.segment if saved else 0]) + 1
        # Segments below this one were left by an earlier process.
        self._first_segment = self._segment
        self._cursor = saved or Position(existing[0] if existing else self._segment, 0)
        self._descriptor = self._open_segment(self._segment)
        self._end = 0
        self._must_rotate = False
        self._retired: list[int] = []
        self._directory_dirty = True
        self._unsynced = False

        self._sync_wanted = threading.Event()
        self._sync_stop = False
        self._sync_thread: threading.Thread | None = None
        self._io = ThreadPoolExecutor(1, thread_name_prefix="audit-io")
        self._io_future: asyncio.Future[Any] | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- writing -------------------------------------------------------------------

    def append(self, record: registry_pb.CallRecord) -> None:
        """Write the record ahead; when this returns it survives the process being
        killed. Raises OSError when the write fails, ValueError for a record the
        registry would refuse, RuntimeError after close()."""
        check_record(record)
        payload = record.SerializeToString()
        if len(payload) > MAX_RECORD_BYTES:
            raise ValueError(f"a call record is at most {MAX_RECORD_BYTES} bytes")
        data = frame(payload)
        with self._lock:
            if self._closed:
                raise RuntimeError("the call audit log is closed")
            if self._must_rotate or (self._end and
                                     self._end + len(data) > self._segment_bytes):
                self._rotate()
            self._write(data)
            self._end += len(data)
            self._pending += 1
            if not self._unsynced:
                self._unsynced = True
                self._sync_wanted.set()
        PENDING.inc()

    def _write(self, data: bytes) -> None:
        written = 0
        try:
            # A regular file takes the whole frame in one write() unless the disk is
            # full; a short write is continued, and a failed one ends the segment.
            while written < len(data):
                written += os.write(self._descriptor, data[written:])
        except OSError:
            if written:
                # The torn frame must end its segment, where readers expect torn tails.
                self._must_rotate = True
            raise

    def _rotate(self) -> None:
        descriptor = self._open_segment(self._segment + 1)
        self._retired.append(self._descriptor)
        self._descriptor = descriptor
        self._segment += 1
        self._end = 0
        self._must_rotate = False
        self._directory_dirty = True

    def _open_segment(self, segment: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC
        return os.open(self._segment_path(segment), flags, 0o600)

    def _sync_forever(self) -> None:
        while True:
            self._sync_wanted.wait()
            if not self._sync_stop:
                # Let a group of appends gather behind the first one.
                time.sleep(self._fsync_interval_s)
            if self._sync_once():
                return

    def _sync_once(self) -> bool:
        """Sync what was written so far; True once close() has asked the thread to end
        (read together with clearing the wake-up, so that request cannot be lost)."""
        with self._lock:
            self._sync_wanted.clear()
            stopping = self._sync_stop
            self._unsynced = False
            descriptor, retired, self._retired = self._descriptor, self._retired, []
            directory_dirty, self._directory_dirty = self._directory_dirty, False
        try:
            for old in retired:
                os.fsync(old)
                os.close(old)
            os.fsync(descriptor)
            if directory_dirty:
                fsync_directory(self._directory)
        except OSError:
            # The records are still in the page cache and still get shipped; only their
            # protection against a power loss is in doubt.
            log.exception("fsync of the call audit log failed")
        return stopping

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Count and ship what an earlier process left, then keep shipping."""
        if self._task is not None or self._closed:
            raise RuntimeError("the call audit log is already started or closed")
        backlog = await self._in_io(self._recover)
        with self._lock:
            self._pending += backlog
        PENDING.inc(backlog)
        if backlog:
            log.info("call audit log: %d records left unshipped by an earlier run", backlog)
        self._sync_thread = threading.Thread(target=self._sync_forever,
                                             name="audit-fsync", daemon=True)
        self._sync_thread.start()
        self._task = asyncio.create_task(self._ship_forever(), name="audit-ship")

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop taking records, sync them, and ship what is left within ``timeout_s``;
        what is not shipped by then stays in the log for the next start."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            if self._sync_thread is not None:
                with self._lock:
                    self._sync_stop = True
                self._sync_wanted.set()
                await asyncio.to_thread(self._sync_thread.join)
            else:
                await asyncio.to_thread(self._sync_once)
            if self._task is not None:
                self._stop.set()
                done, _ = await asyncio.wait({self._task}, timeout=timeout_s)
                if not done:
                    self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
                if self._io_future is not None:
                    await asyncio.wait({self._io_future})
            if self._pending:
                log.warning("call audit log closed with %d records unshipped; they are "
                            "shipped on the next start", self._pending)
        finally:
            # Reached early only if close() itself was cancelled: the threads and the task
            # must let go of the files before they are closed.
            if self._task is not None and not self._task.done():
                self._task.cancel()
            if self._sync_thread is not None:
                self._sync_thread.join()
            self._io.shutdown(wait=True)
            PENDING.dec(self._pending)
            for descriptor in [*self._retired, self._descriptor]:
                os.close(descriptor)
            self._retired = []
            os.close(self._lock_descriptor)
            closer = getattr(self._ship, "aclose", None)
            if closer is not None:
                await closer()

    def pending(self) -> int:
        """Records appended (or left by an earlier process) and not yet acknowledged."""
        with self._lock:
            return self._pending

    # --- shipping ------------------------------------------------------------------

    async def _ship_forever(self) -> None:
        delay = BACKOFF_FIRST_S
        while True:
            # close() stops appends before it sets _stop, so a read that begins after
            # _stop was seen reads the last record; one begun before it may not have.
            draining = self._stop.is_set()
            try:
                records, position, more = await self._in_io(self._read_batch)
                if records:
                    await self._ship(records)
                if position != self._cursor:
                    await self._in_io(functools.partial(self._commit, position))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                SHIP_FAILURES.inc()
                log.warning("shipping call records failed (%s); retrying in %.1f s",
                            _describe(error), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            delay = BACKOFF_FIRST_S
            if records:
                with self._lock:
                    self._pending -= len(records)
                PENDING.dec(len(records))
                SHIPPED.inc(len(records))
            if more:
                continue
            if draining:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._ship_interval_s)

    async def _in_io(self, function: Callable[[], T]) -> T:
        """Run file work off the event loop. A cancelled caller does not interrupt it, and
        close() waits for it, so no file is touched after close() returns."""
        future = asyncio.get_running_loop().run_in_executor(self._io, function)
        self._io_future = future
        return await asyncio.shield(future)

    def _read_batch(self) -> tuple[list[registry_pb.CallRecord], Position, bool]:
        """Up to batch_size records from the cursor within one segment, the position after
        them, and whether more may follow at once."""
        position = self._cursor
        with self._lock:
            writing, end = self._segment, self._end
        closed = position.segment < writing
        try:
            descriptor = os.open(self._segment_path(position.segment),
                                 os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if not closed:
                raise
            return [], Position(self._next_segment(position.segment), 0), True
        records: list[registry_pb.CallRecord] = []
        try:
            reader = _SegmentReader(descriptor, position.offset, None if closed else end)
            while len(records) < self._batch_size:
                payload = reader.next()
                if payload is None:
                    break
                try:
                    records.append(registry_pb.CallRecord.FromString(payload))
                except Exception:
                    log.error("call audit log: an intact frame at %s:%d does not parse",
                              position.segment, reader.offset, exc_info=True)
            if len(records) == self._batch_size:
                return records, Position(position.segment, reader.offset), True
            if reader.problem is None and not closed:
                return records, Position(position.segment, reader.offset), False
            self._skip_tail(position.segment, reader, closed)
            if not closed:
                # Read on past the damage after the next interval, from a closed segment.
                return records, Position(position.segment, reader.offset), False
            return records, Position(self._next_segment(position.segment), 0), True
        finally:
            os.close(descriptor)

    def _skip_tail(self, segment: int, reader: _SegmentReader, closed: bool) -> None:
        if reader.problem is None:
            return
        if not closed:
            # Only the disk can have done this to a segment we are writing. Rotate so the
            # damage becomes a closed segment's tail, which the next read passes.
            log.error("call audit log: %s in the segment being written (%s at %d)",
                      reader.problem, self._segment_path(segment), reader.offset)
            with self._lock:
                try:
                    self._rotate()
                except OSError:
                    self._must_rotate = True
            return
        size = self._segment_path(segment).stat().st_size
        SKIPPED_BYTES.inc(size - reader.offset)
        log.warning("call audit log: %s at %s:%d; skipping its last %d bytes (the records "
                    "before it are kept)", reader.problem, self._segment_path(segment),
                    reader.offset, size - reader.offset)

    def _commit(self, position: Position) -> None:
        write_file(self._directory / _CURSOR_FILE,
                   json.dumps({"segment": position.segment,
                               "offset": position.offset}).encode(), mode=0o600)
        passed = position.segment > self._cursor.segment
        self._cursor = position
        if passed:
            self._delete_before(position.segment)

    def _delete_before(self, segment: int) -> None:
        for old in self._segments():
            if old < segment:
                self._segment_path(old).unlink(missing_ok=True)

    def _recover(self) -> int:
        """Drop segments the cursor has passed and count the records after it."""
        self._delete_before(self._cursor.segment)
        count = 0
        for segment in self._segments():
            if segment >= self._first_segment:
                break
            descriptor = os.open(self._segment_path(segment), os.O_RDONLY | os.O_CLOEXEC)
            try:
                offset = self._cursor.offset if segment == self._cursor.segment else 0
                reader = _SegmentReader(descriptor, offset, None)
                while reader.next() is not None:
                    count += 1
            finally:
                os.close(descriptor)
        return count

    # --- files ---------------------------------------------------------------------

    def _segment_path(self, segment: int) -> Path:
        return self._directory / f"{segment:016d}.wal"

    def _segments(self) -> list[int]:
        found = (_SEGMENT_NAME.match(name) for name in os.listdir(self._directory))
        return sorted(int(match.group(1)) for match in found if match)

    def _next_segment(self, segment: int) -> int:
        later = [s for s in self._segments() if s > segment]
        return later[0] if later else self._segment

    def _read_cursor(self) -> Position | None:
        path = self._directory / _CURSOR_FILE
        try:
            saved = json.loads(path.read_bytes())
            return Position(int(saved["segment"]), int(saved["offset"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            # write_file replaces the cursor whole, so this is damage from outside; from
            # the oldest segment, the worst outcome is records shipped twice.
            log.error("call audit log: unreadable cursor %s; shipping from the oldest "
                      "segment", path)
            path.unlink()
            return None

    def _take_directory_lock(self) -> int:
        descriptor = os.open(self._directory / _LOCK_FILE,
                             os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            raise RuntimeError(f"another process writes the call audit log in "
                               f"{self._directory}") from None
        return descriptor


def _describe(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return f"{type(error).__name__}: {error}"


class RegistryShipper:
    """Ships batches to the registry's AppendCallRecords as the gateway's service
    identity. The channel is opened on first use, on the loop that uses it."""

    def __init__(self, target: str, token: Callable[[], str], *,
                 timeout_s: float = 10.0) -> None:
        self._target = target
        self._token = token
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._stub: registry_grpc.RegistryServiceStub | None = None

    async def __call__(self, records: Sequence[registry_pb.CallRecord]) -> None:
        if self._stub is None:
            # Untraced: shipping audit records must not itself produce spans per batch.
            self._channel = open_channel(self._target, traced=False)
            self._stub = registry_grpc.RegistryServiceStub(self._channel)
        await self._stub.AppendCallRecords(
            registry_pb.AppendCallRecordsRequest(records=records),
            metadata=((AUTHORIZATION, f"Bearer {self._token()}"),),
            timeout=self._timeout_s)

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel, self._stub = None, None


def registry_ship(target: str, token: Callable[[], str], *,
                  timeout_s: float = 10.0) -> Ship:
    """A Ship that calls the registry at ``target`` directly (not through a gateway)
    with ``token()`` as bearer credential; CallAuditLog.close() closes its channel."""
    return RegistryShipper(target, token, timeout_s=timeout_s)
