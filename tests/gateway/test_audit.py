"""The gateway's write-ahead call audit (gateway.audit) on real files, with a real child
process killed by SIGKILL and a real gRPC server on a loopback port.

The real registry needs MLflow and a database, so registry_ship is exercised here
against a small grpc.aio server with the registry's AppendCallRecords semantics
(service bearer token, at most 1000 records, idempotent by record_id); the integration
tests run the whole gateway against the real registry, SIGKILL included.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY

from gateway.audit import CallAuditLog, frame, registry_ship
from zhijian.registry.v1 import registry_service_pb2 as registry_pb
from zhijian.registry.v1 import registry_service_pb2_grpc as registry_grpc
from zhijian.types.v1 import ai_result_pb2

REPO = Path(__file__).resolve().parents[2]
METHOD = "/zhijian.classify.v1.ClassifyService/Classify"


def record(record_id: str) -> registry_pb.CallRecord:
    return registry_pb.CallRecord(
        record_id=record_id, caller="user:alice", method=METHOD,
        network_domain=ai_result_pb2.NETWORK_DOMAIN_EXTRANET,
        decision=registry_pb.CALL_DECISION_ALLOWED, request_sha256="ab" * 32,
        trace_id="0123456789abcdef0123456789abcdef")


class Collector:
    """A ship that keeps what it is given, failing its first ``failures`` calls."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[str]] = []
        self.failures = failures

    async def __call__(self, records: Sequence[registry_pb.CallRecord]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("registry unreachable")
        self.batches.append([r.record_id for r in records])

    @property
    def ids(self) -> list[str]:
        return [i for batch in self.batches for i in batch]


async def refuse(records: Sequence[registry_pb.CallRecord]) -> None:
    raise AssertionError("nothing may be shipped here")


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.wal"))


def write_records(directory: Path, ids: Sequence[str]) -> None:
    """One gateway run that writes records ahead and never reaches the registry."""

    async def run() -> None:
        audit = CallAuditLog(directory, ship=refuse)
        for i in ids:
            audit.append(record(i))
        await audit.close()

    asyncio.run(run())


def ship_all(directory: Path, **options: float) -> Collector:
    """One gateway run that only recovers and ships what earlier runs left."""
    collector = Collector()

    async def run() -> None:
        audit = CallAuditLog(directory, ship=collector, **options)  # type: ignore[arg-type]
        await audit.start()
        await audit.close()
        assert audit.pending() == 0

    asyncio.run(run())
    return collector


async def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_records_are_shipped_once_in_order_and_shipped_segments_deleted(tmp_path):
    collector = Collector()
    ids = [f"r{i:05d}" for i in range(2500)]
    shipped_before = metric("zhijian_gateway_audit_shipped_total")

    async def run() -> None:
        audit = CallAuditLog(tmp_path, ship=collector, batch_size=200,
                             segment_bytes=16 * 1024, ship_interval_s=0.01)
        with pytest.raises(RuntimeError, match="another process"):
            CallAuditLog(tmp_path, ship=collector)
        for i in ids[:1000]:
            audit.append(record(i))
        assert audit.pending() == 1000
        await audit.start()
        for i in ids[1000:]:
            audit.append(record(i))
        await until(lambda: len(collector.ids) >= 1200)
        assert len(segments(tmp_path)) < 2500 * 130 // (16 * 1024)  # deleted while running
        await audit.close()
        assert audit.pending() == 0
        with pytest.raises(RuntimeError, match="closed"):
            audit.append(record("late"))

    asyncio.run(run())
    assert collector.ids == ids
    assert max(len(batch) for batch in collector.batches) <= 200
    assert metric("zhijian_gateway_audit_shipped_total") - shipped_before == 2500
    [last] = segments(tmp_path)
    cursor = json.loads((tmp_path / "cursor").read_text())
    assert cursor == {"segment": int(last.stem), "offset": last.stat().st_size}
    assert ship_all(tmp_path).ids == []  # the cursor outlives the process
    assert len(segments(tmp_path)) == 1  # the passed segment went, the new one is empty


def test_appends_from_many_threads_interleave_whole(tmp_path):
    collector = Collector()

    async def run() -> None:
        audit = CallAuditLog(tmp_path, ship=collector, segment_bytes=8 * 1024,
                             ship_interval_s=0.01)
        await audit.start()

        def writer(name: str) -> None:
            for i in range(400):
                audit.append(record(f"{name}-{i:04d}"))

        threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for i in range(400):  # the event loop's own thread appends too
            audit.append(record(f"loop-{i:04d}"))
            if i % 50 == 0:
                await asyncio.sleep(0)
        for thread in threads:
            await asyncio.to_thread(thread.join)
        await audit.close()

    asyncio.run(run())
    assert len(collector.ids) == len(set(collector.ids)) == 2000
    for name in ["t0", "t1", "t2", "t3", "loop"]:
        mine = [i for i in collector.ids if i.startswith(f"{name}-")]
        assert mine == sorted(mine) and len(mine) == 400


def test_writes_are_synced_in_groups_soon_after_they_are_made(tmp_path, monkeypatch):
    # What fsync buys, surviving a power loss, cannot be observed without cutting the
    # power, so this watches the calls (and still makes them).
    synced: list[float] = []
    real_fsync = os.fsync

    def fsync(descriptor: int) -> None:
        if threading.current_thread().name == "audit-fsync":
            synced.append(time.monotonic())
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)

    async def run() -> None:
        audit = CallAuditLog(tmp_path, ship=Collector(), fsync_interval_s=0.002)
        await audit.start()
        await asyncio.sleep(0.05)
        assert synced == []  # nothing written, nothing to sync
        for i in range(3000):
            audit.append(record(f"r{i}"))
            if i % 100 == 0:
                await asyncio.sleep(0.001)
        last_append = time.monotonic()
        await until(lambda: bool(synced) and synced[-1] > last_append, timeout_s=1)
        assert len(synced) < 3000 / 10
        await audit.close()

    asyncio.run(run())


def test_nothing_is_lost_while_the_registry_fails(tmp_path):
    collector = Collector(failures=2)
    failures_before = metric("zhijian_gateway_audit_ship_failures_total")
    ids = [f"r{i}" for i in range(300)]

    async def run() -> None:
        audit = CallAuditLog(tmp_path, ship=collector, batch_size=100)
        for i in ids:
            audit.append(record(i))
        await audit.start()
        await until(lambda: collector.failures == 0)
        assert collector.ids == [] and audit.pending() == 300
        await until(lambda: audit.pending() == 0)  # back-off 0.2 s, then 0.4 s
        await audit.close()

    asyncio.run(run())
    assert collector.ids == ids
    assert metric("zhijian_gateway_audit_ship_failures_total") - failures_before == 2


def test_close_leaves_what_it_cannot_ship_for_the_next_start(tmp_path):
    async def run() -> None:
        audit = CallAuditLog(tmp_path, ship=Collector(failures=1000))
        await audit.start()
        for i in range(50):
            audit.append(record(f"r{i}"))
        started = time.monotonic()
        await audit.close(timeout_s=0.5)
        assert time.monotonic() - started < 2
        assert audit.pending() == 50

    asyncio.run(run())
    assert ship_all(tmp_path).ids == [f"r{i}" for i in range(50)]


def test_close_ships_what_was_appended_while_a_batch_was_in_flight(tmp_path):
    shipped: list[str] = []

    async def run() -> None:
        in_flight, release = asyncio.Event(), asyncio.Event()

        async def ship(records: Sequence[registry_pb.CallRecord]) -> None:
            if not shipped:
                in_flight.set()
                await release.wait()
            shipped.extend(r.record_id for r in records)

        audit = CallAuditLog(tmp_path, ship=ship)
        await audit.start()
        audit.append(record("r0"))
        await in_flight.wait()
        for i in range(1, 50):
            audit.append(record(f"r{i}"))
        closing = asyncio.create_task(audit.close())
        await asyncio.sleep(0.05)  # close() has stopped appends and asked for the rest
        release.set()
        await closing
        assert audit.pending() == 0

    asyncio.run(run())
    assert shipped == [f"r{i}" for i in range(50)]


@pytest.mark.parametrize("tail", ["partial frame", "garbage", "zeros", "corrupt checksum"])
def test_a_torn_tail_loses_no_complete_record(tmp_path, tail):
    write_records(tmp_path, [f"a{i}" for i in range(10)])
    [torn] = segments(tmp_path)
    whole = frame(record("a-torn").SerializeToString())
    damage = {"partial frame": whole[:len(whole) // 2],
              "garbage": os.urandom(37),
              "zeros": bytes(4096),  # what a power loss can leave at the end of a file
              "corrupt checksum": whole[:-1] + bytes([whole[-1] ^ 1])}[tail]
    with torn.open("ab") as handle:
        handle.write(damage)
    skipped_before = metric("zhijian_gateway_audit_skipped_bytes_total")
    write_records(tmp_path, [f"b{i}" for i in range(5)])  # the next run starts a new segment

    shipped = ship_all(tmp_path)

    assert shipped.ids == [f"a{i}" for i in range(10)] + [f"b{i}" for i in range(5)]
    assert metric("zhijian_gateway_audit_skipped_bytes_total") - skipped_before == len(damage)
    assert torn not in segments(tmp_path)


def test_records_printed_before_sigkill_are_all_shipped_after_restart(tmp_path):
    wal = tmp_path / "wal"
    shipped_by_child = tmp_path / "shipped-by-child"
    child = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("audit_child.py")), str(wal),
         str(shipped_by_child)],
        stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO)
    assert child.stdout is not None
    printed: list[str] = []
    try:
        while len(printed) < 5000:
            line = child.stdout.readline()
            assert line, f"the child ended early with {child.wait()}"
            printed.append(line.decode().strip())
        child.send_signal(signal.SIGKILL)
        rest = child.stdout.read().decode()
    finally:
        child.kill()
        child.wait()
    # A line cut by the kill was never fully printed, so its append is not promised.
    printed += rest.split("\n")[:-1]
    assert child.returncode == -signal.SIGKILL

    after_restart = ship_all(wal).ids
    before_kill = shipped_by_child.read_text().split("\n")[:-1]

    missing = set(printed) - set(before_kill) - set(after_restart)
    assert not missing, f"{len(missing)} of {len(printed)} printed records were lost"
    assert after_restart, "the kill should have left a backlog to recover"
    # At most the record whose append returned just before the kill went unprinted.
    assert len(set(after_restart) - set(printed)) <= 1
    order = {record_id: n for n, record_id in enumerate(printed)}
    positions = [order[i] for i in after_restart if i in order]
    assert positions == sorted(positions)


class FakeRegistry(registry_grpc.RegistryServiceServicer):
    """AppendCallRecords with the registry's rules. Its first answer is lost after the
    records were stored, as when the registry commits and the connection then drops."""

    def __init__(self) -> None:
        self.ledger: list[str] = []
        self.tokens: list[str] = []
        self.duplicates = 0
        self.lose_next_answer = True

    async def AppendCallRecords(self, request: registry_pb.AppendCallRecordsRequest,
                                context: grpc.aio.ServicerContext
                                ) -> registry_pb.AppendCallRecordsResponse:
        token = dict(context.invocation_metadata()).get("authorization", "")
        if not str(token).startswith("Bearer svc-token-"):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "")
        self.tokens.append(str(token))
        if not 0 < len(request.records) <= 1000:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "BATCH_TOO_LARGE")
        appended = 0
        for r in request.records:
            if r.record_id in self.ledger:
                self.duplicates += 1
            else:
                self.ledger.append(r.record_id)
                appended += 1
        if self.lose_next_answer:
            self.lose_next_answer = False
            await context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
        return registry_pb.AppendCallRecordsResponse(
            appended_count=appended, duplicate_count=len(request.records) - appended)


async def serving(registry: FakeRegistry,
                  body: Callable[[str], Awaitable[None]]) -> None:
    server = grpc.aio.server()
    registry_grpc.add_RegistryServiceServicer_to_server(registry, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await body(f"127.0.0.1:{port}")
    finally:
        await server.stop(None)


def test_registry_ship_delivers_each_record_once_to_an_idempotent_registry(tmp_path):
    registry = FakeRegistry()
    issued = 0
    ids = [f"r{i:04d}" for i in range(2300)]

    def token() -> str:
        nonlocal issued
        issued += 1
        return f"svc-token-{issued}"

    async def run(target: str) -> None:
        audit = CallAuditLog(tmp_path, ship=registry_ship(target, token), batch_size=1000)
        for i in ids:
            audit.append(record(i))
        await audit.start()
        await audit.close()
        assert audit.pending() == 0

    asyncio.run(serving(registry, run))
    assert registry.ledger == ids
    assert registry.duplicates == 1000  # the batch whose answer was lost came again
    assert len(registry.tokens) == 4 == len(set(registry.tokens))  # token() per call


def test_registry_ship_raises_on_refusal(tmp_path):
    registry = FakeRegistry()

    async def run(target: str) -> None:
        ship = registry_ship(target, lambda: "stolen")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await ship([record("r1")])
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        await ship.aclose()  # type: ignore[attr-defined]

    asyncio.run(serving(registry, run))
    assert registry.ledger == []


def test_records_the_registry_would_refuse_are_refused_at_append(tmp_path):
    async def run() -> None:
        audit = CallAuditLog(tmp_path, ship=refuse)
        for bad in [registry_pb.CallRecord(caller="user:a", method=METHOD),
                    registry_pb.CallRecord(record_id="x" * 65, caller="user:a", method=METHOD),
                    registry_pb.CallRecord(record_id="r", method=METHOD),
                    registry_pb.CallRecord(record_id="r", caller="u", method=METHOD,
                                           trace_id="0" * 33)]:
            with pytest.raises(ValueError):
                audit.append(bad)
        assert audit.pending() == 0
        await audit.close()

    asyncio.run(run())
    assert all(path.stat().st_size == 0 for path in segments(tmp_path))
