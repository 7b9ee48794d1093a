"""Per-caller token buckets, on a clock the test moves."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2

from gateway.ratelimit import RATE_LIMITED, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_caller_gets_its_burst_then_the_rate() -> None:
    clock = Clock()
    # Binary fractions of a second, so that the arithmetic is exact.
    limiter = RateLimiter(rate_per_s=4, burst=3, clock=clock)
    assert [limiter.acquire("user:a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("user:a") == 0.25
    clock.now += 0.125
    assert limiter.acquire("user:a") == 0.125
    clock.now += 0.125
    assert limiter.acquire("user:a") == 0.0
    assert limiter.acquire("user:a") > 0.0


def test_refill_stops_at_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=100, burst=2, clock=clock)
    limiter.acquire("user:a")
    clock.now += 3600
    assert [limiter.acquire("user:a") for _ in range(3)][-1] > 0.0


def test_callers_have_buckets_of_their_own() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=1, burst=1, clock=clock)
    assert limiter.acquire("user:a") == 0.0
    assert limiter.acquire("user:a") > 0.0
    assert limiter.acquire("user:b") == 0.0


def test_the_tracked_callers_are_bounded_oldest_first() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=1, burst=1, max_callers=2, clock=clock)
    limiter.acquire("user:a")
    limiter.acquire("user:b")
    limiter.acquire("user:a")  # a is now the most recent
    limiter.acquire("user:c")  # evicts b, the least recently seen
    assert len(limiter) == 2
    assert limiter.acquire("user:a") > 0.0  # still tracked, still empty
    assert limiter.acquire("user:b") == 0.0  # forgotten, so full again


def test_a_refusal_carries_retry_info() -> None:
    clock = Clock()
    limiter = RateLimiter(rate_per_s=4, burst=1, clock=clock)
    limiter.check("user:a")
    with pytest.raises(Exception) as caught:
        limiter.check("user:a")
    error = caught.value
    assert getattr(error, "code", None) == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = error.to_status()  # type: ignore[attr-defined]
    kinds = {detail.TypeName(): detail for detail in status.details}
    info = error_details_pb2.ErrorInfo()
    kinds["google.rpc.ErrorInfo"].Unpack(info)
    assert info.reason == RATE_LIMITED
    retry = error_details_pb2.RetryInfo()
    kinds["google.rpc.RetryInfo"].Unpack(retry)
    assert retry.retry_delay.ToNanoseconds() == 250_000_000


@pytest.mark.parametrize("rate, burst", [(0, 1), (1, 0.5), (-1, 10)])
def test_nonsense_limits_are_refused(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst)
