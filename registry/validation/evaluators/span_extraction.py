"""Span extraction: which stretches of a text hold which field.

Records: ``{"text": ..., "spans": [{"field": "onset_date", "start": 12, "end": 22}, ...]}``
with character offsets into ``text`` (``end`` exclusive); a record with no spans says the
text holds none. The model answers ``{"spans": [{"field", "start", "end", ...}]}`` per
text.

Metrics, per field (``target`` = the field, or ``*`` for all fields pooled), micro-
averaged over the documents with bootstrap intervals resampling documents:
``exact_f1`` / ``exact_precision`` / ``exact_recall`` (a predicted span counts when field,
start and end equal a gold span's) and ``overlap_f1`` (when it overlaps a gold span of
the same field; each gold span matches at most one prediction). No perturbations: an
edited text moves the offsets the gold spans are given in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from registry.datasets import record_hash
from registry.validation.evaluators import Evaluation, Evaluator, RecordError
from registry.validation.evaluators.common import (
    ModelOutputError,
    check_text,
    in_subgroup,
    metric_scopes,
    predict_texts,
    text_latency,
    text_of,
)
from registry.validation.spec import MetricResult, Plan
from registry.validation.stats import bootstrap_statistic

ALL_FIELDS = "*"
Span = tuple[str, int, int]  # field, start, end
Counts = tuple[int, int, int]  # matched, predicted, gold


def spans_of(value: Any, where: str, length: int | None = None) -> list[Span]:
    """The spans of a record or a model output, checked."""
    if not isinstance(value, list):
        raise RecordError(f"{where} must be a list of spans")
    spans = []
    for index, span in enumerate(value):
        if not isinstance(span, Mapping):
            raise RecordError(f"{where}[{index}] must be an object with field, start, end")
        field, start, end = span.get("field"), span.get("start"), span.get("end")
        if not isinstance(field, str) or not field.strip():
            raise RecordError(f"{where}[{index}].field must be a non-empty string")
        if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) \
                or not isinstance(end, int) or not 0 <= start < end:
            raise RecordError(f"{where}[{index}] needs integer offsets 0 <= start < end")
        if length is not None and end > length:
            raise RecordError(f"{where}[{index}] ends at {end}, past the text's {length} "
                              "characters")
        spans.append((field, start, end))
    return spans


def _exact(gold: list[Span], predicted: list[Span]) -> int:
    remaining = list(gold)
    matched = 0
    for span in predicted:
        if span in remaining:
            remaining.remove(span)
            matched += 1
    return matched


def _overlapping(gold: list[Span], predicted: list[Span]) -> int:
    remaining = list(gold)
    matched = 0
    for field, start, end in sorted(predicted, key=lambda s: (s[1], s[2])):
        hit = next((g for g in remaining if g[0] == field and g[1] < end and start < g[2]),
                   None)
        if hit is not None:
            remaining.remove(hit)
            matched += 1
    return matched


MATCHERS: dict[str, Callable[[list[Span], list[Span]], int]] = {
    "exact": _exact, "overlap": _overlapping}
# metric -> (matcher, what of (matched, predicted, gold) it is computed from)
METRICS: dict[str, tuple[str, str]] = {
    "exact_f1": ("exact", "f1"), "exact_precision": ("exact", "precision"),
    "exact_recall": ("exact", "recall"), "overlap_f1": ("overlap", "f1")}


def _ratio(kind: str, matched: float, predicted: float, gold: float) -> float | None:
    denominator = {"f1": predicted + gold, "precision": predicted, "recall": gold}[kind]
    if denominator == 0:
        return None
    return (2 * matched if kind == "f1" else matched) / denominator


def counts(gold: list[Span], predicted: list[Span], field: str, matcher: str) -> Counts:
    if field != ALL_FIELDS:
        gold = [s for s in gold if s[0] == field]
        predicted = [s for s in predicted if s[0] == field]
    return MATCHERS[matcher](gold, predicted), len(predicted), len(gold)


def measure_metric(metric: str, target: str, subgroup: str,
                   records: Sequence[Mapping[str, Any]], gold: Sequence[list[Span]],
                   predicted: Sequence[list[Span]], plan: Plan) -> MetricResult:
    matcher, kind = METRICS[metric]
    rows = [counts(g, p, target, matcher)
            for record, g, p in zip(records, gold, predicted, strict=True)
            if in_subgroup(record, subgroup)]
    table: NDArray[np.float64] = np.array(rows, dtype=float).reshape(-1, 3)
    value = _ratio(kind, *table.sum(axis=0)) if rows else None
    if value is None:
        return MetricResult(metric, target, subgroup, None, None, None, len(rows))

    def statistic(sample: NDArray[np.intp]) -> float:
        resampled = _ratio(kind, *table[sample].sum(axis=0))
        return 0.0 if resampled is None else resampled

    lower, upper = bootstrap_statistic(len(rows), statistic,
                                       resamples=plan.bootstrap_resamples,
                                       confidence=plan.confidence_level, seed=plan.seed)
    return MetricResult(metric, target, subgroup, value, lower, upper, len(rows))


class SpanExtraction(Evaluator):
    task_type = "span_extraction"
    metrics = frozenset(METRICS)
    record_schema = ("a JSON object with a non-empty 'text' and 'spans': a list of "
                     "{\"field\", \"start\", \"end\"} character offsets into the text")

    def check_record(self, record: Mapping[str, Any]) -> None:
        problem = check_text(record)
        if problem:
            raise RecordError(problem)
        spans_of(record.get("spans"), "'spans'", len(text_of(record)))

    def overlap_key(self, record: Mapping[str, Any]) -> str:
        return record_hash(text_of(record))

    def evaluate(self, model: Any, records: Sequence[Mapping[str, Any]],
                 plan: Plan) -> Evaluation:
        texts = [text_of(r) for r in records]
        gold = [spans_of(r["spans"], "spans") for r in records]
        predicted = []
        for index, output in enumerate(predict_texts(model, texts)):
            found = output.get("spans") if isinstance(output, Mapping) else None
            try:
                predicted.append(spans_of(found, f"output[{index}].spans"))
            except RecordError as error:
                raise ModelOutputError(f"the model answered with malformed spans: {error}") \
                    from None
        results = tuple(measure_metric(metric, target, subgroup, records, gold, predicted,
                                       plan)
                        for metric, target, subgroup in metric_scopes(plan))
        p50, p95 = text_latency(model, texts)
        return Evaluation(results, (), None, p50, p95)


EVALUATOR = SpanExtraction()
