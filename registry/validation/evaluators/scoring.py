"""Scoring: a probability of a defined outcome per record (a risk score).

Records: ``{"features": {name: number | string | null, ...}, "<outcome>": 0 | 1, ...}``;
the plan's ``target`` names the outcome field (other fields may name subgroups). The
model gets a pandas DataFrame of the feature rows and answers ``{"probability": p}`` (or
``p``) per row. Metrics: ``auc`` (ROC AUC), ``brier`` (mean squared error of the
probability; plan it with ``<=``) and ``calibration_error`` (expected calibration error
over ten equal-width probability bins; ``<=``), each with bootstrap intervals over
records. No perturbations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from registry.validation.evaluators import Evaluation, Evaluator, RecordError
from registry.validation.evaluators.common import (
    ModelOutputError,
    canonical_sha256,
    in_subgroup,
    metric_scopes,
    predict_rows,
    rows_latency,
)
from registry.validation.spec import MetricResult, Plan
from registry.validation.stats import bootstrap_statistic

Scores = NDArray[np.float64]
CALIBRATION_BINS = 10


def auc(outcome: Scores, probability: Scores) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count half); NaN with one class."""
    positives, negatives = probability[outcome == 1], probability[outcome == 0]
    if positives.size == 0 or negatives.size == 0:
        return float("nan")
    ranks = _midranks(np.concatenate([positives, negatives]))
    rank_sum = ranks[:positives.size].sum()
    return float((rank_sum - positives.size * (positives.size + 1) / 2)
                 / (positives.size * negatives.size))


def _midranks(values: Scores) -> Scores:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size)
    sorted_values = values[order]
    start = 0
    while start < values.size:
        end = start
        while end + 1 < values.size and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def brier(outcome: Scores, probability: Scores) -> float:
    return float(np.mean((probability - outcome) ** 2))


def calibration_error(outcome: Scores, probability: Scores) -> float:
    """Expected calibration error: the record-weighted mean gap between the mean
    probability and the observed rate in each of ten equal-width bins."""
    bins = np.minimum((probability * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    error = 0.0
    for b in np.unique(bins):
        inside = bins == b
        error += inside.mean() * abs(probability[inside].mean() - outcome[inside].mean())
    return float(error)


METRICS: dict[str, Callable[[Scores, Scores], float]] = {
    "auc": auc, "brier": brier, "calibration_error": calibration_error}


def probability_of(output: Any) -> float:
    value = output.get("probability") if isinstance(output, Mapping) else output
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0.0 <= float(value) <= 1.0:
        raise ModelOutputError("the model output is not a probability between 0 and 1")
    return float(value)


def outcome_of(record: Mapping[str, Any], target: str) -> int | None:
    value = record.get(target)
    if value is None:
        return None
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise RecordError(f"outcome {target!r} must be 0 or 1, got {value!r}")


def measure_metric(metric: str, target: str, subgroup: str,
                   records: Sequence[Mapping[str, Any]], probabilities: Sequence[float],
                   plan: Plan) -> MetricResult:
    pairs = [(gold, p) for record, p in zip(records, probabilities, strict=True)
             if in_subgroup(record, subgroup)
             and (gold := outcome_of(record, target)) is not None]
    if not pairs:
        return MetricResult(metric, target, subgroup, None, None, None, 0)
    outcome = np.array([o for o, _ in pairs], dtype=float)
    probability = np.array([p for _, p in pairs], dtype=float)
    function = METRICS[metric]
    value = function(outcome, probability)
    if np.isnan(value):
        return MetricResult(metric, target, subgroup, None, None, None, len(pairs))
    lower, upper = bootstrap_statistic(
        len(pairs), lambda sample: function(outcome[sample], probability[sample]),
        resamples=plan.bootstrap_resamples, confidence=plan.confidence_level, seed=plan.seed)
    return MetricResult(metric, target, subgroup, value, lower, upper, len(pairs))


def _frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame([dict(row["features"]) for row in rows])


class Scoring(Evaluator):
    task_type = "scoring"
    metrics = frozenset(METRICS)
    record_schema = ("a JSON object with 'features' (an object of numbers, strings or "
                     "nulls) and a 0/1 outcome field named by the plan's target")

    def check_record(self, record: Mapping[str, Any]) -> None:
        features = record.get("features")
        if not isinstance(features, Mapping) or not features:
            raise RecordError("'features' must be a non-empty object")
        for name, value in features.items():
            if value is not None and (isinstance(value, bool)
                                      or not isinstance(value, int | float | str)):
                raise RecordError(f"feature {name!r} must be a number, a string or null")

    def overlap_key(self, record: Mapping[str, Any]) -> str:
        return canonical_sha256(record.get("id") or record["features"])

    def evaluate(self, model: Any, records: Sequence[Mapping[str, Any]],
                 plan: Plan) -> Evaluation:
        probabilities = [probability_of(o) for o in predict_rows(model, records, _frame)]
        results = tuple(measure_metric(metric, target, subgroup, records, probabilities, plan)
                        for metric, target, subgroup in metric_scopes(plan))
        p50, p95 = rows_latency(model, records, lambda row: _frame([row]))
        return Evaluation(results, (), None, p50, p95)


EVALUATOR = Scoring()
