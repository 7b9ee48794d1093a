"""What the runner is asked to do (``ValidationSpec``) and what it measured (``Measurements``).

Both travel as JSON between the registry and the runner process, so each has
``from_dict`` / ``to_dict``. Parsing validates every field and raises ``SpecError``
naming the field (``plan.metrics[0].threshold: must be a number``): a bad spec is the
caller's error and must not look like a model failing its validation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from registry.datasets import (
    DEFAULT_MAX_BYTES,
    DatasetAccess,
    DatasetAccessError,
    dataset_file_path,
)
from registry.validation.evaluators import DEFAULT_TASK_TYPE, UnknownTaskType, evaluator_for
from zhijian.artifacts import ArtifactDigest

COMPARISONS: Final[tuple[str, ...]] = (">=", "<=")
PURPOSES: Final[tuple[str, ...]] = ("training", "validation", "test", "fine_tuning",
                                    "knowledge_base")
# Data the model learnt or was tuned on: a test record found here is not held out.
OVERLAP_PURPOSES: Final[frozenset[str]] = frozenset({"training", "validation", "fine_tuning"})
DEFAULT_CONFIDENCE: Final = 0.95
DEFAULT_RESAMPLES: Final = 1000
_SHA256 = re.compile(r"[0-9a-f]{64}")


class SpecError(ValueError):
    """The spec (or a measurements document) is malformed; the message names the field."""


class _Fields:
    """Typed access to one JSON object, with errors that carry the field's full path."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise SpecError(f"{where or 'spec'}: must be a JSON object")
        self._data = data
        self._where = where

    def name(self, key: str) -> str:
        return f"{self._where}.{key}" if self._where else key

    def get(self, key: str, default: Any = None) -> Any:
        value = self._data.get(key, default)
        return default if value is None else value

    def text(self, key: str, *, required: bool = True) -> str:
        value = self.get(key, "")
        if not isinstance(value, str):
            raise SpecError(f"{self.name(key)}: must be a string")
        if required and not value.strip():
            raise SpecError(f"{self.name(key)}: is required")
        return value

    def number(self, key: str, default: float | None = None) -> float:
        value = self.get(key, default)
        # bool is an int in Python; true as a threshold is a caller's bug, not 1.0.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{self.name(key)}: must be a number")
        return float(value)

    def optional_number(self, key: str) -> float | None:
        return None if self.get(key) is None else self.number(key)

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{self.name(key)}: must be an integer")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise SpecError(f"{self.name(key)}: must be true or false")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.get(key, [])
        if not isinstance(value, list):
            raise SpecError(f"{self.name(key)}: must be a list")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        values = self.items(key)
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise SpecError(f"{self.name(key)}[{index}]: must be a non-empty string")
        return tuple(values)

    def objects(self, key: str) -> list[_Fields]:
        return [_Fields(item, f"{self.name(key)}[{index}]")
                for index, item in enumerate(self.items(key))]

    def child(self, key: str) -> _Fields:
        return _Fields(self._data.get(key), self.name(key))

    def sha256(self, key: str) -> str:
        value = self.text(key).lower()
        if not _SHA256.fullmatch(value):
            raise SpecError(f"{self.name(key)}: must be a SHA-256 of 64 hex digits")
        return value


def parse_subgroup(subgroup: str) -> tuple[str, str] | None:
    """``"language=zh"`` → ``("language", "zh")``; ``""`` (the whole test set) → None."""
    if not subgroup:
        return None
    key, sep, value = subgroup.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise SpecError(f"subgroup {subgroup!r}: must look like key=value")
    return key.strip(), value.strip()


def metric_key(metric: str, target: str, subgroup: str) -> str:
    """How a metric result and its threshold find each other (and how judgements name it)."""
    return f"{metric}/{target}/{subgroup or 'all'}"


def _check_subgroup(subgroup: str, where: str) -> str:
    try:
        parse_subgroup(subgroup)
    except SpecError as error:
        raise SpecError(f"{where}: {error}") from None
    return subgroup


def _check_fraction(value: float, where: str, *, open_interval: bool = False) -> float:
    inside = 0 < value < 1 if open_interval else 0 <= value <= 1
    if not inside:
        bounds = "strictly between 0 and 1" if open_interval else "between 0 and 1"
        raise SpecError(f"{where}: must be {bounds}, got {value}")
    return value


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    purpose: str
    uri: str  # an absolute path or a file:// URI of a JSONL file, under a dataset root
    sha256: str

    @classmethod
    def from_fields(cls, fields: _Fields) -> DatasetSpec:
        purpose = fields.text("purpose")
        if purpose not in PURPOSES:
            raise SpecError(f"{fields.name('purpose')}: must be one of {', '.join(PURPOSES)}, "
                            f"got {purpose!r}")
        dataset = cls(fields.text("name"), purpose, fields.text("uri"), fields.sha256("sha256"))
        try:
            # Read the way the registry reads it when it registers the dataset (no
            # percent-decoding), so both sides hash the same file.
            dataset_file_path(dataset.uri)
        except DatasetAccessError as error:
            raise SpecError(f"{fields.name('uri')}: {error.message}") from None
        return dataset


@dataclass(frozen=True)
class MetricThreshold:
    metric: str
    target: str
    subgroup: str
    comparison: str
    threshold: float
    use_confidence_bound: bool = False

    @property
    def key(self) -> str:
        return metric_key(self.metric, self.target, self.subgroup)

    @classmethod
    def from_fields(cls, fields: _Fields, metrics: frozenset[str]) -> MetricThreshold:
        metric = fields.text("metric")
        if metric not in metrics:
            raise SpecError(f"{fields.name('metric')}: must be one of "
                            f"{', '.join(sorted(metrics))}, got {metric!r}")
        comparison = fields.text("comparison")
        if comparison not in COMPARISONS:
            raise SpecError(f"{fields.name('comparison')}: must be '>=' or '<=', "
                            f"got {comparison!r}")
        subgroup = _check_subgroup(fields.text("subgroup", required=False).strip(),
                                   fields.name("subgroup"))
        return cls(metric, fields.text("target"), subgroup, comparison,
                   fields.number("threshold"), fields.flag("use_confidence_bound"))


@dataclass(frozen=True)
class RobustnessPlan:
    perturbations: tuple[str, ...]
    target: str
    min_stability: float

    @classmethod
    def from_fields(cls, fields: _Fields, known: Sequence[str]) -> RobustnessPlan:
        perturbations = fields.texts("perturbations")
        if not perturbations:
            raise SpecError(f"{fields.name('perturbations')}: name at least one perturbation")
        for index, name in enumerate(perturbations):
            if name not in known:
                raise SpecError(f"{fields.name('perturbations')}[{index}]: unknown perturbation "
                                f"{name!r}; known: {', '.join(known) or 'none'}")
        min_stability = _check_fraction(fields.number("min_stability"),
                                        fields.name("min_stability"))
        return cls(perturbations, fields.text("target"), min_stability)


@dataclass(frozen=True)
class Plan:
    metrics: tuple[MetricThreshold, ...]
    subgroups: tuple[str, ...]
    robustness: RobustnessPlan | None
    latency_budget_p95_ms: float
    confidence_level: float = DEFAULT_CONFIDENCE
    bootstrap_resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    task_type: str = DEFAULT_TASK_TYPE

    @classmethod
    def from_fields(cls, fields: _Fields) -> Plan:
        task_type = fields.text("task_type", required=False).strip() or DEFAULT_TASK_TYPE
        try:
            evaluator = evaluator_for(task_type)
        except UnknownTaskType as error:
            raise SpecError(f"{fields.name('task_type')}: {error}") from None
        metrics = tuple(MetricThreshold.from_fields(f, evaluator.metrics)
                        for f in fields.objects("metrics"))
        if not metrics:
            raise SpecError(f"{fields.name('metrics')}: plan at least one metric")
        subgroups = tuple(_check_subgroup(s.strip(), f"{fields.name('subgroups')}[{i}]")
                          for i, s in enumerate(fields.texts("subgroups")))
        robustness = (RobustnessPlan.from_fields(fields.child("robustness"),
                                                 evaluator.perturbations)
                      if fields.get("robustness") is not None else None)
        budget = fields.number("latency_budget_p95_ms")
        if budget <= 0:
            raise SpecError(f"{fields.name('latency_budget_p95_ms')}: must be positive")
        # 0 means "the default", as in the registry's proto3 messages.
        confidence = fields.number("confidence_level", DEFAULT_CONFIDENCE) or DEFAULT_CONFIDENCE
        resamples = fields.integer("bootstrap_resamples", DEFAULT_RESAMPLES) or DEFAULT_RESAMPLES
        if resamples < 1:
            raise SpecError(f"{fields.name('bootstrap_resamples')}: must be positive")
        return cls(metrics, subgroups, robustness, budget,
                   _check_fraction(confidence, fields.name("confidence_level"),
                                   open_interval=True),
                   resamples, fields.integer("seed", 0), task_type)

    @classmethod
    def from_dict(cls, data: Any) -> Plan:
        return cls.from_fields(_Fields(data, "plan"))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def sha256(self) -> str:
        """Digest of the canonical JSON form: which plan a run measured against."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False,
                               separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _artifact(fields: _Fields) -> ArtifactDigest:
    path = fields.text("path")
    if path.startswith("/") or "\\" in path or ".." in path.split("/"):
        raise SpecError(f"{fields.name('path')}: must be relative to the model root, "
                        f"with '/' separators")
    size = fields.integer("size_bytes", 0)
    if size < 0:
        raise SpecError(f"{fields.name('size_bytes')}: must not be negative")
    return ArtifactDigest(path, fields.sha256("sha256"), size)


@dataclass(frozen=True)
class ValidationSpec:
    filing: str
    filing_number: str
    run_name: str
    model: str
    version: str
    model_uri: str
    tracking_uri: str
    validator: str
    artifacts: tuple[ArtifactDigest, ...]
    datasets: tuple[DatasetSpec, ...]
    plan: Plan
    limitations: tuple[str, ...] = ()
    # Where the registry allows dataset files to be read from; the runner reads them
    # through the same checks (registry/datasets.py).
    dataset_roots: tuple[str, ...] = ()
    dataset_max_bytes: int = DEFAULT_MAX_BYTES

    @property
    def dataset_access(self) -> DatasetAccess:
        return DatasetAccess.of(self.dataset_roots, self.dataset_max_bytes)

    @property
    def test_datasets(self) -> tuple[DatasetSpec, ...]:
        return tuple(d for d in self.datasets if d.purpose == "test")

    @property
    def model_version(self) -> str:
        return f"{self.model}/{self.version}"

    @classmethod
    def from_dict(cls, data: Any) -> ValidationSpec:
        fields = _Fields(data, "")
        model, version = fields.text("model"), fields.text("version")
        model_uri = fields.text("model_uri")
        if model_uri != f"models:/{model}/{version}":
            # The runner downloads by name and version; a URI naming another version would
            # make the report describe a model that was not the one measured.
            raise SpecError(f"model_uri: must be models:/{model}/{version}, got {model_uri!r}")
        artifacts = tuple(_artifact(f) for f in fields.objects("artifacts"))
        if not artifacts:
            raise SpecError("artifacts: the filing must pin at least one artifact file")
        datasets = tuple(DatasetSpec.from_fields(f) for f in fields.objects("datasets"))
        if not any(d.purpose == "test" for d in datasets):
            raise SpecError("datasets: at least one dataset must have purpose 'test'")
        roots = fields.texts("dataset_roots")
        if not roots or not all(root.startswith("/") for root in roots):
            raise SpecError("dataset_roots: must list the absolute folders datasets may be "
                            "read from")
        max_bytes = fields.integer("dataset_max_bytes", DEFAULT_MAX_BYTES)
        if max_bytes <= 0:
            raise SpecError("dataset_max_bytes: must be positive")
        return cls(fields.text("filing"), fields.text("filing_number"),
                   fields.text("run_name"), model, version, model_uri,
                   fields.text("tracking_uri"), fields.text("validator"), artifacts, datasets,
                   Plan.from_fields(fields.child("plan")), fields.texts("limitations"),
                   roots, max_bytes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MetricResult:
    metric: str
    target: str
    subgroup: str
    value: float | None  # None when no test record of the subgroup has a gold label
    ci_lower: float | None
    ci_upper: float | None
    sample_size: int

    @property
    def key(self) -> str:
        return metric_key(self.metric, self.target, self.subgroup)

    @classmethod
    def from_fields(cls, fields: _Fields) -> MetricResult:
        return cls(fields.text("metric"), fields.text("target"),
                   fields.text("subgroup", required=False), fields.optional_number("value"),
                   fields.optional_number("ci_lower"), fields.optional_number("ci_upper"),
                   fields.integer("sample_size"))


@dataclass(frozen=True)
class RobustnessResult:
    perturbation: str
    stability: float | None  # None when the perturbation changed no test text
    changed: int  # test records whose text the perturbation changed

    @classmethod
    def from_fields(cls, fields: _Fields) -> RobustnessResult:
        return cls(fields.text("perturbation"), fields.optional_number("stability"),
                   fields.integer("changed"))


@dataclass(frozen=True)
class Measurements:
    test_dataset_sha256: str
    metric_results: tuple[MetricResult, ...]
    robustness: tuple[RobustnessResult, ...]
    stability_overall: float | None
    train_test_overlap_records: int
    latency_p50_ms: float
    latency_p95_ms: float
    artifacts_verified: bool
    mlflow_run_id: str = ""
    report_uri: str = ""
    report_json_uri: str = ""
    report_sha256: str = ""
    report_markdown: str = ""
    seconds: float = 0.0

    def result(self, key: str) -> MetricResult | None:
        return next((r for r in self.metric_results if r.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Measurements:
        fields = _Fields(data, "measurements")
        return cls(
            test_dataset_sha256=fields.text("test_dataset_sha256", required=False),
            metric_results=tuple(MetricResult.from_fields(f)
                                 for f in fields.objects("metric_results")),
            robustness=tuple(RobustnessResult.from_fields(f)
                             for f in fields.objects("robustness")),
            stability_overall=fields.optional_number("stability_overall"),
            train_test_overlap_records=fields.integer("train_test_overlap_records"),
            latency_p50_ms=fields.number("latency_p50_ms"),
            latency_p95_ms=fields.number("latency_p95_ms"),
            artifacts_verified=fields.flag("artifacts_verified"),
            mlflow_run_id=fields.text("mlflow_run_id", required=False),
            report_uri=fields.text("report_uri", required=False),
            report_json_uri=fields.text("report_json_uri", required=False),
            report_sha256=fields.text("report_sha256", required=False),
            report_markdown=fields.text("report_markdown", required=False),
            seconds=fields.number("seconds", 0.0),
        )
