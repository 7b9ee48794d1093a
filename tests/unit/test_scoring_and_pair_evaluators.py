"""The scoring and pair-matching evaluators: their metrics against sklearn's and against
hand counts, on a stand-in for a pyfunc (the evaluators are measured here, not a model)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, f1_score, precision_score, roc_auc_score

from registry.validation.evaluators import RecordError, evaluator_for
from registry.validation.evaluators.scoring import auc, calibration_error
from registry.validation.spec import Plan


def plan(task_type: str, *metrics: tuple[str, str]) -> Plan:
    return Plan.from_dict({
        "task_type": task_type,
        "metrics": [{"metric": m, "target": t, "comparison": ">=", "threshold": 0.5}
                    for m, t in metrics],
        "latency_budget_p95_ms": 100.0, "bootstrap_resamples": 200})


class ColumnModel:
    """Answers with a function of each row of the DataFrame it is given."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def predict(self, frame: Any) -> list[Any]:
        return [self.answer(row) for row in frame.to_dict("records")]


def results(measured: Any) -> dict[tuple[str, str], Any]:
    return {(r.metric, r.target): r for r in measured.metric_results if not r.subgroup}


def test_scoring_metrics_agree_with_sklearn() -> None:
    rng = np.random.default_rng(7)
    risk = rng.uniform(0, 1, 300)
    outcome = (rng.uniform(0, 1, 300) < risk).astype(int)
    records = [{"features": {"risk": float(r), "province": "x"}, "unqualified": int(o)}
               for r, o in zip(risk, outcome, strict=True)]
    model = ColumnModel(lambda row: {"probability": row["risk"]})
    measured = results(evaluator_for("scoring").evaluate(model, records, plan(
        "scoring", ("auc", "unqualified"), ("brier", "unqualified"),
        ("calibration_error", "unqualified"))))
    assert measured[("auc", "unqualified")].value == pytest.approx(roc_auc_score(outcome, risk))
    assert measured[("brier", "unqualified")].value == pytest.approx(
        brier_score_loss(outcome, risk))
    # Outcomes drawn with the scores as their probabilities: well calibrated, not exactly.
    assert 0 < measured[("calibration_error", "unqualified")].value < 0.1
    whole = measured[("auc", "unqualified")]
    assert whole.ci_lower < whole.value < whole.ci_upper and whole.sample_size == 300


def test_auc_counts_ties_half_and_is_undefined_with_one_class() -> None:
    assert auc(np.array([1.0, 0.0]), np.array([0.5, 0.5])) == 0.5
    assert np.isnan(auc(np.array([1.0, 1.0]), np.array([0.2, 0.9])))


def test_calibration_error_by_hand() -> None:
    # Two bins: [0.1, 0.1] with outcomes [0, 1] (gap 0.4) and [0.9, 0.9] with [1, 1]
    # (gap 0.1), each half of the records.
    assert calibration_error(np.array([0.0, 1.0, 1.0, 1.0]),
                             np.array([0.1, 0.1, 0.9, 0.9])) == pytest.approx(0.25)


def test_pair_matching_metrics_agree_with_sklearn() -> None:
    pairs = [({"age": 30, "drug": "a"}, {"age": 30, "drug": "a"}, True),
             ({"age": 30, "drug": "a"}, {"age": 31, "drug": "a"}, True),
             ({"age": 40, "drug": "b"}, {"age": 41, "drug": "c"}, False),
             ({"age": 50, "drug": "d"}, {"age": 50, "drug": "e"}, False),
             ({"age": 60, "drug": "f"}, {"age": 60, "drug": "f"}, True)]
    records = [{"left": left, "right": right, "match": gold} for left, right, gold in pairs]

    def same_age(row: dict[str, str]) -> dict[str, bool]:
        import json

        return {"match": json.loads(row["left"])["age"] == json.loads(row["right"])["age"]}

    measured = results(evaluator_for("pair_matching").evaluate(
        ColumnModel(same_age), records,
        plan("pair_matching", ("precision", "match"), ("recall", "match"), ("f1", "match"))))
    gold = [g for _, _, g in pairs]
    guess = [left["age"] == right["age"] for left, right, _ in pairs]
    assert measured[("precision", "match")].value == pytest.approx(precision_score(gold, guess))
    assert measured[("recall", "match")].value == pytest.approx(2 / 3)
    assert measured[("f1", "match")].value == pytest.approx(f1_score(gold, guess))


def test_the_overlap_key_of_a_pair_ignores_its_order() -> None:
    pairs = evaluator_for("pair_matching")
    a, b = {"id": 1}, {"id": 2}
    assert pairs.overlap_key({"left": a, "right": b}) == pairs.overlap_key(
        {"left": b, "right": a})


@pytest.mark.parametrize("task_type, record", [
    ("scoring", {"features": {}}),
    ("scoring", {"features": {"x": [1, 2]}}),
    ("pair_matching", {"left": {"a": 1}}),
])
def test_records_outside_the_schema_are_refused(task_type: str, record: dict[str, Any]) -> None:
    with pytest.raises(RecordError):
        evaluator_for(task_type).check_record(record)
