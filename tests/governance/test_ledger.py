"""The governance and calls ledgers: chaining, signed segments, witness, retention, tamper
detection, on SQLite and PostgreSQL.

Tampering is done the way an attacker with database access would: raw SQL, with hashes
recomputed from the documented formula (never with the module's own helpers), but without
the ledger key, which lives outside the database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import registry.ledger as ledger_module
from registry.db import Database
from registry.ledger import (
    GENESIS_SHA256,
    SIGNATURES_BEGIN_ACTION,
    AppendResult,
    EventInput,
    Ledger,
    LedgerKey,
    Problem,
    UnknownLedger,
    VerifyReport,
)
from registry.schema import AlertRow

SEGMENT = 4
T0 = 1_750_000_000.0
DAY = 86400.0
ZEROS = "0" * 64


class Clock:
    """A settable clock that ticks a millisecond per reading, so times stay distinct."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        self.now += 0.001
        return self.now


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "ledger.pem"


@pytest.fixture
def key(key_path: Path) -> LedgerKey:
    return LedgerKey.load_or_create(key_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_ledger(db: Database, key: LedgerKey, tmp_path: Path,
                clock: Clock) -> Callable[..., Ledger]:
    def make(**options: Any) -> Ledger:
        options.setdefault("segment_size", SEGMENT)
        options.setdefault("clock", clock)
        return Ledger(db, options.pop("key", key), tmp_path / "witness", **options)
    return make


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()


# --- helpers -----------------------------------------------------------------------------


def event(n: int, **overrides: Any) -> EventInput:
    values: dict[str, Any] = {
        "actor": "user:alice" if n % 2 else "user:bob", "action": "filing.approve",
        "target": f"filings/f{n % 3}", "details": {"n": n, "备注": "审批通过"},
        "trace_id": f"{n:032x}",
    }
    values.update(overrides)
    return EventInput(**values)


def fill(ledger: Ledger, db: Database, count: int, name: str = "calls",
         start: int = 1) -> list[AppendResult]:
    """``count`` events, each appended in a transaction of its own."""
    results = []
    for n in range(start, start + count):
        with db.transaction() as session:
            results.append(ledger.append(session, name, [event(n)]))
    return results


def sql(db: Database, statement: str, **params: Any) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


def rows(db: Database, name: str = "calls") -> list[dict[str, Any]]:
    with db.engine.begin() as connection:
        result = connection.execute(text(
            "SELECT * FROM ledger_events WHERE ledger = :ledger ORDER BY sequence"),
            {"ledger": name})
        return [dict(row._mapping) for row in result]


def checkpoints(db: Database, name: str = "calls") -> list[dict[str, Any]]:
    with db.engine.begin() as connection:
        result = connection.execute(text(
            "SELECT * FROM ledger_checkpoints WHERE ledger = :ledger ORDER BY segment"),
            {"ledger": name})
        return [dict(row._mapping) for row in result]


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def documented_hash(prev_sha256: str, row: dict[str, Any]) -> str:
    """entry_sha256 as the contract defines it, written independently of the module."""
    fields = {name: row[name] for name in ("ledger", "sequence", "segment", "create_time",
                                           "actor", "action", "target", "trace_id",
                                           "record_id")}
    fields["details"] = json.loads(row["details"])
    return hashlib.sha256((prev_sha256 + canonical(fields)).encode()).hexdigest()


def checkpoint_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in ("ledger", "segment", "first_sequence",
                                         "last_sequence", "head_sha256",
                                         "prev_checkpoint_sha256", "close_time",
                                         "last_event_time")}


def rehash(db: Database, name: str, start: int) -> None:
    """Recompute prev/entry hashes from ``start`` on and move the head row along: the chain
    itself is then perfect, as after a careful rewrite."""
    stored = rows(db, name)
    prev = ZEROS
    for row in stored:
        if row["sequence"] >= start:
            row["prev_sha256"] = prev
            row["entry_sha256"] = documented_hash(prev, row)
            sql(db, "UPDATE ledger_events SET prev_sha256 = :prev, entry_sha256 = :entry "
                    "WHERE ledger = :ledger AND sequence = :sequence",
                prev=row["prev_sha256"], entry=row["entry_sha256"], ledger=name,
                sequence=row["sequence"])
        prev = row["entry_sha256"]
    set_head(db, name, stored[-1]["sequence"], prev)


def set_head(db: Database, name: str, sequence: int, sha256: str, **more: int) -> None:
    assignments = ", ".join(f"{column} = :{column}" for column in more)
    sql(db, "UPDATE ledger_heads SET last_sequence = :sequence, last_sha256 = :sha256"
            + (", " + assignments if assignments else "") + " WHERE ledger = :ledger",
        sequence=sequence, sha256=sha256, ledger=name, **more)


def shift_up(db: Database, name: str, start: int) -> None:
    """Renumber entries from ``start`` on by +1 (in two steps: the primary key is checked
    row by row)."""
    sql(db, "UPDATE ledger_events SET sequence = -(sequence + 1) "
            "WHERE ledger = :ledger AND sequence >= :start", ledger=name, start=start)
    sql(db, "UPDATE ledger_events SET sequence = -sequence "
            "WHERE ledger = :ledger AND sequence < 0", ledger=name)


def insert_row(db: Database, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{column}" for column in row)
    sql(db, f"INSERT INTO ledger_events ({columns}) VALUES ({values})", **row)


def kinds(report: VerifyReport) -> set[str]:
    return {problem.kind for problem in report.problems}


def beside_signatures(report: VerifyReport) -> tuple[list[Problem], set[int]]:
    """A rehashed entry keeps the signature of its old hash, so each is ENTRY_FORGED; the
    rest is what the chain, checkpoints and witness find, as they did before entries were
    signed. Returns that rest and the sequences called forged."""
    forged = {p.sequence for p in report.problems if p.kind == "ENTRY_FORGED"}
    return [p for p in report.problems if p.kind != "ENTRY_FORGED"], forged


def found(report: VerifyReport, kind: str, sequence: int, segment: int) -> Problem:
    matches = [p for p in report.problems
               if p.kind == kind and p.sequence == sequence and p.segment == segment]
    assert matches, f"no {kind} at entry {sequence} of segment {segment}: {report.problems}"
    return matches[0]


@pytest.fixture
def fifteen(ledger: Ledger, db: Database) -> Ledger:
    """Segments 1–3 closed (entries 1–12), segment 4 open with entries 13–15."""
    fill(ledger, db, 15)
    report = ledger.verify("calls")
    assert report.ok, report.problems
    return ledger


# --- an untouched ledger -----------------------------------------------------------------


def test_untouched_ledger_verifies_with_counts(fifteen: Ledger, db: Database) -> None:
    report = fifteen.verify("calls")
    stored = rows(db)

    assert report.ok and report.problems == []
    assert (report.entries_checked, report.segments_checked, report.tombstones) == (15, 3, 0)
    assert report.head_sha256 == stored[-1]["entry_sha256"]
    assert fifteen.head("calls") == (15, stored[-1]["entry_sha256"])
    assert [row["sequence"] for row in stored] == list(range(1, 16))
    assert [row["segment"] for row in stored] == [1] * 4 + [2] * 4 + [3] * 4 + [4] * 3
    assert [(c["segment"], c["first_sequence"], c["last_sequence"])
            for c in checkpoints(db)] == [(1, 1, 4), (2, 5, 8), (3, 9, 12)]
    # The other ledger is separate and still empty.
    assert fifteen.head("governance") == (0, GENESIS_SHA256)
    assert fifteen.verify("governance").ok


def test_entries_follow_the_documented_hash_chain(fifteen: Ledger, db: Database) -> None:
    prev = ZEROS
    for row in rows(db):
        assert row["prev_sha256"] == prev
        assert row["entry_sha256"] == documented_hash(prev, row)
        # details are stored as exactly the canonical text that was hashed
        assert row["details"] == canonical(json.loads(row["details"]))
        assert "审批通过" in row["details"]
        prev = row["entry_sha256"]


def test_checkpoints_are_signed_over_the_documented_fields(
        fifteen: Ledger, db: Database, key: LedgerKey) -> None:
    stored = {row["sequence"]: row for row in rows(db)}
    previous = ZEROS
    for checkpoint in checkpoints(db):
        payload = checkpoint_payload(checkpoint)
        message = b"zhijian.ledger.checkpoint.v1\n" + canonical(payload).encode()
        assert checkpoint["key_id"] == key.key_id
        assert key.verify(message, checkpoint["signature"])
        assert checkpoint["head_sha256"] == stored[checkpoint["last_sequence"]]["entry_sha256"]
        assert checkpoint["prev_checkpoint_sha256"] == previous
        previous = hashlib.sha256(canonical(payload).encode()).hexdigest()


def test_every_entry_is_signed_over_the_documented_fields(
        fifteen: Ledger, db: Database, key: LedgerKey) -> None:
    for row in rows(db):
        payload = {"ledger": row["ledger"], "sequence": row["sequence"],
                   "entry_sha256": row["entry_sha256"]}
        message = b"zhijian.ledger.entry.v1\n" + canonical(payload).encode()
        assert key.verify(message, row["signature"]), row["sequence"]
        with db.read() as session:
            assert fifteen.entry_problem(session, _row_object(row)) == ""


def _row_object(row: dict[str, Any]) -> Any:
    return type("Row", (), row)()


def test_an_entry_appended_at_the_head_without_the_key_is_forged(
        fifteen: Ledger, db: Database) -> None:
    # The whole attack on the open segment: chained from the head, hashed as documented,
    # the head row moved on. Checkpoints and the witness alone would call it lagging.
    forged = _forged_row(db, 16)
    insert_row(db, forged)
    set_head(db, "calls", 16, forged["entry_sha256"])
    with db.read() as session:
        assert "no signature" in fifteen.entry_problem(session, _row_object(forged))
    report = fifteen.verify("calls")
    assert [(p.kind, p.sequence) for p in report.problems] == [("ENTRY_FORGED", 16)]
    # Another entry's signature does not carry over: it signs that entry's hash.
    sql(db, "UPDATE ledger_events SET signature = (SELECT signature FROM ledger_events "
            "WHERE ledger = 'calls' AND sequence = 15) WHERE ledger = 'calls' AND sequence = 16")
    [problem] = fifteen.verify("calls").problems
    assert (problem.kind, problem.sequence) == ("ENTRY_FORGED", 16)
    assert "does not verify" in problem.detail


def test_entries_from_before_signatures_are_adopted_once(fifteen: Ledger,
                                                         db: Database) -> None:
    # As a database migrated from before entries were signed looks.
    sql(db, "UPDATE ledger_events SET signature = NULL WHERE ledger = 'calls'")
    assert {p.kind for p in fifteen.verify("calls").problems} == {"ENTRY_FORGED"}
    assert fifteen.adopt_unsigned("calls") == 15
    assert fifteen.adopt_unsigned("calls") == 0
    assert fifteen.verify("calls").ok
    [marker] = [row for row in rows(db) if row["action"] == SIGNATURES_BEGIN_ACTION]
    assert marker["sequence"] == 16 and json.loads(marker["details"])["unsigned_through"] == 15
    # After it, an unsigned entry is an edit, and nothing adopts it.
    fill(fifteen, db, 1, start=17)
    sql(db, "UPDATE ledger_events SET signature = NULL WHERE ledger = 'calls' "
            "AND sequence = 17")
    assert fifteen.adopt_unsigned("calls") == 0
    assert [(p.kind, p.sequence) for p in fifteen.verify("calls").problems] == [
        ("ENTRY_FORGED", 17)]


def test_unsigned_entries_beside_signed_ones_are_not_adopted(fifteen: Ledger,
                                                             db: Database) -> None:
    sql(db, "UPDATE ledger_events SET signature = NULL WHERE ledger = 'calls' "
            "AND sequence >= 10")
    assert fifteen.adopt_unsigned("calls") == 0
    assert [p.sequence for p in fifteen.verify("calls").problems] == list(range(10, 16))


def test_append_reports_names_and_positions(ledger: Ledger, db: Database) -> None:
    with db.transaction() as session:
        result = ledger.append(session, "governance", [event(n) for n in range(1, 7)])

    assert result.duplicates == []
    assert [(e.sequence, e.segment) for e in result.appended] == [
        (1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (6, 2)]
    assert result.appended[4].name == "ledgers/governance/auditEvents/5"
    assert [e.entry_sha256 for e in result.appended] == [
        row["entry_sha256"] for row in rows(db, "governance")]
    assert ledger.verify("governance").ok


def test_witness_file_is_the_signed_tip(fifteen: Ledger, db: Database, key: LedgerKey) -> None:
    document = json.loads(fifteen.witness_path("calls").read_text())
    payload = {name: document[name] for name in ("ledger", "sequence", "entry_sha256", "time")}

    assert (document["sequence"], document["entry_sha256"]) == fifteen.head("calls")
    assert key.verify(b"zhijian.ledger.witness.v1\n" + canonical(payload).encode(),
                      base64.b64decode(document["signature"]))


def test_verifying_needs_only_the_public_key(fifteen: Ledger, db: Database, key_path: Path,
                                             tmp_path: Path) -> None:
    public = LedgerKey.public_only(key_path)
    verifier = Ledger(db, public, tmp_path / "witness", segment_size=SEGMENT)

    assert verifier.verify("calls").ok
    with pytest.raises(PermissionError), db.transaction() as session:
        verifier.append(session, "calls", [event(99)])
    assert fifteen.head("calls")[0] == 15


# --- tampering ---------------------------------------------------------------------------


def test_edited_entry_is_entry_modified_where_it_was_edited(fifteen: Ledger,
                                                            db: Database) -> None:
    sql(db, "UPDATE ledger_events SET details = :details WHERE ledger = 'calls' AND sequence = 6",
        details=canonical({"n": 6, "备注": "审批驳回"}))

    report = fifteen.verify("calls")

    assert report.ok is False
    assert [(p.kind, p.sequence, p.segment) for p in report.problems] == [
        ("ENTRY_MODIFIED", 6, 2)]
    assert "entry 6 of segment 2" in report.problems[0].detail
    assert "edited" in report.problems[0].detail


def test_edited_actor_is_entry_modified(fifteen: Ledger, db: Database) -> None:
    sql(db, "UPDATE ledger_events SET actor = 'user:mallory' "
            "WHERE ledger = 'calls' AND sequence = 14")

    report = fifteen.verify("calls")

    assert report.ok is False
    assert [(p.kind, p.sequence, p.segment) for p in report.problems] == [
        ("ENTRY_MODIFIED", 14, 4)]


def _forged_row(db: Database, at: int) -> dict[str, Any]:
    """A row for sequence ``at`` that chains correctly from its predecessor."""
    predecessor = next(row for row in rows(db) if row["sequence"] == at - 1)
    row = {**predecessor, "sequence": at, "actor": "user:mallory",
           "details": canonical({"forged": True}), "prev_sha256": predecessor["entry_sha256"],
           "signature": None}  # the forger cannot sign: the key is not in the database
    row["entry_sha256"] = documented_hash(row["prev_sha256"], row)
    return row


def test_inserted_entry_breaks_the_chain_after_it(fifteen: Ledger, db: Database) -> None:
    forged = _forged_row(db, 6)
    shift_up(db, "calls", 6)
    insert_row(db, forged)

    report = fifteen.verify("calls")

    assert report.ok is False
    problem = found(report, "CHAIN_BROKEN", 7, 2)
    assert "entry 6" in problem.detail
    # The forged row chains from its predecessor but carries no signature; nothing before
    # it is blamed.
    assert "no signature" in found(report, "ENTRY_FORGED", 6, 2).detail
    assert min(p.sequence for p in report.problems if p.sequence) == 6


def test_inserted_entry_with_a_rehashed_chain_fails_its_checkpoint(fifteen: Ledger,
                                                                   db: Database) -> None:
    forged = _forged_row(db, 6)
    shift_up(db, "calls", 6)
    insert_row(db, forged)
    rehash(db, "calls", 7)

    report = fifteen.verify("calls")

    assert report.ok is False
    assert "ENTRY_MODIFIED" not in kinds(report) and "CHAIN_BROKEN" not in kinds(report)
    problems, called_forged = beside_signatures(report)
    assert called_forged == set(range(6, 17))
    first = problems[0]
    assert (first.kind, first.segment) == ("CHECKPOINT_INVALID", 2)
    assert "entries 5–8" in first.detail and "entries 5–9" in first.detail


def test_reordered_entries_are_detected_at_the_first_swapped(fifteen: Ledger,
                                                             db: Database) -> None:
    stored = {row["sequence"]: row for row in rows(db)}
    movable = [column for column in stored[9] if column not in ("ledger", "sequence")]
    for sequence, source in ((9, stored[10]), (10, stored[9])):
        assignments = ", ".join(f"{column} = :{column}" for column in movable)
        sql(db, f"UPDATE ledger_events SET {assignments} "
                "WHERE ledger = 'calls' AND sequence = :sequence",
            sequence=sequence, **{column: source[column] for column in movable})

    report = fifteen.verify("calls")

    assert report.ok is False
    assert report.problems[0].sequence == 9 and report.problems[0].segment == 3
    found(report, "CHAIN_BROKEN", 9, 3)
    found(report, "ENTRY_MODIFIED", 9, 3)


def test_reordered_contents_only_are_entry_modified(fifteen: Ledger, db: Database) -> None:
    stored = {row["sequence"]: row for row in rows(db)}
    for sequence, source in ((2, stored[3]), (3, stored[2])):
        sql(db, "UPDATE ledger_events SET actor = :actor, target = :target, details = :details "
                "WHERE ledger = 'calls' AND sequence = :sequence", sequence=sequence,
            actor=source["actor"], target=source["target"], details=source["details"])

    report = fifteen.verify("calls")

    assert [(p.kind, p.sequence, p.segment) for p in report.problems] == [
        ("ENTRY_MODIFIED", 2, 1), ("ENTRY_MODIFIED", 3, 1)]


def test_deleted_entry_is_a_gap_and_a_broken_chain(fifteen: Ledger, db: Database) -> None:
    sql(db, "DELETE FROM ledger_events WHERE ledger = 'calls' AND sequence = 10")

    report = fifteen.verify("calls")

    assert report.ok is False
    gap = found(report, "SEQUENCE_GAP", 10, 3)
    assert "entry 10 missing" in gap.detail
    found(report, "CHAIN_BROKEN", 11, 3)
    assert "ENTRY_MODIFIED" not in kinds(report)


@pytest.mark.parametrize("rewind_head", [True, False])
def test_truncated_open_tail(fifteen: Ledger, db: Database, rewind_head: bool) -> None:
    sql(db, "DELETE FROM ledger_events WHERE ledger = 'calls' AND sequence >= 14")
    if rewind_head:  # the careful attacker: only the witness outside the database is left
        set_head(db, "calls", 13, rows(db)[-1]["entry_sha256"])

    report = fifteen.verify("calls")

    assert report.ok is False
    assert kinds(report) == {"TAIL_TRUNCATED"}
    problem = found(report, "TAIL_TRUNCATED", 14, 4)
    assert "entries 14–15 removed" in problem.detail


def test_truncated_last_closed_segment_with_its_checkpoint(fifteen: Ledger,
                                                           db: Database) -> None:
    sql(db, "DELETE FROM ledger_events WHERE ledger = 'calls' AND sequence >= 9")
    sql(db, "DELETE FROM ledger_checkpoints WHERE ledger = 'calls' AND segment = 3")
    set_head(db, "calls", 8, rows(db)[-1]["entry_sha256"], segment=3,
             segment_first_sequence=9)

    report = fifteen.verify("calls")

    assert report.ok is False
    assert kinds(report) == {"TAIL_TRUNCATED"}
    found(report, "TAIL_TRUNCATED", 9, 3)
    assert report.entries_checked == 8 and report.segments_checked == 2


def test_truncation_leaving_the_checkpoint_is_detected_by_it(fifteen: Ledger, db: Database,
                                                             ) -> None:
    sql(db, "DELETE FROM ledger_events WHERE ledger = 'calls' AND sequence >= 9")
    fifteen.witness_path("calls").unlink()  # even without the witness
    set_head(db, "calls", 8, rows(db)[-1]["entry_sha256"], segment=3,
             segment_first_sequence=9)

    report = fifteen.verify("calls")

    assert report.ok is False
    found(report, "TAIL_TRUNCATED", 9, 3)


def test_consistent_rewrite_of_closed_segments_fails_their_checkpoints(fifteen: Ledger,
                                                                       db: Database) -> None:
    sql(db, "UPDATE ledger_events SET details = :details WHERE ledger = 'calls' AND sequence = 2",
        details=canonical({"n": 2, "备注": "改写"}))
    rehash(db, "calls", 2)

    report = fifteen.verify("calls")

    assert report.ok is False
    problems, forged = beside_signatures(report)
    assert forged == set(range(2, 16))
    assert {p.kind for p in problems} <= {"CHECKPOINT_INVALID", "TAIL_TRUNCATED"}
    assert "ENTRY_MODIFIED" not in kinds(report)  # the chain itself is perfect
    first = problems[0]
    assert (first.kind, first.segment) == ("CHECKPOINT_INVALID", 1)
    assert "rewritten" in first.detail
    assert {p.segment for p in problems if p.kind == "CHECKPOINT_INVALID"} == {1, 2, 3}


def test_consistent_rewrite_of_the_open_segment_contradicts_the_witness(
        fifteen: Ledger, db: Database) -> None:
    sql(db, "UPDATE ledger_events SET details = :details "
            "WHERE ledger = 'calls' AND sequence = 14",
        details=canonical({"n": 14, "备注": "改写"}))
    rehash(db, "calls", 14)

    report = fifteen.verify("calls")

    assert report.ok is False
    problems, forged = beside_signatures(report)
    assert forged == {14, 15}
    assert [(p.kind, p.sequence, p.segment) for p in problems] == [("TAIL_TRUNCATED", 15, 4)]
    assert "rewritten" in problems[0].detail

    # A later legitimate append must not launder the rewrite by moving the witness on.
    fill(fifteen, db, 1, start=16)
    report = fifteen.verify("calls")
    found(report, "TAIL_TRUNCATED", 15, 4)
    assert json.loads(fifteen.witness_path("calls").read_text())["sequence"] == 15


@pytest.mark.parametrize("forgery", ["flipped", "other_key", "altered_field"])
def test_forged_checkpoint_is_checkpoint_invalid(fifteen: Ledger, db: Database,
                                                 forgery: str) -> None:
    checkpoint = checkpoints(db)[1]
    assert checkpoint["segment"] == 2
    if forgery == "flipped":
        signature = bytearray(checkpoint["signature"])
        signature[-1] ^= 0x01
        sql(db, "UPDATE ledger_checkpoints SET signature = :signature "
                "WHERE ledger = 'calls' AND segment = 2", signature=bytes(signature))
    elif forgery == "other_key":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        private = Ed25519PrivateKey.generate()
        mallory = LedgerKey(private.public_key(), private)
        message = b"zhijian.ledger.checkpoint.v1\n" + canonical(
            checkpoint_payload(checkpoint)).encode()
        sql(db, "UPDATE ledger_checkpoints SET signature = :signature, key_id = :key_id "
                "WHERE ledger = 'calls' AND segment = 2",
            signature=mallory.sign(message), key_id=mallory.key_id)
    else:
        sql(db, "UPDATE ledger_checkpoints SET close_time = :close_time "
                "WHERE ledger = 'calls' AND segment = 2", close_time="2020-01-01T00:00:00.000000Z")

    report = fifteen.verify("calls")

    assert report.ok is False
    assert kinds(report) == {"CHECKPOINT_INVALID"}
    first = report.problems[0]
    assert (first.sequence, first.segment) == (8, 2)
    assert ("signed by key" if forgery == "other_key" else "signature does not") in first.detail
    if forgery == "altered_field":  # the next checkpoint signed the original's digest
        assert [(p.segment, "does not link" in p.detail) for p in report.problems[1:]] == [
            (3, True)]
    else:
        assert len(report.problems) == 1


def test_deleted_checkpoint_is_checkpoint_invalid(fifteen: Ledger, db: Database) -> None:
    sql(db, "DELETE FROM ledger_checkpoints WHERE ledger = 'calls' AND segment = 2")

    report = fifteen.verify("calls")

    assert [(p.kind, p.segment) for p in report.problems] == [("CHECKPOINT_INVALID", 2)]
    assert "no checkpoint" in report.problems[0].detail


def _pruned_first_segment(make_ledger: Callable[..., Ledger], db: Database,
                          clock: Clock) -> Ledger:
    """Segment 1 written a day before the rest, then dropped by retention."""
    ledger = make_ledger(retention_s={"calls": 10 * DAY})
    fill(ledger, db, 4)
    clock.now += DAY
    fill(ledger, db, 11, start=5)
    result = ledger.prune("calls", now=T0 + 10.5 * DAY)
    assert result.dropped_segments == [1]
    return ledger


def test_altered_tombstone_is_tombstone_invalid(make_ledger: Callable[..., Ledger],
                                                db: Database, clock: Clock) -> None:
    ledger = _pruned_first_segment(make_ledger, db, clock)
    assert ledger.verify("calls").ok
    sql(db, "UPDATE ledger_tombstones SET drop_time = :drop_time "
            "WHERE ledger = 'calls' AND segment = 1", drop_time="2099-01-01T00:00:00.000000Z")

    report = ledger.verify("calls")

    assert report.ok is False
    assert [(p.kind, p.sequence, p.segment) for p in report.problems] == [
        ("TOMBSTONE_INVALID", 1, 1)]
    assert report.tombstones == 0


@pytest.mark.parametrize("signer", ["garbage", "other_key"])
def test_forged_tombstone_hiding_a_live_segment_is_tombstone_invalid(
        fifteen: Ledger, db: Database, signer: str) -> None:
    head = next(row for row in rows(db) if row["sequence"] == 8)["entry_sha256"]
    sql(db, "DELETE FROM ledger_events WHERE ledger = 'calls' AND segment = 2")
    sql(db, "DELETE FROM ledger_checkpoints WHERE ledger = 'calls' AND segment = 2")
    tombstone = {"ledger": "calls", "segment": 2, "first_sequence": 5, "last_sequence": 8,
                 "head_sha256": head, "drop_time": "2030-01-01T00:00:00.000000Z"}
    if signer == "garbage":
        key_id, signature = fifteen.key.key_id, bytes(64)
    else:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        private = Ed25519PrivateKey.generate()
        mallory = LedgerKey(private.public_key(), private)
        key_id = mallory.key_id
        signature = mallory.sign(b"zhijian.ledger.tombstone.v1\n" + canonical(tombstone).encode())
    sql(db, "INSERT INTO ledger_tombstones (ledger, segment, first_sequence, last_sequence, "
            "head_sha256, drop_time, key_id, signature) VALUES (:ledger, :segment, "
            ":first_sequence, :last_sequence, :head_sha256, :drop_time, :key_id, :signature)",
        key_id=key_id, signature=signature, **tombstone)

    report = fifteen.verify("calls")

    assert report.ok is False
    assert [(p.kind, p.sequence, p.segment) for p in report.problems] == [
        ("TOMBSTONE_INVALID", 5, 2)]
    assert report.tombstones == 0


def test_unexplained_missing_segment_is_a_gap(fifteen: Ledger, db: Database) -> None:
    sql(db, "DELETE FROM ledger_events WHERE ledger = 'calls' AND segment = 2")
    sql(db, "DELETE FROM ledger_checkpoints WHERE ledger = 'calls' AND segment = 2")

    report = fifteen.verify("calls")

    assert report.ok is False
    gap = found(report, "SEQUENCE_GAP", 5, 3)
    assert "entries 5–8 missing" in gap.detail


def test_forged_witness_is_reported(fifteen: Ledger, db: Database) -> None:
    path = fifteen.witness_path("calls")
    document = json.loads(path.read_text())
    document["sequence"] = 99
    path.write_text(json.dumps(document))

    report = fifteen.verify("calls")

    assert report.ok is False
    assert [p.kind for p in report.problems] == ["TAIL_TRUNCATED"]
    assert "does not verify" in report.problems[0].detail


# --- the witness may lag --------------------------------------------------------------------


def test_witness_behind_the_database_is_not_tampering(ledger: Ledger, db: Database) -> None:
    path = ledger.witness_path("calls")
    fill(ledger, db, 5)
    older = path.read_bytes()
    fill(ledger, db, 6, start=6)

    path.write_bytes(older)  # as if the process died after the later commits
    assert ledger.verify("calls").ok

    path.unlink()  # died before the very first witness write
    assert ledger.verify("calls").ok

    fill(ledger, db, 1, start=12)
    assert json.loads(path.read_text())["sequence"] == 12
    assert ledger.verify("calls").ok


def test_failed_witness_write_does_not_undo_the_commit(ledger: Ledger, db: Database,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    fill(ledger, db, 3)

    def crash(*_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(ledger, "_write_witness", crash)
    fill(ledger, db, 2, start=4)

    assert ledger.head("calls")[0] == 5
    assert json.loads(ledger.witness_path("calls").read_text())["sequence"] == 3
    assert ledger.verify("calls").ok
    monkeypatch.undo()
    ledger.refresh_witness("calls")
    assert json.loads(ledger.witness_path("calls").read_text())["sequence"] == 5


# --- transactions, idempotency, concurrency -------------------------------------------------


def test_append_commits_and_rolls_back_with_the_callers_act(ledger: Ledger,
                                                            db: Database) -> None:
    def act(fail: bool) -> None:
        with db.transaction() as session:
            session.add(AlertRow(kind="act", target="filings/f1", detail="", create_time=T0))
            ledger.append(session, "governance", [event(1)])
            if fail:
                raise RuntimeError("the act failed after its entry was appended")

    def alerts() -> int:
        with db.read() as session:
            return session.query(AlertRow).count()

    with pytest.raises(RuntimeError):
        act(fail=True)
    assert ledger.head("governance") == (0, GENESIS_SHA256)
    assert ledger.list_events("governance") == [] and alerts() == 0
    assert not ledger.witness_path("governance").exists()

    act(fail=False)
    head = ledger.head("governance")
    assert head[0] == 1 and alerts() == 1

    with pytest.raises(RuntimeError):
        act(fail=True)
    assert ledger.head("governance") == head
    assert len(ledger.list_events("governance")) == 1 and alerts() == 1
    assert json.loads(ledger.witness_path("governance").read_text())["sequence"] == 1
    assert ledger.verify("governance").ok


def test_savepoints_never_put_the_witness_ahead(ledger: Ledger, db: Database) -> None:
    path = ledger.witness_path("governance")

    def alert(session: Any) -> None:
        session.add(AlertRow(kind="act", target="filings/f1", detail="", create_time=T0))

    # A savepoint released after the append is not the commit.
    with pytest.raises(RuntimeError), db.transaction() as session:
        ledger.append(session, "governance", [event(1)])
        with session.begin_nested():
            alert(session)
        assert not path.exists()
        raise RuntimeError("the act failed")
    assert not path.exists() and ledger.head("governance")[0] == 0

    # An append inside a released savepoint is witnessed when the transaction commits.
    with db.transaction() as session:
        with session.begin_nested():
            ledger.append(session, "governance", [event(1)])
        assert not path.exists()
    assert json.loads(path.read_text())["sequence"] == 1

    # An append inside a savepoint that rolls back must not be witnessed.
    with db.transaction() as session:
        ledger.append(session, "governance", [event(2)])
        with pytest.raises(RuntimeError), session.begin_nested():
            ledger.append(session, "governance", [event(3)])
            raise RuntimeError("undo the inner act")
    assert ledger.head("governance")[0] == 2
    assert json.loads(path.read_text())["sequence"] <= 2
    assert ledger.verify("governance").ok
    fill(ledger, db, 1, name="governance", start=4)
    assert json.loads(path.read_text())["sequence"] == 3
    assert ledger.verify("governance").ok


def test_record_ids_are_idempotent(ledger: Ledger, db: Database) -> None:
    def append(name: str, *ids: str) -> AppendResult:
        with db.transaction() as session:
            return ledger.append(session, name, [
                event(n, action="call", record_id=record_id) for n, record_id in enumerate(ids)])

    first = append("calls", "a", "b", "a")
    assert [e.record_id for e in first.appended] == ["a", "b"] and first.duplicates == ["a"]
    second = append("calls", "b", "c")
    assert [e.record_id for e in second.appended] == ["c"] and second.duplicates == ["b"]
    third = append("calls", "a")
    assert third.appended == [] and third.duplicates == ["a"]
    assert ledger.head("calls")[0] == 3
    # Ids are per ledger.
    assert [e.record_id for e in append("governance", "a").appended] == ["a"]
    assert [row["record_id"] for row in rows(db)] == ["a", "b", "c"]
    assert ledger.verify("calls").ok


def test_concurrent_appends_make_one_gap_free_chain(ledger: Ledger, db: Database) -> None:
    threads, transactions, per_transaction = 8, 6, 2
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for t in range(transactions):
                with db.transaction() as session:
                    ledger.append(session, "calls", [
                        event(worker * 100 + t * 10 + i, record_id=f"w{worker}-{t}-{i}")
                        for i in range(per_transaction)])
        except BaseException as error:
            errors.append(error)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert errors == []
    total = threads * transactions * per_transaction
    assert [row["sequence"] for row in rows(db)] == list(range(1, total + 1))
    report = ledger.verify("calls")
    assert report.ok, report.problems
    assert (report.entries_checked, report.segments_checked) == (total, total // SEGMENT)
    witness = json.loads(ledger.witness_path("calls").read_text())
    assert (witness["sequence"], witness["entry_sha256"]) == ledger.head("calls")


def test_invalid_input_is_refused_before_anything_is_written(ledger: Ledger,
                                                             db: Database) -> None:
    with pytest.raises(ValueError), db.transaction() as session:
        ledger.append(session, "calls", [event(1), event(2, actor="x" * 201)])
    with pytest.raises(ValueError), db.transaction() as session:
        ledger.append(session, "calls", [event(1, details={"bad": float("nan")})])
    assert ledger.head("calls") == (0, GENESIS_SHA256)


def test_unknown_ledger(ledger: Ledger, db: Database) -> None:
    with pytest.raises(UnknownLedger), db.transaction() as session:
        ledger.append(session, "payments", [event(1)])
    for call in (ledger.verify, ledger.prune, ledger.head, ledger.list_events):
        with pytest.raises(ValueError, match="unknown ledger"):
            call("payments")


# --- retention -----------------------------------------------------------------------------


def test_prune_drops_only_expired_closed_segments(make_ledger: Callable[..., Ledger],
                                                  db: Database, clock: Clock) -> None:
    ledger = make_ledger(retention_s={"calls": 100.0})
    fill(ledger, db, 8)  # segments 1 and 2, written at T0
    clock.now = T0 + 150
    fill(ledger, db, 5, start=9)  # segment 3 closed at T0+150, entry 13 open

    result = ledger.prune("calls", now=T0 + 120)

    assert (result.dropped_segments, result.dropped_events) == ([1, 2], 8)
    report = ledger.verify("calls")
    assert report.ok, report.problems
    assert (report.entries_checked, report.segments_checked, report.tombstones) == (5, 1, 2)
    assert [row["sequence"] for row in rows(db)] == list(range(9, 14))
    tombstones = [e for e in ledger.list_events("governance") if e.action == "segment.tombstone"]
    assert [(e.actor, e.target, e.details["segment"]) for e in tombstones] == [
        ("svc:registry", "ledgers/calls", 1), ("svc:registry", "ledgers/calls", 2)]
    assert ledger.verify("governance").ok

    assert ledger.prune("calls", now=T0 + 120).dropped_segments == []
    # Long after: segment 3 goes, the open segment never does.
    assert ledger.prune("calls", now=T0 + 100 * DAY).dropped_segments == [3]
    assert [e.sequence for e in ledger.list_events("calls")] == [13]

    fill(ledger, db, 6, start=14)  # closes segment 4 with segment 3 already dropped
    report = ledger.verify("calls")
    assert report.ok, report.problems
    assert (report.entries_checked, report.segments_checked, report.tombstones) == (7, 1, 3)


def test_pruning_the_governance_ledger_appends_to_it(make_ledger: Callable[..., Ledger],
                                                     db: Database, clock: Clock) -> None:
    ledger = make_ledger(retention_s={"governance": 100.0}, segment_size=1)
    fill(ledger, db, 3, name="governance")
    clock.now = T0 + 1000

    result = ledger.prune("governance")

    # Three segments of one event each; the tombstone events close segments of their own,
    # which are not expired and not part of this call.
    assert result.dropped_segments == [1, 2, 3]
    assert ledger.head("governance")[0] == 6
    report = ledger.verify("governance")
    assert report.ok, report.problems
    assert (report.entries_checked, report.tombstones) == (3, 3)
    witness = json.loads(ledger.witness_path("governance").read_text())
    assert witness["sequence"] == 6


def test_prune_refuses_a_segment_that_no_longer_matches(fifteen: Ledger,
                                                        db: Database) -> None:
    sql(db, "UPDATE ledger_events SET actor = 'user:mallory' "
            "WHERE ledger = 'calls' AND sequence = 2")

    result = fifteen.prune("calls", now=T0 + 400 * DAY)

    assert result.dropped_segments == [] and "segment 1" in result.refused
    report = fifteen.verify("calls")
    found(report, "ENTRY_MODIFIED", 2, 1)
    assert report.tombstones == 0


# --- reading -------------------------------------------------------------------------------


def test_verify_streams_pages_of_one_snapshot(make_ledger: Callable[..., Ledger],
                                              db: Database, clock: Clock,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Small pages, and a prune plus an append committed between two of them: the
    verification must see the ledger as it was when it started, not a gap."""
    ledger = make_ledger(retention_s={"calls": 10 * DAY})
    fill(ledger, db, 4)
    clock.now += DAY
    fill(ledger, db, 11, start=5)
    monkeypatch.setattr(ledger_module, "_PAGE", 2)
    paged = ledger_module._events
    writes_done = False

    def interleaved(session: Any, name: str, *bounds: Any) -> Iterator[Any]:
        nonlocal writes_done
        for index, row in enumerate(paged(session, name, *bounds)):
            if index == 1 and not writes_done:
                writes_done = True
                assert ledger.prune("calls", now=T0 + 10.5 * DAY).dropped_segments == [1]
                fill(ledger, db, 1, start=16)
            yield row

    monkeypatch.setattr(ledger_module, "_events", interleaved)

    during = ledger.verify("calls")
    after = ledger.verify("calls")

    assert writes_done
    assert during.ok, during.problems
    assert (during.entries_checked, during.tombstones) == (15, 0)
    assert after.ok, after.problems
    assert (after.entries_checked, after.tombstones) == (12, 1)
    sql(db, "DELETE FROM ledger_events WHERE ledger = 'calls' AND sequence = 10")
    found(ledger.verify("calls"), "SEQUENCE_GAP", 10, 3)



def test_list_and_get_events(ledger: Ledger, db: Database) -> None:
    fill(ledger, db, 7)

    assert [e.sequence for e in ledger.list_events("calls", page_size=3)] == [1, 2, 3]
    assert [e.sequence for e in ledger.list_events("calls", page_size=3,
                                                   after_sequence=3)] == [4, 5, 6]
    assert [e.sequence for e in ledger.list_events("calls", actor="user:alice")] == [1, 3, 5, 7]
    assert [e.sequence for e in ledger.list_events("calls", target="filings/f1",
                                                   actor="user:alice")] == [1, 7]
    assert [e.sequence for e in ledger.list_events("calls", trace_id=f"{4:032x}")] == [4]
    assert ledger.list_events("calls", action="filing.reject") == []

    view = ledger.get_event("calls", 5)
    assert view is not None
    previous = ledger.get_event("calls", 4)
    assert previous is not None
    assert view.name == "ledgers/calls/auditEvents/5"
    assert (view.segment, view.actor, view.details) == (2, "user:alice",
                                                        {"n": 5, "备注": "审批通过"})
    assert view.prev_sha256 == previous.entry_sha256
    assert ledger.get_event("calls", 99) is None


# --- the key -------------------------------------------------------------------------------


def test_key_is_created_private_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "ledger.pem"
    key = LedgerKey.load_or_create(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert LedgerKey.load_or_create(path).key_id == key.key_id
    assert len(key.key_id) == 16 and key.key_id == hashlib.sha256(key.public_bytes).hexdigest()[:16]
    signature = key.sign(b"checkpoint")
    assert key.verify(b"checkpoint", signature)
    assert not key.verify(b"checkpoinT", signature)
    assert not key.verify(b"checkpoint", b"\x00" * 64)

    public = LedgerKey.public_only(path)
    assert public.key_id == key.key_id
    assert LedgerKey.public_only(path.with_name("ledger.pem.pub")).verify(b"checkpoint",
                                                                          signature)
    assert b"PRIVATE" not in path.with_name("ledger.pem.pub").read_bytes()
    with pytest.raises(PermissionError):
        public.sign(b"checkpoint")
