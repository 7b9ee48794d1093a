"""The steps every model-backed RPC takes, in one place.

A service turns its validated request into :class:`ModelInput` items and hands them to
:meth:`ModelPipeline.run`, which, in this order:

1. takes each input's effective data level: the highest of what the request declares
   (its field, or the ``x-zhijian-data-level`` header) and what the kernel's detectors
   find in its texts; a state-secret marking is refused outright;
2. refuses an input above the caller's ceiling, min(domain ceiling, caller clearance),
   as the gateway asserted it, before any version is chosen;
3. chooses the version for the caller's network domain (production, or canary by the
   request id's weight; refused when suspended, expired, not for this domain or the
   registry's state is unknown), naming it in the trailers;
4. refuses an input above the chosen filing's clearance;
5. asks the model server within the call's deadline;
6. wraps each answer in the ``AiResult`` envelope (result id, AI-draft label, model,
   version, filing, trace id, data level) and records it for ``ReviewResult``, with a
   hash of the input, never the input.

Every call is counted and timed per model version
(``zhijian_governed_calls_total{service, model, version, outcome}``,
``zhijian_governed_call_seconds{service, model, version}``): the figures a canary is
judged by. Refusals before a version is chosen count under version "".
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf import timestamp_pb2
from prometheus_client import Counter, Histogram

from zhijian import metadata as md
from zhijian.assertion import Assertion
from zhijian.dlp import declared_level, detect_texts
from zhijian.errors import PermissionDenied, ZhijianError
from zhijian.identity import level_to_clearance
from zhijian.model_client import Forwarded, ModelServerClient, Prediction
from zhijian.results import ResultRecord, ResultStore
from zhijian.server import Call
from zhijian.telemetry import current_trace_id
from zhijian.types.v1 import ai_result_pb2 as types_pb
from zhijian.version_choice import Selected, network_domain_value

AI_DISCLAIMER = "AI 生成的草稿，须经人工审核 / AI draft — requires human review"
CEILING_EXCEEDED = "DATA_LEVEL_EXCEEDS_CEILING"
# Leave time to answer the caller ourselves: a slow model server must surface as
# UNAVAILABLE from us, not as the caller's own DEADLINE_EXCEEDED.
MODEL_CALL_MARGIN_S = 0.05

CALLS = Counter("zhijian_governed_calls", "Model-backed calls, by model version and outcome "
                "(ok, or the refusal's reason)", ["service", "model", "version", "outcome"])
CALL_SECONDS = Histogram("zhijian_governed_call_seconds",
                         "Time from the call's arrival to its answer, by model version",
                         ["service", "model", "version"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))


class VersionSelector(Protocol):
    """What the pipeline needs of :class:`zhijian.deployment_watcher.DeploymentWatcher`."""

    def select(self, routing_key: str | None = None, *, network_domain: int) -> Selected: ...


@dataclass(frozen=True)
class ModelInput:
    """One input of a call, as the pipeline needs it."""

    request: Any  # the service's own request message, for ``outputs``
    item: Mapping[str, Any]  # what the model server gets for it (its version is added)
    texts: Sequence[str]  # what the detectors scan
    declared_level: int  # the request's own data-level field (0 when unset)
    digest: bytes  # hashed into the result record; the input itself is not kept

    @classmethod
    def of_text(cls, request: Any) -> ModelInput:
        """The input of a request that is one ``text`` with its declared ``data_level``,
        sent to the model server as an item ``{"text": ...}``."""
        return cls(request=request, item={"text": request.text}, texts=(request.text,),
                   declared_level=request.data_level, digest=request.text.encode())


@dataclass(frozen=True)
class Draft:
    """A model's answer to one input, in its envelope."""

    result: types_pb.AiResult
    prediction: Prediction
    level: int


def forwarded(call: Call) -> Forwarded:
    """The caller's assertion, passed on to the model server, which checks it too."""
    return Forwarded(assertion=call.metadata.get(md.ASSERTION, ""),
                     request_id=call.caller.request_id)


async def effective_levels(inputs: Sequence[ModelInput], call: Call,
                           budget_s: float) -> list[int]:
    """Per input, the higher of the declared level (field or metadata) and what the
    kernel's detectors find in its texts. A classification marking is refused outright;
    so is an input whose scan runs past its CPU budget, never served unscanned."""
    header = declared_level(call.metadata.get(md.DATA_LEVEL, ""))
    flat = [text for one in inputs for text in one.texts]
    detections = iter(await detect_texts(flat, budget_s=budget_s))
    levels = []
    for index, one in enumerate(inputs):
        found = [next(detections) for _ in one.texts]
        if any(f.classified for f in found):
            # Which detector, never what it matched: the text must not reach a log.
            raise PermissionDenied(
                f"requests[{index}] carries a state-secret classification marking; "
                "classified documents are refused everywhere", reason="CLASSIFIED_MARKING")
        levels.append(max([one.declared_level, header, *(f.level for f in found)]))
    return levels


def check_caller_ceiling(levels: Sequence[int], caller: Assertion) -> None:
    """Refuse an input above the ceiling the gateway asserted, min(domain ceiling, caller
    clearance), before a version is chosen or any model sees it."""
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


def check_filing_ceiling(highest: int, selected: Selected) -> None:
    """The filing's clearance caps what the chosen version may see."""
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


class ModelPipeline:
    """The governed path of one service's model-backed calls. ``outputs(input,
    prediction)`` is what the result record keeps of an answer (what a review may
    modify)."""

    def __init__(self, *, service: str, model_name: str, model_server: ModelServerClient,
                 results: ResultStore, versions: VersionSelector, detection_budget_s: float,
                 outputs: Callable[[ModelInput, Prediction], dict[str, Any]]) -> None:
        self._service = service
        self._model_name = model_name
        self._model_server = model_server
        self._results = results
        self._versions = versions
        self._budget_s = detection_budget_s
        self._outputs = outputs

    async def run(self, inputs: Sequence[ModelInput], call: Call) -> list[Draft]:
        started = time.perf_counter()
        chosen: list[Selected] = []  # filled once a version is chosen
        outcome = "ok"
        try:
            return await self._run(inputs, call, chosen)
        except BaseException as error:
            outcome = error.reason if isinstance(error, ZhijianError) else type(error).__name__
            raise
        finally:
            version = chosen[0].version if chosen else ""
            CALLS.labels(self._service, self._model_name, version, outcome).inc()
            CALL_SECONDS.labels(self._service, self._model_name, version).observe(
                time.perf_counter() - started)

    async def _run(self, inputs: Sequence[ModelInput], call: Call,
                   chosen: list[Selected]) -> list[Draft]:
        caller = call.caller
        levels = await effective_levels(inputs, call, self._budget_s)
        highest = max(levels)
        # Named on refusals too: the gateway's audit record carries the level.
        call.set_trailer(md.EFFECTIVE_LEVEL, types_pb.DataLevel.Name(highest))
        check_caller_ceiling(levels, caller)
        # Refused here (suspended, expired, not for the caller's domain, state unknown),
        # nothing reaches the model server. The request id keeps a retried call on the
        # same slot.
        selected = self._versions.select(call.request_id,
                                         network_domain=network_domain_value(caller.domain))
        chosen.append(selected)
        # Set before the model call, so that a failure still names the version it hit.
        for key, value in selected.trailers().items():
            call.set_trailer(key, value)
        check_filing_ceiling(highest, selected)
        predictions = await self._model_server.predict(
            [one.item for one in inputs], selected.version,
            call.remaining() - MODEL_CALL_MARGIN_S, forwarded(call))
        trace_id = current_trace_id()
        created = timestamp_pb2.Timestamp()
        created.GetCurrentTime()
        drafts = []
        for one, prediction, level in zip(inputs, predictions, levels, strict=True):
            result_id = uuid.uuid4().hex
            drafts.append(Draft(types_pb.AiResult(
                result_id=result_id, ai_generated=True, disclaimer=AI_DISCLAIMER,
                model=selected.model_ref(), create_time=created, trace_id=trace_id,
                data_level=level, review_required=True),  # type: ignore[arg-type]
                prediction, level))
            self._results.record(ResultRecord(
                result_id=result_id, service=self._service, model_name=selected.model,
                model_version=selected.version, filing_id=selected.filing_id,
                outputs=self._outputs(one, prediction),
                input_sha256=hashlib.sha256(one.digest).hexdigest(),
                trace_id=trace_id, request_id=call.request_id, created_at=time.time()))
        return drafts
