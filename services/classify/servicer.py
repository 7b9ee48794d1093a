"""ClassifyService: validate the request, ask the model server, answer with an AI draft.

Data path: gateway → this servicer → :class:`zhijian.governed_call.ModelPipeline` (data
level, ceilings, version choice, model call, envelope, result record) →
``ModelServerClient`` → BentoML model server → the MLflow model version the registry
selected for this call (production or canary, or the last approved version as a
fallback), named in the response with its filing.

What is classify's own is here: what a valid request is, what the model is asked, how
its answer becomes ``TaskResult`` messages, and what a reviewer may change (task labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

from services.classify.labels import LABELS, TASKS, display_name
from services.classify.settings import ClassifySettings
from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.errors import FieldViolation, InvalidArgument, invalid_field
from zhijian.governed_call import ModelInput, ModelPipeline, VersionSelector
from zhijian.model_client import ModelServerClient, Prediction
from zhijian.results import ResultRecord, ResultStore
from zhijian.reviews import ReviewDesk
from zhijian.server import Call
from zhijian.types.v1 import ai_result_pb2 as types_pb

TASK_BY_ENUM: dict[pb.Task, str] = {
    pb.TASK_PRODUCT_CATEGORY: "product_category",
    pb.TASK_DEVICE_CLASS: "device_class",
    pb.TASK_REVIEW_ROUTE: "review_route",
}
ENUM_BY_TASK = {name: value for value, name in TASK_BY_ENUM.items()}
assert set(TASK_BY_ENUM.values()) == set(TASKS)

DATA_LEVELS = frozenset(types_pb.DataLevel.values())

PREDICTIONS = Counter("zhijian_model_predictions", "Labels predicted, per model version",
                      ["model", "version", "task", "label"])


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


def kept_outputs(one: ModelInput, prediction: Prediction) -> dict[str, Any]:
    """What the result record keeps: the label of each task the request asked for."""
    return {task: prediction[task]["label"] for task in requested_tasks(one.request.tasks)}


def modified_labels(request: pb.ReviewResultRequest,
                    decision: str) -> tuple[dict[str, Any], list[FieldViolation]]:
    """A reviewer's corrected labels, by task; only MODIFY carries them."""
    violations = []
    modified: dict[str, Any] = {}
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
    return modified, violations


def labels_fit_result(modified: dict[str, Any], stored: ResultRecord) -> None:
    unknown = sorted(set(modified) - set(stored.outputs))
    if unknown:
        raise invalid_field("modified_labels", f"the result has no {', '.join(unknown)} "
                            "task to modify", reason="TASK_NOT_IN_RESULT")


class ClassifyServicer:
    def __init__(self, settings: ClassifySettings, model_server: ModelServerClient,
                 results: ResultStore, versions: VersionSelector) -> None:
        self._settings = settings
        self._pipeline = ModelPipeline(
            service="classify", model_name=settings.model_name, model_server=model_server,
            results=results, versions=versions,
            detection_budget_s=settings.detection_budget_s, outputs=kept_outputs)
        self._reviews = ReviewDesk(results, service="classify", modified=modified_labels,
                                   fits_result=labels_fit_result)

    async def _classify(self, requests: Sequence[pb.ClassifyRequest],
                        call: Call) -> list[pb.ClassifyResponse]:
        drafts = await self._pipeline.run([ModelInput.of_text(r) for r in requests], call)
        responses = []
        for request, draft in zip(requests, drafts, strict=True):
            tasks = requested_tasks(request.tasks)
            language = request.display_language or "zh"
            responses.append(pb.ClassifyResponse(
                result=draft.result,
                results=[task_result(task, draft.prediction[task], language)
                         for task in tasks]))
            model = draft.result.model
            for task in tasks:
                PREDICTIONS.labels(model.model, model.version, task,
                                   draft.prediction[task]["label"]).inc()
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
        return await self._reviews.review(request, call)
