"""The validation report in two forms: Markdown for people, JSON as the hashed evidence.

The JSON report is what ``report_sha256`` covers: the spec's identity fields, the locked
plan, the datasets and artifacts used, the measurements and the verdict. It leaves out
the report's own URI, hash and Markdown text, which can only exist after it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from registry.validation.judge import Judgement, describe
from registry.validation.spec import (
    OVERLAP_PURPOSES,
    DatasetSpec,
    Measurements,
    MetricResult,
    ValidationSpec,
)

REPORT_FORMAT: Final = "zhijian.validation-report/1"
_REPORT_FIELDS: Final = ("report_uri", "report_json_uri", "report_sha256", "report_markdown")

# What this runner cannot show, whatever the plan says; printed in every report.
RUNNER_LIMITATIONS: Final[tuple[str, ...]] = (
    "Latency is measured in the validation process (one text per call through the MLflow "
    "pyfunc, on the validator's machine); it excludes the network and the model server's "
    "batching.",
    "Confidence intervals are percentile bootstrap intervals over test records; they do not "
    "cover a shift between the test data and the data met in use.",
    "The train/test overlap check finds records equal after normalisation (width, case, "
    "whitespace); near-duplicates and paraphrases are not detected.",
    "Robustness covers only the planned perturbations, each applied on its own.",
)


@dataclass(frozen=True)
class DatasetUse:
    """A dataset as the run used it: the filed entry and the records it holds."""

    spec: DatasetSpec
    records: int


def report_json(spec: ValidationSpec, measurements: Measurements, judgement: Judgement,
                datasets: Sequence[DatasetUse]) -> bytes:
    measured = {k: v for k, v in measurements.to_dict().items() if k not in _REPORT_FIELDS}
    document: dict[str, Any] = {
        "format": REPORT_FORMAT,
        "filing": spec.filing,
        "filing_number": spec.filing_number,
        "validation_run": spec.run_name,
        "model": spec.model,
        "version": spec.version,
        "model_uri": spec.model_uri,
        "validator": spec.validator,
        "plan": spec.plan.to_dict(),
        "plan_sha256": spec.plan.sha256(),
        "artifacts": [{"path": a.path, "sha256": a.sha256, "size_bytes": a.size_bytes}
                      for a in spec.artifacts],
        "datasets": [{"name": d.spec.name, "purpose": d.spec.purpose, "uri": d.spec.uri,
                      "sha256": d.spec.sha256, "records": d.records} for d in datasets],
        "limitations": [*spec.limitations, *RUNNER_LIMITATIONS],
        "measurements": measured,
        "judgement": judgement.to_dict(),
    }
    return (json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _cell(value: object) -> str:
    # A "|" inside a cell would end it and shift every column after it.
    return str(value).replace("|", "\\|").replace("\n", " ")


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _interval(result: MetricResult) -> str:
    if result.ci_lower is None or result.ci_upper is None:
        return "—"
    return f"[{result.ci_lower:.4f}, {result.ci_upper:.4f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _identity(spec: ValidationSpec, measurements: Measurements) -> list[str]:
    return _table(["Item", "Value"], [
        ["Filing", f"{spec.filing_number} ({spec.filing})"],
        ["Model version", f"{spec.model_version} ({spec.model_uri})"],
        ["Validator", spec.validator],
        ["Validation run", spec.run_name],
        ["MLflow run", measurements.mlflow_run_id or "—"],
        ["Plan SHA-256", f"`{spec.plan.sha256()}`"],
        ["Test dataset SHA-256", f"`{measurements.test_dataset_sha256}`"],
        ["Duration", f"{measurements.seconds:.1f} s"],
    ])


def _verdict(judgement: Judgement) -> list[str]:
    if judgement.passed:
        return ["**PASSED**: every planned threshold and check is met."]
    count = len(judgement.failures)
    lines = [f"**FAILED**: {count} planned check{'s' if count != 1 else ''} not met.", ""]
    return lines + [f"- {failure}" for failure in judgement.failures]


def _planned_metrics(spec: ValidationSpec, measurements: Measurements,
                     judgement: Judgement) -> list[str]:
    level = f"{spec.plan.confidence_level:.0%} CI"
    rows: list[list[object]] = []
    for threshold in spec.plan.metrics:
        result = measurements.result(threshold.key)
        bound = " (CI bound)" if threshold.use_confidence_bound else ""
        verdict = "pass" if judgement.metric_passed.get(threshold.key) else "FAIL"
        rows.append([describe(threshold),
                     _number(result.value if result else None),
                     _interval(result) if result else "—",
                     result.sample_size if result else 0,
                     f"{threshold.comparison} {threshold.threshold:.4f}{bound}", verdict])
    return _table(["Metric", "Value", level, "n", "Threshold", "Result"], rows)


def _subgroups(spec: ValidationSpec, measurements: Measurements) -> list[str]:
    planned = {t.key for t in spec.plan.metrics}
    rows = [[r.metric, r.target, r.subgroup or "all", _number(r.value), _interval(r),
             r.sample_size, "planned" if r.key in planned else "report only"]
            for r in measurements.metric_results]
    level = f"{spec.plan.confidence_level:.0%} CI"
    return _table(["Metric", "Target", "Subgroup", "Value", level, "n", "Role"], rows)


def _robustness(spec: ValidationSpec, measurements: Measurements) -> list[str]:
    plan = spec.plan.robustness
    if plan is None:
        return ["The plan declares no robustness check."]
    rows: list[list[object]] = [[r.perturbation, r.changed, _number(r.stability)]
                                for r in measurements.robustness]
    rows.append(["**overall**", sum(r.changed for r in measurements.robustness),
                 _number(measurements.stability_overall)])
    intro = (f"Share of test records whose `{plan.target}` prediction is unchanged when the "
             f"perturbation changes their text; planned minimum {plan.min_stability:.4f} "
             "overall.")
    return [intro, "", *_table(["Perturbation", "Texts changed", "Stability"], rows)]


def _overlap(measurements: Measurements, datasets: Sequence[DatasetUse]) -> list[str]:
    against = [d.spec.name for d in datasets if d.spec.purpose in OVERLAP_PURPOSES]
    scope = ", ".join(against) if against else "none filed"
    count = measurements.train_test_overlap_records
    verdict = "independent" if count == 0 else "NOT independent"
    return [f"{count} test record(s) occur in training, validation or fine-tuning data "
            f"({scope}): the test set is {verdict}."]


def _latency(spec: ValidationSpec, measurements: Measurements) -> list[str]:
    within = measurements.latency_p95_ms <= spec.plan.latency_budget_p95_ms
    return _table(["p50", "p95", "Budget (p95)", "Result"], [[
        f"{measurements.latency_p50_ms:.2f} ms", f"{measurements.latency_p95_ms:.2f} ms",
        f"{spec.plan.latency_budget_p95_ms:.2f} ms", "pass" if within else "FAIL"]])


def _datasets(datasets: Sequence[DatasetUse]) -> list[str]:
    return _table(["Dataset", "Purpose", "Records", "SHA-256"],
                  [[d.spec.name, d.spec.purpose, d.records, f"`{d.spec.sha256[:16]}…`"]
                   for d in datasets])


def _artifacts(spec: ValidationSpec, measurements: Measurements) -> list[str]:
    state = ("verified before loading: every file matches its filed SHA-256, and no file is "
             "missing or extra" if measurements.artifacts_verified else "NOT verified")
    rows = [[a.path, a.size_bytes, f"`{a.sha256[:16]}…`"] for a in spec.artifacts]
    return [f"{len(spec.artifacts)} artifact file(s) {state}.", "",
            *_table(["File", "Bytes", "SHA-256"], rows)]


def report_markdown(spec: ValidationSpec, measurements: Measurements, judgement: Judgement,
                    datasets: Sequence[DatasetUse]) -> str:
    limitations = [*spec.limitations, *RUNNER_LIMITATIONS]
    sections: list[tuple[str, list[str]]] = [
        ("Verdict", _verdict(judgement)),
        ("Planned metrics", _planned_metrics(spec, measurements, judgement)),
        ("Results per subgroup", _subgroups(spec, measurements)),
        ("Robustness", _robustness(spec, measurements)),
        ("Train/test independence", _overlap(measurements, datasets)),
        ("Latency", _latency(spec, measurements)),
        ("Datasets", _datasets(datasets)),
        ("Artifact verification", _artifacts(spec, measurements)),
        ("Limitations", [f"- {item}" for item in limitations]),
    ]
    lines = [f"# Validation report: {spec.filing_number}, {spec.model_version}", "",
             *_identity(spec, measurements)]
    for title, body in sections:
        lines += ["", f"## {title}", "", *body]
    return "\n".join(lines) + "\n"
