"""`zhijian train classify --data PATH` against the platform's MLflow server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from services.classify.training import SEED_CORPUS

pytestmark = pytest.mark.integration


def test_training_on_user_data_registers_a_version_with_its_lineage(platform, tmp_path):
    corpus = tmp_path / "mine.jsonl"
    corpus.write_text("\n".join(SEED_CORPUS.read_text(encoding="utf-8").splitlines()[:300]) + "\n",
                      encoding="utf-8")
    done = platform.cli("train", "classify", "--data", str(corpus), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    trained = json.loads(done.stdout)
    assert trained["model_name"] == "zhijian-classify" and int(trained["version"]) >= 2
    assert set(trained["metrics"]) == {"dev_macro_f1_product_category",
                                       "dev_macro_f1_device_class", "dev_macro_f1_review_route"}
    assert "[1/4]" in done.stderr  # progress of slow work

    client = MlflowClient(tracking_uri=f"http://127.0.0.1:{platform.env['ZHIJIAN_MLFLOW_PORT']}")
    version = client.get_model_version("zhijian-classify", trained["version"])
    assert version.run_id is not None
    run = client.get_run(version.run_id)
    assert run.data.tags["data.sha256"] == trained["data_sha256"]
    assert run.data.params["records"] == "300"
    assert run.inputs is not None
    inputs = run.inputs.dataset_inputs
    assert inputs and inputs[0].dataset.name == "mine.jsonl"

    import mlflow
    from mlflow.models import get_model_info

    mlflow.set_tracking_uri(client.tracking_uri)
    uri = f"models:/zhijian-classify/{trained['version']}"
    signature = get_model_info(uri).signature
    assert signature is not None and signature.inputs.to_dict()[0]["type"] == "tensor"
    requirements = Path(mlflow.pyfunc.get_model_dependencies(uri)).read_text()
    assert "scikit-learn==" in requirements


def test_training_reports_bad_data_with_its_line(platform, tmp_path):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"text": "电子血压计", "device_class": "Class 2"}\n', encoding="utf-8")
    done = platform.cli("train", "classify", "--data", str(corpus))
    assert done.returncode == 2
    assert "bad.jsonl:1: device_class='Class 2' is not one of" in done.stderr


# Run with -S: no site-packages hooks, so neither this checkout's editable install nor its
# working directory is on the path; only the interpreter's and the venv's libraries are.
CLEAN_LOAD = """
import importlib.util, json, sys
sys.path = [p for p in sys.path if p] + [sys.argv[2]]
assert importlib.util.find_spec("services") is None, "services is importable"
assert importlib.util.find_spec("zhijian") is None, "zhijian is importable"
import mlflow.pyfunc, numpy as np
model = mlflow.pyfunc.load_model(sys.argv[1])
print(json.dumps(model.predict(np.array(["一次性使用无菌注射器"], dtype=str))[0]))
"""


def test_a_registered_version_loads_where_the_services_package_is_absent(platform, tmp_path):
    import site
    import subprocess
    import sys

    import mlflow

    corpus = tmp_path / "small.jsonl"
    corpus.write_text("\n".join(SEED_CORPUS.read_text(encoding="utf-8").splitlines()[:200])
                      + "\n", encoding="utf-8")
    done = platform.cli("train", "classify", "--data", str(corpus), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    version = json.loads(done.stdout)["version"]

    mlflow.set_tracking_uri(f"http://127.0.0.1:{platform.env['ZHIJIAN_MLFLOW_PORT']}")
    local = mlflow.artifacts.download_artifacts(f"models:/zhijian-classify/{version}",
                                                dst_path=str(tmp_path / "model"))
    assert (Path(local) / "code" / "services" / "classify" / "model.py").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    loaded = subprocess.run(
        [sys.executable, "-S", "-c", CLEAN_LOAD, local, site.getsitepackages()[0]],
        cwd=elsewhere, capture_output=True, text=True, timeout=180,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    prediction = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert set(prediction) == {"product_category", "device_class", "review_route"}
    assert prediction["device_class"]["label"] in {"I", "II", "III", "not_applicable"}
