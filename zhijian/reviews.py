"""``ReviewResult`` for every service: a named human accepts, modifies or rejects an AI
draft, once.

What is the same everywhere is here: the result's name, a decision, a reason to modify
or reject, the reviewer being the authenticated caller (never a name a business system
writes in), one review per result, and the ``HumanReview`` reply naming the model
version and filing of the reviewed result. What a modification may contain is the
service's: it parses and validates its own modified value (:data:`ModifiedValue`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from google.protobuf import struct_pb2, timestamp_pb2

from zhijian.assertion import Assertion
from zhijian.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from zhijian.results import AlreadyReviewed, ResultRecord, ResultStore, ReviewRecord
from zhijian.server import Call
from zhijian.telemetry import current_trace_id
from zhijian.types.v1 import ai_result_pb2 as types_pb

DECISIONS = {types_pb.REVIEW_DECISION_ACCEPT: "accept", types_pb.REVIEW_DECISION_MODIFY: "modify",
             types_pb.REVIEW_DECISION_REJECT: "reject"}
RESULT_PREFIX = "results/"
REVIEWER_NOT_CALLER = "REVIEWER_NOT_CALLER"


class ReviewRequest(Protocol):
    """The fields every service's ``ReviewResultRequest`` has."""

    @property
    def name(self) -> str: ...
    @property
    def decision(self) -> types_pb.ReviewDecision: ...
    @property
    def reviewer(self) -> str: ...
    @property
    def reason(self) -> str: ...


# (request, decision) -> the modified value and what is wrong with it. Called for every
# decision, so that a value sent with ACCEPT or REJECT can be refused too.
ModifiedValue = Callable[[Any, str], tuple[dict[str, Any], list[FieldViolation]]]
# (modified value, stored result) -> raises if the value does not fit that result.
FitsResult = Callable[[dict[str, Any], ResultRecord], None]


def review_author(request: ReviewRequest, caller: Assertion) -> str:
    """The reviewer is whoever the gateway authenticated: a review is attributed to a
    human by their own credentials, never by a name a business system writes in."""
    named = request.reviewer.strip()
    if named and named != caller.subject:
        raise PermissionDenied(
            # Not echoed: whatever the request wrote there would reach the logs.
            f"the reviewer named in the request is not the authenticated caller "
            f"{caller.subject}; a review is recorded under the credentials of the human "
            "who made it",
            reason=REVIEWER_NOT_CALLER, metadata={"caller": caller.subject})
    return caller.subject


def _raise_first(violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidArgument(violations[0].field + ": " + violations[0].description,
                              reason=violations[0].reason, violations=violations)


class ReviewDesk:
    """Where one service's results are reviewed."""

    def __init__(self, results: ResultStore, *, service: str, modified: ModifiedValue,
                 fits_result: FitsResult | None = None) -> None:
        self._results = results
        self._service = service
        self._modified = modified
        self._fits_result = fits_result

    async def review(self, request: ReviewRequest, call: Call) -> types_pb.HumanReview:
        result_id = request.name.removeprefix(RESULT_PREFIX)
        violations = []
        if not request.name.startswith(RESULT_PREFIX) or not result_id:
            violations.append(FieldViolation("name", "must be 'results/{result_id}'",
                                             "INVALID_RESULT_NAME"))
        if request.decision not in DECISIONS:
            violations.append(FieldViolation("decision", "must be ACCEPT, MODIFY or REJECT",
                                             "DECISION_REQUIRED"))
        decision = DECISIONS.get(request.decision, "")
        if decision in ("modify", "reject") and not request.reason.strip():
            violations.append(FieldViolation("reason", f"is required to {decision} a result",
                                             "REASON_REQUIRED"))
        modified, wrong = self._modified(request, decision)
        _raise_first(violations + wrong)
        reviewer = review_author(request, call.caller)

        stored = await self._results.get(result_id)
        if stored is None:
            raise NotFound(f"no {self._service} result {request.name}",
                           reason="RESULT_NOT_FOUND", metadata={"name": request.name})
        if modified and self._fits_result is not None:
            self._fits_result(modified, stored)
        trace_id = current_trace_id()
        review = ReviewRecord(result_id, decision, reviewer, request.reason.strip(),
                              modified, trace_id, time.time())
        try:
            await self._results.add_review(review)
        except AlreadyReviewed:
            raise AlreadyExists(f"{request.name} was already reviewed",
                                reason="RESULT_ALREADY_REVIEWED",
                                metadata={"name": request.name}) from None
        reviewed = timestamp_pb2.Timestamp()
        reviewed.FromSeconds(int(review.reviewed_at))
        reply = types_pb.HumanReview(
            name=f"{request.name}/review", result=request.name, decision=request.decision,
            reviewer=review.reviewer, reason=review.reason, review_time=reviewed,
            model=types_pb.ModelRef(model=stored.model_name, version=stored.model_version,
                                    filing_id=stored.filing_id),
            trace_id=trace_id)
        if modified:
            value = struct_pb2.Struct()
            value.update(modified)
            reply.modified_value.CopyFrom(value)
        return reply
