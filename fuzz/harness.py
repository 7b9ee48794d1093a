"""One fuzz run against a platform: discover the specs, check they cover every service
the gateways route, run each spec's setup, watch the processes, send the calls, minimize
what failed, check the platform still serves, and judge.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import message as pb_message

from fuzz import engine
from fuzz.credentials import Credentials
from fuzz.engine import Planner, Results, ServicePlan
from fuzz.generate import Fixtures
from fuzz.platform import Monitor, Snapshot, Target, compare, snapshot
from fuzz.spec import Caller, ServiceSpec, discover
from zhijian import metadata as md

SETUP_TIMEOUT_S = 120.0
# Below this many calls as an authorized caller, a method never exercised says little.
MIN_AUTHORIZED_FOR_VERDICT = 20
MINIMIZED_FINDINGS = 20


@dataclass
class Session:
    """A spec's setup and health check talking to the platform (fuzz.spec.SetupContext)."""

    spec: ServiceSpec
    fixtures: Fixtures
    throwaway: bool
    scratch: Path
    env: Mapping[str, str]
    credentials: Credentials
    channels: Mapping[str, grpc.aio.Channel]

    async def call(self, caller: Caller, method: str, request: pb_message.Message,
                   response: type[pb_message.Message]) -> Any:
        callable_ = self.channels[caller.domain].unary_unary(
            f"/{self.spec.name}/{method}", request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response.FromString)
        return await callable_(request, timeout=SETUP_TIMEOUT_S, metadata=(
            (md.AUTHORIZATION, self.credentials.bearer(caller.identity)),
            (md.REQUEST_ID, f"fuzz-setup-{uuid.uuid4().hex[:12]}")))


@dataclass
class Run:
    """Everything a report is made of."""

    target: Target
    seed: str
    calls_per_service: int
    started: float = field(default_factory=time.time)
    seconds: float = 0.0
    services: list[str] = field(default_factory=list)
    not_deployed: list[str] = field(default_factory=list)
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)
    results: Results | None = None
    before: Snapshot | None = None
    after: Snapshot | None = None
    process_problems: list[str] = field(default_factory=list)
    health: dict[str, list[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    tracebacks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.verdict()

    def verdict(self) -> list[str]:
        """Why the run fails; empty if it passes."""
        reasons = list(self.problems)
        if self.results is not None:
            for finding in self.results.findings.values():
                reasons.append(f"{finding.code} from {finding.service.rsplit('.', 1)[-1]}/"
                               f"{finding.method} ({finding.count} calls, "
                               f"reason {finding.reason or '-'}; "
                               + ", ".join(f"{k} {n}" for k, n in finding.kinds.most_common())
                               + ")")
        reasons += [f"process: {p}" for p in self.process_problems]
        for service, broken in self.health.items():
            reasons += [f"{service.rsplit('.', 1)[-1]} after the run: {p}" for p in broken]
        return reasons


def select(specs: Mapping[str, ServiceSpec], target: Target, wanted: Sequence[str] | None
           ) -> tuple[list[ServiceSpec], list[str], list[str]]:
    """(specs to run, problems, specs whose service the platform does not route)."""
    routed = target.routed_services()
    problems = [f"the gateways route {name} but fuzz/specs has no spec for it"
                for name in sorted(routed - set(specs))]
    not_deployed = sorted(set(specs) - routed)
    chosen = [spec for name, spec in sorted(specs.items()) if name in routed]
    if wanted:
        known = {spec.short_name.lower().removesuffix("service"): spec for spec in chosen} | \
            {spec.name: spec for spec in chosen}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            problems.append(f"unknown or undeployed services asked for: {', '.join(unknown)}")
        chosen = [known[w] for w in wanted if w in known]
    return chosen, problems, not_deployed


async def prepare(target: Target, specs: Sequence[ServiceSpec], channels: Mapping[str, Any],
                  credentials: Credentials, scratch: Path, *, calls_per_service: int,
                  progress: Callable[[str], None]) -> tuple[list[ServicePlan], list[Session],
                                                            list[str]]:
    """Run each spec's setup; a plan per service."""
    plans, sessions, problems = [], [], []
    shared = not target.throwaway
    for spec in specs:
        fixtures = Fixtures()
        session = Session(spec, fixtures, target.throwaway, scratch, target.env, credentials,
                          channels)
        for method in spec.methods:
            for caller in method.callers:
                credentials.token(caller.identity)
        for identity in engine._ALL_IDENTITIES:
            credentials.token(identity)
        if spec.setup is not None:
            started = time.monotonic()
            try:
                await spec.setup(session)
            except grpc.aio.AioRpcError as error:
                problems.append(f"{spec.short_name} setup failed: {error.code().name} "
                                f"{error.details()}")
                continue
            progress(f"{spec.short_name}: setup done in {time.monotonic() - started:.1f}s "
                     f"({sum(len(v) for v in fixtures.names.values())} existing resources, "
                     f"{sum(len(v) for v in fixtures.throwaway.values())} throwaway)")
        fixtures.protected |= credentials.jtis
        planner = Planner(spec, fixtures, credentials, shared=shared)
        plans.append(ServicePlan(spec, planner, calls_per_service))
        sessions.append(session)
    return plans, sessions, problems


async def fuzz(target: Target, *, calls_per_service: int, max_seconds: float,
               concurrency: int, seed: str, services: Sequence[str] | None = None,
               progress: Callable[[str], None] = print) -> Run:
    run = Run(target, seed, calls_per_service)
    specs, problems, run.not_deployed = select(discover(), target, services)
    run.problems += problems
    run.services = [spec.name for spec in specs]
    if not specs:
        run.problems.append("nothing to fuzz")
        return run
    credentials = Credentials(target.env)
    credentials.build_bad("business")
    credentials.protect_all()
    channels = engine.open_channels(target.gateways())
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="zhijian-fuzz-scratch-") as scratch:
            plans, sessions, problems = await prepare(
                target, specs, channels, credentials, Path(scratch),
                calls_per_service=calls_per_service, progress=progress)
            run.problems += problems
            run.skipped = {p.spec.name: p.planner.skipped for p in plans}
            broken = await baseline_problems(sessions)
            if broken:
                # A platform that does not serve yet would turn every call into the same
                # refusal: a hundred thousand calls would exercise nothing.
                run.problems += broken
                run.seconds = time.monotonic() - started
                return run
            # Whatever setup started (a watch, a validation refused) settles first.
            await asyncio.sleep(2.0)
            run.before = await asyncio.to_thread(snapshot, target)
            monitor = Monitor(target, run.before)
            watching = asyncio.ensure_future(monitor.watch())
            progress(f"fuzzing {', '.join(p.spec.short_name for p in plans)}: "
                     f"{calls_per_service} calls each, {concurrency} in flight, seed {seed}")
            try:
                run.results = await engine.run(plans, channels, max_seconds=max_seconds,
                                               concurrency=concurrency, seed=seed,
                                               stop=monitor.down, progress=progress)
                await _minimize(run.results, plans, channels, progress)
                for session in sessions:
                    if session.spec.health is not None:
                        run.health[session.spec.name] = await session.spec.health(session)
                await asyncio.sleep(1.5)
            finally:
                watching.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watching
            run.after = await asyncio.to_thread(snapshot, target)
            run.process_problems = sorted(set(compare(run.before, run.after)) |
                                          set(_strip_times(monitor.events)))
            run.process_problems = _dedupe(monitor.events, run.process_problems)
    finally:
        for channel in channels.values():
            await channel.close()
    run.seconds = time.monotonic() - started
    assert run.results is not None
    run.problems += _coverage_problems(run.results, plans)
    ids = {e["request_id"] for f in run.results.findings.values() for e in f.examples}
    run.tracebacks = await asyncio.to_thread(engine.error_logs, target.home, ids)
    return run


async def baseline_problems(sessions: Sequence[Session]) -> list[str]:
    """What the health checks find wrong before any fuzzed call."""
    problems = []
    for session in sessions:
        if session.spec.health is not None:
            problems += [f"{session.spec.short_name} did not serve before the run: {p}"
                         for p in await session.spec.health(session)]
    return problems


def _strip_times(events: list[str]) -> list[str]:
    return [event.split(" ", 1)[1] for event in events]


def _dedupe(events: list[str], problems: list[str]) -> list[str]:
    """Each problem once, with the time the monitor first saw it where it did."""
    first_seen = {event.split(" ", 1)[1]: event.split(" ", 1)[0] for event in reversed(events)}
    return [f"{problem} (seen at {first_seen[problem]})" if problem in first_seen else problem
            for problem in problems]


def _coverage_problems(results: Results, plans: Sequence[ServicePlan]) -> list[str]:
    problems = []
    for plan in plans:
        tally = results.services[plan.spec.name]
        if tally.calls < plan.budget:
            problems.append(f"{plan.spec.short_name}: only {tally.calls} of {plan.budget} calls "
                            f"({results.stopped_early or 'stopped early'})")
        for method in plan.planner.methods:
            counted = tally.methods.get(method.name)
            if counted is None:
                if tally.calls >= 20 * len(plan.planner.methods):
                    problems.append(f"{plan.spec.short_name}/{method.name} was never called")
                continue
            if counted.authorized >= MIN_AUTHORIZED_FOR_VERDICT and not counted.exercised:
                problems.append(
                    f"{plan.spec.short_name}/{method.name}: none of {counted.authorized} calls "
                    "as its spec's callers got past authentication and authorization (check "
                    "the spec's callers against gateway/policy and the service)")
    return problems


async def _minimize(results: Results, plans: Sequence[ServicePlan],
                    channels: Mapping[str, grpc.aio.Channel],
                    progress: Callable[[str], None]) -> None:
    by_name = {plan.spec.name: plan for plan in plans}
    worst = sorted(results.findings.values(), key=lambda f: -f.count)[:MINIMIZED_FINDINGS]
    if worst:
        progress(f"minimizing {len(worst)} findings …")
    for finding in worst:
        plan = by_name[finding.service]
        with contextlib.suppress(grpc.aio.AioRpcError):
            await engine.minimize(finding, channels, plan.response_type(finding.method))
