"""The short fuzz run of the suite: Hypothesis drives the fuzz engine (fuzz/) through the
gateways of the suite's platform, a few hundred calls in all; no call may end in
INTERNAL or UNKNOWN (or an undecodable response), no process of the platform may die or
restart, and what the platform serves must not change. ``make fuzz`` is the long run, on
a throwaway platform of its own.

The platform is shared with the rest of the suite, so methods that store records are not
called (fuzz.spec.MethodSpec.writes) and destructive ones see only names that do not
exist.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

# fuzz/ is a tool beside load/, run from the checkout, not a package the platform ships.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fuzz import engine, report  # noqa: E402
from fuzz.credentials import Credentials  # noqa: E402
from fuzz.engine import ServicePlan, describe, execute  # noqa: E402
from fuzz.harness import Run, Session, baseline_problems, prepare, select  # noqa: E402
from fuzz.platform import Snapshot, Target, compare, snapshot  # noqa: E402
from fuzz.spec import discover  # noqa: E402
from fuzz.strategies import HypothesisChooser  # noqa: E402

pytestmark = pytest.mark.integration

EXAMPLES_PER_SERVICE = 150
ENGINE_CALLS_PER_SERVICE = 60
SERVICES = ("zhijian.classify.v1.ClassifyService", "zhijian.registry.v1.RegistryService")


@dataclass
class Fuzzing:
    loop: asyncio.AbstractEventLoop
    target: Target
    plans: dict[str, ServicePlan]
    sessions: list[Session]
    channels: dict[str, grpc.aio.Channel]
    before: Snapshot


@pytest.fixture(scope="module")
def fuzzing(platform: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzing]:
    target = Target(Path(platform.home), dict(platform.env), throwaway=False)
    specs, problems, _ = select(discover(), target, None)
    assert not problems, problems
    assert sorted(spec.name for spec in specs) == sorted(SERVICES)
    loop = asyncio.new_event_loop()
    credentials = Credentials(target.env)
    credentials.build_bad("business")
    credentials.protect_all()

    async def opened() -> dict[str, grpc.aio.Channel]:
        return engine.open_channels(target.gateways())

    channels = loop.run_until_complete(opened())
    plans, sessions, problems = loop.run_until_complete(prepare(
        target, specs, channels, credentials, tmp_path_factory.mktemp("fuzz-scratch"),
        calls_per_service=ENGINE_CALLS_PER_SERVICE, progress=lambda _: None))
    assert not problems, problems
    assert loop.run_until_complete(baseline_problems(sessions)) == []
    yield Fuzzing(loop, target, {p.spec.name: p for p in plans}, sessions, channels,
                  snapshot(target))
    for channel in channels.values():
        loop.run_until_complete(channel.close())
    loop.close()


@pytest.mark.parametrize("service", SERVICES)
def test_no_fuzzed_call_fails_internally(fuzzing: Fuzzing, service: str) -> None:
    plan = fuzzing.plans[service]
    sent = []

    @settings(max_examples=EXAMPLES_PER_SERVICE, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def call(data: st.DataObject) -> None:
        planned = plan.planner.plan(HypothesisChooser(data))
        outcome = fuzzing.loop.run_until_complete(
            execute(planned, fuzzing.channels, plan.response_type(planned.method)))
        sent.append(outcome.code)
        note(json.dumps(describe(planned, outcome), ensure_ascii=False, indent=1)[:6000])
        assert outcome.code != "CLIENT_ERROR", outcome.client_error
        assert not outcome.failed, (f"{outcome.code} {outcome.reason} from {planned.path} "
                                    f"({planned.detail}) as {planned.caller}: "
                                    f"{outcome.details[:300]}")

    call()
    assert len(sent) >= EXAMPLES_PER_SERVICE


def test_the_engine_tallies_and_reports_a_short_run(fuzzing: Fuzzing) -> None:
    plans = list(fuzzing.plans.values())
    results = fuzzing.loop.run_until_complete(engine.run(
        plans, fuzzing.channels, max_seconds=120, concurrency=8, seed="suite",
        progress=lambda _: None))
    for plan in plans:
        tally = results.services[plan.spec.name]
        assert tally.calls == ENGINE_CALLS_PER_SERVICE
        assert sum(m.calls for m in tally.methods.values()) == tally.calls
    run = Run(fuzzing.target, "suite", ENGINE_CALLS_PER_SERVICE, results=results)
    rendered = report.text(run)
    assert "FAIL" not in rendered, rendered
    assert report.to_json(run)["calls"] == ENGINE_CALLS_PER_SERVICE * len(plans)


def test_the_platform_still_serves_and_no_process_died(fuzzing: Fuzzing) -> None:
    """Last in the module: after every fuzzed call above."""
    for session in fuzzing.sessions:
        if session.spec.health is not None:
            assert fuzzing.loop.run_until_complete(session.spec.health(session)) == []
    assert compare(fuzzing.before, snapshot(fuzzing.target)) == []
