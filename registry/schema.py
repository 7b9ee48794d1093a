"""Tables of the governance database.

Rich records (a filing's ten groups, a validation run's results) are kept as the JSON
form of their protobuf message in ``body``; the columns beside it are what queries,
locks and uniqueness constraints need. Times are UNIX seconds (float): portable across
SQLite and PostgreSQL and exact enough for ordering.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base

ID = String(64)
SHA = String(64)


class Sealed:
    """Columns of a row that serving decisions read. ``seal_sequence`` points at the
    governance event (action ``serving.seal``) that holds the hash of the row's serving
    fields as last set by a governance act; ``seal_sha256`` repeats that hash so a write
    can tell cheaply whether it changed the row. Neither is trusted: registry/seals.py
    checks every row against the ledger itself."""

    seal_sequence: Mapped[int] = mapped_column(Integer, default=0)
    seal_sha256: Mapped[str] = mapped_column(SHA, default="")



class FilingRow(Sealed, Base):
    __tablename__ = "filings"
    __table_args__ = (UniqueConstraint("model", "version"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    filing_number: Mapped[str] = mapped_column(String(32), unique=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(64))
    state: Mapped[int] = mapped_column(Integer, index=True)
    filing_type: Mapped[int] = mapped_column(Integer)
    risk_tier: Mapped[int] = mapped_column(Integer)
    submitter: Mapped[str] = mapped_column(String(200), index=True)
    required_approvals: Mapped[int] = mapped_column(Integer)
    evidence_sha256: Mapped[str] = mapped_column(SHA, default="")
    create_time: Mapped[float] = mapped_column(Float, index=True)
    update_time: Mapped[float] = mapped_column(Float)
    revalidate_time: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    # Approval round: 0 for the first approval, +1 for each renewal. Approvals of a round
    # count towards required_approvals.
    approval_round: Mapped[int] = mapped_column(Integer, default=0)
    revalidation_warned: Mapped[bool] = mapped_column(Boolean, default=False)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    body: Mapped[str] = mapped_column(Text)


class ApprovalRow(Sealed, Base):
    __tablename__ = "approvals"
    # One decision per approver, round and validation run, enforced by the database
    # itself: two concurrent approvals by the same person cannot both land. (Approvals of
    # different runs never add up, so a renewal on a newer run starts afresh.)
    __table_args__ = (UniqueConstraint("filing_id", "approval_round", "validation_run",
                                       "approver"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filing_id: Mapped[str] = mapped_column(ID, ForeignKey("filings.id"), index=True)
    approval_round: Mapped[int] = mapped_column(Integer)
    approver: Mapped[str] = mapped_column(String(200))
    decision: Mapped[int] = mapped_column(Integer)
    validation_run: Mapped[str] = mapped_column(String(200), default="")
    validation_run_sha256: Mapped[str] = mapped_column(SHA, default="")
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    approve_time: Mapped[float] = mapped_column(Float)
    body: Mapped[str] = mapped_column(Text)


class ValidationRunRow(Base):
    __tablename__ = "validation_runs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    filing_id: Mapped[str] = mapped_column(ID, ForeignKey("filings.id"), index=True)
    state: Mapped[int] = mapped_column(Integer)
    validator: Mapped[str] = mapped_column(String(200))
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    record_sha256: Mapped[str] = mapped_column(SHA, default="")
    create_time: Mapped[float] = mapped_column(Float, index=True)
    complete_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    body: Mapped[str] = mapped_column(Text)


class DatasetRow(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    sha256: Mapped[str] = mapped_column(SHA, index=True)
    data_level: Mapped[int] = mapped_column(Integer)
    registrant: Mapped[str] = mapped_column(String(200))
    create_time: Mapped[float] = mapped_column(Float, index=True)
    body: Mapped[str] = mapped_column(Text)


class DeploymentRow(Sealed, Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # the model name
    state: Mapped[int] = mapped_column(Integer)
    production_filing: Mapped[str | None] = mapped_column(ID, ForeignKey("filings.id"),
                                                          nullable=True)
    canary_filing: Mapped[str | None] = mapped_column(ID, ForeignKey("filings.id"),
                                                      nullable=True)
    previous_filing: Mapped[str | None] = mapped_column(ID, ForeignKey("filings.id"),
                                                        nullable=True)
    canary_weight: Mapped[int] = mapped_column(Integer, default=0)
    network_domains: Mapped[str] = mapped_column(Text)  # JSON list of NetworkDomain numbers
    fallback_to_last_approved: Mapped[bool] = mapped_column(Boolean, default=False)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    suspend_reason: Mapped[str] = mapped_column(Text, default="")
    revision: Mapped[int] = mapped_column(Integer, default=0)
    create_time: Mapped[float] = mapped_column(Float)
    update_time: Mapped[float] = mapped_column(Float)


class ServingChangeRow(Base):
    """One row per change of serving state; its id is the WatchDeployments revision."""

    __tablename__ = "serving_changes"

    revision: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(String(200), index=True)
    change_time: Mapped[float] = mapped_column(Float)


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[int] = mapped_column(Integer)
    create_time: Mapped[float] = mapped_column(Float)


class RevocationRow(Base):
    __tablename__ = "revocations"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200), default="")
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    revoke_time: Mapped[float] = mapped_column(Float, index=True)
    audit_event: Mapped[str] = mapped_column(String(200), default="")


class AlertRow(Base):
    """Something the registry noticed and refused to act on (e.g. an alias set behind its
    back in MLflow)."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[str] = mapped_column(Text)
    create_time: Mapped[float] = mapped_column(Float, index=True)


# --- ledgers -------------------------------------------------------------------------


class LedgerHeadRow(Base):
    """The tip of each ledger; appends lock this row, which orders them."""

    __tablename__ = "ledger_heads"

    ledger: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer, default=0)
    last_sha256: Mapped[str] = mapped_column(SHA)
    segment: Mapped[int] = mapped_column(Integer, default=1)
    segment_first_sequence: Mapped[int] = mapped_column(Integer, default=1)


class LedgerEventRow(Base):
    __tablename__ = "ledger_events"
    __table_args__ = (UniqueConstraint("ledger", "record_id"),)

    ledger: Mapped[str] = mapped_column(String(32), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, primary_key=True)
    segment: Mapped[int] = mapped_column(Integer, index=True)
    create_time: Mapped[str] = mapped_column(String(40))  # RFC 3339, as hashed
    actor: Mapped[str] = mapped_column(String(200), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(200), index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, as hashed
    trace_id: Mapped[str] = mapped_column(String(32), default="")
    # Caller-chosen id that makes appends idempotent (call records); null otherwise.
    record_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    prev_sha256: Mapped[str] = mapped_column(SHA)
    entry_sha256: Mapped[str] = mapped_column(SHA)
    # Ed25519 of the ledger key over the entry (registry/ledger.py): whoever can write the
    # database but not read the key cannot append an entry that readers accept. Null only
    # for entries written before entries were signed.
    signature: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class LedgerCheckpointRow(Base):
    """A closed segment, signed with the ledger key (kept outside this database)."""

    __tablename__ = "ledger_checkpoints"

    ledger: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_sequence: Mapped[int] = mapped_column(Integer)
    last_sequence: Mapped[int] = mapped_column(Integer)
    head_sha256: Mapped[str] = mapped_column(SHA)
    prev_checkpoint_sha256: Mapped[str] = mapped_column(SHA)
    close_time: Mapped[str] = mapped_column(String(40))
    last_event_time: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerTombstoneRow(Base):
    """A segment dropped by retention: what it held, signed, so a gap is explained."""

    __tablename__ = "ledger_tombstones"

    ledger: Mapped[str] = mapped_column(String(32), primary_key=True)
    segment: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_sequence: Mapped[int] = mapped_column(Integer)
    last_sequence: Mapped[int] = mapped_column(Integer)
    head_sha256: Mapped[str] = mapped_column(SHA)
    drop_time: Mapped[str] = mapped_column(String(40))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class ReviewRecordRow(Base):
    """One human review of an AI result, as its service shipped it (the calls ledger holds
    the same record, chained and signed); counted by ListReviewStats."""

    __tablename__ = "review_records"

    result: Mapped[str] = mapped_column(String(200), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(64))
    filing_id: Mapped[str] = mapped_column(ID, index=True)
    decision: Mapped[int] = mapped_column(Integer)
    reviewer: Mapped[str] = mapped_column(String(200))
    review_time: Mapped[float] = mapped_column(Float)
    recorder: Mapped[str] = mapped_column(String(200))
