"""The span-extraction evaluator: exact and overlap matching per field, pooled over
documents, with intervals that resample documents."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from registry.validation.evaluators import RecordError, evaluator_for
from registry.validation.spec import Plan

SPANS = evaluator_for("span_extraction")


class FixedModel:
    """A pyfunc's predict contract (numpy array of texts in, one output per text out)
    answering from a table; the evaluator is measured here, not a model."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.answers = answers

    def predict(self, texts: np.ndarray) -> list[dict[str, Any]]:
        return [{"spans": self.answers[str(text)]} for text in texts]


def span(field: str, start: int, end: int) -> dict[str, Any]:
    return {"field": field, "start": start, "end": end}


def plan(*metrics: tuple[str, str]) -> Plan:
    return Plan.from_dict({
        "task_type": "span_extraction",
        "metrics": [{"metric": m, "target": t, "comparison": ">=", "threshold": 0.5}
                    for m, t in metrics],
        "subgroups": ["source=b"], "latency_budget_p95_ms": 100.0,
        "bootstrap_resamples": 200})


RECORDS = [
    {"text": "a" * 30, "source": "a",
     "spans": [span("date", 0, 10), span("drug", 12, 20)]},
    {"text": "b" * 30, "source": "b", "spans": [span("date", 5, 15)]},
]
MODEL = FixedModel({
    "a" * 30: [span("date", 0, 10), span("drug", 13, 20)],  # exact date, drug overlaps
    "b" * 30: [span("date", 5, 14), span("date", 20, 25)],  # overlapping, and a spurious one
})


def results(measured: Any) -> dict[tuple[str, str, str], Any]:
    return {(r.metric, r.target, r.subgroup): r for r in measured.metric_results}


def test_exact_and_overlap_scores_per_field_and_pooled() -> None:
    measured = results(SPANS.evaluate(MODEL, RECORDS, plan(
        ("exact_f1", "date"), ("overlap_f1", "date"), ("exact_precision", "*"),
        ("exact_recall", "*"), ("overlap_f1", "drug"))))
    # date: gold 2, predicted 3, exact 1 -> 2/5; overlap 2 -> 4/5.
    assert measured[("exact_f1", "date", "")].value == pytest.approx(2 / 5)
    assert measured[("overlap_f1", "date", "")].value == pytest.approx(4 / 5)
    # pooled: gold 3, predicted 4, exact 1.
    assert measured[("exact_precision", "*", "")].value == pytest.approx(1 / 4)
    assert measured[("exact_recall", "*", "")].value == pytest.approx(1 / 3)
    assert measured[("overlap_f1", "drug", "")].value == pytest.approx(1.0)
    # The subgroup holds the second document only: gold 1, predicted 2, exact 0.
    subgroup = measured[("exact_f1", "date", "source=b")]
    assert (subgroup.value, subgroup.sample_size) == (0.0, 1)
    whole = measured[("overlap_f1", "date", "")]
    assert whole.sample_size == 2
    assert whole.ci_lower is not None and whole.ci_upper is not None
    assert whole.ci_lower <= whole.value <= whole.ci_upper


def test_one_gold_span_matches_one_prediction_only() -> None:
    text = "c" * 30
    doubled = FixedModel({text: [span("date", 0, 5), span("date", 2, 8)]})
    measured = results(SPANS.evaluate(doubled, [{"text": text, "spans": [span("date", 0, 8)]}],
                                      plan(("overlap_f1", "date"))))
    # gold 1, predicted 2, matched 1: 2/3, not 1.
    assert measured[("overlap_f1", "date", "")].value == pytest.approx(2 / 3)


def test_a_field_nobody_annotated_or_predicted_is_not_measured() -> None:
    measured = results(SPANS.evaluate(MODEL, RECORDS, plan(("exact_f1", "dose"))))
    assert measured[("exact_f1", "dose", "")].value is None


@pytest.mark.parametrize("record, problem", [
    ({"text": "abc"}, "must be a list"),
    ({"text": "abc", "spans": [{"field": "date", "start": 2, "end": 1}]}, "start < end"),
    ({"text": "abc", "spans": [{"field": "date", "start": 0, "end": 9}]}, "past the text"),
    ({"text": "abc", "spans": [{"field": "", "start": 0, "end": 1}]}, "field"),
    ({"text": "abc", "spans": [{"field": "d", "start": True, "end": 2}]}, "integer"),
    ({"text": " ", "spans": []}, "'text'"),
])
def test_records_outside_the_schema_are_refused(record: dict[str, Any], problem: str) -> None:
    with pytest.raises(RecordError, match=problem):
        SPANS.check_record(record)


def test_a_model_answering_without_spans_fails_the_run() -> None:
    from registry.validation.evaluators.common import ModelOutputError

    class Labels:
        def predict(self, texts: np.ndarray) -> list[dict[str, Any]]:
            return [{"label": "x"} for _ in texts]

    with pytest.raises(ModelOutputError, match="malformed spans"):
        SPANS.evaluate(Labels(), RECORDS, plan(("exact_f1", "date")))
