"""Two append-only, hash-chained ledgers ("governance" and "calls") cut into signed segments.

Why this shape (GOVERNANCE.md, "Logs and retention"):

* Each entry's hash covers its predecessor's hash, so an edit, insertion, deletion or
  reordering breaks the chain. Someone with write access to the database can still rewrite
  the chain consistently, so every ``segment_size`` entries the segment is closed by a
  checkpoint signed with an Ed25519 key that lives outside the database.
* The open segment has no checkpoint yet. After every commit that appended, a signed
  witness of the tip is written to a file outside the database; it exposes tail truncation
  and rewrites of the open segment. The witness may lag the database (a crash between
  commit and witness write), never lead it, so lagging is not tampering.
* Checkpoints and the witness vouch for what existed when they were signed, not for an
  entry appended after them: someone who can write the database but not read the key
  could append a well-formed entry at the head and readers that act on single entries
  (serving seals, recorded credentials) would take it. So every entry is signed too, and
  those readers ask ``Ledger.entry_problem`` before they believe one.
* Retention drops whole closed segments and leaves a signed tombstone whose head hash the
  chain continues from, so deletion by policy never looks like tampering.

Formats, for verifiers written elsewhere::

    canonical_json(x) = json.dumps(x, sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False), hashed and signed as UTF-8
    entry_sha256      = sha256(prev_sha256 + canonical_json({ledger, sequence, segment,
                        create_time, actor, action, target, details, trace_id, record_id}))
    entry signature   = Ed25519 over b"zhijian.ledger.entry.v1\n" + canonical_json(
                        {ledger, sequence, entry_sha256}); null only for entries up to the
                        "unsigned_through" of the ledger's first "ledger.signatures_begin"
                        entry (written before entries were signed)
    checkpoint        = Ed25519 over b"zhijian.ledger.checkpoint.v1\\n" + canonical_json(
                        {ledger, segment, first_sequence, last_sequence, head_sha256,
                         prev_checkpoint_sha256, close_time, last_event_time})
    prev_checkpoint_sha256 = sha256(canonical_json(previous checkpoint's signed fields)),
                        64 zeros for segment 1 (the tombstone's fields if it was dropped)
    tombstone         = Ed25519 over b"zhijian.ledger.tombstone.v1\\n" + canonical_json(
                        {ledger, segment, first_sequence, last_sequence, head_sha256,
                         drop_time})
    witness file      = <ledger>.head.json: {ledger, sequence, entry_sha256, time, key_id,
                        signature (base64 of Ed25519 over b"zhijian.ledger.witness.v1\\n" +
                        canonical_json({ledger, sequence, entry_sha256, time}))}

Times are RFC 3339 UTC strings with microseconds; their fixed width makes string order
time order, which retention relies on.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import delete, event, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registry.db import Database
from registry.schema import (
    LedgerCheckpointRow,
    LedgerEventRow,
    LedgerHeadRow,
    LedgerTombstoneRow,
)
from zhijian.files import write_file

log = logging.getLogger(__name__)

LEDGERS = ("governance", "calls")
GENESIS_SHA256 = "0" * 64
DEFAULT_RETENTION_S: dict[str, float] = {
    "governance": 10 * 366 * 86400.0,
    "calls": 183 * 86400.0,
}
TOMBSTONE_ACTOR = "svc:registry"
TOMBSTONE_ACTION = "segment.tombstone"

CHECKPOINT_DOMAIN = b"zhijian.ledger.checkpoint.v1\n"
TOMBSTONE_DOMAIN = b"zhijian.ledger.tombstone.v1\n"
WITNESS_DOMAIN = b"zhijian.ledger.witness.v1\n"
ENTRY_DOMAIN = b"zhijian.ledger.entry.v1\n"
SIGNATURES_BEGIN_ACTION = "ledger.signatures_begin"

_PAGE = 1000
_ID_CHUNK = 500
_MAX_PROBLEMS = 1000
# Column widths of ledger_events: checked here so that both backends refuse the same input
# (SQLite would store an over-long string that PostgreSQL rejects).
_MAX_LENGTH = {"actor": 200, "action": 64, "target": 200, "trace_id": 32, "record_id": 64}
_CHECKPOINT_FIELDS = ("ledger", "segment", "first_sequence", "last_sequence", "head_sha256",
                      "prev_checkpoint_sha256", "close_time", "last_event_time")
_TOMBSTONE_FIELDS = ("ledger", "segment", "first_sequence", "last_sequence", "head_sha256",
                     "drop_time")
_ENTRY_SIGNED_FIELDS = ("ledger", "sequence", "entry_sha256")
_EVENTS = LedgerEventRow.__table__
_CHECKPOINTS = LedgerCheckpointRow.__table__
_TOMBSTONES = LedgerTombstoneRow.__table__


class UnknownLedger(ValueError):
    """The ledger name is neither "governance" nor "calls"."""


class WitnessError(Exception):
    """The witness file exists but cannot be trusted."""


# --- formats -----------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_sha256(prev_sha256: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_sha256 + canonical_json(dict(fields))).encode()).hexdigest()


def event_name(ledger: str, sequence: int) -> str:
    return f"ledgers/{ledger}/auditEvents/{sequence}"


def check_ledger(ledger: str) -> None:
    if ledger not in LEDGERS:
        raise UnknownLedger(f"unknown ledger {ledger!r}; expected one of {', '.join(LEDGERS)}")


def _pick(source: Any, names: Sequence[str]) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return {name: source[name] for name in names}
    return {name: getattr(source, name) for name in names}


def _digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(payload)).encode()).hexdigest()


def _signed(domain: bytes, payload: Mapping[str, Any]) -> bytes:
    return domain + canonical_json(dict(payload)).encode()


def _entry_fields(source: Any, details: Any) -> dict[str, Any]:
    fields = _pick(source, ("ledger", "sequence", "segment", "create_time", "actor", "action",
                            "target", "trace_id", "record_id"))
    fields["details"] = details
    return fields


# --- the key -----------------------------------------------------------------------------


class LedgerKey:
    """Ed25519 key that signs entries, checkpoints, tombstones and witnesses.

    It lives in a file outside the database: whoever can rewrite the database must not be
    able to re-sign what they rewrote. Verification needs only the public part.
    """

    def __init__(self, public_key: Ed25519PublicKey,
                 private_key: Ed25519PrivateKey | None = None) -> None:
        self._public = public_key
        self._private = private_key
        self.public_bytes = public_key.public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(self.public_bytes).hexdigest()[:16]

    @classmethod
    def load_or_create(cls, path: Path) -> LedgerKey:
        """The private key at ``path`` (PEM), created with mode 0600 if missing; its public
        part is kept beside it as ``<path>.pub``."""
        path = Path(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption())
            with suppress(FileExistsError):  # another process created it first
                write_file(path, pem, mode=0o600, exclusive=True)
        elif path.stat().st_mode & 0o077:
            log.warning("ledger key %s is readable by group or others; it should be 0600", path)
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        key = cls(private.public_key(), private)
        public_path = _public_path(path)
        if not public_path.exists():
            with suppress(FileExistsError):
                write_file(public_path, key.public_pem(), mode=0o644, exclusive=True)
        return key

    @classmethod
    def public_only(cls, path: Path) -> LedgerKey:
        """The verifying half: ``path`` may name the ``.pub`` file or the private key beside
        it."""
        path = Path(path)
        public_path = path if path.name.endswith(".pub") else _public_path(path)
        public = serialization.load_pem_public_key(public_path.read_bytes())
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError(f"{public_path}: not an Ed25519 public key")
        return cls(public)

    @property
    def can_sign(self) -> bool:
        return self._private is not None

    def public_pem(self) -> bytes:
        return self._public.public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, data: bytes) -> bytes:
        if self._private is None:
            raise PermissionError(f"ledger key {self.key_id} was loaded without its private part")
        return self._private.sign(data)

    def verify(self, data: bytes, signature: bytes) -> bool:
        try:
            self._public.verify(bytes(signature), data)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def _public_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


# --- values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventInput:
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    trace_id: str = ""
    record_id: str | None = None


@dataclass(frozen=True)
class AppendedEvent:
    ledger: str
    sequence: int
    segment: int
    entry_sha256: str
    create_time: str
    record_id: str | None = None

    @property
    def name(self) -> str:
        return event_name(self.ledger, self.sequence)


@dataclass
class AppendResult:
    appended: list[AppendedEvent]
    # record_ids skipped because the ledger (or an earlier item of the batch) already has them
    duplicates: list[str]


@dataclass(frozen=True)
class EventView:
    name: str
    ledger: str
    sequence: int
    segment: int
    create_time: str
    actor: str
    action: str
    target: str
    details: dict[str, Any]
    trace_id: str
    record_id: str | None
    prev_sha256: str
    entry_sha256: str


class ProblemKind(StrEnum):
    """LedgerProblemKind without its prefix."""

    ENTRY_MODIFIED = "ENTRY_MODIFIED"
    ENTRY_FORGED = "ENTRY_FORGED"
    CHAIN_BROKEN = "CHAIN_BROKEN"
    SEQUENCE_GAP = "SEQUENCE_GAP"
    CHECKPOINT_INVALID = "CHECKPOINT_INVALID"
    TAIL_TRUNCATED = "TAIL_TRUNCATED"
    TOMBSTONE_INVALID = "TOMBSTONE_INVALID"


@dataclass(frozen=True)
class Problem:
    kind: ProblemKind
    sequence: int  # 0 if not entry-specific
    segment: int
    detail: str


@dataclass
class VerifyReport:
    ok: bool
    entries_checked: int
    segments_checked: int
    tombstones: int
    head_sha256: str
    problems: list[Problem]
    # Problems beyond the first _MAX_PROBLEMS are counted, not listed (one bad shift can
    # flag every later entry, and the report must still fit in a response).
    problems_omitted: int = 0
    verify_time: str = ""


@dataclass
class PruneResult:
    dropped_segments: list[int] = field(default_factory=list)
    dropped_events: int = 0
    # Why pruning stopped before an expired segment (it no longer matches its checkpoint,
    # and signing a tombstone for it would launder the tampering); empty otherwise.
    refused: str = ""


@dataclass(frozen=True)
class _Witness:
    sequence: int
    entry_sha256: str
    time: str


@dataclass
class _Tip:
    sequence: int
    sha256: str
    segment: int
    segment_first: int


# --- the ledgers -------------------------------------------------------------------------


class Ledger:
    """Appends, verifies, lists and prunes the two ledgers of one database."""

    def __init__(self, db: Database, key: LedgerKey, witness_dir: Path, *,
                 segment_size: int = 1000, retention_s: Mapping[str, float] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if segment_size < 1:
            raise ValueError("segment_size must be at least 1")
        retention = {**DEFAULT_RETENTION_S, **(retention_s or {})}
        for name in retention:
            check_ledger(name)
        self._db = db
        self._key = key
        self._witness_dir = Path(witness_dir)
        self._witness_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._segment_size = segment_size
        self._retention = retention
        self._clock = clock
        # Per-instance keys in Session.info: two Ledger objects sharing a session must each
        # hook the commit once.
        token = uuid.uuid4().hex
        self._pending_key = f"zhijian.ledger.{token}.pending"
        self._hooked_key = f"zhijian.ledger.{token}.hooked"

    @property
    def key(self) -> LedgerKey:
        return self._key

    def witness_path(self, ledger: str) -> Path:
        check_ledger(ledger)
        return self._witness_dir / f"{ledger}.head.json"

    # --- append --------------------------------------------------------------------------

    def append(self, session: Session, ledger: str,
               events: Sequence[EventInput]) -> AppendResult:
        """Append ``events`` inside the caller's transaction, so that an act and its entry
        commit or roll back together. Events whose record_id the ledger already holds are
        skipped and reported as duplicates."""
        check_ledger(ledger)
        self._require_signing()
        batch = [_normalized(item) for item in events]
        if not batch:
            return AppendResult([], [])
        head = self._lock_head(session, ledger)
        fresh, duplicates = _without_duplicates(session, ledger, batch)
        if not fresh:
            return AppendResult([], duplicates)
        now = rfc3339(self._clock())
        rows: list[dict[str, Any]] = []
        checkpoints: list[dict[str, Any]] = []
        appended: list[AppendedEvent] = []
        prev_checkpoint: str | None = None
        for item, details in fresh:
            row = _chained_row(self._key, ledger, head, item, details, now)
            rows.append(row)
            appended.append(AppendedEvent(ledger, row["sequence"], row["segment"],
                                          row["entry_sha256"], now, item.record_id))
            head.sequence, head.sha256 = row["sequence"], row["entry_sha256"]
            if head.sequence - head.segment_first + 1 >= self._segment_size:
                if prev_checkpoint is None:
                    prev_checkpoint = _closing_digest(session, ledger, head.segment - 1)
                checkpoint = self._checkpoint(ledger, head, prev_checkpoint, now)
                checkpoints.append(checkpoint)
                prev_checkpoint = _digest(_pick(checkpoint, _CHECKPOINT_FIELDS))
                head.segment, head.segment_first = head.segment + 1, head.sequence + 1
        session.execute(insert(LedgerEventRow), rows)
        if checkpoints:
            session.execute(insert(LedgerCheckpointRow), checkpoints)
        session.execute(update(LedgerHeadRow).where(LedgerHeadRow.ledger == ledger).values(
            last_sequence=head.sequence, last_sha256=head.sha256, segment=head.segment,
            segment_first_sequence=head.segment_first,
        ).execution_options(synchronize_session=False))
        self._witness_after_commit(session, ledger, head.sequence, head.sha256)
        return AppendResult(appended, duplicates)

    def _require_signing(self) -> None:
        # Fail before writing: an entry appended without the private key would leave a
        # segment that cannot be closed and a witness that cannot be written.
        if not self._key.can_sign:
            raise PermissionError(f"ledger key {self._key.key_id} was loaded without its "
                                  "private part; this Ledger can only verify")

    def lock(self, session: Session, ledger: str) -> None:
        """Take the ledger's append lock now, for the rest of the caller's transaction.

        A writer that takes it before anything else is ordered against every other
        writer of the ledger, whatever rows each goes on to lock."""
        check_ledger(ledger)
        self._lock_head(session, ledger)

    def _lock_head(self, session: Session, ledger: str) -> _Tip:
        locked = (select(LedgerHeadRow.last_sequence, LedgerHeadRow.last_sha256,
                         LedgerHeadRow.segment, LedgerHeadRow.segment_first_sequence)
                  .where(LedgerHeadRow.ledger == ledger).with_for_update())
        row = session.execute(locked).one_or_none()
        if row is None:
            # Two first appends may race; the loser's insert waits for the winner and does
            # nothing, and both then lock the one row.
            values = {"ledger": ledger, "last_sequence": 0, "last_sha256": GENESIS_SHA256,
                      "segment": 1, "segment_first_sequence": 1}
            insert_ = (postgresql_insert if session.get_bind().dialect.name == "postgresql"
                       else sqlite_insert)
            session.execute(insert_(LedgerHeadRow).values(**values).on_conflict_do_nothing())
            row = session.execute(locked).one()
        return _Tip(*row)

    def _checkpoint(self, ledger: str, head: _Tip, prev_checkpoint: str,
                    now: str) -> dict[str, Any]:
        payload = {"ledger": ledger, "segment": head.segment,
                   "first_sequence": head.segment_first, "last_sequence": head.sequence,
                   "head_sha256": head.sha256, "prev_checkpoint_sha256": prev_checkpoint,
                   "close_time": now, "last_event_time": now}
        signature = self._key.sign(_signed(CHECKPOINT_DOMAIN, payload))
        return {**payload, "key_id": self._key.key_id, "signature": signature}

    # --- single entries ------------------------------------------------------------------

    def entry_problem(self, session: Session, row: Any) -> str:
        """Why a stored entry (a ``ledger_events`` row) is not one this ledger wrote, or "".

        For readers that act on one entry without walking the chain: its content must
        match its hash and its signature must be the ledger key's."""
        content = _content_problem(row)
        if content:
            return content
        return _entry_signature_problem(
            self._key, row, lambda: unsigned_through(session, self._key, row.ledger))

    def adopt_unsigned(self, ledger: str) -> int:
        """Record, once, that the entries a database holds from before entries were signed
        stand as they are: a signed ``ledger.signatures_begin`` entry names the last of
        them. Only while no entry carries a signature (once one does, an unsigned entry
        was written around the ledger). Returns how many entries it vouched for."""
        check_ledger(ledger)
        self._require_signing()
        with self._db.transaction() as session:
            self._lock_head(session, ledger)
            if unsigned_through(session, self._key, ledger):
                return 0
            # Entries from before signing are a prefix: a signed first entry settles it
            # without scanning a ledger of millions at every start.
            first = session.execute(select(LedgerEventRow.signature).where(
                LedgerEventRow.ledger == ledger).order_by(LedgerEventRow.sequence).limit(1)
            ).one_or_none()
            if first is None or first.signature is not None:
                return 0
            unsigned = session.execute(select(func.count(), func.max(LedgerEventRow.sequence))
                                       .where(LedgerEventRow.ledger == ledger,
                                              LedgerEventRow.signature.is_(None))).one()
            if not unsigned[0]:
                return 0
            if session.scalar(select(LedgerEventRow.sequence).where(
                    LedgerEventRow.ledger == ledger,
                    LedgerEventRow.signature.is_not(None)).limit(1)) is not None:
                log.error("ledger %s: %d unsigned entries beside signed ones; they are not "
                          "adopted (verify names them)", ledger, unsigned[0])
                return 0
            self.append(session, ledger, [EventInput(
                actor=TOMBSTONE_ACTOR, action=SIGNATURES_BEGIN_ACTION,
                target=f"ledgers/{ledger}",
                details={"unsigned_through": unsigned[1], "entries": unsigned[0],
                         "reason": "entries written before entries were signed; the chain, "
                                   "checkpoints and witness vouch for them"})])
            return int(unsigned[0])

    # --- witness -------------------------------------------------------------------------

    def _witness_after_commit(self, session: Session, ledger: str, sequence: int,
                              sha256: str) -> None:
        """Note the new tip; it is written once the transaction commits.

        The commit hook touches no database: it runs while the committing session still
        holds its pooled connection, and asking the pool for another one there can starve
        it under load. So what the hook needs is settled here, inside the transaction."""
        info = session.info
        if not info.get(self._hooked_key):
            info[self._hooked_key] = True
            event.listen(session, "after_commit", self._after_commit)
            event.listen(session, "after_soft_rollback", self._after_rollback)
        pending: dict[str, tuple[int, str] | None] = info.setdefault(self._pending_key, {})
        if ledger not in pending:
            contradiction = self._witness_contradiction(session, ledger)
            if contradiction:
                log.error("ledger %s: %s; the witness is left as evidence", ledger,
                          contradiction)
                pending[ledger] = None
                return
        elif pending[ledger] is None:
            return
        pending[ledger] = (sequence, sha256)

    def _after_commit(self, session: Session) -> None:
        root = session.get_transaction()
        if root is not None and root.is_active:
            return  # a savepoint was released; the real commit is still to come
        pending = session.info.pop(self._pending_key, {})
        for ledger, tip in sorted(pending.items()):
            if tip is None:
                continue
            try:
                self._advance_witness(ledger, *tip)
            except Exception:
                # The act is committed; a witness that lags is tolerated by design.
                log.exception("ledger %s: witness not updated; it lags until the next commit",
                              ledger)

    def _after_rollback(self, session: Session, _transaction: Any) -> None:
        # Any rollback, a savepoint's too, may have undone a noted tip: forget them all. A
        # witness left behind is harmless; one ahead of the database would be an alarm.
        session.info.pop(self._pending_key, None)

    def refresh_witness(self, ledger: str) -> None:
        """Bring the witness up to the committed head: for start-up, to catch up after a
        crash between a commit and its witness write."""
        check_ledger(ledger)
        with self._db.read() as session:
            head = session.get(LedgerHeadRow, ledger)
            if head is None or head.last_sequence == 0:
                return
            sequence, sha256 = head.last_sequence, head.last_sha256
            contradiction = self._witness_contradiction(session, ledger)
        if contradiction:
            log.error("ledger %s: %s; the witness is left as evidence", ledger, contradiction)
            return
        self._advance_witness(ledger, sequence, sha256)

    def _witness_contradiction(self, session: Session, ledger: str) -> str:
        """Why the witness on disk must not be replaced, or "". A witness the database
        contradicts is the evidence of a rewrite or truncation: moving it on to the
        rewritten tip would launder exactly what it exists to expose."""
        try:
            current = self._load_witness(ledger)
        except WitnessError as error:
            return str(error)
        return "" if current is None else _contradiction(session, ledger, current)

    def _advance_witness(self, ledger: str, sequence: int, sha256: str) -> None:
        with self._witness_lock(ledger):
            try:
                current = self._load_witness(ledger)
            except WitnessError as error:
                log.error("ledger %s: %s; left in place as evidence", ledger, error)
                return
            # Committers finish in any order; only a later tip replaces the witness.
            if current is None or sequence > current.sequence:
                self._write_witness(ledger, sequence, sha256)

    @contextmanager
    def _witness_lock(self, ledger: str) -> Iterator[None]:
        # Committers in other threads and processes race to write the same file.
        descriptor = os.open(self._witness_dir / f".{ledger}.head.lock",
                             os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)

    def _load_witness(self, ledger: str) -> _Witness | None:
        path = self.witness_path(ledger)
        try:
            document = json.loads(path.read_bytes())
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            payload = _pick(document, ("ledger", "sequence", "entry_sha256", "time"))
            key_id, signature = document["key_id"], base64.b64decode(document["signature"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise WitnessError(f"witness file {path} is unreadable ({error})") from None
        if payload["ledger"] != ledger or not isinstance(payload["sequence"], int):
            raise WitnessError(f"witness file {path} is not a witness of ledger {ledger}")
        if key_id != self._key.key_id:
            raise WitnessError(f"witness file {path} is signed by key {key_id}, "
                               f"not the ledger key {self._key.key_id}")
        if not self._key.verify(_signed(WITNESS_DOMAIN, payload), signature):
            raise WitnessError(f"witness file {path} has a signature that does not verify")
        return _Witness(payload["sequence"], payload["entry_sha256"], payload["time"])

    def _write_witness(self, ledger: str, sequence: int, sha256: str) -> None:
        payload = {"ledger": ledger, "sequence": sequence, "entry_sha256": sha256,
                   "time": rfc3339(self._clock())}
        signature = self._key.sign(_signed(WITNESS_DOMAIN, payload))
        document = {**payload, "key_id": self._key.key_id,
                    "signature": base64.b64encode(signature).decode()}
        write_file(self.witness_path(ledger), canonical_json(document).encode("utf-8"),
                   mode=0o644)

    # --- verify --------------------------------------------------------------------------

    def verify(self, ledger: str) -> VerifyReport:
        """Check every entry, checkpoint and tombstone of ``ledger`` and its tip against the
        witness. Entries are streamed in pages, in sequence order."""
        check_ledger(ledger)
        # Read the witness before the database: it can only lag what the snapshot sees.
        witness, witness_error = None, ""
        try:
            witness = self._load_witness(ledger)
        except WitnessError as error:
            witness_error = str(error)
        with self._snapshot() as session:
            head = session.execute(select(LedgerHeadRow.__table__)
                                   .where(LedgerHeadRow.ledger == ledger)).one_or_none()
            checkpoints = {row.segment: row for row in session.execute(
                select(_CHECKPOINTS).where(LedgerCheckpointRow.ledger == ledger))}
            tombstones = list(session.execute(
                select(_TOMBSTONES).where(LedgerTombstoneRow.ledger == ledger)
                .order_by(LedgerTombstoneRow.first_sequence)))
            walk = _Verification(self._key, head, checkpoints, tombstones, witness,
                                 witness_error, unsigned_through(session, self._key, ledger))
            for row in _events(session, ledger):
                walk.entry(row)
            walk.finish()
        return walk.report(rfc3339(self._clock()))

    def snapshot(self) -> AbstractContextManager[Session]:
        """A read session that sees one state of the database throughout."""
        return self._snapshot()

    @contextmanager
    def _snapshot(self) -> Iterator[Session]:
        """A read session that sees one state of the database throughout, so a concurrent
        append or prune cannot look like a gap."""
        with self._db.read() as session:
            if self._db.postgresql:
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            else:
                connection = session.connection()
                # pysqlite starts no transaction for reads: without this each page would
                # see the database as of its own statement.
                driver = connection.connection.dbapi_connection
                if not getattr(driver, "in_transaction", True):
                    connection.exec_driver_sql("BEGIN")
            yield session

    # --- reads ---------------------------------------------------------------------------

    def head(self, ledger: str) -> tuple[int, str]:
        check_ledger(ledger)
        with self._db.read() as session:
            row = session.get(LedgerHeadRow, ledger)
            if row is None:
                return 0, GENESIS_SHA256
            return row.last_sequence, row.last_sha256

    def list_events(self, ledger: str, *, page_size: int = 100, after_sequence: int = 0,
                    actor: str | None = None, action: str | None = None,
                    target: str | None = None, trace_id: str | None = None) -> list[EventView]:
        """Events after ``after_sequence`` in sequence order, filtered by equality.
        page_size 0 means 100; above 1000 it is 1000."""
        check_ledger(ledger)
        page_size = 100 if page_size <= 0 else min(page_size, 1000)
        query = select(_EVENTS).where(LedgerEventRow.ledger == ledger,
                                      LedgerEventRow.sequence > after_sequence)
        for column, value in ((LedgerEventRow.actor, actor), (LedgerEventRow.action, action),
                              (LedgerEventRow.target, target),
                              (LedgerEventRow.trace_id, trace_id)):
            if value is not None:
                query = query.where(column == value)
        with self._db.read() as session:
            rows = session.execute(query.order_by(LedgerEventRow.sequence).limit(page_size))
            return [_view(row) for row in rows]

    def get_event(self, ledger: str, sequence: int) -> EventView | None:
        check_ledger(ledger)
        with self._db.read() as session:
            row = session.execute(select(_EVENTS).where(
                LedgerEventRow.ledger == ledger, LedgerEventRow.sequence == sequence,
            )).one_or_none()
            return None if row is None else _view(row)

    # --- retention -----------------------------------------------------------------------

    def prune(self, ledger: str, now: float | None = None, *, trace_id: str = "") -> PruneResult:
        """Drop the closed segments of ``ledger`` whose last event is older than its
        retention, oldest first, one transaction per segment; each leaves a signed tombstone
        and a "segment.tombstone" event on the governance ledger."""
        check_ledger(ledger)
        self._require_signing()
        now = self._clock() if now is None else now
        cutoff = rfc3339(now - self._retention[ledger])
        result = PruneResult()
        with self._db.read() as session:
            # Only segments closed before this call: pruning the governance ledger appends
            # to it, and those new segments must not feed the loop.
            newest = session.scalar(select(func.max(LedgerCheckpointRow.segment))
                                    .where(LedgerCheckpointRow.ledger == ledger)) or 0
        while True:
            with self._db.transaction() as session:
                outcome = self._drop_oldest(session, ledger, cutoff, newest, trace_id)
            if outcome is None:
                return result
            if isinstance(outcome, str):
                result.refused = outcome
                return result
            result.dropped_segments.append(outcome[0])
            result.dropped_events += outcome[1]

    def _drop_oldest(self, session: Session, ledger: str, cutoff: str, newest: int,
                     trace_id: str) -> tuple[int, int] | str | None:
        # Lock order governance, then calls: the tombstone event goes to governance, and a
        # fixed order keeps two prunes (or a prune and an act) from deadlocking.
        self._lock_head(session, "governance")
        if ledger != "governance":
            self._lock_head(session, ledger)
        checkpoint = session.execute(
            select(_CHECKPOINTS).where(LedgerCheckpointRow.ledger == ledger)
            .order_by(LedgerCheckpointRow.segment).limit(1)).one_or_none()
        if (checkpoint is None or checkpoint.segment > newest
                or checkpoint.last_event_time >= cutoff):
            return None
        count, problem = self._check_segment(session, ledger, checkpoint)
        if problem:
            refused = f"segment {checkpoint.segment} was not dropped: {problem}"
            log.error("ledger %s: %s", ledger, refused)
            return refused
        tombstone = {**_pick(checkpoint, ("ledger", "segment", "first_sequence",
                                          "last_sequence", "head_sha256")),
                     "drop_time": rfc3339(self._clock())}
        session.execute(insert(LedgerTombstoneRow).values(
            **tombstone, key_id=self._key.key_id,
            signature=self._key.sign(_signed(TOMBSTONE_DOMAIN, tombstone))))
        session.execute(delete(LedgerEventRow).where(
            LedgerEventRow.ledger == ledger,
            LedgerEventRow.sequence.between(checkpoint.first_sequence, checkpoint.last_sequence),
        ).execution_options(synchronize_session=False))
        session.execute(delete(LedgerCheckpointRow).where(
            LedgerCheckpointRow.ledger == ledger,
            LedgerCheckpointRow.segment == checkpoint.segment,
        ).execution_options(synchronize_session=False))
        details = {**tombstone, "dropped_events": count}
        self.append(session, "governance", [EventInput(
            actor=TOMBSTONE_ACTOR, action=TOMBSTONE_ACTION, target=f"ledgers/{ledger}",
            details=details, trace_id=trace_id)])
        return checkpoint.segment, count

    def _check_segment(self, session: Session, ledger: str, checkpoint: Any) -> tuple[int, str]:
        """Number of entries of a closed segment, and what is wrong with it if anything."""
        if not _signature_ok(self._key, CHECKPOINT_DOMAIN, checkpoint, _CHECKPOINT_FIELDS):
            return 0, "its checkpoint signature does not verify"
        expected, prev, last_time = checkpoint.first_sequence, None, ""
        for row in _events(session, ledger, checkpoint.first_sequence,
                           checkpoint.last_sequence):
            where = f"entry {row.sequence} of segment {checkpoint.segment}"
            if row.sequence != expected:
                return 0, f"entry {expected} is missing"
            problem = _content_problem(row)
            if problem or row.segment != checkpoint.segment:
                return 0, f"{where}: {problem or 'belongs to another segment'}"
            if prev is not None and row.prev_sha256 != prev:
                return 0, f"{where}: chain broken"
            expected, prev, last_time = expected + 1, row.entry_sha256, row.create_time
        if expected != checkpoint.last_sequence + 1:
            return 0, f"entries {expected}–{checkpoint.last_sequence} are missing"
        if prev != checkpoint.head_sha256 or last_time != checkpoint.last_event_time:
            return 0, "its entries differ from what the checkpoint signed"
        return expected - checkpoint.first_sequence, ""


# --- append helpers ----------------------------------------------------------------------


def _normalized(item: EventInput) -> tuple[EventInput, dict[str, Any]]:
    """The event checked, with its details as they will read back from the stored JSON (a
    JSON round trip turns tuples into lists and integer keys into strings, which must not
    change the hash between append and verify)."""
    if not isinstance(item.details, dict):
        raise ValueError("details must be a dict")
    for name, limit in _MAX_LENGTH.items():
        value = getattr(item, name)
        if value is None and name == "record_id":
            continue
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
        if len(value) > limit or "\x00" in value:
            raise ValueError(f"{name} must be at most {limit} characters without NUL")
    try:
        details = json.loads(canonical_json(item.details))
        canonical_json(details).encode()  # refuses lone surrogates before the lock is taken
    except TypeError as error:  # e.g. a set, or keys of mixed types that cannot be sorted
        raise ValueError(f"details are not JSON data: {error}") from None
    return item, details


def _without_duplicates(session: Session, ledger: str,
                        batch: list[tuple[EventInput, dict[str, Any]]],
                        ) -> tuple[list[tuple[EventInput, dict[str, Any]]], list[str]]:
    # Runs under the head lock, so no other append can add one of these ids meanwhile.
    ids = list(dict.fromkeys(item.record_id for item, _ in batch if item.record_id is not None))
    seen: set[str] = set()
    for start in range(0, len(ids), _ID_CHUNK):
        found = session.scalars(select(LedgerEventRow.record_id).where(
            LedgerEventRow.ledger == ledger,
            LedgerEventRow.record_id.in_(ids[start:start + _ID_CHUNK])))
        seen.update(record_id for record_id in found if record_id is not None)
    fresh, duplicates = [], []
    for item, details in batch:
        if item.record_id is not None:
            if item.record_id in seen:
                duplicates.append(item.record_id)
                continue
            seen.add(item.record_id)
        fresh.append((item, details))
    return fresh, duplicates


def _chained_row(key: LedgerKey, ledger: str, head: _Tip, item: EventInput,
                 details: dict[str, Any], now: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ledger": ledger, "sequence": head.sequence + 1, "segment": head.segment,
        "create_time": now, "actor": item.actor, "action": item.action,
        "target": item.target, "trace_id": item.trace_id, "record_id": item.record_id,
    }
    row["details"] = canonical_json(details)
    row["prev_sha256"] = head.sha256
    row["entry_sha256"] = entry_sha256(head.sha256, _entry_fields(row, details))
    row["signature"] = key.sign(_signed(ENTRY_DOMAIN, _pick(row, _ENTRY_SIGNED_FIELDS)))
    return row


def _closing_digest(session: Session, ledger: str, segment: int) -> str:
    """What the next checkpoint links to: the previous segment's checkpoint, or its
    tombstone if retention dropped it while this segment was still open."""
    if segment < 1:
        return GENESIS_SHA256
    # Core selects, not Session.get: a prune in this same transaction deletes checkpoints
    # with Core statements that the identity map would not notice.
    checkpoint = session.execute(select(_CHECKPOINTS).where(
        LedgerCheckpointRow.ledger == ledger, LedgerCheckpointRow.segment == segment,
    )).one_or_none()
    if checkpoint is not None:
        return _digest(_pick(checkpoint, _CHECKPOINT_FIELDS))
    tombstone = session.execute(select(_TOMBSTONES).where(
        LedgerTombstoneRow.ledger == ledger, LedgerTombstoneRow.segment == segment,
    )).one_or_none()
    if tombstone is not None:
        return _digest(_pick(tombstone, _TOMBSTONE_FIELDS))
    return GENESIS_SHA256  # the ledger is already damaged; verify says where


def _contradiction(session: Session, ledger: str, witness: _Witness) -> str:
    """Why the database no longer holds the witnessed entry, or "" if it does."""
    stored = session.scalars(select(LedgerEventRow.entry_sha256).where(
        LedgerEventRow.ledger == ledger, LedgerEventRow.sequence == witness.sequence,
    )).one_or_none()
    if stored is not None:
        if stored == witness.entry_sha256:
            return ""
        return f"entry {witness.sequence} no longer has the witnessed hash"
    tombstone = session.execute(select(_TOMBSTONES).where(
        LedgerTombstoneRow.ledger == ledger,
        LedgerTombstoneRow.first_sequence <= witness.sequence,
        LedgerTombstoneRow.last_sequence >= witness.sequence,
    )).first()
    if tombstone is None:
        return f"witnessed entry {witness.sequence} is missing"
    if (tombstone.last_sequence == witness.sequence
            and tombstone.head_sha256 != witness.entry_sha256):
        return f"the tombstone ending at entry {witness.sequence} has another head hash"
    return ""


# --- reading helpers ---------------------------------------------------------------------


def _events(session: Session, ledger: str, first: int | None = None,
            last: int | None = None) -> Iterator[Any]:
    """Entries in sequence order, a page at a time (keyset paging: no OFFSET scans, and no
    lower bound on the first page so that a row moved to a negative sequence is seen)."""
    after = None if first is None else first - 1
    while True:
        query = select(_EVENTS).where(LedgerEventRow.ledger == ledger)
        if after is not None:
            query = query.where(LedgerEventRow.sequence > after)
        if last is not None:
            query = query.where(LedgerEventRow.sequence <= last)
        page = session.execute(query.order_by(LedgerEventRow.sequence).limit(_PAGE)).all()
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1].sequence


def _view(row: Any) -> EventView:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"unparsable_details": row.details}
    return EventView(
        name=event_name(row.ledger, row.sequence), ledger=row.ledger, sequence=row.sequence,
        segment=row.segment, create_time=row.create_time, actor=row.actor, action=row.action,
        target=row.target, details=details, trace_id=row.trace_id, record_id=row.record_id,
        prev_sha256=row.prev_sha256, entry_sha256=row.entry_sha256)


def _content_problem(row: Any) -> str:
    """Why a stored entry does not match its own hash, or ""."""
    try:
        details = json.loads(row.details)
        canonical = canonical_json(details)
    except ValueError:
        return "its details are not valid JSON (edited)"
    if canonical != row.details:
        return "its details are not in the canonical form that was hashed (edited)"
    try:
        recomputed = entry_sha256(row.prev_sha256, _entry_fields(row, details))
    except (ValueError, TypeError):
        return "its content cannot be hashed (edited)"
    if recomputed != row.entry_sha256:
        return "content does not match its hash (edited)"
    return ""


def _entry_signature_problem(key: LedgerKey, row: Any,
                             unsigned_through: Callable[[], int]) -> str:
    if row.signature is None:
        # Looked up only for an unsigned entry: a signed one needs no database read.
        if row.sequence <= unsigned_through():
            return ""
        return ("it carries no signature of the ledger key (appended by someone who can "
                "write the database but not sign)")
    if not key.verify(_signed(ENTRY_DOMAIN, _pick(row, _ENTRY_SIGNED_FIELDS)), row.signature):
        return "its signature does not verify with the ledger key (forged or altered)"
    return ""


def unsigned_through(session: Session, key: LedgerKey, ledger: str) -> int:
    """The last entry of ``ledger`` written before entries were signed, as its first
    genuine ``ledger.signatures_begin`` entry records; 0 if there is none."""
    rows = session.execute(select(_EVENTS).where(
        LedgerEventRow.ledger == ledger, LedgerEventRow.action == SIGNATURES_BEGIN_ACTION,
        LedgerEventRow.signature.is_not(None)).order_by(LedgerEventRow.sequence))
    for row in rows:
        if _content_problem(row) or _entry_signature_problem(key, row, lambda: 0):
            continue
        through = json.loads(row.details).get("unsigned_through")
        # Appended at the head, under the lock, right after the entries it vouches for.
        if isinstance(through, int) and through == row.sequence - 1:
            return through
    return 0


def _signature_ok(key: LedgerKey, domain: bytes, row: Any, names: Sequence[str]) -> bool:
    return row.key_id == key.key_id and key.verify(_signed(domain, _pick(row, names)),
                                                   row.signature)


def _signature_problem(key: LedgerKey, domain: bytes, row: Any, names: Sequence[str]) -> str:
    if row.key_id != key.key_id:
        return f"it is signed by key {row.key_id}, not the ledger key {key.key_id}"
    if not key.verify(_signed(domain, _pick(row, names)), row.signature):
        return "its signature does not verify (forged or altered)"
    return ""


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first}–{last}"


# --- verification ------------------------------------------------------------------------


@dataclass
class _Segment:
    """The entries of one segment seen so far in the walk."""

    number: int
    first: int
    last: int = 0
    last_sha256: str = ""
    last_time: str = ""


class _Verification:
    """One pass over a ledger in sequence order, merging entries with tombstones; every
    check that needs more than the current entry keeps its state here."""

    def __init__(self, key: LedgerKey, head: Any, checkpoints: dict[int, Any],
                 tombstones: list[Any], witness: _Witness | None, witness_error: str,
                 unsigned_through: int) -> None:
        self.key = key
        self.unsigned_through = unsigned_through
        self.head = head
        self.checkpoints = checkpoints
        self.tombstones = tombstones
        self.witness = witness
        self.witness_error = witness_error
        self.problems: list[Problem] = []
        self.omitted = 0
        self.entries = 0
        self.segments_checked = 0
        self.valid_tombstones = 0
        self.next_tombstone = 0
        self.expected = 1
        self.prev_sha256 = GENESIS_SHA256
        self.prev_what = "the genesis value"
        self.tip_sequence, self.tip_sha256, self.tip_segment = 0, GENESIS_SHA256, 0
        self.tip_closed = True
        self.segment: _Segment | None = None
        # segment -> digest its successor's checkpoint must link to (None: cannot be known)
        self.closing: dict[int, str | None] = {0: GENESIS_SHA256}
        self.covered: set[int] = set()
        self.witnessed: tuple[str, int] | None = None

    def problem(self, kind: ProblemKind, sequence: int, segment: int, detail: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(Problem(kind, sequence, segment, detail))
        else:
            self.omitted += 1

    # --- the walk ---

    def entry(self, row: Any) -> None:
        self._tombstones_through(row.sequence)
        if self.segment is not None and self.segment.number != row.segment:
            self._close_segment(final=False)
        where = f"entry {row.sequence} of segment {row.segment}"
        if row.sequence > self.expected:
            self.problem(ProblemKind.SEQUENCE_GAP, self.expected, row.segment,
                         f"{_span(self.expected, row.sequence - 1)} missing before {where}; "
                         "no tombstone accounts for them (deleted)")
        elif row.sequence < self.expected:
            self.problem(ProblemKind.TOMBSTONE_INVALID, row.sequence, row.segment,
                         f"{where} still exists although a tombstone claims it was dropped")
        content = _content_problem(row)
        if content:
            self.problem(ProblemKind.ENTRY_MODIFIED, row.sequence, row.segment,
                         f"{where}: {content}")
        elif (forged := _entry_signature_problem(self.key, row,
                                                 lambda: self.unsigned_through)):
            self.problem(ProblemKind.ENTRY_FORGED, row.sequence, row.segment,
                         f"{where}: {forged}")
        if row.prev_sha256 != self.prev_sha256:
            self.problem(ProblemKind.CHAIN_BROKEN, row.sequence, row.segment,
                         f"{where}: its prev_sha256 is not the hash of {self.prev_what} "
                         "(entries inserted, deleted or reordered before it)")
        if self.segment is None:
            self.segment = _Segment(row.segment, row.sequence)
        self.segment.last, self.segment.last_sha256 = row.sequence, row.entry_sha256
        self.segment.last_time = row.create_time
        self.prev_sha256, self.prev_what = row.entry_sha256, f"entry {row.sequence}"
        self.expected = max(self.expected, row.sequence + 1)
        self._tip(row.sequence, row.entry_sha256, row.segment, closed=False)
        self.entries += 1

    def _tombstones_through(self, sequence: int | None) -> None:
        while self.next_tombstone < len(self.tombstones):
            tombstone = self.tombstones[self.next_tombstone]
            if sequence is not None and tombstone.first_sequence > sequence:
                return
            self.next_tombstone += 1
            self._tombstone(tombstone)

    def _tombstone(self, tombstone: Any) -> None:
        if self.segment is not None:
            self._close_segment(final=False)
        number, first, last = tombstone.segment, tombstone.first_sequence, tombstone.last_sequence
        what = f"tombstone of segment {number} ({_span(first, last)})"
        problem = _signature_problem(self.key, TOMBSTONE_DOMAIN, tombstone, _TOMBSTONE_FIELDS)
        if problem:
            self.problem(ProblemKind.TOMBSTONE_INVALID, first, number, f"{what}: {problem}")
        else:
            self.valid_tombstones += 1
        if first > self.expected:
            self.problem(ProblemKind.SEQUENCE_GAP, self.expected, number,
                         f"{_span(self.expected, first - 1)} missing before the {what}; "
                         "no tombstone accounts for them (deleted)")
        elif first < self.expected:
            self.problem(ProblemKind.TOMBSTONE_INVALID, first, number,
                         f"{what}: it overlaps entries up to {self.expected - 1}")
        self.expected = max(self.expected, last + 1)
        self.prev_sha256, self.prev_what = tombstone.head_sha256, f"the {what}"
        self.covered.add(number)
        # A dropped checkpoint's digest is gone; the chain through the tombstone's signed
        # head hash is what links the next segment.
        self.closing[number] = None
        # A witness inside the dropped range (not at its end) has nothing left to compare.
        self._tip(last, tombstone.head_sha256, number, closed=True)

    def _tip(self, sequence: int, sha256: str, segment: int, *, closed: bool) -> None:
        self.tip_sequence, self.tip_sha256, self.tip_segment = sequence, sha256, segment
        self.tip_closed = closed
        if self.witness is not None and sequence == self.witness.sequence:
            self.witnessed = (sha256, segment)

    def _close_segment(self, *, final: bool) -> None:
        segment, self.segment = self.segment, None
        assert segment is not None
        span = f"segment {segment.number} ({_span(segment.first, segment.last)})"
        checkpoint = self.checkpoints.get(segment.number)
        if checkpoint is None:
            self.closing[segment.number] = None
            if not final:
                self.problem(ProblemKind.CHECKPOINT_INVALID, segment.last, segment.number,
                             f"{span} is followed by later entries but has no checkpoint "
                             "(deleted)")
            elif self.head is not None and self.head.segment != segment.number:
                self.problem(ProblemKind.CHECKPOINT_INVALID, segment.last, segment.number,
                             f"{span} is closed (the head is in segment {self.head.segment}) "
                             "but has no checkpoint (deleted)")
            return
        self.covered.add(segment.number)
        self.segments_checked += 1
        self.tip_closed = True
        reasons = self._checkpoint_mismatches(checkpoint, segment)
        if reasons:
            self.problem(ProblemKind.CHECKPOINT_INVALID, segment.last, segment.number,
                         f"checkpoint of {span}: " + "; ".join(reasons))
        self.closing[segment.number] = _digest(_pick(checkpoint, _CHECKPOINT_FIELDS))

    def _checkpoint_mismatches(self, checkpoint: Any, segment: _Segment) -> list[str]:
        reasons = []
        signature = _signature_problem(self.key, CHECKPOINT_DOMAIN, checkpoint,
                                       _CHECKPOINT_FIELDS)
        if signature:
            reasons.append(signature)
        if (checkpoint.first_sequence, checkpoint.last_sequence) != (segment.first, segment.last):
            reasons.append(f"it signed {_span(checkpoint.first_sequence, checkpoint.last_sequence)}"
                           " but the segment holds "
                           f"{_span(segment.first, segment.last)} (inserted or removed)")
        if checkpoint.head_sha256 != segment.last_sha256:
            reasons.append(f"its signed head hash is not the hash of entry {segment.last} "
                           "(the chain was rewritten)")
        if checkpoint.last_event_time != segment.last_time:
            reasons.append(f"its signed last event time is not the time of entry {segment.last}")
        link = self.closing.get(segment.number - 1)
        if link is not None and checkpoint.prev_checkpoint_sha256 != link:
            reasons.append(f"it does not link to the checkpoint of segment {segment.number - 1}")
        return reasons

    def finish(self) -> None:
        self._tombstones_through(None)
        if self.segment is not None:
            self._close_segment(final=True)
        for number, checkpoint in sorted(self.checkpoints.items()):
            if number in self.covered:
                continue
            span = _span(checkpoint.first_sequence, checkpoint.last_sequence)
            if checkpoint.first_sequence > self.tip_sequence:
                self.problem(ProblemKind.TAIL_TRUNCATED, checkpoint.first_sequence, number,
                             f"the checkpoint of segment {number} signed {span}, but the "
                             f"ledger ends at entry {self.tip_sequence} (tail cut)")
            else:
                self.problem(ProblemKind.CHECKPOINT_INVALID, checkpoint.first_sequence, number,
                             f"the checkpoint of segment {number} signed {span}, which no "
                             "longer exist (deleted)")
        self._check_head()
        self._check_witness()

    def _next_segment(self) -> int:
        return self.tip_segment + 1 if self.tip_closed else max(self.tip_segment, 1)

    def _check_head(self) -> None:
        tip = self.tip_sequence
        if self.head is None:
            if tip:
                self.problem(ProblemKind.CHAIN_BROKEN, tip, self.tip_segment,
                             "the ledger has entries but no head row (deleted)")
            return
        recorded = self.head.last_sequence
        if recorded > tip:
            self.problem(ProblemKind.TAIL_TRUNCATED, tip + 1, self._next_segment(),
                         f"the head row records entry {recorded} but the ledger ends at entry "
                         f"{tip}: {_span(tip + 1, recorded)} removed")
        elif recorded < tip:
            self.problem(ProblemKind.CHAIN_BROKEN, recorded + 1, self.tip_segment,
                         f"{_span(recorded + 1, tip)} lie beyond the head row's entry "
                         f"{recorded} (written around the ledger)")
        elif self.head.last_sha256 != self.tip_sha256:
            self.problem(ProblemKind.CHAIN_BROKEN, tip, self.tip_segment,
                         f"the head row's hash for entry {tip} is not the entry's hash")

    def _check_witness(self) -> None:
        if self.witness_error:
            self.problem(ProblemKind.TAIL_TRUNCATED, 0, 0,
                         f"{self.witness_error}: the tail cannot be vouched for")
            return
        witness, tip = self.witness, self.tip_sequence
        if witness is None:
            return  # never witnessed yet, or lost in a crash: nothing to compare
        if witness.sequence > tip:
            self.problem(ProblemKind.TAIL_TRUNCATED, tip + 1, self._next_segment(),
                         f"the signed witness of {witness.time} records entry "
                         f"{witness.sequence} but the ledger ends at entry {tip}: "
                         f"{_span(tip + 1, witness.sequence)} removed")
        elif self.witnessed is not None and self.witnessed[0] != witness.entry_sha256:
            self.problem(ProblemKind.TAIL_TRUNCATED, witness.sequence, self.witnessed[1],
                         f"entry {witness.sequence} of segment {self.witnessed[1]} is not the "
                         f"entry the signed witness of {witness.time} recorded (the chain was "
                         "rewritten after it was witnessed)")

    def report(self, verify_time: str) -> VerifyReport:
        # Problems in sequence order; those tied to no entry last.
        problems = sorted(self.problems, key=lambda p: (p.sequence == 0, p.sequence))
        return VerifyReport(
            ok=not problems and not self.omitted, entries_checked=self.entries,
            segments_checked=self.segments_checked, tombstones=self.valid_tombstones,
            head_sha256=self.tip_sha256 if self.tip_sequence else "", problems=problems,
            problems_omitted=self.omitted, verify_time=verify_time)
