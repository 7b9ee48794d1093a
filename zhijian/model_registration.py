"""Registering a trained model as an MLflow model version, the way every service does it.

One MLflow run records what a filing needs later: parameters, dev metrics, the training
data as a dataset input with its hash and provenance, the signature (inferred from an
``np.array`` input example: without it batch predictions collapse), pinned requirements,
and the code the pickled model refers to (``code_paths``, see ``zhijian.model_code``), so
the version loads where the service's package is absent. A service supplies the fitted
model, its pyfunc wrapper and its own figures; nothing of MLflow is repeated per service.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODEL_ARTIFACT = "model"


@dataclass(frozen=True)
class TrainingData:
    """The data a version was fitted on, as the run records it."""

    path: Path
    sha256: str
    provenance: str
    columns: Mapping[str, Sequence[Any]]  # a table of the records, for MLflow's dataset
    label_counts: Mapping[str, Any] = field(default_factory=dict)
    records: Sequence[Mapping[str, Any]] = ()

    @classmethod
    def jsonl(cls, path: Path, provenance: str) -> TrainingData:
        """A JSONL file of records that each have a ``text``, hashed as it is on disk."""
        raw = path.read_bytes()
        records = [json.loads(line) for line in raw.decode("utf-8").splitlines() if line.strip()]
        return cls(path, hashlib.sha256(raw).hexdigest(), provenance,
                   {"text": [record["text"] for record in records]}, records=records)


@dataclass(frozen=True)
class RegisteredVersion:
    model_name: str
    version: str
    run_id: str

    @property
    def model_uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"


def register_pyfunc(*, tracking_uri: str, model_name: str, python_model: Any, fitted: Any,
                    code_package: str, input_example: Any, data: TrainingData,
                    params: Mapping[str, Any], metrics: Mapping[str, float],
                    requirements: Sequence[str], artifact: str = MODEL_ARTIFACT
                    ) -> RegisteredVersion:
    """Log ``fitted`` (pickled as artifact ``artifact``, which ``python_model`` loads in
    ``load_context``) and register it as the next version of ``model_name``. The pyfunc's
    module and what it imports within ``code_package`` travel with the version."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from zhijian.model_code import stage_model_code

    # MLflow prints run links and registration notes on stdout; keep stdout for results.
    with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory() as scratch:
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_experiment(model_name)
        pickled = Path(scratch) / f"{artifact}.pkl"
        pickled.write_bytes(pickle.dumps(fitted, protocol=pickle.HIGHEST_PROTOCOL))
        # The signature's output comes from the pyfunc as it will serve, loaded in a
        # fresh instance: the logged one must not carry the fitted model a second time.
        serving = type(python_model)()
        serving.load_context(_Context({artifact: str(pickled)}))
        signature = infer_signature(input_example, serving.predict(None, input_example))
        dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
            pd.DataFrame(dict(data.columns)), source=str(data.path), name=data.path.name,
            digest=data.sha256[:16])
        with mlflow.start_run(run_name=f"{model_name}-train") as run:
            mlflow.log_params(dict(params))
            mlflow.log_metrics(dict(metrics))
            mlflow.log_input(dataset, context="training")
            mlflow.set_tags({"data.sha256": data.sha256, "data.provenance": data.provenance,
                             "data.path": str(data.path)})
            if data.label_counts:
                mlflow.log_dict(dict(data.label_counts), "data/label_counts.json")
            info = mlflow.pyfunc.log_model(
                name="model", python_model=python_model,
                artifacts={artifact: str(pickled)}, signature=signature,
                input_example=input_example, pip_requirements=list(requirements),
                code_paths=stage_model_code(type(python_model).__module__, code_package,
                                            Path(scratch) / "code"),
                registered_model_name=model_name)
    return RegisteredVersion(model_name, str(info.registered_model_version), run.info.run_id)


@dataclass(frozen=True)
class _Context:
    """What ``PythonModel.load_context`` reads before the model is logged."""

    artifacts: Mapping[str, str]


def latest_version(tracking_uri: str, model_name: str) -> str | None:
    """The newest registered version of ``model_name`` (a first start's default)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    versions = client.search_model_versions(f"name = '{model_name}'")
    return max((v.version for v in versions), key=int, default=None)


def pinned(*modules: Any) -> list[str]:
    """``name==version`` pins of imported distributions, e.g. ``pinned(sklearn, numpy)``."""
    names = {"sklearn": "scikit-learn"}
    return [f"{names.get(m.__name__, m.__name__)}=={m.__version__}" for m in modules]
