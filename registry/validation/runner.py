"""Measure one filed model version against its locked validation plan, with the
evaluator of the plan's task type (``registry.validation.evaluators``).

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

from registry.datasets import (
    UNREADABLE,
    DatasetAccess,
    DatasetAccessError,
    DatasetError,
    parse_records,
    read_dataset,
)
from registry.validation.evaluators import Evaluator, RecordError, evaluator_for
from registry.validation.evaluators.common import ModelOutputError
from registry.validation.judge import judge
from registry.validation.report import DatasetUse, report_json, report_markdown
from registry.validation.spec import (
    OVERLAP_PURPOSES,
    DatasetSpec,
    Measurements,
    ValidationSpec,
)
from zhijian.artifacts import ArtifactMismatch, verify_tree

EXPERIMENT: Final = "zhijian-validation"
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


# --- the datasets ------------------------------------------------------------------------


def _count_records(data: bytes) -> int:
    return sum(1 for line in data.split(b"\n") if line.strip())


def load_dataset(dataset: DatasetSpec, access: DatasetAccess,
                 evaluator: Evaluator) -> LoadedDataset:
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
        records = parse_records(data, dataset.name, evaluator.check_record)
    except DatasetError as error:
        raise RunnerError(str(error)) from None
    return LoadedDataset(dataset, records, len(records))


# --- overlap ------------------------------------------------------------------------------


def count_overlap(test_records: Iterable[Mapping[str, Any]],
                  datasets: Iterable[LoadedDataset], evaluator: Evaluator) -> int:
    seen = {evaluator.overlap_key(r) for d in datasets if d.spec.purpose in OVERLAP_PURPOSES
            for r in d.records}
    return sum(evaluator.overlap_key(r) in seen for r in test_records)


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


def _measure(spec: ValidationSpec, evaluator: Evaluator, model: Any,
             datasets: Sequence[LoadedDataset], started: float) -> Measurements:
    tests = [d for d in datasets if d.spec.purpose == "test"]
    records = [r for d in tests for r in d.records]
    if not records:
        raise RunnerError("the test datasets hold no records")
    try:
        evaluation = evaluator.evaluate(model, records, spec.plan)
    except (ModelOutputError, RecordError) as error:
        raise RunnerError(str(error)) from None
    return Measurements(
        test_dataset_sha256=tests[0].spec.sha256, metric_results=evaluation.metric_results,
        robustness=evaluation.robustness, stability_overall=evaluation.stability_overall,
        train_test_overlap_records=count_overlap(records, datasets, evaluator),
        latency_p50_ms=evaluation.latency_p50_ms, latency_p95_ms=evaluation.latency_p95_ms,
        artifacts_verified=True, seconds=round(time.monotonic() - started, 2))


def run_validation(spec: ValidationSpec) -> Measurements:
    """Verify, measure, log. Raises ``ArtifactVerificationError``, ``DatasetChangedError``
    or ``RunnerError``; a plan that is not met is not an error (see ``judge``)."""
    import mlflow

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zhijian-validation-") as folder:
        scratch = Path(folder)
        root = download_verified_model(spec, scratch)
        access = spec.dataset_access
        # The plan's task type was checked when the spec was parsed.
        evaluator = evaluator_for(spec.plan.task_type)
        datasets = [load_dataset(d, access, evaluator) for d in spec.datasets]
        # Loading unpickles code: only files that passed verification get this far, and a
        # changed dataset is refused before the (slow) load.
        model = mlflow.pyfunc.load_model(str(root))
        measurements = _measure(spec, evaluator, model, datasets, started)
        return _log_run(spec, measurements, datasets, scratch)
