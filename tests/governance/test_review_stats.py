"""Human reviews shipped by the services: on the calls ledger once each, and counted per
model version and filing (ListReviewStats), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from governance.harness import Harness
from registry import reviews
from registry.context import CALLS, Actor
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

SERVICE = Actor("svc:classify", frozenset({"service"}))
ACCEPT, MODIFY, REJECT = (types_pb.REVIEW_DECISION_ACCEPT, types_pb.REVIEW_DECISION_MODIFY,
                          types_pb.REVIEW_DECISION_REJECT)


def record(result: str, decision: int, version: str = "1", filing: str = "f-one",
           at: int = 1_800_000_000) -> pb.ReviewRecord:
    made = pb.ReviewRecord(result=f"classify/results/{result}", decision=decision,  # type: ignore[arg-type]
                           model=types_pb.ModelRef(model="zhijian-classify", version=version,
                                                   filing_id=filing),
                           reviewer="user:reviewer.li", trace_id="ab" * 16)
    made.review_time.FromSeconds(at)
    return made


def stats(harness: Harness, model: str = "", filing: str = "") -> list[pb.ReviewStats]:
    return reviews.stats_page(harness.ctx, pb.ListReviewStatsRequest(model=model,
                                                                     filing=filing), 0, 100)


def test_reviews_are_counted_per_version_and_filing_once_each(harness: Harness) -> None:
    batch = [record("r1", ACCEPT), record("r2", ACCEPT), record("r3", MODIFY),
             record("r4", REJECT, at=1_800_000_100), record("r5", ACCEPT, version="2",
                                                            filing="f-two")]
    first = reviews.append(harness.ctx, SERVICE, pb.AppendReviewRecordsRequest(records=batch))
    assert (first.appended_count, first.duplicate_count) == (5, 0)
    # A shipper that retries after a lost answer sends the same records again.
    again = reviews.append(harness.ctx, SERVICE,
                           pb.AppendReviewRecordsRequest(records=batch[:2]))
    assert (again.appended_count, again.duplicate_count) == (0, 2)

    one, two = stats(harness)
    assert (one.model.version, one.model.filing_id) == ("1", "f-one")
    assert (one.accepted, one.modified, one.rejected, one.total) == (2, 1, 1, 4)
    assert (one.accept_rate, one.modify_rate, one.reject_rate) == (0.5, 0.25, 0.25)
    assert one.last_review_time.seconds == 1_800_000_100
    assert (two.model.version, two.total, two.accept_rate) == ("2", 1, 1.0)
    (only,) = stats(harness, filing="filings/f-two")
    assert only.model.version == "2"
    assert stats(harness, model="another-model") == []

    # Each review is an entry of the calls ledger, recorded by the shipping identity.
    entries = [e for e in harness.ctx.ledger.list_events(CALLS, page_size=100)
               if e.action == "review"]
    assert len(entries) == 5
    assert {e.actor for e in entries} == {"svc:classify"}


@pytest.mark.parametrize("change, field", [
    (lambda r: setattr(r, "result", "r1"), "records[1].result"),
    (lambda r: r.model.ClearField("filing_id"), "records[1].model"),
    (lambda r: setattr(r, "decision", 9), "records[1].decision"),
    (lambda r: setattr(r, "reviewer", ""), "records[1].reviewer"),
    (lambda r: r.ClearField("review_time"), "records[1]"),
])
def test_incomplete_review_records_are_refused_whole(harness: Harness, change, field) -> None:
    bad = record("bad", ACCEPT)
    change(bad)
    with pytest.raises(ZhijianError) as refused:
        reviews.append(harness.ctx, SERVICE,
                       pb.AppendReviewRecordsRequest(records=[record("fine", ACCEPT), bad]))
    assert refused.value.code.name == "INVALID_ARGUMENT"
    assert refused.value.reason == "REVIEW_RECORD_INVALID"
    assert any(v.field == field for v in refused.value.violations)
    assert stats(harness) == []  # the valid record of the batch was not kept either


def test_a_filing_filter_must_name_a_filing(harness: Harness) -> None:
    with pytest.raises(ZhijianError) as refused:
        stats(harness, filing="f-one")
    assert refused.value.reason == "INVALID_FILING_NAME"
