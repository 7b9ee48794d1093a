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
                    requirements: Sequence[str], artifact: str = MODEL_ARTIFACT,
                    run_name: str | None = None) -> RegisteredVersion:
    """Log ``fitted`` (pickled as artifact ``artifact``, which ``python_model`` loads in
    ``load_context``) and register it as the next version of ``model_name``. The pyfunc's
    module and what it imports within ``code_package`` travel with the version; so must
    the module of the fitted object's class, or the version would not unpickle without
    the service (a ValueError says so before anything is logged). ``python_model``'s
    class must construct without arguments: a fresh one computes the signature."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from zhijian.model_code import module_closure, stage_model_code

    fitted_module = type(fitted).__module__
    if fitted_module.split(".")[0] == code_package.split(".")[0] and fitted_module not in \
            module_closure(type(python_model).__module__, code_package):
        raise ValueError(f"{fitted_module} (the fitted {type(fitted).__name__}) is not "
                         f"imported by {type(python_model).__module__}, so the version "
                         "would not carry it")

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
        with mlflow.start_run(run_name=run_name or f"{model_name}-train") as run:
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
    """``distribution==version`` pins of imported modules, e.g. ``pinned(sklearn, numpy)``
    gives ``scikit-learn==…`` and ``numpy==…`` (the distribution that installed each)."""
    from importlib.metadata import packages_distributions, version

    owners = packages_distributions()
    pins = []
    for module in modules:
        top = module.__name__.split(".")[0]
        # Several distributions may ship one top-level package (mlflow, mlflow-skinny,
        # mlflow-tracing): the one named after it is the one asked for.
        candidates = owners.get(top) or [top]
        distribution = next((name for name in candidates
                             if name.lower().replace("_", "-") == top.lower()), candidates[0])
        pins.append(f"{distribution}=={version(distribution)}")
    return pins
