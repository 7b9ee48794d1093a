"""Measure one filed model version against its locked validation plan.

Order matters: the version's files are downloaded and checked against the filed SHA-256
hashes *before* anything is unpickled, and every dataset is checked against its filed
hash before it is read; only then is anything measured. The run is logged to MLflow
with a Markdown and a JSON report.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np

from registry.datasets import (
    UNREADABLE,
    DatasetAccess,
    DatasetAccessError,
    DatasetError,
    parse_records,
    read_dataset,
    record_hash,
)
from registry.validation.judge import judge
from registry.validation.perturb import CJK_CHAR, PERTURBATIONS
from registry.validation.report import DatasetUse, report_json, report_markdown
from registry.validation.spec import (
    OVERLAP_PURPOSES,
    DatasetSpec,
    Measurements,
    MetricResult,
    Plan,
    RobustnessPlan,
    RobustnessResult,
    ValidationSpec,
    parse_subgroup,
)
from registry.validation.stats import METRIC_FUNCTIONS, bootstrap_ci
from zhijian.artifacts import ArtifactMismatch, verify_tree

EXPERIMENT: Final = "zhijian-validation"
BATCH_SIZE: Final = 256
LATENCY_CALLS: Final = 200
WARMUP_CALLS: Final = 10
REPORT_DIR: Final = "validation"


class RunnerError(Exception):
    """The run could not produce measurements; ``reason`` is the machine-readable cause."""

    reason = "RUNNER_FAILED"
    exit_code = 1


class ArtifactVerificationError(RunnerError):
    """The files in MLflow are not the files the filing pinned."""

    reason = "ARTIFACT_HASH_MISMATCH"
    exit_code = 3


class DatasetChangedError(RunnerError):
    """A dataset file no longer has the content the filing pinned."""

    reason = "DATASET_CHANGED"
    exit_code = 3


class DatasetRefusedError(RunnerError):
    """A dataset file the filing pinned may no longer be read: now outside the dataset
    roots, not a regular file, or over the size limit."""

    exit_code = 3

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LoadedDataset:
    spec: DatasetSpec
    records: list[dict[str, Any]]  # empty for purposes the run does not read
    record_count: int


# --- the model ---------------------------------------------------------------------------


def download_model_files(tracking_uri: str, model_uri: str, dst: Path) -> Path:
    """Download a registered version; returns the model root (the folder holding
    ``MLmodel``), to which filed artifact paths are relative."""
    import mlflow

    local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(dst),
                                                tracking_uri=tracking_uri)
    return Path(local)


def download_verified_model(spec: ValidationSpec, scratch: Path) -> Path:
    """The version's model root, once its files are known to match the filing."""
    root = download_model_files(spec.tracking_uri, spec.model_uri, scratch / "model")
    try:
        verify_tree(root, spec.artifacts)
    except ArtifactMismatch as error:
        raise ArtifactVerificationError(
            f"{spec.model_version} in MLflow differs from the filing: {error}") from None
    return root


def _rows(result: Any) -> list[Any]:
    if hasattr(result, "to_dict") and hasattr(result, "columns"):  # a pandas DataFrame
        return list(result.to_dict("records"))
    return list(result)


def predict_outputs(model: Any, texts: Sequence[str]) -> list[Any]:
    """One model output per text, predicted in batches."""
    outputs: list[Any] = []
    for start in range(0, len(texts), BATCH_SIZE):
        batch = list(texts[start:start + BATCH_SIZE])
        # A str array, not object: the version's signature is a tensor of str.
        outputs.extend(_rows(model.predict(np.array(batch, dtype=str))))
    if len(outputs) != len(texts):
        raise RunnerError(f"the model returned {len(outputs)} outputs for {len(texts)} texts")
    return outputs


def label_of(output: Any, target: str) -> str:
    """The predicted label of ``target`` in one output: ``{target: {"label": ...}}`` or
    ``{target: "label"}``."""
    value = output.get(target) if isinstance(output, Mapping) else None
    if isinstance(value, Mapping):
        value = value.get("label")
    if not isinstance(value, str):
        raise RunnerError(f"the model output has no label for {target!r}")
    return value


# --- the datasets ------------------------------------------------------------------------


def _count_records(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.strip())


def load_dataset(dataset: DatasetSpec, access: DatasetAccess) -> LoadedDataset:
    """The dataset's records, after checking the bytes read are the bytes filed (reading
    once, so the file cannot change between the check and the use)."""
    try:
        data = read_dataset(dataset.uri, access)
    except DatasetAccessError as error:
        if error.reason == UNREADABLE:  # gone or unreadable since the filing pinned it
            raise DatasetChangedError(f"{dataset.name}: dataset changed since submission: "
                                      f"{dataset.uri} {error.message}") from None
        raise DatasetRefusedError(f"{dataset.name}: {dataset.uri} {error.message}",
                                  error.reason) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != dataset.sha256:
        raise DatasetChangedError(f"{dataset.name}: dataset changed since submission: sha256 "
                                  f"{actual[:12]}… differs from the filed "
                                  f"{dataset.sha256[:12]}…")
    if dataset.purpose != "test" and dataset.purpose not in OVERLAP_PURPOSES:
        return LoadedDataset(dataset, [], _count_records(data))
    try:
        records = parse_records(data, dataset.name)
    except DatasetError as error:
        raise RunnerError(str(error)) from None
    return LoadedDataset(dataset, records, len(records))


# --- metrics -----------------------------------------------------------------------------


def subgroup_value(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    if value is None and key == "language":
        # Data without a language field is still split by what the text is written in.
        return "zh" if CJK_CHAR.search(str(record.get("text", ""))) else "en"
    return None if value is None else str(value)


def in_subgroup(record: Mapping[str, Any], subgroup: str) -> bool:
    member = parse_subgroup(subgroup)
    return member is None or subgroup_value(record, member[0]) == member[1]


def gold_label(record: Mapping[str, Any], target: str) -> str | None:
    value = record.get(target)
    return None if value is None or value == "" else str(value)


def metric_scopes(plan: Plan) -> list[tuple[str, str, str]]:
    """(metric, target, subgroup) to report: the planned ones, then each planned metric on
    the whole test set and on every planned subgroup."""
    scopes = [(t.metric, t.target, t.subgroup) for t in plan.metrics]
    for metric, target, _ in list(scopes):
        scopes += [(metric, target, s) for s in ("", *plan.subgroups)]
    return list(dict.fromkeys(scopes))


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


# --- robustness, overlap, latency --------------------------------------------------------


def measure_robustness(model: Any, texts: Sequence[str], baseline: Sequence[str],
                       plan: RobustnessPlan) -> tuple[list[RobustnessResult], float | None]:
    """Per perturbation and overall: the share of changed texts whose prediction of the
    target stays what it was on the original text."""
    results: list[RobustnessResult] = []
    unchanged_total = changed_total = 0
    for name in plan.perturbations:
        perturb = PERTURBATIONS[name]
        changed = [(i, p) for i, text in enumerate(texts) if (p := perturb(text)) != text]
        outputs = predict_outputs(model, [p for _, p in changed]) if changed else []
        unchanged = sum(label_of(output, plan.target) == baseline[i]
                        for (i, _), output in zip(changed, outputs, strict=True))
        results.append(RobustnessResult(name, unchanged / len(changed) if changed else None,
                                        len(changed)))
        unchanged_total += unchanged
        changed_total += len(changed)
    overall = unchanged_total / changed_total if changed_total else None
    return results, overall


def count_overlap(test_records: Iterable[Mapping[str, Any]],
                  datasets: Iterable[LoadedDataset]) -> int:
    seen = {record_hash(r["text"]) for d in datasets if d.spec.purpose in OVERLAP_PURPOSES
            for r in d.records}
    return sum(record_hash(r["text"]) in seen for r in test_records)


def measure_latency(model: Any, texts: Sequence[str]) -> tuple[float, float]:
    """p50 and p95 in ms of single-text calls, after warm-up (first calls fill caches)."""
    sample = [np.array([t], dtype=str) for t in texts[:LATENCY_CALLS]]
    for index in range(WARMUP_CALLS):
        model.predict(sample[index % len(sample)])
    timings = []
    for one in sample:
        started = time.perf_counter()
        model.predict(one)
        timings.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(timings, [50, 95])
    return float(p50), float(p95)


# --- MLflow ------------------------------------------------------------------------------


def _experiment_id(client: Any) -> str:
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        return str(experiment.experiment_id)
    try:
        return str(client.create_experiment(EXPERIMENT))
    except MlflowException:  # another runner created it first
        return str(client.get_experiment_by_name(EXPERIMENT).experiment_id)


def _segment(subgroup: str) -> str:
    if not subgroup:
        return "all"
    readable = subgroup.replace("=", "_")
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "_" for c in readable)
    if safe == readable:
        return safe
    # Two subgroups differing only in non-ASCII text must not share a metric name.
    return f"{safe}_{hashlib.sha256(subgroup.encode()).hexdigest()[:8]}"


def mlflow_metrics(measurements: Measurements) -> dict[str, float]:
    metrics: dict[str, float] = {
        "overlap_records": float(measurements.train_test_overlap_records),
        "latency_p50_ms": measurements.latency_p50_ms,
        "latency_p95_ms": measurements.latency_p95_ms,
    }
    for r in measurements.metric_results:
        name = f"{r.metric}.{r.target}.{_segment(r.subgroup)}"
        for suffix, value in (("", r.value), (".ci_lower", r.ci_lower),
                              (".ci_upper", r.ci_upper)):
            if value is not None:
                metrics[name + suffix] = value
    for robustness in measurements.robustness:
        if robustness.stability is not None:
            metrics[f"stability.{robustness.perturbation}"] = robustness.stability
    if measurements.stability_overall is not None:
        metrics["stability_overall"] = measurements.stability_overall
    return metrics


def _log_run(spec: ValidationSpec, measurements: Measurements,
             datasets: Sequence[LoadedDataset], scratch: Path) -> Measurements:
    """Log the run with both reports; the returned measurements say where they are."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    client = MlflowClient(tracking_uri=spec.tracking_uri)
    tags = {"zhijian.filing": spec.filing, "zhijian.filing_number": spec.filing_number,
            "zhijian.model_version": spec.model_version, "zhijian.validator": spec.validator,
            "zhijian.validation_run": spec.run_name}
    run = client.create_run(_experiment_id(client), run_name=spec.run_name, tags=tags)
    run_id = run.info.run_id
    try:
        measured = replace(measurements, mlflow_run_id=run_id)
        verdict = judge(spec.plan, measured)
        uses = [DatasetUse(d.spec, d.record_count) for d in datasets]
        markdown = report_markdown(spec, measured, verdict, uses)
        document = report_json(spec, measured, verdict, uses)
        folder = scratch / REPORT_DIR
        folder.mkdir()
        (folder / "report.md").write_text(markdown, encoding="utf-8")
        (folder / "report.json").write_bytes(document)
        params = {"filing": spec.filing, "filing_number": spec.filing_number,
                  "model": spec.model, "version": spec.version,
                  "plan_sha256": spec.plan.sha256(), "validator": spec.validator,
                  "test_dataset_sha256": measurements.test_dataset_sha256}
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in mlflow_metrics(measured).items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag("zhijian.verdict", "passed" if verdict.passed else "failed")])
        client.log_artifacts(run_id, str(folder), REPORT_DIR)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    return replace(measured, report_uri=f"runs:/{run_id}/{REPORT_DIR}/report.md",
                   report_json_uri=f"runs:/{run_id}/{REPORT_DIR}/report.json",
                   report_sha256=hashlib.sha256(document).hexdigest(),
                   report_markdown=markdown)


# --- the run -----------------------------------------------------------------------------


def _measure(spec: ValidationSpec, model: Any, datasets: Sequence[LoadedDataset],
             started: float) -> Measurements:
    tests = [d for d in datasets if d.spec.purpose == "test"]
    records = [r for d in tests for r in d.records]
    if not records:
        raise RunnerError("the test datasets hold no records")
    texts = [str(r["text"]) for r in records]
    outputs = predict_outputs(model, texts)
    plan = spec.plan
    targets = {t.target for t in plan.metrics}
    if plan.robustness is not None:
        targets.add(plan.robustness.target)
    predicted = {target: [label_of(o, target) for o in outputs] for target in sorted(targets)}
    results = tuple(measure_metric(metric, target, subgroup, records, predicted[target], plan)
                    for metric, target, subgroup in metric_scopes(plan))
    robustness: list[RobustnessResult] = []
    overall: float | None = None
    if plan.robustness is not None:
        robustness, overall = measure_robustness(model, texts,
                                                 predicted[plan.robustness.target],
                                                 plan.robustness)
    p50, p95 = measure_latency(model, texts)
    return Measurements(
        test_dataset_sha256=tests[0].spec.sha256, metric_results=results,
        robustness=tuple(robustness), stability_overall=overall,
        train_test_overlap_records=count_overlap(records, datasets),
        latency_p50_ms=p50, latency_p95_ms=p95, artifacts_verified=True,
        seconds=round(time.monotonic() - started, 2))


def run_validation(spec: ValidationSpec) -> Measurements:
    """Verify, measure, log. Raises ``ArtifactVerificationError``, ``DatasetChangedError``
    or ``RunnerError``; a plan that is not met is not an error (see ``judge``)."""
    import mlflow

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zhijian-validation-") as folder:
        scratch = Path(folder)
        root = download_verified_model(spec, scratch)
        access = spec.dataset_access
        datasets = [load_dataset(d, access) for d in spec.datasets]
        # Loading unpickles code: only files that passed verification get this far, and a
        # changed dataset is refused before the (slow) load.
        model = mlflow.pyfunc.load_model(str(root))
        measurements = _measure(spec, model, datasets, started)
        return _log_run(spec, measurements, datasets, scratch)
