"""The fuzzer's decisions drawn from Hypothesis, for the short run in the test suite.

Every generator of the package asks a ``fuzz.choose.Chooser``; this one draws each
decision from a Hypothesis ``data`` object, so a failing call is shrunk by Hypothesis to
the simplest one that still fails (fewer fields set, shorter values, the first options).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from hypothesis import strategies as st

T = TypeVar("T")


class HypothesisChooser:
    def __init__(self, data: st.DataObject) -> None:
        self._data = data

    def integer(self, low: int, high: int) -> int:
        return self._data.draw(st.integers(low, high))

    def pick(self, options: Sequence[T]) -> T:
        return self._data.draw(st.sampled_from(options))

    def chance(self, probability: float) -> bool:
        # Shrinks towards False: a shrunk request sets as little as it can.
        return self._data.draw(st.integers(0, 999)) >= round((1 - probability) * 1000)

    def blob(self, size: int) -> bytes:
        # Drawn as a seed, not byte by byte: Hypothesis' buffer is a few kilobytes and a
        # blob may be tens of them.
        return random.Random(self._data.draw(st.integers(0, 2**32 - 1))).randbytes(size)
