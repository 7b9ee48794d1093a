"""Loaders for the shared real-data sets used to train and evaluate the classify model.

The datasets live outside the repository (``../shared/datasets`` in CI, or wherever
``ZHIJIAN_DATASETS`` points) and are never copied in. Every loader keeps a strict wall
between what an applicant would write (the input text) and the regulator's answers:
answer fields are returned separately and are never folded into ``Record.text``.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

NMPA_FILE: Final = Path("nmpa_classification_determinations") / "determinations.jsonl"
GUDID_FILE: Final = Path("fda_device_classification") / "gudid_devices.jsonl"
FDA_CATALOG_FILE: Final = Path("fda_device_classification") / "foiclass.txt"

# The three NMPA labels that are device classes; the other four are determinations
# that the product is not (or not on its own) a class-rated device.
NMPA_DEVICE_CLASSES: Final[tuple[str, ...]] = ("一类", "二类", "三类")
NMPA_LABELS: Final[tuple[str, ...]] = (
    "一类",
    "二类",
    "三类",
    "不作为",
    "不单独作为",
    "药械组合",
    "分情形",
)


@dataclass(frozen=True)
class Record:
    """One example: the input text, the key it is grouped by, and its answers."""

    text: str
    group: str
    answers: dict[str, str] = field(default_factory=dict)


def shared_datasets_dir() -> Path | None:
    """Where the shared datasets are, or None on a machine that does not have them."""
    env = os.environ.get("ZHIJIAN_DATASETS")
    candidate = (
        Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
    )
    return candidate if candidate.is_dir() else None


def normalise_key(value: str) -> str:
    # Full-width brackets, stray spaces and case differ between yearly notices for the
    # same product; folding them keeps one product on one side of the split.
    return "".join(unicodedata.normalize("NFKC", value).lower().split())


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                yield json.loads(line)


def nmpa_text(product_name: str, description: str) -> str:
    """The model input for an NMPA determination request: name, then description."""
    return f"{product_name.strip()}。{description.strip()}"


def load_nmpa(datasets_dir: Path) -> list[Record]:
    """NMPA 分类界定 rows. Input: product name + description. Answers: ``label``
    (7-way determination) and, when it is one, ``device_class``; grouped by product name."""
    return [Record(text=row["text"], group=row["group"],
                   answers={k: row[k] for k in ("label", "device_class") if k in row})
            for row in nmpa_rows(datasets_dir / NMPA_FILE)]


def nmpa_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The NMPA determinations file as text-classification records (``text``, ``label``
    and, for device classes, ``device_class``): the transform a registered NMPA dataset
    names in its provenance (``zhijian.derived_datasets.derive``)."""
    for row in _read_jsonl(path):
        name = str(row.get("product_name") or "")
        label = str(row.get("label") or "")
        if not name or not label:
            continue
        record = {"text": nmpa_text(name, str(row.get("description") or "")), "label": label,
                  "group": normalise_key(name)}
        if label in NMPA_DEVICE_CLASSES:
            record["device_class"] = label
        yield record


def gudid_text(row: dict[str, Any]) -> str:
    """The model input for a GUDID record: what the labeler submits about the device.

    Deliberately excluded: product codes, FDA device name, regulation number, review
    panel and class, which are the answers (or are looked up from them).
    """
    parts: list[str] = []
    brand = str(row.get("brandName") or "").strip()
    if brand and brand.upper() != "N/A":
        parts.append(brand)
    parts.append(str(row.get("deviceDescription") or "").strip())
    for term in row.get("gmdn") or []:
        # GMDN entries are [term name, definition]; both are the labeler's own choice.
        parts.extend(str(piece).strip() for piece in term if piece)
    company = str(row.get("companyName") or "").strip()
    if company:
        parts.append(company)
    return " | ".join(part for part in parts if part)


def load_gudid(datasets_dir: Path) -> list[Record]:
    """GUDID device records. Answers: ``device_class`` (1/2/3) and ``review_panel``;
    grouped by product code."""
    records: list[Record] = []
    for row in _read_jsonl(datasets_dir / GUDID_FILE):
        code = str(row.get("product_code") or "")
        device_class = str(row.get("device_class") or "")
        panel = str(row.get("review_panel") or "")
        if not code:
            continue
        answers: dict[str, str] = {}
        if device_class:
            answers["device_class"] = device_class
        if panel:
            answers["review_panel"] = panel
        records.append(Record(text=gudid_text(row), group=code.upper(), answers=answers))
    return records


def group_split(
    groups: Sequence[str], *, dev_fraction: float = 0.2, seed: int = 0
) -> tuple[list[int], list[int]]:
    """Deterministic train/dev row indices where every group lands wholly on one side.

    Groups are sorted before the seeded shuffle so the result depends only on the set of
    keys, the seed and the fraction, not on row order.
    """
    if not 0.0 < dev_fraction < 1.0:
        raise ValueError("dev_fraction must be in (0, 1)")
    unique = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(unique))
    n_dev = max(1, round(dev_fraction * len(unique)))
    dev_groups = {unique[i] for i in order[:n_dev]}
    train_idx = [i for i, g in enumerate(groups) if g not in dev_groups]
    dev_idx = [i for i, g in enumerate(groups) if g in dev_groups]
    return train_idx, dev_idx


def split_records(
    records: Sequence[Record], *, dev_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Record], list[Record]]:
    train_idx, dev_idx = group_split(
        [r.group for r in records], dev_fraction=dev_fraction, seed=seed
    )
    return [records[i] for i in train_idx], [records[i] for i in dev_idx]


def group_kfold(
    groups: Sequence[str], n_splits: int, *, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Seeded group k-fold (sklearn's GroupKFold is not shuffled in every version)."""
    unique = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of = {unique[j]: k % n_splits for k, j in enumerate(order)}
    folds = np.array([fold_of[g] for g in groups])
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(n_splits)]


def with_answer(
    records: Sequence[Record], key: str, keep: Callable[[str], bool] | None = None
) -> list[Record]:
    """Rows that have answer ``key`` (optionally filtered by its value)."""
    return [r for r in records if key in r.answers and (keep is None or keep(r.answers[key]))]
