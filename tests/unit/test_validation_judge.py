"""The verdict of a validation run: every planned check, one failure sentence each."""

from __future__ import annotations

from dataclasses import replace

import pytest

from registry.validation.judge import Judgement, judge
from registry.validation.spec import (
    Measurements,
    MetricResult,
    MetricThreshold,
    Plan,
    RobustnessPlan,
    RobustnessResult,
)

F1_ALL = MetricThreshold("macro_f1", "product_category", "", ">=", 0.80)
ACC_ZH = MetricThreshold("accuracy", "product_category", "language=zh", ">=", 0.70,
                         use_confidence_bound=True)


def _plan(*metrics: MetricThreshold) -> Plan:
    return Plan(metrics=metrics or (F1_ALL, ACC_ZH), subgroups=("language=zh",),
                robustness=RobustnessPlan(("width", "case"), "product_category", 0.90),
                latency_budget_p95_ms=50.0)


def _measurements(**changes: object) -> Measurements:
    good = Measurements(
        test_dataset_sha256="ab" * 32,
        metric_results=(
            MetricResult("macro_f1", "product_category", "", 0.90, 0.85, 0.94, 200),
            MetricResult("accuracy", "product_category", "language=zh", 0.88, 0.80, 0.95, 90),
            MetricResult("accuracy", "product_category", "language=en", 0.40, 0.30, 0.50, 110),
        ),
        robustness=(RobustnessResult("width", 0.95, 100), RobustnessResult("case", 1.0, 80)),
        stability_overall=0.97, train_test_overlap_records=0, latency_p50_ms=3.0,
        latency_p95_ms=9.0, artifacts_verified=True)
    return replace(good, **changes)  # type: ignore[arg-type]


def _with_result(result: MetricResult) -> Measurements:
    others = tuple(r for r in _measurements().metric_results if r.key != result.key)
    return _measurements(metric_results=(result, *others))


def test_a_run_meeting_every_check_passes() -> None:
    verdict = judge(_plan(), _measurements())
    assert verdict == Judgement(True, {F1_ALL.key: True, ACC_ZH.key: True}, [])


def test_a_report_only_subgroup_does_not_decide() -> None:
    # language=en is far below every threshold, but no threshold names it.
    assert judge(_plan(), _measurements()).passed


def test_a_point_estimate_under_the_threshold_fails() -> None:
    measurements = _with_result(
        MetricResult("macro_f1", "product_category", "", 0.75, 0.70, 0.80, 200))
    verdict = judge(_plan(), measurements)
    assert not verdict.passed
    assert verdict.metric_passed == {F1_ALL.key: False, ACC_ZH.key: True}
    assert len(verdict.failures) == 1
    assert "macro_f1 of product_category" in verdict.failures[0]
    assert "0.7500" in verdict.failures[0] and "0.8000" in verdict.failures[0]


def test_the_threshold_itself_passes() -> None:
    measurements = _with_result(
        MetricResult("macro_f1", "product_category", "", 0.80, 0.75, 0.85, 200))
    assert judge(_plan(), measurements).passed


def test_the_confidence_bound_must_pass_when_the_plan_says_so() -> None:
    # Point estimate 0.88 clears 0.70, the lower bound 0.65 does not.
    result = MetricResult("accuracy", "product_category", "language=zh", 0.88, 0.65, 0.95, 90)
    verdict = judge(_plan(), _with_result(result))
    assert verdict.metric_passed[ACC_ZH.key] is False
    assert "lower 95% confidence bound" in verdict.failures[0]
    assert "language=zh" in verdict.failures[0]

    point_only = replace(ACC_ZH, use_confidence_bound=False)
    assert judge(_plan(F1_ALL, point_only), _with_result(result)).passed


def test_an_upper_limit_compares_the_upper_bound() -> None:
    error_rate = MetricThreshold("accuracy", "product_category", "language=zh", "<=", 0.90,
                                 use_confidence_bound=True)
    # Point estimate 0.88 is under 0.90, the upper bound 0.95 is not.
    verdict = judge(_plan(error_rate), _measurements())
    assert verdict.metric_passed == {error_rate.key: False}
    assert "upper 95% confidence bound" in verdict.failures[0]
    assert "above" in verdict.failures[0]


def test_a_planned_metric_without_a_result_fails() -> None:
    unmeasured = MetricThreshold("macro_f1", "device_class", "language=fr", ">=", 0.5)
    verdict = judge(_plan(unmeasured), _measurements())
    assert not verdict.passed
    assert "could not be measured" in verdict.failures[0]


def test_a_planned_metric_on_an_empty_subgroup_fails() -> None:
    empty = MetricResult("macro_f1", "product_category", "", None, None, None, 0)
    verdict = judge(_plan(F1_ALL), _with_result(empty))
    assert verdict.metric_passed == {F1_ALL.key: False}


@pytest.mark.parametrize(("changes", "phrase"), [
    ({"stability_overall": 0.85}, "stability"),
    ({"stability_overall": None}, "no perturbation changed"),
    ({"latency_p95_ms": 50.5}, "over the budget"),
    ({"train_test_overlap_records": 3}, "3 test records also occur"),
    ({"artifacts_verified": False}, "not verified"),
])
def test_each_other_check_fails_on_its_own(changes: dict[str, object], phrase: str) -> None:
    verdict = judge(_plan(), _measurements(**changes))
    assert not verdict.passed
    assert all(verdict.metric_passed.values())  # the metrics themselves still pass
    assert len(verdict.failures) == 1
    assert phrase in verdict.failures[0]


def test_robustness_is_not_judged_when_not_planned() -> None:
    plan = replace(_plan(), robustness=None)
    assert judge(plan, _measurements(stability_overall=None, robustness=())).passed


def test_every_failure_is_listed() -> None:
    measurements = _measurements(latency_p95_ms=80.0, train_test_overlap_records=1,
                                 artifacts_verified=False, stability_overall=0.5)
    assert len(judge(_plan(), measurements).failures) == 4


def test_a_judgement_survives_json() -> None:
    verdict = judge(_plan(), _measurements(latency_p95_ms=80.0))
    assert Judgement.from_dict(verdict.to_dict()) == verdict
