"""Metrics and bootstrap intervals of the validation runner."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from registry.validation.stats import accuracy, bootstrap_ci, macro_f1

LABELS = ["drug", "device", "cosmetic", "combination"]


def _noisy(seed: int, size: int = 300) -> tuple[list[str], list[str]]:
    """Gold labels and predictions that are right about 70% of the time."""
    rng = np.random.default_rng(seed)
    gold = [str(x) for x in rng.choice(LABELS, size=size, p=[0.1, 0.6, 0.2, 0.1])]
    pred = [g if rng.random() < 0.7 else str(rng.choice(LABELS)) for g in gold]
    return gold, pred


def test_accuracy_is_the_share_of_exact_matches() -> None:
    assert accuracy(["a", "b", "c", "d"], ["a", "b", "c", "x"]) == 0.75
    assert accuracy(["a"], ["b"]) == 0.0


def test_macro_f1_by_hand() -> None:
    # a: TP 1, FP 0, FN 1 → F1 2/3; b: TP 2, FP 1, FN 0 → F1 4/5; mean 11/15.
    assert macro_f1(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == pytest.approx(11 / 15)


def test_macro_f1_counts_a_label_only_ever_predicted_as_zero() -> None:
    # a: F1 1; "ghost" is never gold, so its F1 is 0 and halves the mean.
    assert macro_f1(["a", "a"], ["a", "ghost"]) == pytest.approx((2 / 3 + 0) / 2)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_macro_f1_agrees_with_sklearn(seed: int) -> None:
    gold, pred = _noisy(seed, size=80)
    expected = f1_score(gold, pred, average="macro", zero_division=0)
    assert macro_f1(gold, pred) == pytest.approx(expected)


def test_metrics_refuse_empty_or_unpaired_input() -> None:
    with pytest.raises(ValueError, match="at least one"):
        accuracy([], [])
    with pytest.raises(ValueError, match="same length"):
        macro_f1(["a", "b"], ["a"])


@pytest.mark.parametrize("metric", [accuracy, macro_f1])
def test_perfect_predictions_have_the_interval_one_to_one(metric) -> None:
    gold = ["a", "b", "c", "a", "b"] * 10
    assert bootstrap_ci(gold, gold, metric, resamples=200, confidence=0.95, seed=0) == (1.0, 1.0)


def test_all_wrong_predictions_have_the_interval_zero_to_zero() -> None:
    gold = ["a", "b"] * 20
    pred = ["b", "a"] * 20
    assert bootstrap_ci(gold, pred, accuracy, resamples=200, confidence=0.95, seed=0) == (0.0, 0.0)


def test_the_bootstrap_is_deterministic_per_seed() -> None:
    gold, pred = _noisy(7)
    first = bootstrap_ci(gold, pred, macro_f1, resamples=300, confidence=0.95, seed=11)
    again = bootstrap_ci(gold, pred, macro_f1, resamples=300, confidence=0.95, seed=11)
    other = bootstrap_ci(gold, pred, macro_f1, resamples=300, confidence=0.95, seed=12)
    assert first == again
    assert first != other


@pytest.mark.parametrize("metric", [accuracy, macro_f1])
def test_the_interval_is_ordered_and_holds_the_point_estimate(metric) -> None:
    gold, pred = _noisy(3)
    lower, upper = bootstrap_ci(gold, pred, metric, resamples=500, confidence=0.95, seed=0)
    assert 0.0 <= lower < metric(gold, pred) < upper <= 1.0


def test_a_higher_confidence_gives_a_wider_interval() -> None:
    # The same seed draws the same resamples; only the percentiles taken differ.
    gold, pred = _noisy(5)
    narrow = bootstrap_ci(gold, pred, accuracy, resamples=500, confidence=0.80, seed=0)
    wide = bootstrap_ci(gold, pred, accuracy, resamples=500, confidence=0.99, seed=0)
    assert wide[0] < narrow[0] and narrow[1] < wide[1]


def test_more_data_gives_a_narrower_interval() -> None:
    # The same 70%-correct pattern, repeated: the standard error shrinks with 1/sqrt(n).
    gold, pred = _noisy(9, size=100)
    small = bootstrap_ci(gold, pred, accuracy, resamples=500, confidence=0.95, seed=0)
    large = bootstrap_ci(gold * 16, pred * 16, accuracy, resamples=500, confidence=0.95, seed=0)
    assert large[1] - large[0] < (small[1] - small[0]) / 2


def test_bootstrap_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_ci(["a"], ["a"], accuracy, resamples=0, confidence=0.95, seed=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(["a"], ["a"], accuracy, resamples=10, confidence=1.0, seed=0)
