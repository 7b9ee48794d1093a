"""The generic engine: plans calls from a service spec, sends them through the gateways
over grpc.aio with bounded concurrency, and tallies what comes back.

Knows nothing of any particular service: the method table, the request types and the
field shapes come from the spec's service descriptor, the callers and seeds from the
spec. Every call is sent as raw bytes (identity serializer), whether a protobuf library
built them or ``fuzz.wire`` wrote them by hand.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import grpc
from google.protobuf import message as pb_message
from google.protobuf import text_format
from google.rpc import error_details_pb2, status_pb2

from fuzz import values, wire
from fuzz.choose import Chooser, RandomChooser, weighted
from fuzz.credentials import Credential, Credentials
from fuzz.generate import Fixtures, Generator, message_class
from fuzz.spec import Caller, MethodSpec, ServiceSpec
from zhijian import metadata as md
from zhijian.config import NETWORK_DOMAINS

# What counts as the platform failing rather than refusing.
FAILURE_CODES: Final = frozenset({"INTERNAL", "UNKNOWN"})
# Answers given before the service's own logic ran: the call was not "exercised".
_NOT_EXERCISED_REASONS: Final = frozenset({
    "ROLE_NOT_PERMITTED", "RATE_LIMITED", "AUDIT_UNAVAILABLE", "BACKEND_UNAVAILABLE",
    "BACKEND_NOT_CONFIGURED", "MESSAGE_TOO_LARGE", "REVOCATIONS_UNKNOWN", "UNKNOWN_METHOD"})
# The message limit of every gateway and service (ZHIJIAN_MAX_MESSAGE_BYTES): oversized
# calls straddle it and twice it, where gRPC itself cuts the message off.
MESSAGE_LIMIT: Final = 4 * 1024 * 1024
_CHANNEL_LIMIT: Final = 4 * MESSAGE_LIMIT
# At most this many oversized calls per service: each moves megabytes.
OVERSIZED_PER_SERVICE: Final = 40
EXAMPLES_PER_FINDING: Final = 5
SAMPLES_PER_ANSWER: Final = 2
_SHOWN_PAYLOAD_BYTES: Final = 4096

# Share of a service's calls per kind of call.
CALL_MIX: Final[tuple[tuple[float, str], ...]] = (
    (5.0, "seed"), (38.0, "mutate"), (18.0, "generate"), (16.0, "raw"),
    (9.0, "credentials"), (5.0, "wrong-caller"), (8.0, "metadata"),
    (0.6, "unknown-method"), (0.4, "oversized"))
# Kinds made as one of the spec's callers with its real token.
_AUTHORIZED_KINDS: Final = frozenset({"seed", "mutate", "generate", "raw", "metadata",
                                      "oversized"})


@dataclass
class Planned:
    """One call, fully decided before it is sent."""

    service: str
    method: str
    path: str
    kind: str
    detail: str
    caller: str  # identity@domain, or the bad credential's label@domain
    identity: str | None  # whose real token went with it
    domain: str
    payload: bytes
    metadata: tuple[tuple[str, str | bytes], ...]  # without the authorization header
    authorization: str | None
    authorized: bool
    streaming: bool
    timeout_s: float
    stream_messages: int = 2
    stream_seconds: float = 1.0
    request: pb_message.Message | None = None
    request_id: str = ""

    def outgoing(self) -> tuple[tuple[str, str | bytes], ...]:
        if self.authorization is None:
            return self.metadata
        return ((md.AUTHORIZATION, self.authorization), *self.metadata)


@dataclass
class Outcome:
    code: str
    reason: str = ""
    details: str = ""
    latency_s: float = 0.0
    messages: int = 0
    # The call never left this process (gRPC refused to send it): not a platform answer.
    client_error: str = ""
    undecodable_response: bool = False

    @property
    def failed(self) -> bool:
        return self.code in FAILURE_CODES or self.undecodable_response


# --- planning -----------------------------------------------------------------------------

_ALL_IDENTITIES: Final = ("developer", "validator", "admin", "reviewer", "business", "sre",
                          "auditor")
_UNKNOWN_METHOD_NAMES: Final = ("NoSuchMethod", "", "Classify", "GetFiling", "a" * 300,
                                "..", "ListFilings/extra", "%2e%2e")


class Planner:
    """Plans calls of one service from its spec, with one chooser's decisions."""

    def __init__(self, spec: ServiceSpec, fixtures: Fixtures, credentials: Credentials, *,
                 shared: bool) -> None:
        self.spec = spec
        self.fixtures = fixtures
        self.credentials = credentials
        self.methods: list[MethodSpec] = [m for m in spec.methods if not (shared and m.writes)]
        self.skipped: dict[str, str] = dict(spec.skipped)
        if shared:
            self.skipped.update({m.name: "stores records: not fuzzed on a shared platform"
                                 for m in spec.methods if m.writes})
        self.seeds: dict[str, list[pb_message.Message]] = {
            m.name: list(m.seeds(fixtures)) for m in self.methods}
        self.oversized_left = OVERSIZED_PER_SERVICE
        self._counter = 0

    def plan(self, chooser: Chooser) -> Planned:
        method = weighted(chooser, [(m.weight, m) for m in self.methods])
        kind = weighted(chooser, CALL_MIX)
        if kind == "oversized":
            if self.oversized_left <= 0:
                kind = "raw"
            else:
                self.oversized_left -= 1
        for _ in range(8):
            planned = self._plan(chooser, method, kind)
            if not (method.destructive and self.fixtures.guarded(planned.payload)):
                return planned
        # Eight draws all carried a protected name: send the empty request instead.
        return replace(planned, payload=b"", request=None,
                       detail=planned.detail + " (replaced by the empty request: it named a "
                       "protected resource)")

    def _plan(self, chooser: Chooser, method: MethodSpec, kind: str) -> Planned:
        descriptor = self.spec.descriptor.methods_by_name[method.name]
        seeds = self.seeds[method.name]
        generator = Generator(chooser, self.fixtures, descriptor.containing_service.file,
                              destructive=method.destructive)
        caller = chooser.pick(method.callers)
        request: pb_message.Message | None = None
        detail = ""
        payload = b""
        path = f"/{self.spec.name}/{method.name}"

        def structured(mode: str) -> tuple[pb_message.Message, str]:
            if mode == "seed" or not seeds:
                seed = chooser.pick(seeds) if seeds else message_class(descriptor.input_type)()
                return seed, "valid seed"
            if mode == "mutate":
                return generator.mutate(chooser.pick(seeds))
            return generator.message(descriptor.input_type), "generated from the descriptor"

        if kind in ("seed", "mutate", "generate"):
            request, detail = structured(kind)
        elif kind == "raw":
            payload, detail = wire.raw_payload(descriptor.input_type, seeds, chooser)
        elif kind == "oversized":
            base = chooser.pick(seeds).SerializeToString() if seeds else b""
            size = chooser.pick((MESSAGE_LIMIT - len(base) + 1, MESSAGE_LIMIT + 4096,
                                 2 * MESSAGE_LIMIT + 4096))
            payload = base + wire.delimited(9_999, b"\x00" * max(0, size))
            detail = f"{len(payload)} bytes (limit {MESSAGE_LIMIT})"
        else:
            request, detail = structured(chooser.pick(("seed", "mutate", "mutate", "generate")))
        if request is not None:
            payload = _serialize(request)

        self._counter += 1
        request_id = f"fuzz-{self.spec.short_name.lower()}-{self._counter}"
        metadata: list[tuple[str, str | bytes]] = [(md.REQUEST_ID, request_id)]
        identity: str | None = caller.identity
        domain = caller.domain
        authorization: str | None = self.credentials.bearer(caller.identity)
        label = caller.label
        if kind == "credentials":
            bad: Credential = chooser.pick(self.credentials.bad)
            authorization, identity = bad.authorization, None
            domain = chooser.pick(NETWORK_DOMAINS)
            label = f"{bad.label}@{domain}"
            detail = f"{bad.label}; {detail}"
        elif kind == "wrong-caller":
            others = [Caller(i, d) for i in _ALL_IDENTITIES for d in NETWORK_DOMAINS
                      if Caller(i, d) not in method.callers]
            other = chooser.pick(others)
            identity, domain, label = other.identity, other.domain, other.label
            authorization = self.credentials.bearer(other.identity)
        elif kind == "metadata":
            extra, described = _metadata_variant(chooser)
            metadata += extra
            detail = f"{described}; {detail}"
        elif kind == "unknown-method":
            name = chooser.pick(_UNKNOWN_METHOD_NAMES)
            path = chooser.pick((f"/{self.spec.name}/{name}", f"/{self.spec.name}.Fake/{name}",
                                 f"/{self.spec.name}/{method.name}/"))
            detail = f"unknown method path {path[:80]!r}"
        return Planned(
            service=self.spec.name, method=method.name, path=path, kind=kind, detail=detail,
            caller=label, identity=identity, domain=domain, payload=payload,
            metadata=tuple(metadata), authorization=authorization,
            authorized=kind in _AUTHORIZED_KINDS, streaming=descriptor.server_streaming,
            timeout_s=method.timeout_s, stream_messages=method.stream_messages,
            stream_seconds=method.stream_seconds, request=request, request_id=request_id)


def _serialize(request: pb_message.Message) -> bytes:
    try:
        return request.SerializeToString()
    except Exception:
        # A value the runtime accepted but cannot encode: send what it can.
        return b""


def _printable(chooser: Chooser, size: int) -> str:
    return "".join(chr(32 + b % 95) for b in chooser.blob(size))


def _metadata_variant(chooser: Chooser) -> tuple[list[tuple[str, str | bytes]], str]:
    """Request metadata an attacker controls, beside the credentials: declared data
    levels (one, two disagreeing, garbage), forged assertions and the service trailers'
    names, odd request ids and trace context, binary headers, many headers."""
    level = md.DATA_LEVEL
    pick = chooser.pick
    kind = pick(("level", "level", "level", "two levels", "assertion", "request id",
                 "trace", "trailer names", "binary", "many"))
    if kind == "level":
        value = pick(values.DATA_LEVELS)
        return [(level, value)], f"{level}: {value[:20]!r}"
    if kind == "two levels":
        first, second = pick(values.DATA_LEVELS), pick(values.DATA_LEVELS)
        return [(level, first), (level, second)], f"{level}: {first[:20]!r} then {second[:20]!r}"
    if kind == "assertion":
        value = pick(("eyJhbGciOiJFZERTQSJ9.e30.", "x" * 2000, "", _printable(chooser, 40)))
        return [(md.ASSERTION, value)], f"forged {md.ASSERTION}"
    if kind == "request id":
        value = pick(("", "a" * 65, "../../etc", "a b", "%00", "*", "x" * 5000, "fuzz-dup"))
        return [(md.REQUEST_ID, value)], f"second {md.REQUEST_ID} {value[:20]!r}"
    if kind == "trace":
        value = pick(("00-" + "0" * 32 + "-" + "0" * 16 + "-01", "garbage",
                      "00-" + "f" * 32 + "-" + "f" * 16 + "-00", "ff-" + "a" * 32 + "-" + "b" * 16
                      + "-01", "00-xyz", "0" * 512))
        return [("traceparent", value), ("tracestate", pick(("", "a=b", "x" * 600)))], \
            f"traceparent {value[:24]!r}"
    if kind == "trailer names":
        return [(md.EFFECTIVE_LEVEL, "L1"), (md.MODEL_VERSION, "999"),
                (md.FILING_ID, "fuzz-absent")], "service trailer names as request metadata"
    if kind == "binary":
        return [("x-zhijian-data-level-bin", chooser.blob(16)),
                ("x-fuzz-bin", chooser.blob(pick((0, 1, 1000))))], "binary headers"
    count = pick((20, 100))
    return [(f"x-fuzz-{i}", _printable(chooser, 16)) for i in range(count)], \
        f"{count} extra headers"


# --- sending ------------------------------------------------------------------------------

def open_channels(targets: Mapping[str, str]) -> dict[str, grpc.aio.Channel]:
    """One channel per network domain; limits above the platform's, so that the
    platform's own limits are what oversized calls meet."""
    options = [("grpc.max_send_message_length", _CHANNEL_LIMIT),
               ("grpc.max_receive_message_length", _CHANNEL_LIMIT),
               ("grpc.enable_retries", 0)]
    return {domain: grpc.aio.insecure_channel(target, options=options)
            for domain, target in targets.items()}


def _reason(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except Exception:
                return "(undecodable status details)"
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return str(info.reason)
    return ""


async def execute(planned: Planned, channels: Mapping[str, grpc.aio.Channel],
                  response_type: type[pb_message.Message] | None) -> Outcome:
    channel = channels[planned.domain]
    if planned.kind == "unknown-method":
        # The path may name another real method, whose answer is of another type.
        response_type = None
    started = time.perf_counter()
    outcome = Outcome("OK")
    call: Any = None
    try:
        if planned.streaming:
            call = channel.unary_stream(planned.path)(
                planned.payload, metadata=planned.outgoing(), timeout=planned.timeout_s)
            outcome.code = "OK"
            outcome.reason = "STREAM_CUT"
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(planned.stream_seconds):
                    async for message in call:
                        outcome.messages += 1
                        if response_type is not None and not _decodes(response_type, message):
                            outcome.undecodable_response = True
                        if outcome.messages >= planned.stream_messages:
                            break
                    else:
                        outcome.reason = ""  # the server ended the stream itself
            if outcome.reason:
                call.cancel()
        else:
            response = await channel.unary_unary(planned.path)(
                planned.payload, metadata=planned.outgoing(), timeout=planned.timeout_s)
            if response_type is not None and not _decodes(response_type, response):
                outcome.undecodable_response = True
    except grpc.aio.AioRpcError as error:
        outcome.code = error.code().name
        outcome.reason = _reason(error)
        outcome.details = error.details() or ""
    except Exception as error:
        # gRPC refused to send it (a header value it will not put on the wire, say): the
        # call never reached the platform. Counted apart, never as the platform's answer.
        outcome.code = "CLIENT_ERROR"
        outcome.client_error = f"{type(error).__name__} on {planned.kind}: {planned.detail[:100]}"
    outcome.latency_s = time.perf_counter() - started
    return outcome


def _decodes(response_type: type[pb_message.Message], data: Any) -> bool:
    if not isinstance(data, bytes):
        return False
    try:
        response_type.FromString(data)
    except Exception:
        return False
    return True


# --- tallies and findings -------------------------------------------------------------------

@dataclass
class MethodTally:
    calls: int = 0
    authorized: int = 0
    exercised: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def add(self, planned: Planned, outcome: Outcome) -> None:
        self.calls += 1
        self.codes[outcome.code] += 1
        self.reasons[(outcome.code, outcome.reason)] += 1
        self.latencies.append(outcome.latency_s)
        if planned.authorized:
            self.authorized += 1
            if exercised(outcome):
                self.exercised += 1


def exercised(outcome: Outcome) -> bool:
    """The call reached the service's own logic (not turned away at the door)."""
    return outcome.code not in ("UNAUTHENTICATED", "CLIENT_ERROR") and \
        outcome.reason not in _NOT_EXERCISED_REASONS


@dataclass
class ServiceTally:
    name: str
    calls: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0
    methods: dict[str, MethodTally] = field(default_factory=dict)
    kinds: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, planned: Planned, outcome: Outcome) -> None:
        self.calls += 1
        self.methods.setdefault(planned.method, MethodTally()).add(planned, outcome)
        self.kinds.setdefault(planned.kind, Counter())[outcome.code] += 1

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started


@dataclass
class Finding:
    service: str
    method: str
    code: str
    reason: str
    count: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    shapes: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    minimized: dict[str, Any] | None = None
    planned: list[Planned] = field(default_factory=list)


def shape(detail: str) -> str:
    """What a finding's detail says about the mutation, without its value."""
    return detail.split(" := ")[0].split(": ")[0][:120]


def describe(planned: Planned, outcome: Outcome | None = None) -> dict[str, Any]:
    """Everything needed to send the call again by hand."""
    text = None
    if planned.request is not None:
        text = text_format.MessageToString(planned.request, as_utf8=True)
        if len(text) > 3000:
            text = text[:3000] + f"… ({len(text)} characters)"
    shown = planned.payload[:_SHOWN_PAYLOAD_BYTES]
    example: dict[str, Any] = {
        "method": planned.path, "gateway_domain": planned.domain, "caller": planned.caller,
        "identity": planned.identity, "kind": planned.kind, "detail": planned.detail,
        "metadata": [[k, v if isinstance(v, str) else "base64:" + base64.b64encode(v).decode()]
                     for k, v in planned.metadata],
        "request_text": text, "payload_bytes": len(planned.payload),
        "payload_base64": base64.b64encode(shown).decode()
        + ("" if len(shown) == len(planned.payload) else "…"),
        "request_id": planned.request_id}
    if outcome is not None:
        example.update(code=outcome.code, reason=outcome.reason, details=outcome.details[:500])
    return example


@dataclass
class Results:
    services: dict[str, ServiceTally] = field(default_factory=dict)
    findings: dict[tuple[str, str, str, str], Finding] = field(default_factory=dict)
    # The first calls of every (service, method, code, reason): what each answer looks
    # like, for reading a report without the platform.
    samples: dict[tuple[str, str, str, str], list[dict[str, Any]]] = field(
        default_factory=dict)
    client_errors: Counter[str] = field(default_factory=Counter)
    stopped_early: str = ""
    # From the first call sent to the last answered.
    seconds: float = 0.0
    # Errors whose google.rpc details outgrew gRPC's header limits on the way back: the
    # caller got RESOURCE_EXHAUSTED instead of the service's answer. Not a failure of
    # the run, but a fault worth a look (errors that echo what the caller sent).
    oversized_trailers: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, planned: Planned, outcome: Outcome) -> None:
        self.services[planned.service].add(planned, outcome)
        if outcome.client_error:
            self.client_errors[outcome.client_error] += 1
        # Response headers (":status") or the gateway's hop to the service ("Stream
        # removed"); a request whose own headers were too big is the fuzzer's doing.
        if "metadata size exceeds" in outcome.details and (
                ":status" in outcome.details or "Stream removed" in outcome.details):
            self.oversized_trailers[(planned.service, planned.method)] += 1
        sampled = self.samples.setdefault(
            (planned.service, planned.method, outcome.code, outcome.reason), [])
        if len(sampled) < SAMPLES_PER_ANSWER:
            sampled.append(describe(planned, outcome))
        if not outcome.failed:
            return
        code = "UNDECODABLE_RESPONSE" if outcome.undecodable_response and \
            outcome.code not in FAILURE_CODES else outcome.code
        # One finding per method and answer: the same fault reached by other mutations
        # (or through other callers) is counted under its shapes, not split.
        key = (planned.service, planned.method, code, outcome.reason)
        finding = self.findings.get(key)
        if finding is None:
            finding = self.findings[key] = Finding(planned.service, planned.method, code,
                                                   outcome.reason)
        finding.count += 1
        finding.kinds[planned.kind] += 1
        finding.shapes[shape(planned.detail)] += 1
        if len(finding.examples) < EXAMPLES_PER_FINDING and shape(planned.detail) not in {
                shape(e["detail"]) for e in finding.examples}:
            finding.examples.append(describe(planned, outcome))
            finding.planned.append(planned)


# --- running ------------------------------------------------------------------------------

@dataclass
class ServicePlan:
    spec: ServiceSpec
    planner: Planner
    budget: int
    issued: int = 0

    def response_type(self, method: str) -> type[pb_message.Message]:
        return message_class(self.spec.descriptor.methods_by_name[method].output_type)


Progress = Callable[[str], None]


async def run(plans: Sequence[ServicePlan], channels: Mapping[str, grpc.aio.Channel], *,
              max_seconds: float, concurrency: int, seed: int | str,
              stop: asyncio.Event | None = None, progress: Progress = print,
              progress_every_s: float = 15.0) -> Results:
    """Send each plan's budget of calls (or stop at ``max_seconds``, or when ``stop`` is
    set), ``concurrency`` calls in flight, shared evenly among the services."""
    results = Results(services={p.spec.name: ServiceTally(p.spec.name) for p in plans})
    began = time.monotonic()
    deadline = began + max_seconds
    stop = stop or asyncio.Event()
    per_service = max(1, concurrency // max(1, len(plans)))

    async def worker(plan: ServicePlan, index: int) -> None:
        chooser = RandomChooser(f"{seed}/{plan.spec.name}/{index}")
        types: dict[str, type[pb_message.Message]] = {}
        while plan.issued < plan.budget and not stop.is_set():
            if time.monotonic() >= deadline:
                results.stopped_early = results.stopped_early or \
                    f"time budget of {max_seconds:.0f}s used up"
                return
            plan.issued += 1
            planned = plan.planner.plan(chooser)
            response = types.get(planned.method)
            if response is None:
                response = types[planned.method] = plan.response_type(planned.method)
            outcome = await execute(planned, channels, response)
            results.add(planned, outcome)
        results.services[plan.spec.name].finished = time.monotonic()

    async def report() -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(progress_every_s)
            elapsed = time.monotonic() - started
            done = sum(t.calls for t in results.services.values())
            parts = ", ".join(f"{t.name.rsplit('.', 1)[-1]} {t.calls}"
                              for t in results.services.values())
            failed = sum(f.count for f in results.findings.values())
            progress(f"  {elapsed:6.0f}s  {done} calls ({done / elapsed:.0f}/s): {parts}; "
                     f"{failed} INTERNAL/UNKNOWN")

    reporter = asyncio.ensure_future(report())
    try:
        await asyncio.gather(*(worker(plan, i) for plan in plans for i in range(per_service)))
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
    if stop.is_set() and not results.stopped_early:
        results.stopped_early = "stopped: the platform went down"
    for tally in results.services.values():
        tally.finished = tally.finished or time.monotonic()
    results.seconds = time.monotonic() - began
    return results


async def minimize(finding: Finding, channels: Mapping[str, grpc.aio.Channel],
                   response_type: type[pb_message.Message], max_calls: int = 60) -> None:
    """The smallest structured request and metadata that still fail the same way,
    recorded on the finding: fields are cleared, lists cut to one element, at every
    depth, as long as the call keeps failing with the same code and reason."""
    candidates = [p for p in finding.planned if p.request is not None]
    if not candidates:
        return
    current = candidates[0]
    budget = max_calls

    async def still_fails(trial: Planned) -> bool:
        nonlocal budget
        budget -= 1
        outcome = await execute(trial, channels, response_type)
        return outcome.code == finding.code and outcome.reason == finding.reason

    changed = True
    while changed and budget > 0:
        changed = False
        assert current.request is not None
        for smaller in _smaller(current.request):
            if budget <= 0:
                break
            trial = replace(current, request=smaller, payload=_serialize(smaller))
            if await still_fails(trial):
                current, changed = trial, True
                break
    for entry in current.metadata:
        if budget <= 0 or entry[0] == md.REQUEST_ID:
            continue
        trial = replace(current, metadata=tuple(e for e in current.metadata if e != entry))
        if await still_fails(trial):
            current = trial
    if budget > 0 and await still_fails(current):
        finding.minimized = describe(current)


def _smaller(request: pb_message.Message) -> list[pb_message.Message]:
    """Requests one step smaller than ``request``: one set field cleared, or one list
    cut to a single element, anywhere in the message (outermost first)."""
    found: list[pb_message.Message] = []

    def visit(path: tuple[tuple[str, int | None], ...], message: pb_message.Message) -> None:
        for fd, value in message.ListFields():
            found.append(_edited(request, (*path, (fd.name, None)), "clear"))
            if fd.is_repeated and len(value) > 1:
                for index in range(len(value)):
                    found.append(_edited(request, (*path, (fd.name, index)), "keep"))
        for fd, value in message.ListFields():
            if fd.type != fd.TYPE_MESSAGE or (fd.message_type is not None and
                                              fd.message_type.GetOptions().map_entry):
                continue
            if fd.is_repeated:
                for index, element in enumerate(value):
                    visit((*path, (fd.name, index)), element)
            else:
                visit((*path, (fd.name, None)), value)

    visit((), request)
    return found


def _edited(request: pb_message.Message, path: tuple[tuple[str, int | None], ...],
            action: str) -> pb_message.Message:
    copy = type(request)()
    copy.CopyFrom(request)
    parent: Any = copy
    for name, index in path[:-1]:
        parent = getattr(parent, name) if index is None else getattr(parent, name)[index]
    name, index = path[-1]
    if action == "clear":
        parent.ClearField(name)
    else:
        container = getattr(parent, name)
        keep: Any = container[index]
        if hasattr(keep, "CopyFrom"):
            kept = type(keep)()
            kept.CopyFrom(keep)
            del container[:]
            container.add().CopyFrom(kept)
        else:
            del container[:]
            container.append(keep)
    return copy


def error_logs(home: Path, request_ids: set[str], limit: int = 20) -> dict[str, list[str]]:
    """Tracebacks the platform's components logged for the given request ids."""
    import json

    found: dict[str, list[str]] = {}
    for log in sorted((home / "logs").glob("*.log")):
        with log.open(errors="replace") as handle:
            for line in handle:
                if '"exception"' not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                request_id = entry.get("request_id", "")
                if request_id in request_ids and len(found.get(request_id, ())) < 2:
                    found.setdefault(request_id, []).append(
                        f"{log.stem}: {entry.get('message')}\n{entry.get('exception', '')}"[-4000:])
                if len(found) >= limit:
                    return found
    return found

