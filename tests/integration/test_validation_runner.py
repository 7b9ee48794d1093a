"""`python -m registry.validation` on a freshly trained classify version in a real MLflow
store (SQLite and local artifacts under a temporary directory, no server)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

from registry.validation.judge import judge
from registry.validation.spec import Measurements, ValidationSpec
from services.classify.training import SEED_CORPUS, dev_split, load_corpus, train_and_register
from zhijian.artifacts import hash_tree

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FILING_NUMBER = "ZJ-2026-0042"
SUBGROUPS = ["language=zh", "language=en", "product_category=device"]
PLANNED = [
    {"metric": "macro_f1", "target": "product_category", "subgroup": "",
     "comparison": ">=", "threshold": 0.5, "use_confidence_bound": False},
    {"metric": "accuracy", "target": "product_category", "subgroup": "language=zh",
     "comparison": ">=", "threshold": 0.5, "use_confidence_bound": True},
    {"metric": "macro_f1", "target": "device_class", "subgroup": "language=en",
     "comparison": ">=", "threshold": 0.1, "use_confidence_bound": False},
]


@dataclass(frozen=True)
class Trained:
    root: Path
    tracking_uri: str
    version: str
    # What a filing pins, hashed on a models:/ download (to which MLflow adds
    # registered_model_meta) and on a download of the stored files only: the same.
    artifacts: list[dict[str, Any]]
    stored_artifacts: list[dict[str, Any]]
    train_path: Path
    test_path: Path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _split_seed_corpus(root: Path) -> tuple[Path, Path]:
    lines = [line for line in SEED_CORPUS.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    train_idx, test_idx = dev_split([json.loads(line)["text"].strip() for line in lines])
    train_path, test_path = root / "train.jsonl", root / "test.jsonl"
    train_path.write_text("".join(lines[i] + "\n" for i in train_idx), encoding="utf-8")
    test_path.write_text("".join(lines[i] + "\n" for i in test_idx), encoding="utf-8")
    return train_path, test_path


def _digests(root: Path) -> list[dict[str, Any]]:
    assert (root / "MLmodel").is_file()  # paths are relative to the model root
    return [{"path": a.path, "sha256": a.sha256, "size_bytes": a.size_bytes}
            for a in hash_tree(root)]


def _download(client: MlflowClient, uri: str, dst: Path) -> Path:
    return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst),
                                                    tracking_uri=client.tracking_uri))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    root = tmp_path_factory.mktemp("validation")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking_uri)
    # Without a server MLflow would put artifacts in ./mlruns; keep them in the tmp dir.
    for experiment in ("zhijian-classify", "zhijian-validation"):
        client.create_experiment(experiment, artifact_location=(root / "artifacts").as_uri())
    train_path, test_path = _split_seed_corpus(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
        # train_and_register sets MLflow's process-wide URI; give the old one back after.
        patch.setattr("mlflow.tracking._tracking_service.utils._tracking_uri",
                      mlflow.tracking._tracking_service.utils._tracking_uri)
        result = train_and_register(load_corpus(train_path), tracking_uri=tracking_uri,
                                    progress=lambda _: None)
        artifacts = _digests(_download(client, result.model_uri, root / "filed"))
        stored = _download(client, client.get_model_version_download_uri(
            "zhijian-classify", result.version), root / "stored")
        yield Trained(root, tracking_uri, result.version, artifacts, _digests(stored),
                      train_path, test_path)


def _dataset(name: str, purpose: str, path: Path) -> dict[str, str]:
    return {"name": name, "purpose": purpose, "uri": str(path), "sha256": _sha256(path)}


def _spec(trained: Trained, run: str, datasets: list[dict[str, str]],
          **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "filing": "filings/f42", "filing_number": FILING_NUMBER,
        "run_name": f"filings/f42/validationRuns/{run}", "model": "zhijian-classify",
        "version": trained.version, "model_uri": f"models:/zhijian-classify/{trained.version}",
        "tracking_uri": trained.tracking_uri, "validator": "user:wang",
        "artifacts": trained.artifacts, "datasets": datasets,
        "plan": {"metrics": PLANNED, "subgroups": SUBGROUPS,
                 "robustness": {"perturbations": ["width", "whitespace", "case",
                                                  "punctuation", "units"],
                                "target": "product_category", "min_stability": 0.5},
                 "latency_budget_p95_ms": 1000.0, "confidence_level": 0.95,
                 # Fewer resamples than the default keep the test quick.
                 "bootstrap_resamples": 200, "seed": 0},
        "limitations": ["Seed corpus written for the project; not real applications."],
        "dataset_roots": [str(trained.root)],
    }
    spec.update(changes)
    return spec


def _run(trained: Trained, spec: dict[str, Any], name: str) -> tuple[int, dict[str, Any], str]:
    spec_path = trained.root / f"{name}.spec.json"
    out_path = trained.root / f"{name}.out.json"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained.tracking_uri,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                       os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "registry.validation", "--spec",
                           str(spec_path), "--out", str(out_path)], env=env, cwd=trained.root,
                          capture_output=True, text=True, timeout=180)
    assert done.stdout == "", "the result belongs in --out, chatter on stderr"
    return done.returncode, json.loads(out_path.read_text(encoding="utf-8")), done.stderr


def _labelled(path: Path, target: str, subgroup: str) -> int:
    """Records of the file with a gold label for target, in the subgroup (read directly)."""
    count = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if subgroup:
            key, value = subgroup.split("=")
            if record.get(key) != value:
                continue
        count += record.get(target) is not None
    return count


def test_a_version_is_measured_against_its_plan_and_logged(trained: Trained) -> None:
    datasets = [_dataset("datasets/seed-test", "test", trained.test_path),
                _dataset("datasets/seed-train", "training", trained.train_path)]
    spec = _spec(trained, "r1", datasets)
    code, result, stderr = _run(trained, spec, "r1")
    assert code == 0, stderr
    assert result["ok"] is True
    measurements = Measurements.from_dict(result["measurements"])
    assert measurements.test_dataset_sha256 == _sha256(trained.test_path)
    assert measurements.artifacts_verified

    expected_scopes = {(m["metric"], m["target"], s) for m in PLANNED
                       for s in ["", *SUBGROUPS, m["subgroup"]]}
    assert {(r.metric, r.target, r.subgroup)
            for r in measurements.metric_results} == expected_scopes
    for r in measurements.metric_results:
        assert r.sample_size == _labelled(trained.test_path, r.target, r.subgroup), r
        assert r.value is not None and r.ci_lower is not None and r.ci_upper is not None
        assert 0.0 <= r.ci_lower <= r.value <= r.ci_upper <= 1.0, r

    assert [r.perturbation for r in measurements.robustness] == [
        "width", "whitespace", "case", "punctuation", "units"]
    by_name = {r.perturbation: r for r in measurements.robustness}
    test_records = len(trained.test_path.read_text(encoding="utf-8").splitlines())
    # Padding always changes a text; every seed record has ASCII in or after its text.
    assert by_name["whitespace"].changed == test_records
    assert 0 < by_name["width"].changed <= test_records
    assert measurements.stability_overall is not None
    assert 0.0 <= measurements.stability_overall <= 1.0
    assert measurements.train_test_overlap_records == 0
    assert 0 < measurements.latency_p50_ms <= measurements.latency_p95_ms

    report = measurements.report_markdown
    assert FILING_NUMBER in report and f"zhijian-classify/{trained.version}" in report
    for planned in PLANNED:
        assert f"{planned['metric']} of {planned['target']}" in report
    assert "Seed corpus written for the project" in report

    # The verdict shipped with the result is the one judge() gives on the measurements.
    verdict = judge(ValidationSpec.from_dict(spec).plan, measurements)
    assert result["judgement"] == verdict.to_dict()
    assert ("PASSED" if verdict.passed else "FAILED") in report

    client = MlflowClient(tracking_uri=trained.tracking_uri)
    run = client.get_run(measurements.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["zhijian.filing_number"] == FILING_NUMBER
    assert run.data.tags["zhijian.model_version"] == f"zhijian-classify/{trained.version}"
    assert run.data.tags["zhijian.validation_run"] == "filings/f42/validationRuns/r1"
    assert run.data.params["plan_sha256"] == ValidationSpec.from_dict(spec).plan.sha256()
    assert "macro_f1.product_category.language_zh" in run.data.metrics
    assert run.data.metrics["overlap_records"] == 0
    assert measurements.report_uri == f"runs:/{run.info.run_id}/validation/report.md"
    local = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=f"runs:/{run.info.run_id}/validation", dst_path=str(trained.root / "r1"),
        tracking_uri=trained.tracking_uri))
    assert (local / "report.md").read_text(encoding="utf-8") == report
    assert _sha256(local / "report.json") == measurements.report_sha256
    evidence = json.loads((local / "report.json").read_text(encoding="utf-8"))
    assert evidence["filing_number"] == FILING_NUMBER
    assert evidence["judgement"] == result["judgement"]


def test_test_records_found_in_training_data_are_counted(trained: Trained) -> None:
    datasets = [_dataset("datasets/seed-test", "test", trained.test_path),
                _dataset("datasets/seed-test-again", "training", trained.test_path)]
    plan = {"metrics": PLANNED[:1], "latency_budget_p95_ms": 1000.0, "bootstrap_resamples": 50}
    code, result, stderr = _run(trained, _spec(trained, "r2", datasets, plan=plan), "r2")
    assert code == 0, stderr
    test_records = len(trained.test_path.read_text(encoding="utf-8").splitlines())
    assert result["measurements"]["train_test_overlap_records"] == test_records
    assert result["judgement"]["passed"] is False
    assert any("not independent" in f for f in result["judgement"]["failures"])


def test_a_changed_dataset_is_refused(trained: Trained) -> None:
    datasets = [_dataset("datasets/seed-test", "test", trained.test_path)]
    datasets[0]["sha256"] = _sha256(trained.train_path)  # what was filed is another file
    # Artifacts are checked first: reaching the dataset check shows that a filing hashed
    # on the stored files verifies too, as MLflow's download metadata is not hashed.
    spec = _spec(trained, "r3", datasets, artifacts=trained.stored_artifacts)
    assert spec["artifacts"] == trained.artifacts
    code, result, _ = _run(trained, spec, "r3")
    assert code == 3
    assert result["error"]["reason"] == "DATASET_CHANGED"
    assert "datasets/seed-test" in result["error"]["message"]


def test_an_invalid_spec_is_refused_before_anything_runs(trained: Trained) -> None:
    datasets = [_dataset("datasets/seed-test", "test", trained.test_path)]
    spec = _spec(trained, "r4", datasets)
    spec["plan"]["metrics"] = [{**PLANNED[0], "comparison": "greater"}]
    code, result, _ = _run(trained, spec, "r4")
    assert code == 2
    assert result["error"]["reason"] == "SPEC_INVALID"
    assert "plan.metrics[0].comparison" in result["error"]["message"]


def test_a_tampered_artifact_is_refused_before_loading(trained: Trained) -> None:
    stored = [p for p in (trained.root / "artifacts").rglob("classifier.pkl")
              if "models" in p.parts]
    assert len(stored) == 1, stored
    original = stored[0].read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    stored[0].write_bytes(bytes(tampered))
    try:
        datasets = [_dataset("datasets/seed-test", "test", trained.test_path)]
        code, result, _ = _run(trained, _spec(trained, "r5", datasets), "r5")
    finally:
        stored[0].write_bytes(original)
    assert code == 3
    assert result["error"]["reason"] == "ARTIFACT_HASH_MISMATCH"
    assert "artifacts/classifier.pkl" in result["error"]["message"]


@pytest.mark.timeout(240)  # the runner opening a FIFO the ordinary way would block
def test_a_dataset_that_is_no_longer_a_regular_file_is_refused(trained: Trained) -> None:
    fifo = trained.root / "swapped.jsonl"
    os.mkfifo(fifo)
    datasets = [_dataset("datasets/seed-test", "test", trained.test_path),
                {"name": "datasets/seed-train", "purpose": "training", "uri": str(fifo),
                 "sha256": _sha256(trained.train_path)}]
    code, result, _ = _run(trained, _spec(trained, "r6", datasets), "r6")
    assert code == 3
    assert result["error"]["reason"] == "DATASET_NOT_REGULAR_FILE"
    assert "datasets/seed-train" in result["error"]["message"]


def test_a_dataset_outside_the_roots_is_refused(trained: Trained) -> None:
    datasets = [_dataset("datasets/seed-test", "test", trained.test_path)]
    code, result, _ = _run(trained, _spec(trained, "r7", datasets,
                                          dataset_roots=[str(trained.root / "elsewhere")]),
                           "r7")
    assert code == 3
    assert result["error"]["reason"] == "DATASET_URI_NOT_ALLOWED"
