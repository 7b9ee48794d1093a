"""ClassifyService: validate the request, ask the model server, answer with an AI draft.

Data path: gateway → this servicer → ``ModelServerClient`` → BentoML model server →
the MLflow model version the registry selected for this call (production or canary, or
the last approved version as a fallback), named in the response with its filing.

Every call carries the gateway's assertion (``call.caller``: who, through which network
domain, under which ceiling). The ceiling of a call is min(domain ceiling, caller
clearance, clearance of the chosen version's filing): the first two come asserted and are
applied before a version is chosen, the filing's after.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from google.protobuf import struct_pb2, timestamp_pb2
from prometheus_client import Counter

from services.classify.labels import LABELS, TASKS, display_name
from services.classify.model_client import Forwarded, ModelServerClient
from services.classify.settings import ClassifySettings
from zhijian import metadata as md
from zhijian.assertion import Assertion
from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.dlp import declared_level, detect_texts
from zhijian.errors import (
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    invalid_field,
)
from zhijian.identity import level_to_clearance
from zhijian.results import AlreadyReviewed, ResultRecord, ResultStore, ReviewRecord
from zhijian.server import Call
from zhijian.serving import Selected, network_domain_value
from zhijian.telemetry import current_trace_id
from zhijian.types.v1 import ai_result_pb2 as types_pb

AI_DISCLAIMER = "AI 生成的草稿，须经人工审核 / AI draft — requires human review"

TASK_BY_ENUM: dict[pb.Task, str] = {
    pb.TASK_PRODUCT_CATEGORY: "product_category",
    pb.TASK_DEVICE_CLASS: "device_class",
    pb.TASK_REVIEW_ROUTE: "review_route",
}
ENUM_BY_TASK = {name: value for value, name in TASK_BY_ENUM.items()}
assert set(TASK_BY_ENUM.values()) == set(TASKS)

DECISIONS = {types_pb.REVIEW_DECISION_ACCEPT: "accept", types_pb.REVIEW_DECISION_MODIFY: "modify",
             types_pb.REVIEW_DECISION_REJECT: "reject"}
DATA_LEVELS = frozenset(types_pb.DataLevel.values())
RESULT_PREFIX = "results/"
# Leave time to answer the caller ourselves: a slow model server must surface as
# UNAVAILABLE from us, not as the caller's own DEADLINE_EXCEEDED.
MODEL_CALL_MARGIN_S = 0.05

PREDICTIONS = Counter("zhijian_model_predictions", "Labels predicted, per model version",
                      ["model", "version", "task", "label"])


CEILING_EXCEEDED = "DATA_LEVEL_EXCEEDS_CEILING"
REVIEWER_NOT_CALLER = "REVIEWER_NOT_CALLER"


class VersionSelector(Protocol):
    """What the servicer needs of :class:`zhijian.serving.DeploymentWatcher`."""

    def select(self, routing_key: str | None = None, *, network_domain: int) -> Selected: ...


def requested_tasks(tasks: Sequence[pb.Task]) -> list[str]:
    """Tasks of a request in enum order; empty means all. Assumes tasks were validated."""
    return [TASK_BY_ENUM[t] for t in sorted(set(tasks))] if tasks else list(TASKS)


def request_violations(request: pb.ClassifyRequest, max_text_chars: int,
                       prefix: str = "") -> list[FieldViolation]:
    violations = []
    if not request.text.strip():
        violations.append(FieldViolation(prefix + "text", "must not be empty", "TEXT_EMPTY"))
    elif len(request.text) > max_text_chars:
        violations.append(FieldViolation(
            prefix + "text", f"is {len(request.text)} characters; the limit is {max_text_chars}",
            "TEXT_TOO_LONG"))
    for i, task in enumerate(request.tasks):
        if task not in TASK_BY_ENUM:
            violations.append(FieldViolation(
                f"{prefix}tasks[{i}]", f"unknown task {task}; expected one of "
                + ", ".join(pb.Task.Name(t) for t in TASK_BY_ENUM), "UNKNOWN_TASK"))
    if request.display_language not in ("", "zh", "en"):
        violations.append(FieldViolation(prefix + "display_language",
                                         "must be 'zh' or 'en'", "UNSUPPORTED_LANGUAGE"))
    if request.data_level not in DATA_LEVELS:
        violations.append(FieldViolation(prefix + "data_level",
                                         f"unknown data level {request.data_level}",
                                         "UNKNOWN_DATA_LEVEL"))
    return violations


def task_result(task: str, prediction: dict[str, Any], language: str) -> pb.TaskResult:
    probabilities = sorted(prediction["probabilities"].items(), key=lambda kv: -kv[1])
    return pb.TaskResult(
        task=ENUM_BY_TASK[task], label=prediction["label"],
        display_name=display_name(task, prediction["label"], language),
        probabilities=[pb.LabelProbability(label=label, probability=p,
                                           display_name=display_name(task, label, language))
                       for label, p in probabilities],
        terms=prediction["terms"])


async def effective_levels(requests: Sequence[pb.ClassifyRequest], call: Call,
                           budget_s: float) -> list[int]:
    """Per request, the higher of the declared level (field or metadata) and what the
    kernel's detectors find in the text. A classification marking is refused outright;
    so is a request whose scan runs past its CPU budget, never served unscanned."""
    header = declared_level(call.metadata.get(md.DATA_LEVEL, ""))
    levels = []
    detections = await detect_texts([r.text for r in requests], budget_s=budget_s)
    for index, (request, found) in enumerate(zip(requests, detections, strict=True)):
        if found.classified:
            # Which detector, never what it matched: the text must not reach a log.
            raise PermissionDenied(
                f"requests[{index}] carries a state-secret classification marking; "
                "classified documents are refused everywhere", reason="CLASSIFIED_MARKING")
        levels.append(max(request.data_level, header, found.level))
    return levels


def check_caller_ceiling(levels: Sequence[int], caller: Assertion) -> None:
    """Refuse a request above the ceiling the gateway asserted, min(domain ceiling, caller
    clearance), before a version is chosen or any model sees the text."""
    over = [i for i, level in enumerate(levels) if level > caller.ceiling_level]
    if not over:
        return
    index = over[0]
    which = f"requests[{index}]" if len(levels) > 1 else "the request"
    # "L1".."L4", as the gateway names levels in its own refusals.
    level = level_to_clearance(levels[index])
    # The level and where the ceiling comes from; what raised the level stays out of the
    # error, which reaches logs and the call ledger.
    raise PermissionDenied(
        f"{which} is at data level {level}; the ceiling of this call is {caller.ceiling} "
        f"(the {caller.domain} network domain and the caller's clearance {caller.clearance})",
        reason=CEILING_EXCEEDED,
        metadata={"ceiling": caller.ceiling, "ceiling_source": "caller",
                  "network_domain": caller.domain, "clearance": caller.clearance,
                  "data_level": level})


def review_author(request: pb.ReviewResultRequest, caller: Assertion) -> str:
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


def forwarded(call: Call) -> Forwarded:
    """The caller's assertion, passed on to the model server, which checks it too."""
    return Forwarded(assertion=call.metadata.get(md.ASSERTION, ""),
                     request_id=call.caller.request_id)


class ClassifyServicer:
    def __init__(self, settings: ClassifySettings, model_server: ModelServerClient,
                 results: ResultStore, versions: VersionSelector) -> None:
        self._settings = settings
        self._model_server = model_server
        self._results = results
        self._versions = versions

    async def _classify(self, requests: Sequence[pb.ClassifyRequest],
                        call: Call) -> list[pb.ClassifyResponse]:
        caller = call.caller
        levels = await effective_levels(requests, call, self._settings.detection_budget_s)
        highest = max(levels)
        # Named on refusals too: the gateway's audit record carries the level.
        call.set_trailer(md.EFFECTIVE_LEVEL, types_pb.DataLevel.Name(highest))
        check_caller_ceiling(levels, caller)
        # Refused here (suspended, expired, not for the caller's domain, state unknown),
        # nothing reaches the model server. The request id keeps a retried call on the
        # same slot.
        selected = self._versions.select(call.request_id,
                                         network_domain=network_domain_value(caller.domain))
        # Set before the model call, so that a failure still names the version it hit.
        for key, value in selected.trailers().items():
            call.set_trailer(key, value)
        # The filing's clearance caps what this version may see.
        if selected.max_data_level and highest > selected.max_data_level:
            filed = level_to_clearance(selected.max_data_level)
            raise PermissionDenied(
                f"the request is at data level {level_to_clearance(highest)}; "
                f"{selected.model} version {selected.version} is filed for at most {filed}",
                reason=CEILING_EXCEEDED,
                metadata={"ceiling": filed, "ceiling_source": "filing",
                          "data_level": level_to_clearance(highest),
                          "model": selected.model, "version": selected.version,
                          "filing": selected.filing_id})
        predictions = await self._model_server.predict(
            [r.text for r in requests], selected.version,
            call.remaining() - MODEL_CALL_MARGIN_S, forwarded(call))
        trace_id = current_trace_id()
        created = timestamp_pb2.Timestamp()
        created.GetCurrentTime()
        responses = []
        for request, prediction, level in zip(requests, predictions, levels, strict=True):
            tasks = requested_tasks(request.tasks)
            language = request.display_language or "zh"
            result_id = uuid.uuid4().hex
            responses.append(pb.ClassifyResponse(
                result=types_pb.AiResult(
                    result_id=result_id, ai_generated=True, disclaimer=AI_DISCLAIMER,
                    model=selected.model_ref(), create_time=created, trace_id=trace_id,
                    data_level=level, review_required=True),  # type: ignore[arg-type]
                results=[task_result(task, prediction[task], language) for task in tasks]))
            self._results.record(ResultRecord(
                result_id=result_id, service="classify", model_name=selected.model,
                model_version=selected.version, filing_id=selected.filing_id,
                outputs={task: prediction[task]["label"] for task in tasks},
                input_sha256=hashlib.sha256(request.text.encode()).hexdigest(),
                trace_id=trace_id, request_id=call.request_id, created_at=time.time()))
            for task in tasks:
                PREDICTIONS.labels(selected.model, selected.version, task,
                                   prediction[task]["label"]).inc()
        return responses

    async def Classify(self, request: pb.ClassifyRequest, call: Call) -> pb.ClassifyResponse:
        violations = request_violations(request, self._settings.max_text_chars)
        if violations:
            raise InvalidArgument(violations[0].field + ": " + violations[0].description,
                                  reason=violations[0].reason, violations=violations)
        (response,) = await self._classify([request], call)
        return response

    async def ClassifyBatch(self, request: pb.ClassifyBatchRequest,
                            call: Call) -> pb.ClassifyBatchResponse:
        count, limit = len(request.requests), self._settings.max_batch_items
        if count == 0:
            raise invalid_field("requests", "must hold at least one request", reason="BATCH_EMPTY")
        if count > limit:
            raise invalid_field("requests", f"holds {count} requests; the limit is {limit}",
                                reason="BATCH_TOO_LARGE")
        violations = [v for i, r in enumerate(request.requests)
                      for v in request_violations(r, self._settings.max_text_chars,
                                                  f"requests[{i}].")]
        if violations:
            raise InvalidArgument(f"{len(violations)} invalid field(s), first "
                                  f"{violations[0].field}: {violations[0].description}",
                                  reason=violations[0].reason, violations=violations)
        return pb.ClassifyBatchResponse(responses=await self._classify(request.requests, call))

    async def ReviewResult(self, request: pb.ReviewResultRequest,
                           call: Call) -> types_pb.HumanReview:
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
        modified: dict[str, str] = {}
        if decision == "modify" and not request.modified_labels:
            violations.append(FieldViolation(
                "modified_labels", "MODIFY needs the corrected label of at least one task",
                "MODIFIED_LABEL_REQUIRED"))
        for i, item in enumerate(request.modified_labels):
            task = TASK_BY_ENUM.get(item.task)
            if task is None:
                violations.append(FieldViolation(f"modified_labels[{i}].task",
                                                 f"unknown task {item.task}", "UNKNOWN_TASK"))
            elif item.label not in LABELS[task]:
                violations.append(FieldViolation(
                    f"modified_labels[{i}].label", f"{item.label!r} is not a label of {task}",
                    "UNKNOWN_LABEL"))
            else:
                modified[task] = item.label
        if decision != "modify" and request.modified_labels:
            violations.append(FieldViolation("modified_labels", "only MODIFY carries labels",
                                             "UNEXPECTED_MODIFIED_LABELS"))
        if violations:
            raise InvalidArgument(violations[0].field + ": " + violations[0].description,
                                  reason=violations[0].reason, violations=violations)
        reviewer = review_author(request, call.caller)

        stored = await self._results.get(result_id)
        if stored is None:
            raise NotFound(f"no classify result {request.name}", reason="RESULT_NOT_FOUND",
                           metadata={"name": request.name})
        unknown = sorted(set(modified) - set(stored.outputs))
        if unknown:
            raise invalid_field("modified_labels", f"the result has no {', '.join(unknown)} "
                                "task to modify", reason="TASK_NOT_IN_RESULT")
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
