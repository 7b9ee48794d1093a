"""Pair matching: whether two records describe the same thing (duplicate case reports).

Records: ``{"left": {...}, "right": {...}, "match": true | false}`` (other fields may name
subgroups); the plan's ``target`` is the gold field, usually ``match``. The model gets a
pandas DataFrame with ``left`` and ``right`` columns holding each record as JSON and
answers ``{"match": true | false}`` per pair: its own threshold is part of the version.
Metrics: ``precision``, ``recall`` and ``f1`` of the matches, with bootstrap intervals
over pairs. The overlap key ignores the order of the two records. No perturbations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
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

METRICS = ("precision", "recall", "f1")


def _ratio(metric: str, counts: NDArray[np.float64]) -> float:
    true_positive, predicted, actual = counts
    denominator = {"precision": predicted, "recall": actual, "f1": predicted + actual}[metric]
    if denominator == 0:
        return float("nan")
    return float((2 * true_positive if metric == "f1" else true_positive) / denominator)


def match_of(output: Any) -> bool:
    value = output.get("match") if isinstance(output, Mapping) else output
    if not isinstance(value, bool | np.bool_):
        raise ModelOutputError("the model output has no boolean 'match'")
    return bool(value)


def measure_metric(metric: str, target: str, subgroup: str,
                   records: Sequence[Mapping[str, Any]], predicted: Sequence[bool],
                   plan: Plan) -> MetricResult:
    rows = [(bool(record[target]), guess) for record, guess in zip(records, predicted,
                                                                    strict=True)
            if in_subgroup(record, subgroup) and isinstance(record.get(target), bool)]
    if not rows:
        return MetricResult(metric, target, subgroup, None, None, None, 0)
    # Per pair: (true positive, predicted match, actual match).
    table = np.array([(gold and guess, guess, gold) for gold, guess in rows], dtype=float)
    value = _ratio(metric, table.sum(axis=0))
    if np.isnan(value):
        return MetricResult(metric, target, subgroup, None, None, None, len(rows))
    lower, upper = bootstrap_statistic(
        len(rows), lambda sample: _ratio(metric, table[sample].sum(axis=0)),
        resamples=plan.bootstrap_resamples, confidence=plan.confidence_level, seed=plan.seed)
    return MetricResult(metric, target, subgroup, value, lower, upper, len(rows))


def _frame(rows: Sequence[Mapping[str, Any]]) -> Any:
    import pandas as pd

    return pd.DataFrame({side: [json.dumps(row[side], ensure_ascii=False, sort_keys=True)
                                for row in rows] for side in ("left", "right")})


class PairMatching(Evaluator):
    task_type = "pair_matching"
    metrics = frozenset(METRICS)
    record_schema = ("a JSON object with 'left' and 'right' (two records, as objects) and "
                     "a boolean gold field named by the plan's target, e.g. 'match'")

    def check_record(self, record: Mapping[str, Any]) -> None:
        for side in ("left", "right"):
            if not isinstance(record.get(side), Mapping) or not record[side]:
                raise RecordError(f"'{side}' must be a non-empty object")

    def overlap_key(self, record: Mapping[str, Any]) -> str:
        return canonical_sha256(sorted([canonical_sha256(record["left"]),
                                        canonical_sha256(record["right"])]))

    def evaluate(self, model: Any, records: Sequence[Mapping[str, Any]],
                 plan: Plan) -> Evaluation:
        predicted = [match_of(o) for o in predict_rows(model, records, _frame)]
        results = tuple(measure_metric(metric, target, subgroup, records, predicted, plan)
                        for metric, target, subgroup in metric_scopes(plan))
        p50, p95 = rows_latency(model, records, lambda row: _frame([row]))
        return Evaluation(results, (), None, p50, p95)


EVALUATOR = PairMatching()
