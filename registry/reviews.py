"""Human reviews of AI results, as the services ship them, and their counts per model
version and filing: the automation-bias check of GOVERNANCE.md.

A review record is appended to the calls ledger (chained, signed, idempotent by its
result) and to ``review_records`` in the same transaction, so what the counts say is what
the ledger holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from google.protobuf import json_format
from sqlalchemy import func, select

from registry.context import CALLS, Actor, RegistryContext
from registry.ledger import EventInput
from registry.schema import ReviewRecordRow
from zhijian.errors import FieldViolation, InvalidArgument, invalid_field
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

MAX_REVIEW_RECORDS: Final = 500
DECISIONS: Final = frozenset({types_pb.REVIEW_DECISION_ACCEPT, types_pb.REVIEW_DECISION_MODIFY,
                              types_pb.REVIEW_DECISION_REJECT})
FILINGS: Final = "filings/"


def _violations(index: int, record: pb.ReviewRecord) -> list[FieldViolation]:
    where = f"records[{index}]"
    v = []
    if not record.result or len(record.result) > 200 or "/results/" not in record.result:
        v.append(FieldViolation(f"{where}.result", "must be '<service>/results/{id}', at most "
                                "200 characters", "REVIEW_RECORD_INVALID"))
    model = record.model
    if not model.model or not model.version or not model.filing_id \
            or len(model.model) > 200 or len(model.version) > 64 or len(model.filing_id) > 64:
        v.append(FieldViolation(f"{where}.model", "must name the model, version and filing",
                                "REVIEW_RECORD_INVALID"))
    if record.decision not in DECISIONS:
        v.append(FieldViolation(f"{where}.decision", "must be ACCEPT, MODIFY or REJECT",
                                "REVIEW_RECORD_INVALID"))
    if not record.reviewer or len(record.reviewer) > 200:
        v.append(FieldViolation(f"{where}.reviewer", "must name the reviewer",
                                "REVIEW_RECORD_INVALID"))
    if not record.HasField("review_time") or len(record.trace_id) > 32:
        v.append(FieldViolation(f"{where}", "needs review_time; trace_id is at most 32 hex "
                                "characters", "REVIEW_RECORD_INVALID"))
    return v


def append(ctx: RegistryContext, actor: Actor, request: pb.AppendReviewRecordsRequest
           ) -> pb.AppendReviewRecordsResponse:
    records = list(request.records)
    if not records:
        raise invalid_field("records", "must hold at least one record", reason="BATCH_EMPTY")
    if len(records) > MAX_REVIEW_RECORDS:
        raise invalid_field("records", f"holds {len(records)}; the limit is "
                            f"{MAX_REVIEW_RECORDS}", reason="BATCH_TOO_LARGE")
    violations = [v for i, r in enumerate(records) for v in _violations(i, r)]
    if violations:
        raise InvalidArgument(f"{violations[0].field} {violations[0].description}",
                              reason=violations[0].reason, violations=violations)
    by_id = {}
    events = []
    for record in records:
        record.recorder = actor.subject
        record_id = f"review:{record.result}"
        by_id[record_id] = record
        events.append(EventInput(
            actor=actor.subject, action="review", target=record.result,
            details=json_format.MessageToDict(record, preserving_proto_field_name=True),
            trace_id=record.trace_id, record_id=record_id))
    with ctx.db.transaction() as session:
        result = ctx.ledger.append(session, CALLS, events)
        for appended in result.appended:
            record = by_id[str(appended.record_id)]
            session.add(ReviewRecordRow(
                result=record.result, model=record.model.model, version=record.model.version,
                filing_id=record.model.filing_id, decision=record.decision,
                reviewer=record.reviewer, review_time=record.review_time.ToNanoseconds() / 1e9,
                recorder=actor.subject))
    return pb.AppendReviewRecordsResponse(appended_count=len(result.appended),
                                          duplicate_count=len(result.duplicates))


def _stats(rows: Sequence[tuple[str, str, str, int, int, float]]) -> list[pb.ReviewStats]:
    grouped: dict[tuple[str, str, str], dict[int, int]] = {}
    newest: dict[tuple[str, str, str], float] = {}
    for model, version, filing, decision, count, last in rows:
        key = (model, version, filing)
        grouped.setdefault(key, {})[decision] = count
        newest[key] = max(newest.get(key, 0.0), last)
    stats = []
    for key in sorted(grouped, key=lambda k: (k[0], _version_order(k[1]), k[2])):
        counts = grouped[key]
        accepted = counts.get(types_pb.REVIEW_DECISION_ACCEPT, 0)
        modified = counts.get(types_pb.REVIEW_DECISION_MODIFY, 0)
        rejected = counts.get(types_pb.REVIEW_DECISION_REJECT, 0)
        total = accepted + modified + rejected
        entry = pb.ReviewStats(
            model=types_pb.ModelRef(model=key[0], version=key[1], filing_id=key[2]),
            accepted=accepted, modified=modified, rejected=rejected, total=total,
            accept_rate=accepted / total, modify_rate=modified / total,
            reject_rate=rejected / total)
        entry.last_review_time.FromNanoseconds(int(newest[key] * 1e9))
        stats.append(entry)
    return stats


def _version_order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (1 << 62, version)


def check_stats_request(request: pb.ListReviewStatsRequest) -> None:
    if request.filing and (not request.filing.startswith(FILINGS)
                           or not request.filing.removeprefix(FILINGS)):
        raise invalid_field("filing", "must be 'filings/{filing}'", reason="INVALID_FILING_NAME")


def stats_page(ctx: RegistryContext, request: pb.ListReviewStatsRequest, offset: int,
               limit: int) -> list[pb.ReviewStats]:
    """Entries ``offset`` to ``offset + limit`` of the stats (few: one per version and
    filing, so they are counted whole and sliced)."""
    check_stats_request(request)
    query = select(ReviewRecordRow.model, ReviewRecordRow.version, ReviewRecordRow.filing_id,
                   ReviewRecordRow.decision, func.count(),
                   func.max(ReviewRecordRow.review_time))
    if request.model:
        query = query.where(ReviewRecordRow.model == request.model)
    if request.filing:
        query = query.where(ReviewRecordRow.filing_id == request.filing.removeprefix(FILINGS))
    query = query.group_by(ReviewRecordRow.model, ReviewRecordRow.version,
                           ReviewRecordRow.filing_id, ReviewRecordRow.decision)
    with ctx.db.read() as session:
        rows = [tuple(row) for row in session.execute(query)]
    return _stats(rows)[offset:offset + limit]  # type: ignore[arg-type]
