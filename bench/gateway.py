"""What the gateway costs, measured once on this machine: ``python -m bench gateway``.

Not a test: it prints figures. In a temporary ZHIJIAN_HOME with fresh keys it starts a
trivial ClassifyService backend (constant answer, but it verifies the caller assertion
like every real service, through the kernel's ``generic_handler``), a bare grpc.aio
pass-through hop (raw bytes, metadata forwarded, no auth) and a real gateway process
(``python -m gateway``, intranet, routing ClassifyService to the backend). Then, at the
same offered load (a fixed-rate open loop of unary Classify calls), it measures

  (a) client -> bare hop -> backend      (assertion minted by the client)
  (b) client -> backend                  (assertion minted by the client)
  (c) client -> gateway -> backend       (business_system token; the gateway mints)

and prints p50/p99 of each, what the hop and the gateway add over (b), the CPU the hop
and the gateway process spend per call, the gateway's closed-loop throughput to the
trivial backend (with the bare hop's and the backend's own for scale), and the
in-process costs of a cached authorization decision and of minting an assertion.
Targets: the gateway adds at most the bare hop's cost + 0.3 ms at p50 and at most 2 ms
at p99; a cached decision takes at most 10 µs.

Fairness on a small machine: the load generator is this process; the backend, the hop
and the gateway each run in a process of their own, so no server shares an event loop
(or the GIL) with the client or with another server. The three paths are measured with
identical client code in interleaved slices (a, b, c, a, b, c, ...), so that a burst of
other work on the machine falls on all of them alike; only the path differs. On two
cores the servers still compete with the client for CPU, which is what the throughput
figures mean: calls/s of this whole setup, with the gateway's CPU share beside them.
A stand-in registry in a process of its own answers the gateway's revocation polls (an
empty list: the gateway refuses every call until it has read one) and acknowledges its
call records, so the write-ahead file is written, synced and shipped as in production.
The gateway exports no spans.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import grpc
from google.protobuf import json_format

from zhijian import metadata as md
from zhijian.assertion import AssertionSigner, AssertionVerifier
from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.identity import IdentitySettings, IssuerKey, issue_token
from zhijian.supervisor import free_port

CLASSIFY_SERVICE: Final = "zhijian.classify.v1.ClassifyService"
CLASSIFY: Final = f"/{CLASSIFY_SERVICE}/Classify"
HOST: Final = "127.0.0.1"
READY: Final = "ready"
START_TIMEOUT_S: Final = 60.0
CALL_TIMEOUT_S: Final = 10.0
# Targets of issue 4 (gateway benchmark).
TARGET_P50_OVER_HOP_MS: Final = 0.3
TARGET_P99_ADDED_MS: Final = 2.0
TARGET_DECISION_US: Final = 10.0
# Headers gRPC sets itself on every hop; a pass-through must not forward them.
_TRANSPORT: Final = frozenset({"user-agent", "te", "content-type", "host",
                               "grpc-accept-encoding", "grpc-encoding", "grpc-timeout"})


# --- the servers (each runs as ``python -m bench gateway --role ...``) ------------------

class ConstantClassify:
    """A ClassifyService that answers at once with the same result, as a model-free
    stand-in for the real service: what is measured is the path, not the work."""

    def __init__(self) -> None:
        from zhijian.types.v1 import ai_result_pb2 as types_pb

        result = cpb.TaskResult(task=cpb.TASK_PRODUCT_CATEGORY, label="device",
                                display_name="医疗器械", terms=["注射器"])
        result.probabilities.add(label="device", display_name="医疗器械", probability=0.9)
        result.probabilities.add(label="drug", display_name="药品", probability=0.1)
        self._response = cpb.ClassifyResponse(
            result=types_pb.AiResult(result_id="bench", ai_generated=True,
                                     review_required=True),
            results=[result])

    def _trailers(self, call: Any) -> None:
        # What the real service names on every answer; the gateway reads it for the record.
        call.set_trailer(md.MODEL_VERSION, "bench-classify/1")
        call.set_trailer(md.FILING_ID, "bench-filing")
        call.set_trailer(md.EFFECTIVE_LEVEL, "DATA_LEVEL_L1_PUBLIC")

    async def Classify(self, request: cpb.ClassifyRequest, call: Any) -> cpb.ClassifyResponse:
        self._trailers(call)
        return self._response

    async def ClassifyBatch(self, request: cpb.ClassifyBatchRequest, call: Any
                            ) -> cpb.ClassifyBatchResponse:
        self._trailers(call)
        return cpb.ClassifyBatchResponse(responses=[self._response] * len(request.requests))

    async def ReviewResult(self, request: cpb.ReviewResultRequest, call: Any) -> Any:
        from zhijian.errors import NotFound

        raise NotFound("the benchmark backend keeps no results", reason="RESULT_NOT_FOUND")


async def serve_backend(port: int, keys_dir: Path) -> None:
    from zhijian.server import Service, generic_handler

    server = grpc.aio.server()
    service = Service(cpb.DESCRIPTOR.services_by_name["ClassifyService"], ConstantClassify())
    server.add_generic_rpc_handlers((generic_handler(
        service, 30.0, assertions=AssertionVerifier.from_keys_dir(keys_dir)),))
    await _serve(server, port)


class PassThrough(grpc.GenericRpcHandler):
    """The least a gRPC hop can do: take the bytes and the metadata, call the backend
    with them within the caller's deadline, hand back the answer and its trailers."""

    def __init__(self, backend: str) -> None:
        self._channel = grpc.aio.insecure_channel(backend)
        self._callables: dict[str, Any] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        callable_ = self._callables.get(method)
        if callable_ is None:
            callable_ = self._callables[method] = self._channel.unary_unary(method)

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            metadata = tuple((k, v) for k, v in context.invocation_metadata() or ()
                             if k not in _TRANSPORT and not k.startswith(("grpc-", ":")))
            call = callable_(request, metadata=metadata, timeout=context.time_remaining())
            try:
                response: bytes = await call
            except grpc.aio.AioRpcError as error:
                await context.abort(error.code(), error.details() or "",
                                    error.trailing_metadata() or ())
                raise
            context.set_trailing_metadata(await call.trailing_metadata() or ())
            return response

        return grpc.unary_unary_rpc_method_handler(forward)


async def serve_registry(port: int, recorded: list[dict[str, Any]]) -> None:
    """The registry methods a gateway calls on its own: revocations, recorded credentials
    (the benchmark's tokens) and call records. Not the real registry (that needs MLflow and
    a database): the benchmark measures the gateway, and these answers cost the registry
    side nothing."""
    from zhijian.registry.v1 import registry_service_pb2 as rpb

    async def revocations(request: rpb.ListRevocationsRequest,
                          context: grpc.aio.ServicerContext) -> rpb.ListRevocationsResponse:
        return rpb.ListRevocationsResponse()

    async def credentials(request: rpb.ListCredentialsRequest,
                          context: grpc.aio.ServicerContext) -> rpb.ListCredentialsResponse:
        return rpb.ListCredentialsResponse(credentials=[
            json_format.ParseDict(record, rpb.Credential()) for record in recorded])

    async def append(request: rpb.AppendCallRecordsRequest,
                     context: grpc.aio.ServicerContext) -> rpb.AppendCallRecordsResponse:
        return rpb.AppendCallRecordsResponse(appended_count=len(request.records))

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "zhijian.registry.v1.RegistryService", {
            "ListRevocations": grpc.unary_unary_rpc_method_handler(
                revocations, request_deserializer=rpb.ListRevocationsRequest.FromString,
                response_serializer=rpb.ListRevocationsResponse.SerializeToString),
            "ListCredentials": grpc.unary_unary_rpc_method_handler(
                credentials, request_deserializer=rpb.ListCredentialsRequest.FromString,
                response_serializer=rpb.ListCredentialsResponse.SerializeToString),
            "AppendCallRecords": grpc.unary_unary_rpc_method_handler(
                append, request_deserializer=rpb.AppendCallRecordsRequest.FromString,
                response_serializer=rpb.AppendCallRecordsResponse.SerializeToString),
        }),))
    await _serve(server, port)


async def serve_hop(port: int, backend: str) -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((PassThrough(backend),))
    await _serve(server, port)


async def _serve(server: grpc.aio.Server, port: int) -> None:
    if server.add_insecure_port(f"{HOST}:{port}") == 0:
        raise OSError(f"cannot listen on {HOST}:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(READY, flush=True)
    await stop.wait()
    await server.stop(1.0)


# --- the measurement (this process) -------------------------------------------------------

@dataclass(frozen=True)
class Latencies:
    """One path at the offered load: latencies in seconds, sorted, and failed calls."""

    label: str
    seconds: list[float]
    errors: int
    behind_s: float  # how late the generator sent its last call (0: it kept the rate)
    server_cpu_s: float  # CPU the path's own process (hop or gateway) used meanwhile

    def quantile(self, q: float) -> float:
        if not self.seconds:
            return float("nan")
        return self.seconds[min(len(self.seconds) - 1, max(0, round(q * len(self.seconds)) - 1))]

    @property
    def p50_ms(self) -> float:
        return self.quantile(0.50) * 1e3

    @property
    def p99_ms(self) -> float:
        return self.quantile(0.99) * 1e3


Call = Callable[[], Awaitable[None]]


async def open_loop(call: Call, rate: float, seconds: float) -> tuple[list[float], int, float]:
    """Calls at a fixed rate whatever the answers' speed (an open loop, as independent
    callers behave). Latency is timed from each call's actual send."""
    latencies: list[float] = []
    errors = 0
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        nonlocal errors
        sent = time.perf_counter()
        try:
            await call()
        except grpc.aio.AioRpcError:
            errors += 1
            return
        latencies.append(time.perf_counter() - sent)

    count = max(1, int(rate * seconds))
    start = time.perf_counter()
    behind = 0.0
    for i in range(count):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        behind = max(0.0, time.perf_counter() - due)
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    latencies.sort()
    return latencies, errors, behind


async def closed_loop(call: Call, concurrency: int, seconds: float) -> tuple[int, int]:
    """``concurrency`` callers each calling again as soon as answered: (done, errors)."""
    done = errors = 0
    stop_at = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal done, errors
        while time.perf_counter() < stop_at:
            try:
                await call()
                done += 1
            except grpc.aio.AioRpcError:
                errors += 1

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return done, errors


def _cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@dataclass
class Paths:
    """The three ways to the backend, as callables the load loops drive."""

    direct: Call
    hop: Call
    gateway: Call
    hop_pid: int
    gateway_pid: int


def classify_calls(channels: dict[str, grpc.aio.Channel], signer: AssertionSigner,
                   business_token: str, hop_pid: int, gateway_pid: int) -> Paths:
    request = cpb.ClassifyRequest(text="一次性使用无菌注射器").SerializeToString()

    def minted() -> tuple[tuple[str, str], ...]:
        # Minted before the call is timed; (a) and (b) pay the signature in the client,
        # where (c) pays it in the gateway.
        request_id = uuid.uuid4().hex
        return ((md.REQUEST_ID, request_id),
                (md.ASSERTION, signer.mint(subject="user:review-system",
                                           roles=("business_system",), clearance="L3",
                                           domain="intranet", request_id=request_id,
                                           audience=CLASSIFY_SERVICE)))

    def with_assertion(channel: grpc.aio.Channel) -> Call:
        method = channel.unary_unary(CLASSIFY)

        async def call() -> None:
            metadata = minted()
            await method(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        return call

    gateway_method = channels["gateway"].unary_unary(CLASSIFY)
    authorization = f"Bearer {business_token}"

    async def through_gateway() -> None:
        await gateway_method(request, timeout=CALL_TIMEOUT_S, metadata=(
            (md.AUTHORIZATION, authorization), (md.REQUEST_ID, uuid.uuid4().hex)))

    return Paths(with_assertion(channels["direct"]), with_assertion(channels["hop"]),
                 through_gateway, hop_pid, gateway_pid)


async def measure_latency(paths: Paths, rate: float, seconds: float, warmup_s: float,
                          rounds: int) -> list[Latencies]:
    """Each path for ``seconds`` in all, in ``rounds`` slices taken in turn (a, b, c, a,
    b, c, ...): a burst of other work on the machine then falls on every path alike
    instead of on whichever happened to be running."""
    runs = (("(a) bare grpc.aio hop", paths.hop, paths.hop_pid),
            ("(b) direct to the service", paths.direct, None),
            ("(c) through the gateway", paths.gateway, paths.gateway_pid))
    for _, call, _ in runs:
        await open_loop(call, rate, warmup_s)
    gathered: dict[str, tuple[list[float], int, float, float]] = {
        label: ([], 0, 0.0, 0.0) for label, _, _ in runs}
    for _ in range(rounds):
        for label, call, pid in runs:
            before = _cpu_seconds(pid)
            latencies, errors, behind = await open_loop(call, rate, seconds / rounds)
            cpu = _cpu_seconds(pid) - before
            seen, failed, lag, used = gathered[label]
            gathered[label] = (seen + latencies, failed + errors, max(lag, behind), used + cpu)
    return [Latencies(label, sorted(seen), failed, lag, used)
            for label, (seen, failed, lag, used) in gathered.items()]


# --- in-process costs -------------------------------------------------------------------

def _per_call_us(function: Callable[[], object], calls: int) -> float:
    function()
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls * 1e6


@dataclass(frozen=True)
class Micro:
    allowed_us: float
    decide_us: float
    mint_us: float
    verify_us: float


def micro_costs(signer: AssertionSigner, keys_dir: Path, calls: int) -> Micro:
    from gateway.authz import L1, L4, Authorizer

    authorizer = Authorizer.from_files()
    roles = frozenset({"business_system"})
    verifier = AssertionVerifier.from_keys_dir(keys_dir)
    token = signer.mint(subject="user:review-system", roles=roles, clearance="L3",
                        domain="intranet", request_id="bench", audience=CLASSIFY_SERVICE)
    return Micro(
        allowed_us=_per_call_us(lambda: authorizer.allowed(roles, "intranet", CLASSIFY),
                                calls),
        decide_us=_per_call_us(lambda: authorizer.decide(roles, L4, "intranet", CLASSIFY, L1),
                               calls),
        mint_us=_per_call_us(lambda: signer.mint(
            subject="user:review-system", roles=roles, clearance="L3", domain="intranet",
            request_id="bench", audience=CLASSIFY_SERVICE), max(calls // 100, 500)),
        verify_us=_per_call_us(lambda: verifier.verify(token, request_id="bench"),
                               max(calls // 100, 500)))


# --- orchestration ----------------------------------------------------------------------

class Processes:
    """The servers, stopped (SIGTERM, then SIGKILL) however the run ends."""

    def __init__(self, logs: Path) -> None:
        self._logs = logs
        self.started: list[subprocess.Popen[str]] = []

    def start(self, name: str, argv: Sequence[str], env: dict[str, str],
              wait_for_line: bool) -> subprocess.Popen[str]:
        log = (self._logs / f"{name}.log").open("w")
        process = subprocess.Popen(list(argv), env=env, text=True, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE if wait_for_line else log,
                                   stderr=log)
        log.close()
        self.started.append(process)
        if wait_for_line:
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if line != READY:
                raise RuntimeError(f"{name} did not start ({line!r}); see {self._logs}")
        return process

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_serving(target: str, timeout_s: float) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=2,
                                         wait_for_ready=True)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the gateway on {target} did not become SERVING")
            await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Options:
    rate: float
    seconds: float
    warmup_s: float
    rounds: int
    concurrency: int
    throughput_s: float
    micro_calls: int
    profile: Path | None
    load_at_start: float


@dataclass(frozen=True)
class Results:
    latencies: list[Latencies]
    gateway_throughput: float
    gateway_cpu_share: float
    hop_throughput: float
    hop_cpu_share: float
    direct_throughput: float
    throughput_errors: int
    micro: Micro
    load_at_end: float


async def run(options: Options, workdir: Path) -> Results:
    home = workdir / "home"
    keys = home / "keys"
    identity = IdentitySettings.from_env({"ZHIJIAN_HOME": str(home)})
    issuer = IssuerKey.load_or_create(keys)
    # The benchmarked gateway is the intranet one: its key is the one direct calls use.
    signer = AssertionSigner.load_or_create(keys, issuer="svc:bench", domain="intranet")

    recorded: list[dict[str, Any]] = []

    def token(subject: str, roles: list[str], clearance: str) -> str:
        issued = issue_token(issuer, subject=subject, roles=roles, clearance=clearance,
                             ttl_s=3600, issuer_name=identity.issuer_name,
                             audience=identity.audience)
        # What the stand-in registry says it issued.
        recorded.append({"credential_id": issued.jti, "subject": subject, "roles": roles,
                         "clearance": clearance,
                         "expire_time": issued.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")})
        return issued.token

    token_file = workdir / "gateway-intranet.jwt"
    token_file.write_text(token("svc:gateway-intranet", ["service"], "L4"))
    business = token("user:review-system", ["business_system"], "L3")

    ports = {name: free_port() for name in ("backend", "hop", "gateway", "registry")}
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ZHIJIAN_", "OTEL_"))}
    env.update({"ZHIJIAN_HOME": str(home), "ZHIJIAN_KEYS_DIR": str(keys)})
    gateway_env = {
        **env,
        "ZHIJIAN_GATEWAY_DOMAIN": "intranet",
        "ZHIJIAN_GATEWAY_PORT": str(ports["gateway"]),
        "ZHIJIAN_GATEWAY_METRICS_PORT": "0",
        "ZHIJIAN_GATEWAY_ROUTES":
            f"zhijian.classify.v1.ClassifyService={HOST}:{ports['backend']}",
        "ZHIJIAN_GATEWAY_AUDIT_DIR": str(workdir / "audit"),
        "ZHIJIAN_REGISTRY_TARGET": f"{HOST}:{ports['registry']}",
        "ZHIJIAN_IDENTITY_TOKEN_FILE": str(token_file),
        # The benchmark measures the gateway, not its per-caller rate limit.
        "ZHIJIAN_GATEWAY_RATE_PER_S": "1000000",
        "ZHIJIAN_GATEWAY_BURST": "1000000",
        "ZHIJIAN_LOG_LEVEL": "WARNING",
    }
    me = [sys.executable, "-m", "bench.gateway"]
    gateway_argv = [sys.executable, "-m", "gateway"]
    if options.profile is not None:
        gateway_argv = [sys.executable, "-m", "cProfile", "-o", str(options.profile), "-m",
                        "gateway"]
    processes = Processes(workdir)
    try:
        processes.start("backend", [*me, "--role", "backend", "--port", str(ports["backend"])],
                        env, wait_for_line=True)
        processes.start("registry", [*me, "--role", "registry", "--port",
                                     str(ports["registry"]), "--recorded", json.dumps(recorded)],
                        env, wait_for_line=True)
        hop = processes.start("hop", [*me, "--role", "hop", "--port", str(ports["hop"]),
                                      "--backend", f"{HOST}:{ports['backend']}"],
                              env, wait_for_line=True)
        gateway = processes.start("gateway", gateway_argv, gateway_env, wait_for_line=False)
        await wait_serving(f"{HOST}:{ports['gateway']}", START_TIMEOUT_S)

        channels = {name: grpc.aio.insecure_channel(f"{HOST}:{ports[port]}")
                    for name, port in (("direct", "backend"), ("hop", "hop"),
                                       ("gateway", "gateway"))}
        try:
            paths = classify_calls(channels, signer, business, hop.pid, gateway.pid)
            latencies = await measure_latency(paths, options.rate, options.seconds,
                                              options.warmup_s, options.rounds)
            await closed_loop(paths.gateway, options.concurrency, options.warmup_s)
            before = _cpu_seconds(gateway.pid)
            done, gateway_errors = await closed_loop(paths.gateway, options.concurrency,
                                                     options.throughput_s)
            cpu_share = (_cpu_seconds(gateway.pid) - before) / options.throughput_s
            before = _cpu_seconds(hop.pid)
            hop_done, hop_errors = await closed_loop(paths.hop, options.concurrency,
                                                     options.throughput_s)
            hop_share = (_cpu_seconds(hop.pid) - before) / options.throughput_s
            direct_done, direct_errors = await closed_loop(paths.direct, options.concurrency,
                                                           options.throughput_s)
        finally:
            for channel in channels.values():
                await channel.close()
    finally:
        processes.stop()
    micro = micro_costs(signer, keys, options.micro_calls)
    return Results(latencies, done / options.throughput_s, cpu_share,
                   hop_done / options.throughput_s, hop_share,
                   direct_done / options.throughput_s,
                   gateway_errors + hop_errors + direct_errors, micro, os.getloadavg()[0])


def _verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def report(options: Options, results: Results) -> str:
    by_key = {r.label[:3]: r for r in results.latencies}
    direct, hop, gateway = by_key["(b)"], by_key["(a)"], by_key["(c)"]
    lines = [
        f"zhijian gateway benchmark: one run on this machine ({os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, grpcio {grpc.__version__})",
        f"offered load: {options.rate:g} unary Classify calls/s, open loop, for "
        f"{options.seconds:g} s per path (in {options.rounds} interleaved slices) after "
        f"{options.warmup_s:g} s of warm-up",
        "the client is this process; backend, hop and gateway each run in their own; "
        f"load average {options.load_at_start:.2f} at start, {results.load_at_end:.2f} at the "
        "end (other work on the machine skews the tails)",
        "",
        f"{'path':<30}{'calls':>7}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'server CPU/call':>17}",
    ]
    for r in (hop, direct, gateway):
        calls = len(r.seconds)
        cpu = f"{r.server_cpu_s / calls * 1e6:.0f} µs" if calls and r.server_cpu_s else "-"
        lines.append(f"{r.label:<30}{calls:>7}{r.errors:>8}{r.p50_ms:>9.3f}{r.p99_ms:>9.3f}"
                     f"{r.quantile(1.0) * 1e3:>9.3f}{cpu:>17}")
    lag = max(r.behind_s for r in results.latencies)
    if lag > 0.005:
        lines.append(f"note: the load generator fell up to {lag * 1e3:.1f} ms behind its "
                     "schedule; the offered load was not fully kept")
    hop_p50, hop_p99 = hop.p50_ms - direct.p50_ms, hop.p99_ms - direct.p99_ms
    gw_p50, gw_p99 = gateway.p50_ms - direct.p50_ms, gateway.p99_ms - direct.p99_ms
    micro = results.micro
    p50_met = gw_p50 <= hop_p50 + TARGET_P50_OVER_HOP_MS
    p99_met = gw_p99 <= TARGET_P99_ADDED_MS
    decision_met = micro.allowed_us <= TARGET_DECISION_US
    lines += [
        "",
        f"{'added over (b) direct':<30}{'p50 ms':>9}{'p99 ms':>9}",
        f"{'(a) bare hop':<30}{hop_p50:>+9.3f}{hop_p99:>+9.3f}",
        f"{'(c) gateway':<30}{gw_p50:>+9.3f}{gw_p99:>+9.3f}",
        f"{'gateway beyond the bare hop':<30}{gw_p50 - hop_p50:>+9.3f}{gw_p99 - hop_p99:>+9.3f}",
        "",
        f"throughput, closed loop, {options.concurrency} concurrent callers, "
        f"{options.throughput_s:g} s each:",
        f"  through the gateway to the trivial backend: {results.gateway_throughput:8.0f} "
        f"calls/s (gateway process at {results.gateway_cpu_share:.0%} of one CPU)",
        f"  through the bare hop:                       {results.hop_throughput:8.0f} "
        f"calls/s (hop process at {results.hop_cpu_share:.0%} of one CPU)",
        f"  direct to the trivial backend:              {results.direct_throughput:8.0f} "
        "calls/s",
    ]
    if results.throughput_errors:
        lines.append(f"  ({results.throughput_errors} calls failed during the throughput runs)")
    lines += [
        "",
        "in-process costs:",
        f"  authorization decision, cache hit (Authorizer.allowed): {micro.allowed_us:7.3f} µs",
        f"  full gateway decision, cache hit (Authorizer.decide):   {micro.decide_us:7.3f} µs",
        f"  assertion mint (AssertionSigner.mint, Ed25519):         {micro.mint_us:7.1f} µs",
        f"  assertion verify (what each service pays per call):     {micro.verify_us:7.1f} µs",
        "",
        "targets:",
        f"  gateway adds ≤ bare hop + {TARGET_P50_OVER_HOP_MS} ms at p50: {gw_p50:+.3f} ms vs "
        f"{hop_p50 + TARGET_P50_OVER_HOP_MS:+.3f} ms allowed: {_verdict(p50_met)}",
        f"  gateway adds ≤ {TARGET_P99_ADDED_MS} ms at p99: {gw_p99:+.3f} ms: "
        f"{_verdict(p99_met)}",
        f"  cached decision ≤ {TARGET_DECISION_US:g} µs: {micro.allowed_us:.3f} µs: "
        f"{_verdict(decision_met)}",
    ]
    if any(r.errors for r in results.latencies):
        lines.append("WARNING: calls failed during the latency runs; see the figures above")
    return "\n".join(lines)


def print_profile(path: Path, top: int = 25) -> None:
    import pstats

    print(f"\ngateway profile ({path}), top {top} by own time:")
    pstats.Stats(str(path)).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench gateway",
                                     description="Measure what the gateway adds (one run).")
    parser.add_argument("--rate", type=float, default=250.0,
                        help="offered load of the latency runs, calls/s (same for all paths)")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="measured seconds per path at the offered load")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per path")
    parser.add_argument("--rounds", type=int, default=4,
                        help="slices the measured seconds of each path are taken in, in turn")
    parser.add_argument("--concurrency", type=int, default=32,
                        help="concurrent callers of the throughput runs")
    parser.add_argument("--throughput-seconds", type=float, default=4.0,
                        help="seconds of each closed-loop throughput run")
    parser.add_argument("--micro-calls", type=int, default=200_000,
                        help="iterations of the cached-decision timing")
    parser.add_argument("--profile", type=Path, default=None,
                        help="run the gateway under cProfile, write the stats here and print "
                             "the top functions")
    parser.add_argument("--role", choices=("backend", "hop", "registry"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--recorded", default="[]", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "backend":
        keys_dir = IdentitySettings.from_env().keys_dir
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_backend(args.port, keys_dir))
        return 0
    if args.role == "hop":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_hop(args.port, args.backend))
        return 0
    if args.role == "registry":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_registry(args.port, json.loads(args.recorded)))
        return 0
    if min(args.rate, args.seconds, args.warmup, args.throughput_seconds) <= 0 or \
            args.concurrency < 1 or args.micro_calls < 1 or args.rounds < 1:
        parser.error("rates, durations, concurrency and calls must be positive")
    options = Options(args.rate, args.seconds, args.warmup, args.rounds, args.concurrency,
                      args.throughput_seconds, args.micro_calls,
                      args.profile.resolve() if args.profile else None, os.getloadavg()[0])
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="zhijian-gateway-bench-") as workdir:
        try:
            results = asyncio.run(run(options, Path(workdir)))
        except (RuntimeError, TimeoutError, OSError) as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            for log in sorted(Path(workdir).glob("*.log")):
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}",
                      file=sys.stderr)
            return 1
    print(report(options, results))
    command = " ".join(["python -m bench gateway", *(argv if argv is not None else sys.argv[1:])])
    print(f"\n(whole run {time.monotonic() - started:.0f} s; command: {command})")
    if options.profile is not None:
        print_profile(options.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
