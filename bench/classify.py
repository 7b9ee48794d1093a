"""``zhijian bench classify``: the cost of each layer, measured in one run.

Arms: (a) in-process pyfunc predict, (b) HTTP straight to the BentoML model server,
(c) the classify gRPC service, (d) a bare grpc.aio pass-through hop (the reference cost
of one hop). Each reports p50/p99 at concurrency 1, throughput at concurrency N with
adaptive batching on, and the BentoML request-count delta and batch-size histogram it
caused, read from the model server's own /metrics.

Arms (b) to (d) call past the gateway, so each call carries an assertion minted here, as a
gateway would (with the intranet gateway's key, ``assertion-intranet.pem`` in the keys
directory; there is no switch that turns the check off). Minting is outside the timed
span of a sequential call; under throughput load every arm mints alike.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from bench.classify_passthrough import METHOD as PASSTHROUGH_METHOD
from services.classify.training import SEED_CORPUS
from zhijian import metadata as md
from zhijian.assertion import AssertionSigner, assertion_metadata
from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.classify.v1 import classify_service_pb2_grpc
from zhijian.identity import IdentitySettings
from zhijian.model_client import Forwarded
from zhijian.supervisor import free_port

Progress = Callable[[str], None]
WARMUP = 30
BENCH_ISSUER = "svc:bench"
BENCH_SUBJECT = "svc:bench"


@dataclass
class ArmResult:
    name: str
    p50_ms: float
    p99_ms: float
    throughput_rps: float
    concurrency: int
    bentoml_requests: int
    batch_sizes: dict[str, int] = field(default_factory=dict)
    errors: int = 0


@dataclass
class BenchReport:
    arms: list[ArmResult]
    ratios: dict[str, float]
    targets: dict[str, bool]

    def to_dict(self) -> dict[str, Any]:
        return {"arms": [asdict(a) for a in self.arms], "ratios": self.ratios,
                "targets_met": self.targets}

    def format_table(self) -> str:
        lines = [f"{'arm':<22}{'p50 ms':>9}{'p99 ms':>9}{'rps@c':>12}{'bentoml req':>13}"
                 "  batch sizes (size:count)"]
        for a in self.arms:
            sizes = " ".join(f"{k}:{v}" for k, v in a.batch_sizes.items() if v) or "-"
            lines.append(f"{a.name:<22}{a.p50_ms:>9.3f}{a.p99_ms:>9.3f}"
                         f"{a.throughput_rps:>9.0f}@{a.concurrency:<2}{a.bentoml_requests:>13}"
                         f"  {sizes}" + (f"  errors {a.errors}" if a.errors else ""))
        r = self.ratios
        lines += [
            "",
            f"gRPC service throughput / direct BentoML: {r['grpc_vs_bentoml_throughput']:.2f}"
            f"  (target >= 0.70: {'met' if self.targets['throughput'] else 'MISSED'})",
            f"p50 added by the gRPC service: {r['grpc_added_p50_ms']:.3f} ms; by a bare hop: "
            f"{r['bare_hop_added_p50_ms']:.3f} ms; excess {r['grpc_excess_over_bare_ms']:.3f} ms"
            f"  (target <= 0.300: {'met' if self.targets['added_latency'] else 'MISSED'})",
        ]
        return "\n".join(lines)


def sample_texts(count: int = 64) -> list[str]:
    lines = SEED_CORPUS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines[:count]]


def bentoml_counters(model_server_url: str) -> tuple[int, dict[str, float]]:
    """Requests to /predict that reached the model server's handler, and the cumulative
    adaptive batch-size buckets so far."""
    text = httpx.get(model_server_url + "/metrics", timeout=10, trust_env=False).text
    requests, buckets = 0, dict[str, float]()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            # BentoML counts before the assertion middleware answers: a 401 reached no
            # handler, let alone a model.
            if sample.name == "bentoml_service_request_total" \
                    and sample.labels.get("endpoint") == "/predict" \
                    and sample.labels.get("http_response_code") != "401":
                requests += int(sample.value)
            elif sample.name == "bentoml_service_adaptive_batch_size_bucket":
                le = sample.labels["le"]
                buckets[le] = buckets.get(le, 0) + sample.value
    return requests, buckets


def bucket_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    """Per-bucket (not cumulative) counts of batches formed between two snapshots."""
    def bound(le: str) -> float:
        return float("inf") if le == "+Inf" else float(le)

    edges = sorted(after, key=bound)
    result, previous = {}, 0.0
    for le in edges:
        cumulative = after[le] - before.get(le, 0.0)
        label = le if le == "+Inf" else str(int(float(le)))
        result[f"<={label}"] = round(cumulative - previous)
        previous = cumulative
    return result


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (statistics.median(ordered) * 1e3,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3)


Call = Callable[[str, Forwarded], Awaitable[Any]]
Mint = Callable[[], Forwarded]
BLOCK = 20  # sequential calls per arm before the next arm takes its turn


def minter(signer: AssertionSigner) -> Mint:
    """A fresh assertion per call, as the gateway sends: bound to a new request id."""
    def mint() -> Forwarded:
        metadata = dict(assertion_metadata(signer, subject=BENCH_SUBJECT, roles=("service",),
                                           audience="zhijian.classify.v1.ClassifyService"))
        return Forwarded(metadata[md.ASSERTION], metadata[md.REQUEST_ID])
    return mint


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    buckets: dict[str, float] = field(default_factory=dict)

    def add(self, before: tuple[int, dict[str, float]], after: tuple[int, dict[str, float]]
            ) -> None:
        self.requests += after[0] - before[0]
        for le, count in after[1].items():
            self.buckets[le] = self.buckets.get(le, 0.0) + count - before[1].get(le, 0.0)


async def sequential_latencies(arms: dict[str, Call], texts: list[str], requests: int,
                               model_server_url: str, mint: Mint) -> dict[str, _Tally]:
    """Concurrency 1, the arms taking turns in blocks: BentoML's batching dispatcher
    adapts its wait to recent traffic, so arms measured one after another would each
    meet a different dispatcher. Counters are read between blocks, per arm."""
    tallies = {name: _Tally() for name in arms}
    for start in range(0, requests, BLOCK):
        for name, call in arms.items():
            before = bentoml_counters(model_server_url)
            for i in range(start, min(start + BLOCK, requests)):
                forwarded = mint()
                began = time.perf_counter()
                await call(texts[i % len(texts)], forwarded)
                tallies[name].latencies.append(time.perf_counter() - began)
            tallies[name].add(before, bentoml_counters(model_server_url))
    return tallies


async def throughput(call: Call, texts: list[str], concurrency: int, seconds: float,
                     model_server_url: str, tally: _Tally, mint: Mint) -> tuple[float, int]:
    for i in range(WARMUP):
        await call(texts[i % len(texts)], mint())
    before = bentoml_counters(model_server_url)
    done, errors = 0, 0
    stop_at = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done, errors
        i = offset
        while time.perf_counter() < stop_at:
            try:
                await call(texts[i % len(texts)], mint())
                done += 1
            except Exception:
                errors += 1
            i += concurrency

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    tally.add(before, bentoml_counters(model_server_url))
    return done / elapsed, errors


def in_process_arm(version: str, tracking_uri: str, texts: list[str], requests: int,
                   concurrency: int, seconds: float, progress: Progress) -> ArmResult:
    import mlflow.pyfunc

    progress("arm in-process: loading the pyfunc model from MLflow")
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/zhijian-classify/{version}")
    for text in texts[:WARMUP]:
        model.predict(np.array([text]))
    latencies = []
    for i in range(requests):
        started = time.perf_counter()
        model.predict(np.array([texts[i % len(texts)]]))
        latencies.append(time.perf_counter() - started)
    # Batching "on" in-process means predicting `concurrency` texts per call.
    batch = np.array([texts[i % len(texts)] for i in range(concurrency)])
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.predict(batch)
        done += len(batch)
    p50, p99 = percentiles(latencies)
    return ArmResult("a in-process", round(p50, 3), round(p99, 3),
                     round(done / (time.perf_counter() - started), 1), concurrency, 0, {})


async def network_arms(classify_target: str, model_server_url: str, version: str,
                       texts: list[str], requests: int, concurrency: int, seconds: float,
                       progress: Progress, mint: Mint) -> list[ArmResult]:
    port = free_port()
    passthrough = subprocess.Popen(
        [sys.executable, "-m", "bench.classify_passthrough", "--port", str(port),
         "--model-server-url", model_server_url, "--version", version],
        stdin=subprocess.DEVNULL)
    try:
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=concurrency * 2), trust_env=False) as http, \
                grpc.aio.insecure_channel(classify_target) as service_channel, \
                grpc.aio.insecure_channel(f"127.0.0.1:{port}") as bare_channel:
            await asyncio.wait_for(bare_channel.channel_ready(), timeout=30)
            stub = classify_service_pb2_grpc.ClassifyServiceStub(service_channel)
            raw = bare_channel.unary_unary(PASSTHROUGH_METHOD)

            async def direct(text: str, forwarded: Forwarded) -> Any:
                async with http.post(model_server_url + "/predict",
                                     json={"items": [{"text": text, "version": version}]},
                                     headers=forwarded.headers()) as reply:
                    reply.raise_for_status()
                    return await reply.read()

            async def service(text: str, forwarded: Forwarded) -> Any:
                return await stub.Classify(pb.ClassifyRequest(text=text), timeout=30,
                                           metadata=tuple(forwarded.headers().items()))

            async def bare(text: str, forwarded: Forwarded) -> Any:
                # The hop forwards the assertion as the service does, so the model server
                # does the same work for every arm.
                return await raw(pb.ClassifyRequest(text=text).SerializeToString(), timeout=30,
                                 metadata=tuple(forwarded.headers().items()))

            arms: dict[str, Call] = {"b BentoML HTTP": direct, "c gRPC service": service,
                                     "d bare gRPC hop": bare}
            for call in arms.values():
                for i in range(WARMUP):
                    await call(texts[i % len(texts)], mint())
            progress(f"network arms: {requests} sequential calls each, taking turns")
            tallies = await sequential_latencies(arms, texts, requests, model_server_url, mint)
            results = []
            for name, call in arms.items():
                progress(f"arm {name}: {seconds:.0f}s at concurrency {concurrency}")
                rps, errors = await throughput(call, texts, concurrency, seconds,
                                               model_server_url, tallies[name], mint)
                p50, p99 = percentiles(tallies[name].latencies)
                results.append(ArmResult(name, round(p50, 3), round(p99, 3), round(rps, 1),
                                         concurrency, tallies[name].requests,
                                         bucket_delta({}, tallies[name].buckets), errors))
            return results
    finally:
        passthrough.terminate()
        passthrough.wait(timeout=10)


def run_benchmark(*, classify_target: str, model_server_url: str, tracking_uri: str,
                  requests: int, concurrency: int, seconds: float,
                  progress: Progress, keys_dir: Path | None = None) -> BenchReport:
    """``keys_dir``: where the gateways' assertion keys are (default: the platform's)."""
    # The calls come as from the intranet, whose gateway's key alone can vouch for it.
    signer = AssertionSigner.load(keys_dir or IdentitySettings.from_env().keys_dir,
                                  domain="intranet", issuer=BENCH_ISSUER)
    texts = sample_texts()
    # The registry decides which version serves; the arms that name one ask for that one.
    info = httpx.post(model_server_url + "/info", json={}, timeout=10, trust_env=False).json()
    version = str(info["model_version"])
    arms = [in_process_arm(version, tracking_uri, texts, requests, concurrency, seconds,
                           progress)]
    arms += asyncio.run(network_arms(classify_target, model_server_url, version, texts,
                                     requests, concurrency, seconds, progress, minter(signer)))
    by_name = {a.name[0]: a for a in arms}
    bentoml_arm, grpc_arm, bare_arm = by_name["b"], by_name["c"], by_name["d"]
    grpc_added = grpc_arm.p50_ms - bentoml_arm.p50_ms
    bare_added = bare_arm.p50_ms - bentoml_arm.p50_ms
    ratios = {
        "grpc_vs_bentoml_throughput": round(grpc_arm.throughput_rps
                                            / bentoml_arm.throughput_rps, 3),
        "grpc_added_p50_ms": round(grpc_added, 3),
        "bare_hop_added_p50_ms": round(bare_added, 3),
        "grpc_excess_over_bare_ms": round(grpc_added - bare_added, 3),
        "in_process_vs_bentoml_p50": round(by_name["a"].p50_ms / bentoml_arm.p50_ms, 3),
    }
    targets = {"throughput": ratios["grpc_vs_bentoml_throughput"] >= 0.70,
               "added_latency": ratios["grpc_excess_over_bare_ms"] <= 0.3}
    return BenchReport(arms, ratios, targets)
