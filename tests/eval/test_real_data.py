"""Real-data evaluation of the classify model (needs ../shared/datasets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.classify import datasets as ds
from services.classify.evaluation import (
    GUDID_DEVICE_CLASS,
    GUDID_REVIEW_PANEL,
    NMPA_DETERMINATION,
    NMPA_DEVICE_CLASS,
    TARGETS,
    EvaluationReport,
    evaluate,
    gudid_folds,
    nmpa_split,
)


@pytest.fixture(scope="module")
def datasets_dir() -> Path:
    found = ds.shared_datasets_dir()
    if found is None:
        pytest.skip(
            "shared datasets not found (set ZHIJIAN_DATASETS or provide ../shared/datasets)"
        )
    return found


@pytest.fixture(scope="module")
def report(datasets_dir: Path) -> EvaluationReport:
    result = evaluate(datasets_dir)
    print(result.format_table())
    return result


def test_nmpa_split_is_grouped_by_product_name(datasets_dir: Path) -> None:
    train, dev = nmpa_split(ds.load_nmpa(datasets_dir))
    assert dev and train
    assert not {r.group for r in train} & {r.group for r in dev}
    assert 0.15 < len(dev) / (len(train) + len(dev)) < 0.3


def test_gudid_folds_never_share_a_product_code(datasets_dir: Path) -> None:
    records = ds.load_gudid(datasets_dir)
    scored: set[int] = set()
    for train_idx, dev_idx in gudid_folds(records):
        assert not {records[i].group for i in train_idx} & {records[i].group for i in dev_idx}
        scored.update(int(i) for i in dev_idx)
    assert scored == set(range(len(records)))


def test_inputs_do_not_contain_answers(datasets_dir: Path) -> None:
    for record in ds.load_gudid(datasets_dir)[:200]:
        assert record.group not in record.text.split()


# Regression guards: a little below the macro-F1 the domain model reaches today. The
# targets in TARGETS are goals reported as met/missed by format_table(), not asserted,
# so CI stays green while a target is still missed.
FLOORS = {
    NMPA_DEVICE_CLASS: 0.838,
    NMPA_DETERMINATION: 0.795,
    GUDID_DEVICE_CLASS: 0.68,
    GUDID_REVIEW_PANEL: 0.635,
}
# How much the domain model must beat the plain baseline by on each dataset.
MARGINS = {
    NMPA_DEVICE_CLASS: 0.005,
    # The 7-way gain is thin today (+0.006): the test asks only that it not fall behind.
    NMPA_DETERMINATION: 0.0,
    GUDID_DEVICE_CLASS: 0.05,
    GUDID_REVIEW_PANEL: 0.05,
}


def test_every_task_has_a_floor_and_a_margin() -> None:
    assert set(FLOORS) == set(TARGETS) == set(MARGINS)


@pytest.mark.parametrize("task", sorted(TARGETS))
def test_domain_model_beats_plain_baseline(report: EvaluationReport, task: str) -> None:
    result = report.result(task)
    gain = result.domain.macro_f1 - result.plain.macro_f1
    assert gain >= MARGINS[task], (
        f"{task}: domain {result.domain.macro_f1:.3f} vs plain {result.plain.macro_f1:.3f}"
    )


@pytest.mark.parametrize("task", sorted(TARGETS))
def test_domain_model_stays_above_its_floor(report: EvaluationReport, task: str) -> None:
    result = report.result(task)
    assert result.domain.macro_f1 >= FLOORS[task], (
        f"{task}: domain macro-F1 {result.domain.macro_f1:.3f} < floor {FLOORS[task]} "
        f"(target {TARGETS[task]})"
    )


def test_table_reports_targets_and_splits(report: EvaluationReport) -> None:
    table = report.format_table()
    for result in report.results:
        assert result.task in table
        assert result.split in table
    assert "target" in table and ("met" in table or "missed" in table)
