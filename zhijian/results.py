"""AI results and the human reviews of them, kept so a review can name a real result and
acceptance / override rates can be read per model version.

Results are written in batches off the request path (a queue drained by one task);
``close()`` drains it, so a clean stop loses nothing. Inputs are kept only as hashes.
Reviews are kept until the registry has them (``zhijian.review_shipper``): each is marked
shipped only once the registry confirmed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    result_id TEXT PRIMARY KEY, service TEXT NOT NULL, model_name TEXT NOT NULL,
    model_version TEXT NOT NULL, filing_id TEXT NOT NULL, outputs TEXT NOT NULL,
    input_sha256 TEXT NOT NULL, trace_id TEXT NOT NULL, request_id TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reviews (
    result_id TEXT PRIMARY KEY REFERENCES results(result_id), decision TEXT NOT NULL,
    reviewer TEXT NOT NULL, reason TEXT NOT NULL, modified TEXT NOT NULL,
    trace_id TEXT NOT NULL, reviewed_at REAL NOT NULL, shipped INTEGER NOT NULL DEFAULT 0);
"""


@dataclass(frozen=True)
class ResultRecord:
    result_id: str
    service: str
    model_name: str
    model_version: str
    filing_id: str
    outputs: dict[str, Any]  # the AI's answer, e.g. {task: label}
    input_sha256: str
    trace_id: str
    request_id: str
    created_at: float


@dataclass(frozen=True)
class ReviewRecord:
    result_id: str
    decision: str
    reviewer: str
    reason: str
    modified: dict[str, Any]
    trace_id: str
    reviewed_at: float


class AlreadyReviewed(Exception):
    pass


class ResultStore:
    def __init__(self, path: Path, *, flush_interval_s: float = 0.05) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(reviews)")}
        if "shipped" not in columns:  # a store from before reviews reached the registry
            self._db.execute("ALTER TABLE reviews ADD COLUMN shipped INTEGER NOT NULL "
                             "DEFAULT 0")
        self._lock = asyncio.Lock()
        self._pending: list[ResultRecord] = []
        self._flush_interval_s = flush_interval_s
        self._flusher: asyncio.Task[None] | None = None

    def record(self, result: ResultRecord) -> None:
        """Queue a result; it is durable within one flush interval."""
        self._pending.append(result)
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval_s)
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, []
            if batch:
                await asyncio.to_thread(self._insert, batch)

    def _insert(self, batch: list[ResultRecord]) -> None:
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO results VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(r.result_id, r.service, r.model_name, r.model_version, r.filing_id,
                  json.dumps(r.outputs, ensure_ascii=False), r.input_sha256, r.trace_id,
                  r.request_id, r.created_at) for r in batch])

    async def get(self, result_id: str) -> ResultRecord | None:
        await self.flush()
        row = await asyncio.to_thread(
            lambda: self._db.execute("SELECT * FROM results WHERE result_id = ?",
                                     (result_id,)).fetchone())
        if row is None:
            return None
        return ResultRecord(result_id=row[0], service=row[1], model_name=row[2],
                            model_version=row[3], filing_id=row[4], outputs=json.loads(row[5]),
                            input_sha256=row[6], trace_id=row[7], request_id=row[8],
                            created_at=row[9])

    async def add_review(self, review: ReviewRecord) -> ReviewRecord:
        def insert() -> None:
            try:
                self._db.execute(
                    "INSERT INTO reviews (result_id, decision, reviewer, reason, modified, "
                    "trace_id, reviewed_at) VALUES (?,?,?,?,?,?,?)",
                    (review.result_id, review.decision, review.reviewer, review.reason,
                     json.dumps(review.modified, ensure_ascii=False), review.trace_id,
                     review.reviewed_at))
            except sqlite3.IntegrityError:
                raise AlreadyReviewed(review.result_id) from None

        await self.flush()
        async with self._lock:
            await asyncio.to_thread(insert)
        return review

    async def review_stats(self, model_name: str) -> dict[str, dict[str, int]]:
        """Decisions per model version: the automation-bias check of GOVERNANCE.md."""
        await self.flush()
        rows = await asyncio.to_thread(lambda: self._db.execute(
            "SELECT r.model_version, v.decision, count(*) FROM reviews v "
            "JOIN results r USING (result_id) WHERE r.model_name = ? "
            "GROUP BY r.model_version, v.decision", (model_name,)).fetchall())
        stats: dict[str, dict[str, int]] = {}
        for version, decision, count in rows:
            stats.setdefault(version, {})[decision] = count
        return stats

    async def unshipped_reviews(self, limit: int) -> list[tuple[ReviewRecord, ResultRecord]]:
        """The oldest reviews the registry has not confirmed, with their results."""
        rows = await asyncio.to_thread(lambda: self._db.execute(
            "SELECT v.result_id, v.decision, v.reviewer, v.reason, v.modified, v.trace_id, "
            "v.reviewed_at, r.* FROM reviews v JOIN results r USING (result_id) "
            "WHERE v.shipped = 0 ORDER BY v.reviewed_at LIMIT ?", (limit,)).fetchall())
        return [(ReviewRecord(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5],
                              row[6]),
                 ResultRecord(result_id=row[7], service=row[8], model_name=row[9],
                              model_version=row[10], filing_id=row[11],
                              outputs=json.loads(row[12]), input_sha256=row[13],
                              trace_id=row[14], request_id=row[15], created_at=row[16]))
                for row in rows]

    async def mark_shipped(self, result_ids: list[str]) -> None:
        def update() -> None:
            with self._db:
                self._db.executemany("UPDATE reviews SET shipped = 1 WHERE result_id = ?",
                                     [(result_id,) for result_id in result_ids])

        async with self._lock:
            await asyncio.to_thread(update)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()
        self._db.close()
