"""The validation spec: parsed strictly, with errors that name the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from registry.datasets import DatasetAccess, dataset_file_path
from registry.validation.spec import (
    Measurements,
    MetricResult,
    RobustnessResult,
    SpecError,
    ValidationSpec,
    parse_subgroup,
)

SHA = "0123456789abcdef" * 4


def _spec() -> dict[str, Any]:
    return {
        "filing": "filings/abc", "filing_number": "ZJ-2026-0001",
        "run_name": "filings/abc/validationRuns/r1", "model": "zhijian-classify",
        "version": "1", "model_uri": "models:/zhijian-classify/1",
        "tracking_uri": "sqlite:////tmp/mlflow.db", "validator": "user:wang",
        "artifacts": [{"path": "MLmodel", "sha256": SHA, "size_bytes": 10},
                      {"path": "artifacts/classifier.pkl", "sha256": SHA, "size_bytes": 99}],
        "datasets": [{"name": "datasets/test", "purpose": "test", "uri": "/data/test.jsonl",
                      "sha256": SHA},
                     {"name": "datasets/train", "purpose": "training",
                      "uri": "file:///data/train set.jsonl", "sha256": SHA}],
        "plan": {"metrics": [{"metric": "macro_f1", "target": "product_category",
                              "subgroup": "", "comparison": ">=", "threshold": 0.8,
                              "use_confidence_bound": False}],
                 "subgroups": ["language=zh", "language=en"],
                 "robustness": {"perturbations": ["width", "units"],
                                "target": "product_category", "min_stability": 0.9},
                 "latency_budget_p95_ms": 100.0, "confidence_level": 0.95,
                 "bootstrap_resamples": 1000, "seed": 0},
        "limitations": ["free text"],
        "dataset_roots": ["/data"], "dataset_max_bytes": 1 << 20,
    }


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as raised:
        ValidationSpec.from_dict(data)
    return str(raised.value)


def test_a_valid_spec_parses() -> None:
    spec = ValidationSpec.from_dict(_spec())
    assert spec.model_version == "zhijian-classify/1"
    assert [a.path for a in spec.artifacts] == ["MLmodel", "artifacts/classifier.pkl"]
    assert [d.name for d in spec.test_datasets] == ["datasets/test"]
    assert dataset_file_path(spec.datasets[1].uri) == "/data/train set.jsonl"
    assert spec.dataset_access == DatasetAccess(("/data",), 1 << 20)
    assert spec.plan.metrics[0].key == "macro_f1/product_category/all"
    assert spec.plan.robustness is not None and spec.plan.robustness.min_stability == 0.9


def test_a_spec_survives_json() -> None:
    spec = ValidationSpec.from_dict(_spec())
    assert ValidationSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_zero_means_the_default_for_confidence_and_resamples() -> None:
    data = _spec()
    data["plan"].update(confidence_level=0, bootstrap_resamples=0)
    del data["plan"]["seed"]
    plan = ValidationSpec.from_dict(data).plan
    assert (plan.confidence_level, plan.bootstrap_resamples, plan.seed) == (0.95, 1000, 0)


def test_robustness_may_be_left_out() -> None:
    data = _spec()
    data["plan"]["robustness"] = None
    assert ValidationSpec.from_dict(data).plan.robustness is None


def test_the_plan_hash_changes_with_any_threshold() -> None:
    first = ValidationSpec.from_dict(_spec()).plan.sha256()
    data = _spec()
    data["plan"]["metrics"][0]["threshold"] = 0.81
    assert ValidationSpec.from_dict(data).plan.sha256() != first
    assert ValidationSpec.from_dict(_spec()).plan.sha256() == first


@pytest.mark.parametrize(("path", "value", "field"), [
    (["filing_number"], "", "filing_number: is required"),
    (["version"], 1, "version: must be a string"),
    (["model_uri"], "models:/zhijian-classify/2", "model_uri"),
    (["artifacts"], [], "artifacts"),
    (["artifacts", 0, "sha256"], "abc", "artifacts[0].sha256"),
    (["artifacts", 1, "path"], "../etc/passwd", "artifacts[1].path"),
    (["datasets", 0, "purpose"], "holdout", "datasets[0].purpose"),
    (["datasets", 1, "uri"], "relative/train.jsonl", "datasets[1].uri"),
    (["datasets", 0, "uri"], "s3://bucket/test.jsonl", "datasets[0].uri"),
    (["dataset_roots"], [], "dataset_roots"),
    (["dataset_roots", 0], "data", "dataset_roots"),
    (["dataset_max_bytes"], 0, "dataset_max_bytes"),
    (["dataset_max_bytes"], "1MB", "dataset_max_bytes"),
    (["plan", "metrics", 0, "metric"], "auc", "plan.metrics[0].metric"),
    (["plan", "metrics", 0, "comparison"], ">", "plan.metrics[0].comparison"),
    (["plan", "metrics", 0, "threshold"], "high", "plan.metrics[0].threshold"),
    (["plan", "metrics", 0, "threshold"], True, "plan.metrics[0].threshold"),
    (["plan", "metrics", 0, "subgroup"], "language", "plan.metrics[0].subgroup"),
    (["plan", "metrics", 0, "use_confidence_bound"], "yes",
     "plan.metrics[0].use_confidence_bound"),
    (["plan", "metrics"], [], "plan.metrics"),
    (["plan", "subgroups", 1], "=en", "plan.subgroups[1]"),
    (["plan", "robustness", "perturbations", 1], "typos",
     "plan.robustness.perturbations[1]"),
    (["plan", "robustness", "min_stability"], 1.5, "plan.robustness.min_stability"),
    (["plan", "latency_budget_p95_ms"], -1, "plan.latency_budget_p95_ms"),
    (["plan", "confidence_level"], 1.0, "plan.confidence_level"),
    (["plan", "bootstrap_resamples"], 2.5, "plan.bootstrap_resamples"),
    (["plan", "task_type"], "regression", "plan.task_type"),
    (["plan", "task_type"], 3, "plan.task_type"),
])
def test_errors_name_the_field(path: list[Any], value: Any, field: str) -> None:
    data = copy.deepcopy(_spec())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert field in _error(data)


def test_a_spec_without_a_test_dataset_is_refused() -> None:
    data = _spec()
    data["datasets"] = data["datasets"][1:]
    assert "purpose 'test'" in _error(data)


def test_a_spec_must_be_an_object() -> None:
    with pytest.raises(SpecError, match="JSON object"):
        ValidationSpec.from_dict(["not", "a", "spec"])


def test_subgroups_split_at_the_first_equals_sign() -> None:
    assert parse_subgroup("") is None
    assert parse_subgroup("language=zh") == ("language", "zh")
    assert parse_subgroup("note=a=b") == ("note", "a=b")


def test_measurements_survive_json() -> None:
    measurements = Measurements(
        test_dataset_sha256=SHA,
        metric_results=(MetricResult("macro_f1", "product_category", "", 0.9, 0.8, 0.95, 10),
                        MetricResult("accuracy", "device_class", "language=en", None, None,
                                     None, 0)),
        robustness=(RobustnessResult("width", 1.0, 3), RobustnessResult("units", None, 0)),
        stability_overall=1.0, train_test_overlap_records=0, latency_p50_ms=1.5,
        latency_p95_ms=2.5, artifacts_verified=True, mlflow_run_id="r", report_uri="runs:/r/x",
        report_json_uri="runs:/r/y", report_sha256=SHA, report_markdown="# r\n", seconds=3.0)
    assert Measurements.from_dict(json.loads(json.dumps(measurements.to_dict()))) == measurements


def test_a_plan_names_the_metrics_and_perturbations_of_its_task_type() -> None:
    data = _spec()
    assert ValidationSpec.from_dict(data).plan.task_type == "text_classification"
    data["plan"]["task_type"] = "span_extraction"
    # macro_f1 and the text perturbations are text classification's, not span extraction's.
    assert "must be one of exact_f1, exact_precision, exact_recall, overlap_f1" in _error(data)
    data["plan"]["metrics"][0]["metric"] = "overlap_f1"
    assert "unknown perturbation 'width'; known: none" in _error(data)
    del data["plan"]["robustness"]
    assert ValidationSpec.from_dict(data).plan.task_type == "span_extraction"
