"""Per-caller token buckets.

Each caller (token subject or certificate identity) refills at ``rate_per_s`` up to
``burst``; a call takes one token. A bucket is two floats updated in place, so a decision
is a dict lookup and a little arithmetic. Buckets of callers not seen for a while are
dropped oldest-first once ``max_callers`` are tracked: a dropped caller comes back with a
full bucket, which is what an idle caller would have had anyway.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from zhijian.errors import ResourceExhausted

RATE_LIMITED: Final = "RATE_LIMITED"
DEFAULT_MAX_CALLERS: Final = 100_000


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """Not thread-safe by design: the gateway decides on its one event-loop thread."""

    def __init__(self, rate_per_s: float, burst: float, *,
                 max_callers: int = DEFAULT_MAX_CALLERS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be positive and burst at least 1")
        if max_callers < 1:
            raise ValueError("max_callers must be at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._max_callers = max_callers
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, caller: str) -> float:
        """0.0 if the call may go ahead (a token is taken), else the seconds until the
        caller's next token."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= self._max_callers:
                self._buckets.popitem(last=False)
            bucket = self._buckets[caller] = _Bucket(self.burst, now)
        else:
            self._buckets.move_to_end(caller)
            bucket.tokens = min(self.burst,
                                bucket.tokens + (now - bucket.stamp) * self.rate_per_s)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate_per_s

    def check(self, caller: str) -> None:
        """Take a token or raise RESOURCE_EXHAUSTED / RATE_LIMITED with RetryInfo."""
        wait_s = self.acquire(caller)
        if wait_s > 0.0:
            raise rate_limited(wait_s, self.rate_per_s)

    def __len__(self) -> int:
        return len(self._buckets)


def rate_limited(wait_s: float, rate_per_s: float) -> ResourceExhausted:
    return ResourceExhausted(
        f"rate limit of {rate_per_s:g} calls per second exceeded; retry in {wait_s:.3f}s",
        reason=RATE_LIMITED, retry_delay_s=wait_s,
        metadata={"rate_per_s": f"{rate_per_s:g}"})
