"""Text classification: one label per target per text.

Records: ``{"text": ..., "<target>": "<label>", ...}`` (other fields may name subgroups).
The model answers ``{target: {"label": ...}}`` or ``{target: "label"}`` per text.
Metrics: accuracy and macro-F1 per target, with bootstrap intervals, on the whole test
set and per subgroup; robustness: the share of perturbed texts whose label stays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
from registry.validation.perturb import PERTURBATIONS
from registry.validation.spec import MetricResult, Plan, RobustnessPlan, RobustnessResult
from registry.validation.stats import METRIC_FUNCTIONS, bootstrap_ci


def label_of(output: Any, target: str) -> str:
    """The predicted label of ``target`` in one output."""
    value = output.get(target) if isinstance(output, Mapping) else None
    if isinstance(value, Mapping):
        value = value.get("label")
    if not isinstance(value, str):
        raise ModelOutputError(f"the model output has no label for {target!r}")
    return value


def gold_label(record: Mapping[str, Any], target: str) -> str | None:
    value = record.get(target)
    return None if value is None or value == "" else str(value)


def measure_metric(metric: str, target: str, subgroup: str,
                   records: Sequence[Mapping[str, Any]], predicted: Sequence[str],
                   plan: Plan) -> MetricResult:
    pairs = [(label, pred) for record, pred in zip(records, predicted, strict=True)
             if in_subgroup(record, subgroup) and (label := gold_label(record, target))]
    if not pairs:
        return MetricResult(metric, target, subgroup, None, None, None, 0)
    gold = [g for g, _ in pairs]
    pred = [p for _, p in pairs]
    function = METRIC_FUNCTIONS[metric]
    lower, upper = bootstrap_ci(gold, pred, function, resamples=plan.bootstrap_resamples,
                                confidence=plan.confidence_level, seed=plan.seed)
    return MetricResult(metric, target, subgroup, function(gold, pred), lower, upper,
                        len(pairs))


def measure_robustness(model: Any, texts: Sequence[str], baseline: Sequence[str],
                       plan: RobustnessPlan) -> tuple[list[RobustnessResult], float | None]:
    """Per perturbation and overall: the share of changed texts whose prediction of the
    target stays what it was on the original text."""
    results: list[RobustnessResult] = []
    unchanged_total = changed_total = 0
    for name in plan.perturbations:
        perturb = PERTURBATIONS[name]
        changed = [(i, p) for i, text in enumerate(texts) if (p := perturb(text)) != text]
        outputs = predict_texts(model, [p for _, p in changed]) if changed else []
        unchanged = sum(label_of(output, plan.target) == baseline[i]
                        for (i, _), output in zip(changed, outputs, strict=True))
        results.append(RobustnessResult(name, unchanged / len(changed) if changed else None,
                                        len(changed)))
        unchanged_total += unchanged
        changed_total += len(changed)
    overall = unchanged_total / changed_total if changed_total else None
    return results, overall


class TextClassification(Evaluator):
    task_type = "text_classification"
    metrics = frozenset(METRIC_FUNCTIONS)
    perturbations = tuple(PERTURBATIONS)
    record_schema = ("a JSON object with a non-empty 'text' and one label field per target, "
                     "e.g. {\"text\": \"电子血压计\", \"device_class\": \"II\"}")

    def check_record(self, record: Mapping[str, Any]) -> None:
        problem = check_text(record)
        if problem:
            raise RecordError(problem)

    def overlap_key(self, record: Mapping[str, Any]) -> str:
        return record_hash(text_of(record))

    def evaluate(self, model: Any, records: Sequence[Mapping[str, Any]],
                 plan: Plan) -> Evaluation:
        texts = [text_of(r) for r in records]
        outputs = predict_texts(model, texts)
        targets = {t.target for t in plan.metrics}
        if plan.robustness is not None:
            targets.add(plan.robustness.target)
        predicted = {target: [label_of(o, target) for o in outputs]
                     for target in sorted(targets)}
        results = tuple(measure_metric(metric, target, subgroup, records, predicted[target],
                                       plan)
                        for metric, target, subgroup in metric_scopes(plan))
        robustness: list[RobustnessResult] = []
        overall: float | None = None
        if plan.robustness is not None:
            robustness, overall = measure_robustness(model, texts,
                                                     predicted[plan.robustness.target],
                                                     plan.robustness)
        p50, p95 = text_latency(model, texts)
        return Evaluation(results, tuple(robustness), overall, p50, p95)


EVALUATOR = TextClassification()
