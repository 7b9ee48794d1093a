"""The classify model server: a BentoML service over one explicit MLflow model version.

Run with ``bentoml serve services.classify.model_server:ClassifyModelServer``. The
version comes from ``ZHIJIAN_CLASSIFY_MODEL_VERSION``; it is imported from the MLflow
registry into the BentoML store (under ``BENTOML_HOME``) once, then loaded from there.
Requests are merged by adaptive batching; spans go to ``OTEL_EXPORTER_OTLP_ENDPOINT``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import bentoml
import numpy as np

from services.classify.settings import MODEL_NAME

MAX_BATCH_SIZE = 64
# BentoML's dispatcher answers 503 to requests it expects to miss this budget, so it is a
# shedding threshold, not a wait: generous, or bursts get refused instead of batched.
MAX_LATENCY_MS = 1000


def bento_tag(version: str) -> str:
    return f"{MODEL_NAME}:v{version}"


def ensure_imported(version: str) -> bentoml.Model:
    """The BentoML copy of MLflow version ``version``, imported on first use."""
    try:
        return bentoml.models.get(bento_tag(version))
    except bentoml.exceptions.NotFound:
        return bentoml.mlflow.import_model(
            bento_tag(version), f"models:/{MODEL_NAME}/{version}",
            labels={"mlflow_model": MODEL_NAME, "mlflow_version": version},
            signatures={"predict": {"batchable": True}})


def artifact_digest(path: Path) -> str:
    """SHA-256 over every file of the imported model, in path order (what a filing pins)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _tracing() -> dict[str, Any]:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return {"sample_rate": 0.0}
    # BentoML samples parent-based with a ratio of its own; follow the standard OTel
    # variables the rest of the platform reads, so every process samples alike.
    ratio = 1.0
    if "traceidratio" in os.environ.get("OTEL_TRACES_SAMPLER", ""):
        ratio = float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", "1.0"))
    return {"exporter_type": "otlp", "sample_rate": ratio,
            "otlp": {"protocol": "grpc", "endpoint": endpoint, "grpc": {"insecure": True}}}


@bentoml.service(
    name="zhijian-classify-model",
    workers=1,
    traffic={"timeout": 30},
    tracing=_tracing(),
    logging={"access": {"enabled": False}},
)
class ClassifyModelServer:
    def __init__(self) -> None:
        version = os.environ.get("ZHIJIAN_CLASSIFY_MODEL_VERSION", "")
        if not version.isdigit():
            raise RuntimeError("ZHIJIAN_CLASSIFY_MODEL_VERSION must name a registered version")
        stored = ensure_imported(version)
        self.version = version
        self.digest = artifact_digest(Path(stored.path))
        self.model = bentoml.mlflow.load_model(stored)

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=MAX_LATENCY_MS)
    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        # A str-dtype array, as in the signature's input example; object dtype fails it.
        result: list[dict[str, Any]] = self.model.predict(np.array(texts, dtype=str))
        return result

    @bentoml.api(route="/info")
    def info(self) -> dict[str, str]:
        return {"model_name": MODEL_NAME, "model_version": self.version,
                "artifact_sha256": self.digest}
