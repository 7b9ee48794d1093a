"""Pass or fail of a validation run: the locked plan against the measurements.

A pure function, so the registry can recompute the verdict from the stored plan and
measurements at any time and get the same answer the report shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from registry.validation.spec import Measurements, MetricThreshold, Plan


@dataclass(frozen=True)
class Judgement:
    passed: bool
    metric_passed: dict[str, bool] = field(default_factory=dict)  # by MetricThreshold.key
    failures: list[str] = field(default_factory=list)  # one sentence per failed check

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "metric_passed": dict(self.metric_passed),
                "failures": list(self.failures)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Judgement:
        return cls(bool(data["passed"]), {str(k): bool(v) for k, v in
                                          data.get("metric_passed", {}).items()},
                   [str(f) for f in data.get("failures", [])])


def describe(threshold: MetricThreshold) -> str:
    """``macro_f1 of product_category (language=zh)``: how reports name a planned metric."""
    scope = f" ({threshold.subgroup})" if threshold.subgroup else ""
    return f"{threshold.metric} of {threshold.target}{scope}"


def _compared_value(threshold: MetricThreshold, value: float, lower: float | None,
                    upper: float | None) -> float | None:
    if not threshold.use_confidence_bound:
        return value
    return lower if threshold.comparison == ">=" else upper


def _judge_metric(threshold: MetricThreshold, measurements: Measurements,
                  confidence: float) -> str | None:
    """None if the threshold is met, else the sentence saying why not."""
    name = describe(threshold)
    result = measurements.result(threshold.key)
    if result is None or result.value is None:
        return f"{name} could not be measured: no test record has a gold label for it."
    compared = _compared_value(threshold, result.value, result.ci_lower, result.ci_upper)
    if compared is None:
        return f"{name} has no confidence interval, but the plan requires its bound to pass."
    meets = (compared >= threshold.threshold if threshold.comparison == ">="
             else compared <= threshold.threshold)
    if meets:
        return None
    relation = "below" if threshold.comparison == ">=" else "above"
    if threshold.use_confidence_bound:
        bound = "lower" if threshold.comparison == ">=" else "upper"
        return (f"The {bound} {confidence:.0%} confidence bound of {name} is {compared:.4f} "
                f"(point estimate {result.value:.4f}), {relation} the threshold "
                f"{threshold.threshold:.4f}.")
    return f"{name} is {compared:.4f}, {relation} the threshold {threshold.threshold:.4f}."


def _judge_robustness(plan: Plan, measurements: Measurements) -> str | None:
    if plan.robustness is None:
        return None
    stability = measurements.stability_overall
    if stability is None:
        return ("Robustness could not be measured: no perturbation changed any test text "
                f"({', '.join(plan.robustness.perturbations)}).")
    if stability < plan.robustness.min_stability:
        return (f"Prediction stability of {plan.robustness.target} under perturbation is "
                f"{stability:.4f}, below the planned minimum "
                f"{plan.robustness.min_stability:.4f}.")
    return None


def _judge_latency(plan: Plan, measurements: Measurements) -> str | None:
    if measurements.latency_p95_ms <= plan.latency_budget_p95_ms:
        return None
    return (f"Latency p95 is {measurements.latency_p95_ms:.1f} ms, over the budget of "
            f"{plan.latency_budget_p95_ms:.1f} ms.")


def _judge_overlap(measurements: Measurements) -> str | None:
    overlap = measurements.train_test_overlap_records
    if overlap == 0:
        return None
    records = "record also occurs" if overlap == 1 else "records also occur"
    return (f"{overlap} test {records} in training, validation or fine-tuning data: the "
            "test set is not independent.")


def _judge_artifacts(measurements: Measurements) -> str | None:
    if measurements.artifacts_verified:
        return None
    return "The model's artifact files were not verified against the filed SHA-256 hashes."


def judge(plan: Plan, measurements: Measurements) -> Judgement:
    """Every planned threshold, the robustness minimum, the latency budget, independence
    of the test set and the artifact check must all pass."""
    metric_passed: dict[str, bool] = {}
    failures: list[str] = []
    for threshold in plan.metrics:
        failure = _judge_metric(threshold, measurements, plan.confidence_level)
        metric_passed[threshold.key] = failure is None
        if failure is not None:
            failures.append(failure)
    for check in (_judge_robustness(plan, measurements), _judge_latency(plan, measurements),
                  _judge_overlap(measurements), _judge_artifacts(measurements)):
        if check is not None:
            failures.append(check)
    return Judgement(not failures, metric_passed, failures)
