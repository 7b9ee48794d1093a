"""Reads: filings with AIP-160-style filters, validation runs, audit events and ledger
verification, rendered as the API's messages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2
from sqlalchemy import select

from registry import filings, records, seals
from registry.context import RegistryContext
from registry.schema import FilingRow, ValidationRunRow
from zhijian.errors import NotFound, invalid_field
from zhijian.registry.v1 import registry_service_pb2 as pb

_CLAUSE = re.compile(r'^\s*([a-z_.]+)\s*(=|!=|<=|>=|<|>)\s*("([^"]*)"|[A-Za-z0-9_.:-]+)\s*$')


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: str


def parse_filter(text: str, fields: frozenset[str]) -> list[Clause]:
    """A conjunction of comparisons: ``a = "x" AND b < "y"`` (the subset of AIP-160 that
    these lists need)."""
    if not text.strip():
        return []
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        match = _CLAUSE.match(part)
        if match is None:
            raise invalid_field("filter", f"cannot parse {part!r}; use field = \"value\" "
                                "joined by AND", reason="INVALID_FILTER")
        field, op, raw, quoted = match.groups()
        if field not in fields:
            raise invalid_field("filter", f"cannot filter on {field}; supported: "
                                + ", ".join(sorted(fields)), reason="INVALID_FILTER")
        clauses.append(Clause(field, op, quoted if quoted is not None else raw))
    return clauses


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}

FILING_FIELDS = frozenset({"state", "filing_type", "identity.model", "identity.version",
                           "classification.risk_tier", "parties.submitter",
                           "revalidate_time", "filing_number"})


def _enum_value(enum: Any, prefix: str, text: str) -> int:
    name = text if text.startswith(prefix) else prefix + text.upper()
    try:
        return int(enum.Value(name))
    except ValueError:
        raise invalid_field("filter", f"unknown value {text}", reason="INVALID_FILTER") from None


def _time_value(text: str) -> float:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise invalid_field("filter", f"{text!r} is not an RFC 3339 time",
                            reason="INVALID_FILTER") from None


def _filing_value(row: FilingRow, field: str) -> Any:
    return {"state": row.state, "filing_type": row.filing_type, "identity.model": row.model,
            "identity.version": row.version, "classification.risk_tier": row.risk_tier,
            "parties.submitter": row.submitter, "filing_number": row.filing_number,
            "revalidate_time": row.revalidate_time}[field]


def _clause_value(clause: Clause) -> Any:
    if clause.field == "state":
        return _enum_value(pb.FilingState, "FILING_STATE_", clause.value)
    if clause.field == "filing_type":
        return _enum_value(pb.FilingType, "FILING_TYPE_", clause.value)
    if clause.field == "classification.risk_tier":
        return _enum_value(pb.RiskTier, "RISK_TIER_", clause.value)
    if clause.field == "revalidate_time":
        return _time_value(clause.value)
    return clause.value


def get_filing(ctx: RegistryContext, name: str) -> pb.Filing:
    with ctx.db.read() as session:
        return filings.render(filings.load(session, name, lock=False), ctx)


ORDERS = {"": (FilingRow.create_time.desc(),), "create_time desc": (FilingRow.create_time.desc(),),
          "create_time": (FilingRow.create_time,), "revalidate_time": (FilingRow.revalidate_time,),
          "filing_number": (FilingRow.filing_number,)}


def list_filings(ctx: RegistryContext, filter_text: str, order_by: str, offset: int,
                 limit: int) -> list[pb.Filing]:
    clauses = [(c, _clause_value(c)) for c in parse_filter(filter_text, FILING_FIELDS)]
    order = ORDERS.get(order_by.strip())
    if order is None:
        raise invalid_field("order_by", f"must be one of {', '.join(o for o in ORDERS if o)}",
                            reason="INVALID_ORDER_BY")
    result: list[pb.Filing] = []
    skipped = 0
    with ctx.db.read() as session:
        for row in session.scalars(select(FilingRow).order_by(*order, FilingRow.id)):
            # Filters read the row's columns; only filings on the page are parsed.
            if not all(_matches(row, c, v) for c, v in clauses):
                continue
            if skipped < offset:
                skipped += 1
                continue
            loaded = filings.LoadedFiling(row, records.from_json(pb.Filing, row.body))
            result.append(filings.render(loaded, ctx))
            if len(result) >= limit:
                break
    return result


def _matches(row: FilingRow, clause: Clause, value: Any) -> bool:
    actual = _filing_value(row, clause.field)
    if actual is None:
        return False
    return _OPS[clause.op](actual, value)


def run_message(row: ValidationRunRow) -> pb.ValidationRun:
    return records.from_json(pb.ValidationRun, row.body)


def get_run(ctx: RegistryContext, name: str) -> pb.ValidationRun:
    match = re.match(r"^filings/([a-z0-9-]+)/validationRuns/([a-z0-9-]+)$", name)
    if match is None:
        raise invalid_field("name", "must be filings/{filing}/validationRuns/{run}",
                            reason="INVALID_RESOURCE_NAME")
    with ctx.db.read() as session:
        row = session.get(ValidationRunRow, match.group(2))
        if row is None or row.filing_id != match.group(1):
            raise NotFound(f"no validation run {name}", reason="VALIDATION_RUN_NOT_FOUND")
        return run_message(row)


def list_runs(ctx: RegistryContext, parent: str, offset: int, limit: int
              ) -> list[pb.ValidationRun]:
    query = select(ValidationRunRow).order_by(ValidationRunRow.create_time.desc(),
                                              ValidationRunRow.id)
    if parent != "filings/-":
        query = query.where(ValidationRunRow.filing_id == filings.filing_id_of(parent,
                                                                                "parent"))
    with ctx.db.read() as session:
        return [run_message(r) for r in session.scalars(query.offset(offset).limit(limit))]


# --- ledgers ---------------------------------------------------------------------------

EVENT_FIELDS = frozenset({"actor", "action", "target", "trace_id"})


def parse_event_filter(text: str) -> dict[str, str]:
    criteria = {}
    for clause in parse_filter(text, EVENT_FIELDS):
        if clause.op != "=":
            raise invalid_field("filter", "audit events filter by equality only",
                                reason="INVALID_FILTER")
        criteria[clause.field] = clause.value
    return criteria


def event_message(event: Any) -> pb.AuditEvent:
    details = struct_pb2.Struct()
    details.update(event.details if isinstance(event.details, dict) else {})
    created = pb.AuditEvent().create_time
    created.FromJsonString(event.create_time)
    return pb.AuditEvent(name=event.name, sequence=event.sequence, create_time=created,
                         actor=event.actor, action=event.action, target=event.target,
                         details=details, prev_sha256=event.prev_sha256,
                         entry_sha256=event.entry_sha256, segment=event.segment,
                         trace_id=event.trace_id)


def list_events(ctx: RegistryContext, ledger: str, criteria: dict[str, str], after: int,
                limit: int) -> list[pb.AuditEvent]:
    events = ctx.ledger.list_events(ledger, page_size=limit, after_sequence=after,
                                    **criteria)
    return [event_message(e) for e in events]


_KINDS = {name.removeprefix("LEDGER_PROBLEM_KIND_"): value
          for name, value in pb.LedgerProblemKind.items()}


def verify(ctx: RegistryContext, ledger: str) -> pb.VerifyLedgerResponse:
    report = ctx.ledger.verify(ledger)
    response = pb.VerifyLedgerResponse(
        ok=report.ok, entries_checked=report.entries_checked,
        segments_checked=report.segments_checked, tombstones=report.tombstones,
        head_sha256=report.head_sha256,
        problems=[pb.LedgerProblem(kind=_KINDS.get(p.kind, 0), sequence=p.sequence,  # type: ignore[arg-type]
                                   segment=p.segment, detail=p.detail)
                  for p in report.problems])
    if ledger == "governance":
        # What serving decisions read must match the seals this ledger holds: a chain
        # that verifies says nothing of rows edited beside it.
        # One state throughout: rows and seals read at different moments would show an
        # act committed in between as a mismatch.
        with ctx.ledger.snapshot() as session:
            mismatches = seals.find_problems(ctx.ledger, session)
        response.problems.extend(
            pb.LedgerProblem(kind=pb.LEDGER_PROBLEM_KIND_SERVING_STATE_MISMATCH,
                             sequence=p.sequence, detail=p.text) for p in mismatches)
        response.ok = response.ok and not mismatches
    response.verify_time.GetCurrentTime()
    return response
