"""Where the fuzzer's decisions come from.

Every generator in the package asks a :class:`Chooser` instead of calling ``random``
directly, so that the same generation code serves two masters: the long run draws from a
seeded ``random.Random`` (fast, reproducible by seed), and the pytest version draws from
Hypothesis (``fuzz.strategies.HypothesisChooser``), which can then shrink a failing call
to a minimal one.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")


class Chooser(Protocol):
    def integer(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        ...

    def pick(self, options: Sequence[T]) -> T:
        """One of ``options`` (never empty)."""
        ...

    def chance(self, probability: float) -> bool:
        """True with about ``probability``."""
        ...

    def blob(self, size: int) -> bytes:
        """``size`` arbitrary bytes."""
        ...


class RandomChooser:
    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def pick(self, options: Sequence[T]) -> T:
        return options[self._rng.randrange(len(options))]

    def chance(self, probability: float) -> bool:
        return self._rng.random() < probability

    def blob(self, size: int) -> bytes:
        return self._rng.randbytes(size)


def weighted(chooser: Chooser, options: Sequence[tuple[float, T]]) -> T:
    """One of ``options`` by weight, through ``chooser.integer`` so Hypothesis can shrink
    it (towards the first option)."""
    total = sum(weight for weight, _ in options)
    # Resolution of a thousandth of the total is plenty for call mixes.
    point = chooser.integer(0, 999) * total / 1000
    for weight, option in options:
        if point < weight:
            return option
        point -= weight
    return options[-1][1]
