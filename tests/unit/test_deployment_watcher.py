"""DeploymentWatcher against a real grpc.aio server on a loopback port.

The server is a scripted RegistryService (WatchDeployments and GetDeployment only), so
that stream deaths, silences and replays can be staged precisely. The real registry is
exercised with the watcher in the integration tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc
import pytest

from zhijian.deployment_watcher import DeploymentWatcher
from zhijian.errors import FailedPrecondition, PermissionDenied, Unavailable
from zhijian.registry.v1 import registry_service_pb2 as registry_pb
from zhijian.registry.v1 import registry_service_pb2_grpc as registry_grpc
from zhijian.supervisor import free_port
from zhijian.types.v1 import ai_result_pb2 as types_pb

MODEL = "zhijian-classify"
INTRANET = types_pb.NETWORK_DOMAIN_INTRANET
INTERNET = types_pb.NETWORK_DOMAIN_INTERNET
HEARTBEAT_S = 0.2
KILL = object()  # put on a subscriber's queue: end its stream with UNAVAILABLE


def production(number: str, state: registry_pb.FilingState = registry_pb.FILING_STATE_APPROVED,
               ) -> registry_pb.Deployment:
    deployed = registry_pb.DeployedVersion(
        filing=f"filings/f-{number}", version=number, filing_number=f"ZJ-{number}",
        filing_state=state, network_domains=[INTRANET],
        artifacts=[registry_pb.Artifact(path="MLmodel", sha256="a" * 64, size_bytes=1)])
    deployed.revalidate_time.FromSeconds(int(time.time()) + 86_400)
    return registry_pb.Deployment(name=f"deployments/{MODEL}", model=MODEL,
                                  state=registry_pb.DEPLOYMENT_STATE_ACTIVE,
                                  production=deployed, network_domains=[INTRANET])


class ScriptedRegistry(registry_grpc.RegistryServiceServicer):
    """Serves one deployment; tests change it, kill or silence streams, refuse streams."""

    def __init__(self, deployment: registry_pb.Deployment) -> None:
        self.revision = 10
        self.deployment: registry_pb.Deployment | None = self._stamped(deployment)
        self.changes: list[registry_pb.WatchDeploymentsResponse] = []  # retained for replay
        self.watch_requests: list[registry_pb.WatchDeploymentsRequest] = []
        self.watch_tokens: list[str] = []
        self.polls = 0
        self.streams_refused = False
        self.silent = False  # streams send nothing at all, as over a hung network
        self._subscribers: list[asyncio.Queue[Any]] = []

    def _stamped(self, deployment: registry_pb.Deployment) -> registry_pb.Deployment:
        stamped = registry_pb.Deployment()
        stamped.CopyFrom(deployment)
        stamped.revision = self.revision
        return stamped

    def change(self, deployment: registry_pb.Deployment) -> None:
        self.revision += 1
        self.deployment = self._stamped(deployment)
        message = registry_pb.WatchDeploymentsResponse(
            type=registry_pb.WATCH_EVENT_TYPE_CHANGED, revision=self.revision,
            deployments=[self.deployment])
        self.changes.append(message)
        for queue in self._subscribers:
            queue.put_nowait(message)

    def kill_streams(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(KILL)

    def _opening(self, after: int) -> list[registry_pb.WatchDeploymentsResponse]:
        if after and (not self.changes or after >= self.changes[0].revision - 1):
            return [c for c in self.changes if c.revision > after]
        return [registry_pb.WatchDeploymentsResponse(
            type=registry_pb.WATCH_EVENT_TYPE_SNAPSHOT, revision=self.revision,
            deployments=[self.deployment] if self.deployment is not None else [])]

    async def WatchDeployments(self, request: registry_pb.WatchDeploymentsRequest,
                               context: grpc.aio.ServicerContext,
                               ) -> AsyncIterator[registry_pb.WatchDeploymentsResponse]:
        self.watch_requests.append(request)
        self.watch_tokens.append(dict(context.invocation_metadata() or ())["authorization"])
        if self.streams_refused:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "streams refused")
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribers.append(queue)
        interval = request.heartbeat_interval.ToNanoseconds() / 1e9 or 1.0
        try:
            for message in self._opening(request.after_revision):
                if not self.silent:
                    yield message
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), interval)
                except TimeoutError:
                    if not self.silent:
                        yield registry_pb.WatchDeploymentsResponse(
                            type=registry_pb.WATCH_EVENT_TYPE_HEARTBEAT, revision=self.revision)
                    continue
                if item is KILL:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "stream killed")
                if not self.silent:
                    yield item
        finally:
            self._subscribers.remove(queue)

    async def GetDeployment(self, request: registry_pb.GetDeploymentRequest,
                            context: grpc.aio.ServicerContext) -> registry_pb.Deployment:
        self.polls += 1
        if self.deployment is None or request.name != f"deployments/{MODEL}":
            await context.abort(grpc.StatusCode.NOT_FOUND, f"{request.name} not found")
        assert self.deployment is not None
        return self.deployment


@asynccontextmanager
async def running(registry: ScriptedRegistry, **options: Any,
                  ) -> AsyncIterator[tuple[DeploymentWatcher, grpc.aio.Server]]:
    server = grpc.aio.server()
    registry_grpc.add_RegistryServiceServicer_to_server(registry, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    settings: dict[str, Any] = {"token": lambda: "token-1", "poll_interval_s": 0.1,
                                "heartbeat_interval_s": HEARTBEAT_S}
    settings.update(options)
    watcher = DeploymentWatcher(f"127.0.0.1:{port}", MODEL, **settings)
    await watcher.start()
    try:
        yield watcher, server
    finally:
        await watcher.close()
        await server.stop(0)


async def eventually(check: Callable[[], bool], within_s: float) -> float:
    """Seconds until ``check()`` held; fails after ``within_s``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within_s:
            raise AssertionError(f"not within {within_s}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def refuses(watcher: DeploymentWatcher, reason: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            watcher.select(network_domain=INTRANET)
        except (FailedPrecondition, Unavailable) as error:
            return error.reason == reason
        return False
    return check


def serves(watcher: DeploymentWatcher, version: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return watcher.select(network_domain=INTRANET).version == version
        except (FailedPrecondition, Unavailable):
            return False
    return check


def test_the_snapshot_arrives_with_the_filter_heartbeat_and_token():
    async def scenario() -> None:
        registry = ScriptedRegistry(production("3"))
        async with running(registry) as (watcher, _):
            assert await watcher.wait_for_state(5.0)
            chosen = watcher.select("request-1", network_domain=INTRANET)
            assert (chosen.version, chosen.filing_id, chosen.filing_number) == ("3", "f-3",
                                                                                "ZJ-3")
            assert watcher.revision == 10 and watcher.last_confirmed is not None
            request = registry.watch_requests[0]
            assert request.filter == f'model = "{MODEL}"'
            assert request.after_revision == 0
            assert request.heartbeat_interval.ToNanoseconds() == int(HEARTBEAT_S * 1e9)
            assert registry.watch_tokens[0] == "Bearer token-1"

    asyncio.run(scenario())


def test_a_pushed_suspension_is_refused_within_a_second_and_listeners_hear_it():
    async def scenario() -> None:
        registry = ScriptedRegistry(production("3"))
        async with running(registry) as (watcher, _):
            assert await watcher.wait_for_state(5.0)
            await eventually(lambda: watcher.stream_connected, 5.0)
            heard: list[registry_pb.Deployment | None] = []
            watcher.on_change(heard.append)
            polls = registry.polls
            registry.change(production("3", registry_pb.FILING_STATE_SUSPENDED))
            elapsed = await eventually(refuses(watcher, "MODEL_SUSPENDED"), 1.0)
            assert elapsed < 1.0
            assert heard and heard[-1] is not None
            assert heard[-1].production.filing_state == registry_pb.FILING_STATE_SUSPENDED
            assert registry.polls == polls  # the push did it: no polling while it is up

    asyncio.run(scenario())


def test_a_killed_stream_falls_back_to_polling_and_still_sees_changes():
    async def scenario() -> None:
        registry = ScriptedRegistry(production("3"))
        async with running(registry) as (watcher, _):
            assert await watcher.wait_for_state(5.0)
            await eventually(lambda: watcher.stream_connected, 5.0)
            registry.streams_refused = True
            registry.kill_streams()
            await eventually(lambda: not watcher.stream_connected, 2.0)
            polls = registry.polls
            registry.change(production("4"))  # no stream is open to carry it
            await eventually(serves(watcher, "4"), 2.0)
            assert registry.polls > polls
            registry.change(production("4", registry_pb.FILING_STATE_SUSPENDED))
            await eventually(refuses(watcher, "MODEL_SUSPENDED"), 2.0)

    asyncio.run(scenario())


def test_a_silent_stream_is_dead_after_two_missed_heartbeats():
    async def scenario() -> None:
        registry = ScriptedRegistry(production("3"))
        async with running(registry) as (watcher, _):
            assert await watcher.wait_for_state(5.0)
            await eventually(lambda: watcher.stream_connected, 5.0)
            registry.silent = True
            elapsed = await eventually(lambda: not watcher.stream_connected, 3 * HEARTBEAT_S
                                       + 1.0)
            assert elapsed >= 2 * HEARTBEAT_S
            polls = registry.polls
            registry.change(production("4"))
            await eventually(serves(watcher, "4"), 2.0)
            assert registry.polls > polls

    asyncio.run(scenario())


def test_reconnecting_resumes_after_the_last_seen_revision():
    async def scenario() -> None:
        registry = ScriptedRegistry(production("3"))
        async with running(registry) as (watcher, _):
            assert await watcher.wait_for_state(5.0)
            await eventually(lambda: watcher.stream_connected, 5.0)
            registry.change(production("4"))  # revision 11, over the stream
            await eventually(serves(watcher, "4"), 1.0)
            registry.kill_streams()
            await eventually(lambda: len(registry.watch_requests) >= 2, 3.0)
            assert registry.watch_requests[1].after_revision == 11
            await eventually(lambda: watcher.stream_connected, 3.0)
            registry.change(production("5"))  # the resumed stream carries it
            await eventually(serves(watcher, "5"), 1.0)
            assert watcher.revision == 12

    asyncio.run(scenario())


def test_a_rotated_token_is_used_on_reconnect():
    async def scenario() -> None:
        tokens = iter(f"token-{i}" for i in range(1, 1000))
        registry = ScriptedRegistry(production("3"))
        async with running(registry, token=lambda: next(tokens)) as (watcher, _):
            await eventually(lambda: watcher.stream_connected, 5.0)
            registry.kill_streams()
            await eventually(lambda: len(registry.watch_tokens) >= 2, 3.0)
            assert registry.watch_tokens[0] != registry.watch_tokens[1]
            assert all(t.startswith("Bearer token-") for t in registry.watch_tokens)

    asyncio.run(scenario())


def test_one_watcher_selects_for_the_network_domain_of_each_call():
    # One service process serves the callers of every gateway: the domain is the call's.
    async def scenario() -> None:
        registry = ScriptedRegistry(production("3"))  # authorized for the intranet only
        async with running(registry) as (watcher, _):
            assert await watcher.wait_for_state(5.0)
            assert watcher.select("r-1", network_domain=INTRANET).version == "3"
            with pytest.raises(PermissionDenied) as refused:
                watcher.select("r-2", network_domain=INTERNET)
            assert refused.value.reason == "MODEL_NOT_AUTHORIZED_FOR_DOMAIN"
            assert set(watcher.servable(INTRANET)) == {"3"}
            assert watcher.servable(INTERNET) == {}
            # In some domain: what a model server shared by every domain may answer.
            assert set(watcher.servable()) == {"3"}

    asyncio.run(scenario())


def test_state_that_cannot_be_confirmed_fails_closed():
    async def scenario() -> None:
        registry = ScriptedRegistry(production("3"))
        async with running(registry, max_staleness_s=0.5) as (watcher, server):
            assert await watcher.wait_for_state(5.0)
            assert watcher.select(network_domain=INTRANET).version == "3"
            await server.stop(0)  # the registry goes away: no stream, no poll answers
            elapsed = await eventually(refuses(watcher, "SERVING_STATE_UNKNOWN"), 3.0)
            assert elapsed >= 0.3
            with pytest.raises(Unavailable) as failure:
                watcher.select(network_domain=INTRANET)
            assert failure.value.code == grpc.StatusCode.UNAVAILABLE
            assert watcher.servable() == {}

    asyncio.run(scenario())


def test_no_state_yet_fails_closed():
    async def scenario() -> None:
        watcher = DeploymentWatcher(f"127.0.0.1:{free_port()}", MODEL, token=lambda: "t",
                                    poll_interval_s=0.1)
        with pytest.raises(Unavailable) as failure:
            watcher.select(network_domain=INTRANET)
        assert failure.value.reason == "SERVING_STATE_UNKNOWN"
        await watcher.start()
        try:
            assert not await watcher.wait_for_state(0.5)
            with pytest.raises(Unavailable):
                watcher.select(network_domain=INTRANET)
        finally:
            await watcher.close()

    asyncio.run(scenario())


def test_a_deployment_the_registry_does_not_have_is_not_deployed():
    async def scenario() -> None:
        registry = ScriptedRegistry(production("3"))
        registry.deployment = None
        registry.streams_refused = True  # only polling can answer
        async with running(registry) as (watcher, _):
            assert await watcher.wait_for_state(5.0)
            with pytest.raises(FailedPrecondition) as failure:
                watcher.select(network_domain=INTRANET)
            assert failure.value.reason == "MODEL_NOT_DEPLOYED"

    asyncio.run(scenario())
