"""Training pipeline: labelled corpus → fitted classifier → MLflow run → registered version.

The run records what a filing needs later: parameters, dev metrics, the signature (from
an ``np.array`` input example: without it batch predictions collapse), pinned
requirements, and the training data's hash and provenance as a dataset input.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import pickle
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from services.classify.labels import LABELS, TASKS
from services.classify.settings import MODEL_NAME

SEED_CORPUS = Path(__file__).resolve().parent / "corpus" / "seed.jsonl"
SEED_PROVENANCE = "zhijian seed corpus, written for the project (services/classify/corpus)"
DEV_FRACTION = 0.2

Progress = Callable[[str], None]


class CorpusError(ValueError):
    """The labelled data cannot be used; the message names the line and the field."""


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    labels: dict[str, list[str | None]]
    path: Path
    sha256: str
    provenance: str

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for task, column in self.labels.items():
            result[task] = {}
            for label in column:
                if label is not None:
                    result[task][label] = result[task].get(label, 0) + 1
        return result

    def subset(self, indices: list[int]) -> tuple[list[str], dict[str, list[str | None]]]:
        return ([self.texts[i] for i in indices],
                {task: [column[i] for i in indices] for task, column in self.labels.items()})


def load_corpus(path: Path, provenance: str | None = None) -> Corpus:
    """Read a JSONL corpus: ``{"text": ..., "<task>": "<label code>" | null, ...}`` per line."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise CorpusError(f"{path}: cannot read: {error.strerror}") from None
    texts: list[str] = []
    labels: dict[str, list[str | None]] = {task: [] for task in TASKS}
    for number, line in enumerate(raw.decode("utf-8", errors="strict").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{path}:{number}: not JSON: {error.msg}") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{path}:{number}: expected a JSON object")
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise CorpusError(f"{path}:{number}: 'text' must be a non-empty string")
        texts.append(text.strip())
        for task in TASKS:
            value = record.get(task)
            if value is not None and value not in LABELS[task]:
                raise CorpusError(f"{path}:{number}: {task}={value!r} is not one of "
                                  f"{', '.join(LABELS[task])}")
            labels[task].append(value)
    if not texts:
        raise CorpusError(f"{path}: no records")
    for task in TASKS:
        seen = {label for label in labels[task] if label is not None}
        if len(seen) < 2:
            raise CorpusError(f"{path}: task {task} needs at least two labels, "
                              f"found {sorted(seen)}")
    return Corpus(texts, labels, path, hashlib.sha256(raw).hexdigest(),
                  provenance or f"user-supplied corpus {path.name}")


def dev_split(texts: list[str], fraction: float = DEV_FRACTION,
              salt: str = "") -> tuple[list[int], list[int]]:
    """Deterministic split by a hash of the text, so retraining on the same data with
    rows in another order yields the same dev set. A different ``salt`` gives an
    independent split (the seed test split must not decide the dev split inside it)."""
    train: list[int] = []
    dev: list[int] = []
    for index, text in enumerate(texts):
        digest = hashlib.sha256((salt + text).encode()).hexdigest()
        bucket = int(digest[:8], 16) / 0xFFFFFFFF
        (dev if bucket < fraction else train).append(index)
    return train, dev


def write_seed_split(folder: Path) -> tuple[Path, Path]:
    """The seed corpus cut into a training file and a held-out test file (by text hash,
    as ``dev_split``), so that a filed seed model is validated on records it never saw."""
    lines = [line for line in SEED_CORPUS.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    texts = [json.loads(line)["text"].strip() for line in lines]
    train_idx, test_idx = dev_split(texts, salt="seed-test:")
    folder.mkdir(parents=True, exist_ok=True)
    train, test = folder / "seed-train.jsonl", folder / "seed-test.jsonl"
    for path, indices in ((train, train_idx), (test, test_idx)):
        content = "".join(lines[i] + "\n" for i in indices)
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
    return train, test


def macro_f1(gold: list[str | None], predicted: list[str]) -> float | None:
    from sklearn.metrics import f1_score

    pairs = [(g, p) for g, p in zip(gold, predicted, strict=True) if g is not None]
    if not pairs:
        return None
    return float(f1_score([g for g, _ in pairs], [p for _, p in pairs], average="macro",
                          zero_division=0))


@dataclass
class TrainingResult:
    model_name: str
    version: str
    run_id: str
    model_uri: str
    metrics: dict[str, float] = field(default_factory=dict)
    records: int = 0
    data_sha256: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def pip_requirements() -> list[str]:
    import mlflow
    import scipy
    import sklearn

    return [f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}",
            f"scipy=={scipy.__version__}", f"mlflow=={mlflow.__version__}"]


def train_and_register(corpus: Corpus, *, tracking_uri: str, progress: Progress = print,
                       random_state: int = 0) -> TrainingResult:
    # MLflow prints run links and registration notes on stdout; keep stdout for results.
    with contextlib.redirect_stdout(sys.stderr):
        return _train_and_register(corpus, tracking_uri=tracking_uri, progress=progress,
                                   random_state=random_state)


def _train_and_register(corpus: Corpus, *, tracking_uri: str, progress: Progress,
                        random_state: int) -> TrainingResult:
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature

    from services.classify.model import MultiTaskClassifier
    from services.classify.pyfunc import CLASSIFIER_ARTIFACT, ClassifyPyfunc, predictions_to_dicts
    from zhijian.model_code import stage_model_code

    started = time.monotonic()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("zhijian-classify")

    progress(f"[1/4] dev metrics: fitting on {DEV_FRACTION:.0%}-held-out split of "
             f"{len(corpus)} records")
    train_idx, dev_idx = dev_split(corpus.texts)
    train_texts, train_labels = corpus.subset(train_idx)
    dev_texts, dev_labels = corpus.subset(dev_idx)
    held = MultiTaskClassifier(TASKS, random_state=random_state).fit(train_texts, train_labels)
    dev_predictions = held.predict(dev_texts)
    metrics: dict[str, float] = {}
    for task in TASKS:
        score = macro_f1(dev_labels[task], [p[task].label for p in dev_predictions])
        if score is not None:
            metrics[f"dev_macro_f1_{task}"] = score

    progress(f"[2/4] fitting the final model on all {len(corpus)} records")
    classifier = MultiTaskClassifier(TASKS, random_state=random_state).fit(
        corpus.texts, corpus.labels)

    progress("[3/4] logging the run to MLflow")
    example = np.array(corpus.texts[:3])
    signature = infer_signature(example, predictions_to_dicts(classifier, list(example)))
    frame = pd.DataFrame({"text": corpus.texts, **corpus.labels})
    dataset = mlflow.data.from_pandas(  # type: ignore[attr-defined]
        frame, source=str(corpus.path), name=corpus.path.name, digest=corpus.sha256[:16])
    with mlflow.start_run(run_name="classify-train") as run, \
            tempfile.TemporaryDirectory() as scratch:
        mlflow.log_params({"tasks": ",".join(TASKS), "records": len(corpus),
                           "train_records": len(train_idx), "dev_records": len(dev_idx),
                           "dev_fraction": DEV_FRACTION, "random_state": random_state,
                           "estimator": type(classifier).__name__})
        mlflow.log_metrics(metrics)
        mlflow.log_input(dataset, context="training")
        mlflow.set_tags({"data.sha256": corpus.sha256, "data.provenance": corpus.provenance,
                         "data.path": str(corpus.path)})
        mlflow.log_dict(corpus.counts(), "data/label_counts.json")
        artifact = Path(scratch) / "classifier.pkl"
        artifact.write_bytes(pickle.dumps(classifier, protocol=pickle.HIGHEST_PROTOCOL))
        progress("[4/4] registering the model version")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=ClassifyPyfunc(),
            artifacts={CLASSIFIER_ARTIFACT: str(artifact)}, signature=signature,
            input_example=example, pip_requirements=pip_requirements(),
            # The version carries the modules its pickle refers to, so it loads where
            # this checkout's services package is absent or has moved.
            code_paths=stage_model_code(ClassifyPyfunc.__module__, "services.classify",
                                        Path(scratch) / "code"),
            registered_model_name=MODEL_NAME)
    version = str(info.registered_model_version)
    return TrainingResult(MODEL_NAME, version, run.info.run_id,
                          f"models:/{MODEL_NAME}/{version}", metrics, len(corpus),
                          corpus.sha256, round(time.monotonic() - started, 2))


def latest_version(tracking_uri: str) -> str | None:
    """The newest registered version, used only to pick a default at first start."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    return max((v.version for v in versions), key=int, default=None)
