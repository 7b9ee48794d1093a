"""``python -m bench authz``: µs per gateway authorization decision with the default
policy, from the decision cache and uncached (Casbin over the whole policy)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Final

from gateway.authz import L1, L4, Authorizer

METHOD: Final = "/zhijian.classify.v1.ClassifyService/Classify"


def _per_call_us(seconds: float, calls: int) -> float:
    return seconds / calls * 1e6


def bench(calls: int = 200_000) -> tuple[float, float]:
    """(cached, uncached) µs per decide() with the default policy."""
    authorizer = Authorizer.from_files()
    roles = frozenset({"business_system"})
    authorizer.decide(roles, L4, "extranet", METHOD, L1)
    start = time.perf_counter()
    for _ in range(calls):
        authorizer.decide(roles, L4, "extranet", METHOD, L1)
    cached = _per_call_us(time.perf_counter() - start, calls)
    uncached_calls = max(calls // 100, 200)
    start = time.perf_counter()
    for _ in range(uncached_calls):
        authorizer._state.cache.clear()
        authorizer.decide(roles, L4, "extranet", METHOD, L1)
    uncached = _per_call_us(time.perf_counter() - start, uncached_calls)
    return cached, uncached


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench authz")
    parser.add_argument("--calls", type=int, default=200_000)
    args = parser.parse_args(argv)
    cached, uncached = bench(args.calls)
    print(f"cached decision:   {cached:8.3f} µs  (target ≤ 10 µs)")
    print(f"uncached decision: {uncached:8.3f} µs  (Casbin over the full default policy)")
    return 0
