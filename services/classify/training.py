"""Training pipeline: labelled corpus → fitted classifier → MLflow run → registered version.

What the MLflow run records for a filing (parameters, dev metrics, signature, pinned
requirements, the data's hash and provenance, the code) is
``zhijian.model_registration``'s; here are classify's corpus, split and figures.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from services.classify.labels import LABELS, TASKS
from services.classify.settings import MODEL_NAME
from zhijian.model_registration import TrainingData, pinned, register_pyfunc
from zhijian.model_registration import latest_version as registered_latest

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

    return pinned(sklearn, np, scipy, mlflow)


def train_and_register(corpus: Corpus, *, tracking_uri: str, progress: Progress = print,
                       random_state: int = 0) -> TrainingResult:
    # Progress and MLflow's run links go to stderr; stdout is kept for results.
    with contextlib.redirect_stdout(sys.stderr):
        return _train_and_register(corpus, tracking_uri=tracking_uri, progress=progress,
                                   random_state=random_state)


def _train_and_register(corpus: Corpus, *, tracking_uri: str, progress: Progress,
                        random_state: int) -> TrainingResult:
    from services.classify.model import MultiTaskClassifier
    from services.classify.pyfunc import CLASSIFIER_ARTIFACT, ClassifyPyfunc

    started = time.monotonic()
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

    progress("[3/4] logging the run to MLflow; [4/4] registering the model version")
    registered = register_pyfunc(
        tracking_uri=tracking_uri, model_name=MODEL_NAME, python_model=ClassifyPyfunc(),
        fitted=classifier, code_package="services.classify",
        input_example=np.array(corpus.texts[:3]), artifact=CLASSIFIER_ARTIFACT,
        data=TrainingData(corpus.path, corpus.sha256, corpus.provenance,
                          {"text": corpus.texts, **corpus.labels}, corpus.counts()),
        params={"tasks": ",".join(TASKS), "records": len(corpus),
                "train_records": len(train_idx), "dev_records": len(dev_idx),
                "dev_fraction": DEV_FRACTION, "random_state": random_state,
                "estimator": type(classifier).__name__},
        metrics=metrics, requirements=pip_requirements(), run_name="classify-train")
    return TrainingResult(MODEL_NAME, registered.version, registered.run_id,
                          registered.model_uri, metrics, len(corpus), corpus.sha256,
                          round(time.monotonic() - started, 2))


def latest_version(tracking_uri: str) -> str | None:
    """The newest registered version, used only to pick a default at first start."""
    return registered_latest(tracking_uri, MODEL_NAME)
