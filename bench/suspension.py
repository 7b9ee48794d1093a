"""Suspension benchmark: how fast the kill switch reaches every serving process.

Under steady load on the classify service, suspend and resume its deployment many times.
For each cycle, measure from the moment SuspendDeployment returned to the completion of
the last call that was still accepted (answered OK) by any process. Prints p50 / p95 /
max; the target is p95 ≤ 1 s. A benchmark, not a test: it runs against the platform that
``zhijian up`` started and prints figures from one run.

The load calls the classify service directly, past the gateway, so each call carries an
assertion minted here with the gateways' key (``keys_dir``), as a gateway would. The
suspend/resume calls go to ``registry_target`` with the caller's ``metadata``: a gateway
of the intranet domain and a platform admin's token (the registry takes no person's
token directly).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from zhijian.assertion import AssertionSigner, assertion_metadata
from zhijian.identity import IdentitySettings
from zhijian.registry.v1 import registry_service_pb2 as pb

Progress = Callable[[str], None]
TEXTS = ("一次性使用无菌注射器", "electronic blood pressure monitor", "医用外科口罩",
         "amoxicillin capsules 250 mg", "保湿面霜")
BENCH_SUBJECT = "svc:bench"


@dataclass
class Load:
    """Classify calls in a loop from several concurrent clients; keeps when each OK
    answer arrived."""

    target: str
    concurrency: int
    signer: AssertionSigner
    ok_times: list[float] = field(default_factory=list)
    refused: int = 0
    other: dict[str, int] = field(default_factory=dict)
    calls: int = 0

    async def run(self, stop: asyncio.Event) -> None:
        from zhijian.classify.v1 import classify_service_pb2 as cpb
        from zhijian.classify.v1 import classify_service_pb2_grpc as cgrpc
        from zhijian.client import open_channel

        async with open_channel(self.target, traced=False) as channel:
            stub = cgrpc.ClassifyServiceStub(channel)

            async def client(index: int) -> None:
                i = index
                while not stop.is_set():
                    i += 1
                    request = cpb.ClassifyRequest(text=TEXTS[i % len(TEXTS)])
                    metadata = assertion_metadata(
                        self.signer, subject=BENCH_SUBJECT, roles=("service",),
                        audience=cpb.DESCRIPTOR.services_by_name["ClassifyService"].full_name)
                    try:
                        await stub.Classify(request, timeout=5, metadata=metadata)
                        self.ok_times.append(time.monotonic())
                    except grpc.aio.AioRpcError as error:
                        if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                            self.refused += 1
                        else:
                            self.other[error.code().name] = self.other.get(
                                error.code().name, 0) + 1
                        await asyncio.sleep(0.005)
                    self.calls += 1

            await asyncio.gather(*(client(n) for n in range(self.concurrency)))

    def last_ok_after(self, moment: float) -> float | None:
        later = [t for t in self.ok_times[-5000:] if t >= moment]
        return max(later) if later else None


@dataclass
class Report:
    cycles: int
    lags_ms: list[float]
    calls: int
    refused: int
    other: dict[str, int]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.lags_ms)
        return {"cycles": self.cycles, "p50_ms": _percentile(ordered, 0.50),
                "p95_ms": _percentile(ordered, 0.95), "max_ms": ordered[-1] if ordered else None,
                "calls": self.calls, "refused_calls": self.refused, "other_errors": self.other,
                "seconds": round(self.seconds, 1), "target_p95_ms": 1000.0}

    def format(self) -> str:
        d = self.to_dict()
        return "\n".join([
            f"suspension → last accepted call, over {d['cycles']} suspend/resume cycles "
            f"under load ({d['calls']} calls, {d['refused_calls']} refused while suspended, "
            f"other errors {d['other_errors'] or 'none'}; {d['seconds']} s)",
            f"  p50 {d['p50_ms']:.1f} ms   p95 {d['p95_ms']:.1f} ms   max {d['max_ms']:.1f} ms"
            f"   (target p95 ≤ 1000 ms: {'met' if d['p95_ms'] <= 1000 else 'missed'})",
        ])


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return predicate()


async def run(classify_target: str, registry_target: str, metadata: tuple[tuple[str, str], ...],
              model: str, cycles: int, concurrency: int, progress: Progress,
              keys_dir: Path | None = None) -> Report:
    """``keys_dir``: where the gateways' assertion keys are (default: the platform's)."""
    from zhijian.cli.session import open_registry

    # The load comes as from the intranet, whose gateway's key alone can vouch for it.
    signer = AssertionSigner.load(keys_dir or IdentitySettings.from_env().keys_dir,
                                  domain="intranet", issuer="svc:bench")
    started = time.monotonic()
    load = Load(classify_target, concurrency, signer)
    stop = asyncio.Event()
    loader = asyncio.create_task(load.run(stop))
    lags: list[float] = []
    name = f"deployments/{model}"
    try:
        async with open_registry(registry_target) as registry:
            if not await _wait_for(lambda: len(load.ok_times) > 50, 30):
                raise RuntimeError("the classify service accepts no calls; is it serving?")
            for cycle in range(1, cycles + 1):
                await registry.SuspendDeployment(pb.SuspendDeploymentRequest(
                    name=name, reason=f"benchmark cycle {cycle}"), metadata=metadata,
                    timeout=10)
                returned = time.monotonic()
                refused_before = load.refused

                def stopped(before: int = refused_before) -> bool:
                    return load.refused > before + concurrency

                await _wait_for(stopped, 10)
                await asyncio.sleep(0.3)
                last = load.last_ok_after(returned)
                lags.append(0.0 if last is None else (last - returned) * 1000)
                await registry.ResumeDeployment(pb.ResumeDeploymentRequest(
                    name=name, reason=f"benchmark cycle {cycle} done"), metadata=metadata,
                    timeout=10)
                count = len(load.ok_times)

                def flowing(before: int = count) -> bool:
                    return len(load.ok_times) > before + 10

                if not await _wait_for(flowing, 10):
                    raise RuntimeError(f"cycle {cycle}: calls did not resume within 10 s")
                if cycle % 10 == 0:
                    progress(f"{cycle}/{cycles} cycles; lag p50 "
                             f"{statistics.median(lags):.0f} ms, max {max(lags):.0f} ms")
    finally:
        stop.set()
        await loader
    return Report(cycles, lags, load.calls, load.refused, load.other,
                  time.monotonic() - started)
