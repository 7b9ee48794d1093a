"""Real-data evaluation of the classify model against honest group splits.

* NMPA 分类界定 (Chinese): one train/dev split by product name, ``NMPA_DEV_FRACTION`` of
  the product names held out (seed ``SEED``).
* GUDID (English): only ~130 product codes exist, so one 20 % split would hold out ~26
  codes and the score would hinge on which few codes landed there. Instead every record
  is scored by a model that never saw its product code: grouped ``GUDID_FOLDS``-fold
  cross-validation over product codes (each fold holds out 20 % of the codes), with the
  out-of-fold predictions pooled.

Both the domain model and the plain baseline (char n-gram TF-IDF + calibrated linear SVM)
are trained and scored on exactly the same splits, so the gain is visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from services.classify import datasets as ds
from services.classify.knowledge import Knowledge
from services.classify.model import TextClassifier

SEED: Final = 0
NMPA_DEV_FRACTION: Final = 0.2
GUDID_FOLDS: Final = 5

NMPA_DEVICE_CLASS: Final = "nmpa_device_class"
NMPA_DETERMINATION: Final = "nmpa_determination"
GUDID_DEVICE_CLASS: Final = "gudid_device_class"
GUDID_REVIEW_PANEL: Final = "gudid_review_panel"

# Macro-F1 the domain model must reach on records not seen in training.
TARGETS: Final[dict[str, float]] = {
    NMPA_DEVICE_CLASS: 0.92,
    NMPA_DETERMINATION: 0.88,
    GUDID_DEVICE_CLASS: 0.90,
    GUDID_REVIEW_PANEL: 0.85,
}


@dataclass(frozen=True)
class Scores:
    macro_f1: float
    accuracy: float
    per_class_f1: dict[str, float]


@dataclass(frozen=True)
class TaskResult:
    task: str
    split: str
    n_train: int
    n_dev: int
    domain: Scores
    plain: Scores
    target: float

    @property
    def meets_target(self) -> bool:
        return self.domain.macro_f1 >= self.target


@dataclass
class EvaluationReport:
    results: list[TaskResult] = field(default_factory=list)
    seconds: float = 0.0

    def result(self, task: str) -> TaskResult:
        for r in self.results:
            if r.task == task:
                return r
        raise KeyError(task)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": SEED,
            "seconds": round(self.seconds, 1),
            "metric": "macro-F1 over the labels present in gold or predictions",
            "tasks": [{**asdict(r), "meets_target": r.meets_target} for r in self.results],
        }

    def format_table(self) -> str:
        lines = [
            "macro-F1 of the domain model and the plain baseline on records not seen in "
            "training",
            f"{'task':<20} {'domain':>7} {'plain':>7} {'gain':>7} {'target':>7}  "
            f"{'status':<6} {'train':>6} {'dev':>5}",
        ]
        for r in self.results:
            lines.append(
                f"{r.task:<20} {r.domain.macro_f1:>7.3f} {r.plain.macro_f1:>7.3f} "
                f"{r.domain.macro_f1 - r.plain.macro_f1:>+7.3f} {r.target:>7.2f}  "
                f"{'met' if r.meets_target else 'missed':<6} {r.n_train:>6} {r.n_dev:>5}"
            )
        met = sum(r.meets_target for r in self.results)
        lines.append(f"targets met: {met}/{len(self.results)}")
        lines.append("")
        lines.append("splits:")
        splits: dict[str, str] = {}
        for r in self.results:
            splits.setdefault(r.task.split("_", 1)[0].upper(), r.split)
        lines.extend(f"  {dataset}: {split}" for dataset, split in splits.items())
        lines.append("")
        lines.append("per-class F1 (domain / plain):")
        for r in self.results:
            cells = ", ".join(
                f"{label} {r.domain.per_class_f1.get(label, 0.0):.2f}/"
                f"{r.plain.per_class_f1.get(label, 0.0):.2f}"
                for label in sorted(set(r.domain.per_class_f1) | set(r.plain.per_class_f1))
            )
            lines.append(f"  {r.task}: {cells}")
        lines.append(f"\nevaluation took {self.seconds:.1f}s")
        return "\n".join(lines)


def score(gold: Sequence[str], predicted: Sequence[str]) -> Scores:
    labels = sorted(set(gold) | set(predicted))
    per_class = f1_score(gold, predicted, labels=labels, average=None, zero_division=0)
    return Scores(
        macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        accuracy=float(accuracy_score(gold, predicted)),
        per_class_f1={
            label: round(float(f), 4) for label, f in zip(labels, per_class, strict=True)
        },
    )


def nmpa_split(records: Sequence[ds.Record]) -> tuple[list[ds.Record], list[ds.Record]]:
    return ds.split_records(records, dev_fraction=NMPA_DEV_FRACTION, seed=SEED)


def gudid_folds(records: Sequence[ds.Record]) -> list[tuple[np.ndarray, np.ndarray]]:
    return ds.group_kfold([r.group for r in records], GUDID_FOLDS, seed=SEED)


def _fit_predict(
    train: Sequence[ds.Record],
    dev: Sequence[ds.Record],
    answer: str,
    *,
    domain: bool,
    knowledge: Knowledge | None,
) -> list[str]:
    model = TextClassifier(domain=domain, knowledge=knowledge, random_state=SEED)
    model.fit([r.text for r in train], [r.answers[answer] for r in train])
    return [p.label for p in model.predict([r.text for r in dev])]


def _holdout_task(
    task: str,
    train: Sequence[ds.Record],
    dev: Sequence[ds.Record],
    answer: str,
    split: str,
    knowledge: Knowledge | None,
) -> TaskResult:
    train = ds.with_answer(train, answer)
    dev = ds.with_answer(dev, answer)
    gold = [r.answers[answer] for r in dev]
    domain = _fit_predict(train, dev, answer, domain=True, knowledge=knowledge)
    plain = _fit_predict(train, dev, answer, domain=False, knowledge=None)
    return TaskResult(
        task, split, len(train), len(dev), score(gold, domain), score(gold, plain), TARGETS[task]
    )


def _cross_validated_task(
    task: str,
    records: Sequence[ds.Record],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    answer: str,
    split: str,
    knowledge: Knowledge | None,
) -> TaskResult:
    domain_pred: dict[int, str] = {}
    plain_pred: dict[int, str] = {}
    for train_idx, dev_idx in folds:
        train = [records[i] for i in train_idx if answer in records[i].answers]
        dev_rows = [int(i) for i in dev_idx if answer in records[i].answers]
        dev = [records[i] for i in dev_rows]
        domain_pred.update(
            zip(
                dev_rows,
                _fit_predict(train, dev, answer, domain=True, knowledge=knowledge),
                strict=True,
            )
        )
        plain_pred.update(
            zip(
                dev_rows,
                _fit_predict(train, dev, answer, domain=False, knowledge=None),
                strict=True,
            )
        )
    rows = sorted(domain_pred)
    gold = [records[i].answers[answer] for i in rows]
    n_train = round(len(rows) * (len(folds) - 1) / len(folds))
    return TaskResult(
        task,
        split,
        n_train,
        len(rows),
        score(gold, [domain_pred[i] for i in rows]),
        score(gold, [plain_pred[i] for i in rows]),
        TARGETS[task],
    )


def evaluate(
    datasets_dir: Path, *, progress: Callable[[str], None] | None = None
) -> EvaluationReport:
    """Train on the train part, score the held-out part, for all four tasks."""
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    report = EvaluationReport()

    nmpa = ds.load_nmpa(datasets_dir)
    train, dev = nmpa_split(nmpa)
    split = f"group by product name, dev {NMPA_DEV_FRACTION:.0%} of names, seed {SEED}"
    say(f"NMPA: {len(train)} train / {len(dev)} dev rows")
    for task, answer in ((NMPA_DEVICE_CLASS, "device_class"), (NMPA_DETERMINATION, "label")):
        say(f"{task} ...")
        report.results.append(_holdout_task(task, train, dev, answer, split, None))

    catalog = datasets_dir / ds.FDA_CATALOG_FILE
    knowledge = Knowledge.from_fda_catalog(catalog) if catalog.is_file() else None
    say(f"FDA catalog: {len(knowledge.entries) if knowledge else 0} classified product codes")
    gudid = ds.load_gudid(datasets_dir)
    folds = gudid_folds(gudid)
    split = f"{GUDID_FOLDS}-fold group CV by product code (20% of codes per fold), seed {SEED}"
    say(f"GUDID: {len(gudid)} rows, {len({r.group for r in gudid})} product codes")
    for task, answer in (
        (GUDID_DEVICE_CLASS, "device_class"),
        (GUDID_REVIEW_PANEL, "review_panel"),
    ):
        say(f"{task} ...")
        report.results.append(_cross_validated_task(task, gudid, folds, answer, split, knowledge))

    report.seconds = time.perf_counter() - started
    return report
