"""Reviews reach the registry once, and only confirmed ones are marked shipped: against a
RegistryService on a loopback port that implements AppendReviewRecords and nothing else."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.registry.v1 import registry_service_pb2_grpc as registry_grpc
from zhijian.results import ResultRecord, ResultStore, ReviewRecord
from zhijian.review_shipper import ReviewShipper
from zhijian.supervisor import free_port


class Registry(registry_grpc.RegistryServiceServicer):
    def __init__(self) -> None:
        self.received: list[pb.ReviewRecord] = []
        self.tokens: list[str] = []
        self.fail_next = 0

    async def AppendReviewRecords(self, request, context):
        self.tokens.append(dict(context.invocation_metadata())["authorization"])
        if self.fail_next:
            self.fail_next -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        self.received.extend(request.records)
        return pb.AppendReviewRecordsResponse(appended_count=len(request.records))


def result(result_id: str) -> ResultRecord:
    return ResultRecord(result_id, "classify", "zhijian-classify", "3", "f-abc",
                        {"device_class": "II"}, "0" * 64, "ab" * 16, "req", time.time())


async def reviewed(store: ResultStore, result_id: str, decision: str = "accept") -> None:
    store.record(result(result_id))
    await store.add_review(ReviewRecord(result_id, decision, "user:rev.zhao", "", {},
                                        "cd" * 16, time.time()))


def with_registry(test: Callable[[Registry, str], Awaitable[None]]) -> None:
    async def run() -> None:
        servicer = Registry()
        server = grpc.aio.server()
        registry_grpc.add_RegistryServiceServicer_to_server(servicer, server)
        port = free_port()
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        try:
            await test(servicer, f"127.0.0.1:{port}")
        finally:
            await server.stop(None)
    asyncio.run(run())


def test_reviews_ship_with_their_model_and_are_kept_until_confirmed(tmp_path: Path) -> None:
    with_registry(lambda servicer, target: kept_until_confirmed(servicer, target, tmp_path))


async def kept_until_confirmed(servicer: Registry, target: str, tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.db")
    shipper = ReviewShipper(store, target, lambda: "tok")
    await reviewed(store, "r1", "modify")
    await reviewed(store, "r2")
    servicer.fail_next = 1
    with pytest.raises(grpc.RpcError):
        await shipper.ship_once()
    assert len(await store.unshipped_reviews(10)) == 2  # nothing lost to the failure
    assert await shipper.ship_once() == 2
    assert await shipper.ship_once() == 0  # shipped once
    first = servicer.received[0]
    assert first.result == "classify/results/r1" and first.decision == 2  # MODIFY
    assert (first.model.model, first.model.version, first.model.filing_id) == (
        "zhijian-classify", "3", "f-abc")
    assert servicer.tokens[-1] == "Bearer tok"
    await shipper.close()
    await store.close()


def test_the_loop_ships_new_reviews_and_a_stop_ships_what_is_left(tmp_path: Path) -> None:
    with_registry(lambda servicer, target: loop_and_stop(servicer, target, tmp_path))


async def loop_and_stop(servicer: Registry, target: str, tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results.db")
    shipper = ReviewShipper(store, target, lambda: "tok", interval_s=0.05)
    shipper.start()
    await reviewed(store, "r1")
    for _ in range(100):
        if servicer.received:
            break
        await asyncio.sleep(0.02)
    assert [r.result for r in servicer.received] == ["classify/results/r1"]
    await reviewed(store, "r2", "reject")
    await shipper.close()
    assert [r.result for r in servicer.received][-1] == "classify/results/r2"
    await store.close()


def test_a_store_from_before_shipping_gets_its_reviews_shipped(tmp_path: Path) -> None:
    path = tmp_path / "results.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE results (result_id TEXT PRIMARY KEY, service TEXT NOT NULL,
            model_name TEXT NOT NULL, model_version TEXT NOT NULL, filing_id TEXT NOT NULL,
            outputs TEXT NOT NULL, input_sha256 TEXT NOT NULL, trace_id TEXT NOT NULL,
            request_id TEXT NOT NULL, created_at REAL NOT NULL);
        CREATE TABLE reviews (result_id TEXT PRIMARY KEY REFERENCES results(result_id),
            decision TEXT NOT NULL, reviewer TEXT NOT NULL, reason TEXT NOT NULL,
            modified TEXT NOT NULL, trace_id TEXT NOT NULL, reviewed_at REAL NOT NULL);
        INSERT INTO results VALUES ('old', 'classify', 'm', '1', 'f', '{}', '', '', '', 0);
        INSERT INTO reviews VALUES ('old', 'accept', 'user:a', '', '{}', '', 1);
    """)
    old.commit()
    old.close()
    async def pending() -> list[tuple[str, str]]:
        store = ResultStore(path)
        try:
            return [(review.result_id, res.model_name)
                    for review, res in await store.unshipped_reviews(10)]
        finally:
            await store.close()
    assert asyncio.run(pending()) == [("old", "m")]
