"""Classification metrics and percentile-bootstrap confidence intervals (of any statistic
over resampled records: :func:`bootstrap_statistic`).

``macro_f1`` is computed with numpy rather than ``sklearn.metrics.f1_score``: the
bootstrap calls it a thousand times per metric and subgroup, and sklearn's input checks
cost about a millisecond a call. It matches ``f1_score(average="macro",
zero_division=0)`` (the definition used for the training run's dev metrics): the mean
over every label seen in gold or prediction of 2·TP / (2·TP + FP + FN); the unit tests
compare the two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

Labels = Sequence[str] | NDArray[np.str_]
Metric = Callable[[Labels, Labels], float]


def _paired(gold: Labels, pred: Labels) -> tuple[NDArray[np.str_], NDArray[np.str_]]:
    gold_array = np.asarray(gold, dtype=str)
    pred_array = np.asarray(pred, dtype=str)
    if gold_array.shape != pred_array.shape or gold_array.ndim != 1:
        raise ValueError(f"gold and predicted labels must be two lists of the same length, "
                         f"got {gold_array.shape} and {pred_array.shape}")
    if gold_array.size == 0:
        raise ValueError("a metric needs at least one labelled record")
    return gold_array, pred_array


def accuracy(gold: Labels, pred: Labels) -> float:
    """Share of records whose predicted label equals the gold label."""
    gold_array, pred_array = _paired(gold, pred)
    return float(np.mean(gold_array == pred_array))


def macro_f1(gold: Labels, pred: Labels) -> float:
    """Unweighted mean of per-label F1 over the labels in gold or prediction."""
    gold_array, pred_array = _paired(gold, pred)
    labels, codes = np.unique(np.concatenate([gold_array, pred_array]), return_inverse=True)
    gold_codes, pred_codes = codes[:gold_array.size], codes[gold_array.size:]
    count = labels.size
    true_positive = np.bincount(gold_codes[gold_codes == pred_codes], minlength=count)
    gold_total = np.bincount(gold_codes, minlength=count)
    pred_total = np.bincount(pred_codes, minlength=count)
    # 2·TP + FP + FN = gold count + predicted count; never 0 for a label that was seen.
    f1 = 2 * true_positive / (gold_total + pred_total)
    return float(f1.mean())


METRIC_FUNCTIONS: dict[str, Metric] = {"accuracy": accuracy, "macro_f1": macro_f1}


def bootstrap_statistic(size: int, statistic: Callable[[NDArray[np.intp]], float], *,
                        resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``size`` records resampled
    with replacement (it gets the indices of one resample); the same seed gives the same
    interval."""
    if size < 1:
        raise ValueError("a metric needs at least one labelled record")
    if resamples < 1:
        raise ValueError("resamples must be positive")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be strictly between 0 and 1")
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for index in range(resamples):
        values[index] = statistic(rng.integers(0, size, size=size))
    tail = (1 - confidence) / 2 * 100
    # A resample on which the statistic is undefined (NaN: AUC with one class drawn)
    # does not count.
    lower, upper = np.nanpercentile(values, [tail, 100 - tail])
    return float(lower), float(upper)


def bootstrap_ci(gold: Labels, pred: Labels, metric_fn: Metric, *, resamples: int,
                 confidence: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric_fn`` over records resampled with
    replacement; the same seed gives the same interval."""
    gold_array, pred_array = _paired(gold, pred)
    return bootstrap_statistic(
        gold_array.size, lambda sample: metric_fn(gold_array[sample], pred_array[sample]),
        resamples=resamples, confidence=confidence, seed=seed)
