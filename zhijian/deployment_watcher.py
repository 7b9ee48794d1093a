"""The latest serving state of one deployment, kept by following the registry, and fail
closed when it cannot be vouched for.

The registry pushes every deployment change (promotion, canary, suspension, filing
state) over ``WatchDeployments``; :class:`DeploymentWatcher` keeps the latest state, falls
back to polling ``GetDeployment`` while the stream is down, and refuses to decide
(``SERVING_STATE_UNKNOWN``) on state older than it can vouch for. The decision itself is
:mod:`zhijian.version_choice`. Also here: how a serving process finds the registry and
the identity token it asks with.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import grpc
from google.protobuf import duration_pb2

from zhijian import metadata as md
from zhijian.client import open_channel
from zhijian.config import ConfigError, env_str
from zhijian.errors import (
    Unauthenticated,
    Unavailable,
    ZhijianError,
)
from zhijian.registry.v1 import registry_service_pb2 as registry_pb
from zhijian.registry.v1 import registry_service_pb2_grpc as registry_grpc
from zhijian.version_choice import (
    SERVING_STATE_UNKNOWN,
    DeployedVersion,
    Deployment,
    Selected,
    select_version,
    servable_anywhere,
    servable_versions,
)

log = logging.getLogger("zhijian.deployment_watcher")

ChangeListener = Callable[[Deployment | None], None]

DEFAULT_REGISTRY_TARGET: Final = "127.0.0.1:50060"

_INITIAL_BACKOFF_S: Final = 0.1
_MAX_BACKOFF_S: Final = 5.0
_POLL_TIMEOUT_S: Final = 5.0


# ---------------------------------------------------------------------------------------
# How a serving process reaches the registry
# ---------------------------------------------------------------------------------------

def token_file_from_env(env: Mapping[str, str] | None = None) -> Path:
    raw = env_str("ZHIJIAN_IDENTITY_TOKEN_FILE", "", env)
    if not raw:
        raise ConfigError("ZHIJIAN_IDENTITY_TOKEN_FILE is not set: it must name a file "
                          "holding this process's identity token (a JWT) for the registry")
    path = Path(raw)
    if not path.is_file():
        raise ConfigError(f"ZHIJIAN_IDENTITY_TOKEN_FILE={raw!r} is not a readable file")
    return path


def token_from_file(path: Path) -> Callable[[], str]:
    """A token source that reads the file on every call, so that a rotated token is used
    from the next (re)connect on. The file is small and local; reading it is cheap."""
    def read() -> str:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise Unauthenticated(f"cannot read the identity token file {path}: "
                                  f"{error.strerror}", reason="CREDENTIALS_MISSING") from None
        if not token:
            raise Unauthenticated(f"the identity token file {path} is empty",
                                  reason="CREDENTIALS_MISSING")
        return token
    return read


# ---------------------------------------------------------------------------------------
# The watcher
# ---------------------------------------------------------------------------------------

class _DeadStream(Exception):
    """No message, not even a heartbeat, for two heartbeat intervals."""


@dataclass
class _State:
    deployment: Deployment | None = None
    received: bool = False
    last_confirmed: float | None = None  # clock() of the last message or successful poll
    revision: int = 0
    listeners: list[ChangeListener] = field(default_factory=list)


class DeploymentWatcher:
    """The registry's latest word on one deployment, pushed, polled as a fallback.

    ``select()`` decides from it, for the network domain of each call; state never
    received, or not confirmed for ``max_staleness_s``, is refused as ``UNAVAILABLE`` /
    ``SERVING_STATE_UNKNOWN``: a suspension that cannot reach us must not leave a version
    serving.
    """

    def __init__(self, target: str, deployment: str, *, token: Callable[[], str],
                 poll_interval_s: float = 1.0,
                 heartbeat_interval_s: float = 1.0, max_staleness_s: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        self._target = target
        self._deployment = deployment
        self._name = f"deployments/{deployment}"
        self._token = token
        self._poll_interval_s = poll_interval_s
        self._heartbeat_interval_s = heartbeat_interval_s
        # Two missed heartbeats, plus half an interval of slack for scheduling jitter.
        self._dead_after_s = 2.5 * heartbeat_interval_s
        self._max_staleness_s = max_staleness_s
        self._clock = clock
        self._state = _State()
        self._stream_up = False
        self._failure_logged = False
        self._channel: grpc.aio.Channel | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stream_down: asyncio.Event | None = None
        self._first_state: asyncio.Event | None = None

    # --- what callers read -------------------------------------------------------------

    @property
    def deployment(self) -> Deployment | None:
        return self._state.deployment

    @property
    def revision(self) -> int:
        return self._state.revision

    @property
    def last_confirmed(self) -> float | None:
        return self._state.last_confirmed

    @property
    def stream_connected(self) -> bool:
        return self._stream_up

    def fresh(self) -> bool:
        confirmed = self._state.last_confirmed
        return self._state.received and confirmed is not None and \
            self._clock() - confirmed <= self._max_staleness_s

    def check_fresh(self) -> None:
        if not self._state.received or self._state.last_confirmed is None:
            raise Unavailable(f"no serving state for {self._deployment} from the registry yet",
                              reason=SERVING_STATE_UNKNOWN, metadata={"model": self._deployment})
        age = self._clock() - self._state.last_confirmed
        if age > self._max_staleness_s:
            raise Unavailable(f"the serving state of {self._deployment} was last confirmed "
                              f"{age:.1f}s ago (limit {self._max_staleness_s:.1f}s); the "
                              "registry is unreachable", reason=SERVING_STATE_UNKNOWN,
                              metadata={"model": self._deployment})

    def select(self, routing_key: str | None = None, *, network_domain: int) -> Selected:
        """The version for a call that came in through ``network_domain``."""
        self.check_fresh()
        return select_version(self._state.deployment, network_domain=network_domain,
                              now=self._clock(), routing_key=routing_key)

    def servable(self, network_domain: int | None = None) -> dict[str, DeployedVersion]:
        """:func:`servable_versions` over the latest state, in ``network_domain`` or (None)
        in any domain; empty when the state is stale."""
        if not self.fresh():
            return {}
        if network_domain is None:
            return servable_anywhere(self._state.deployment, now=self._clock())
        return servable_versions(self._state.deployment, network_domain=network_domain,
                                 now=self._clock())

    def on_change(self, callback: ChangeListener) -> None:
        """Call ``callback(deployment)`` (on the watcher's loop) after every change."""
        self._state.listeners.append(callback)

    async def wait_for_state(self, timeout_s: float) -> bool:
        if self._first_state is None:
            raise RuntimeError("start() the watcher first")
        try:
            async with asyncio.timeout(timeout_s):
                await self._first_state.wait()
        except TimeoutError:
            return False
        return True

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        # Control-plane traffic: a span per poll or a day-long stream span would drown the
        # business traces, so this channel is not traced.
        self._channel = open_channel(self._target, traced=False)
        self._stream_down = asyncio.Event()
        self._stream_down.set()
        self._first_state = asyncio.Event()
        stub = registry_grpc.RegistryServiceStub(self._channel)
        self._tasks = [asyncio.create_task(self._stream_forever(stub), name="watch-stream"),
                       asyncio.create_task(self._poll_while_down(stub), name="watch-poll")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    # --- stream ------------------------------------------------------------------------

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        return ((md.AUTHORIZATION, f"Bearer {self._token()}"),)

    def _request(self) -> registry_pb.WatchDeploymentsRequest:
        heartbeat = duration_pb2.Duration()
        heartbeat.FromNanoseconds(int(self._heartbeat_interval_s * 1e9))
        return registry_pb.WatchDeploymentsRequest(
            filter=f'model = "{self._deployment}"', after_revision=self._state.revision,
            heartbeat_interval=heartbeat)

    async def _stream_forever(self, stub: registry_grpc.RegistryServiceStub) -> None:
        backoff = _INITIAL_BACKOFF_S
        while True:
            delivered = False
            try:
                delivered = await self._stream_once(stub)
                problem = "the registry ended the stream"
            except _DeadStream:
                problem = f"no heartbeat for {self._dead_after_s:.1f}s"
            except grpc.aio.AioRpcError as error:
                problem = f"{error.code().name}: {error.details()}"
            except ZhijianError as error:  # the token could not be read
                problem = error.message
            except Exception as error:  # never let a surprise end the watch for good
                log.exception("watch of %s failed unexpectedly", self._name)
                problem = type(error).__name__
            self._set_stream_up(False, problem)
            if delivered:
                backoff = _INITIAL_BACKOFF_S
            # Jitter, so that every subscriber does not hit a restarted registry at once.
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _stream_once(self, stub: registry_grpc.RegistryServiceStub) -> bool:
        call = stub.WatchDeployments(self._request(), metadata=self._metadata())
        delivered = False
        try:
            while True:
                try:
                    async with asyncio.timeout(self._dead_after_s):
                        message = await call.read()
                except TimeoutError:
                    raise _DeadStream() from None
                if message is grpc.aio.EOF:
                    return delivered
                delivered = True
                self._set_stream_up(True)
                self._apply_message(message)
        finally:
            call.cancel()

    def _set_stream_up(self, up: bool, problem: str = "") -> None:
        if up and not self._stream_up:
            log.info("watching %s on the registry at %s", self._name, self._target)
        elif not up and (self._stream_up or not self._failure_logged):
            # On losing the stream, and on the very first failure (a bad token or address
            # at start-up), not on every retry of an outage.
            log.warning("watch of %s is down (%s); polling every %.1fs while reconnecting",
                        self._name, problem, self._poll_interval_s)
            self._failure_logged = True
        self._stream_up = up
        if self._stream_down is not None:
            if up:
                self._stream_down.clear()
            else:
                self._stream_down.set()

    def _apply_message(self, message: registry_pb.WatchDeploymentsResponse) -> None:
        mine = next((d for d in message.deployments if self._is_mine(d)), None)
        current = self._state.deployment
        if message.type == registry_pb.WATCH_EVENT_TYPE_SNAPSHOT or (
                message.type == registry_pb.WATCH_EVENT_TYPE_CHANGED and mine is not None):
            current = mine  # a snapshot without ours means it is gone
        elif message.type == registry_pb.WATCH_EVENT_TYPE_DELETED and mine is not None:
            current = None
        # Messages arrive in order, so even a heartbeat's revision is safe to resume from.
        self._state.revision = max(self._state.revision, message.revision)
        self._confirm(current)

    def _is_mine(self, deployment: Deployment) -> bool:
        return deployment.name == self._name or (not deployment.name
                                                 and deployment.model == self._deployment)

    # --- polling -----------------------------------------------------------------------

    async def _poll_while_down(self, stub: registry_grpc.RegistryServiceStub) -> None:
        assert self._stream_down is not None
        failing = False
        while True:
            await self._stream_down.wait()
            try:
                await self._poll_once(stub)
                failing = False
            except (grpc.aio.AioRpcError, ZhijianError) as error:
                if not failing:  # once per outage, not once a second
                    log.warning("polling %s failed: %s", self._name, _describe_error(error))
                failing = True
            except Exception:
                log.exception("polling %s failed unexpectedly", self._name)
            await asyncio.sleep(self._poll_interval_s)

    async def _poll_once(self, stub: registry_grpc.RegistryServiceStub) -> None:
        try:
            deployment = await stub.GetDeployment(
                registry_pb.GetDeploymentRequest(name=self._name), metadata=self._metadata(),
                timeout=min(_POLL_TIMEOUT_S, max(self._poll_interval_s, 1.0)))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            found: Deployment | None = None
        else:
            found = deployment
        if self._stream_up:
            return  # the stream answered meanwhile and is the fresher source
        held = self._state.deployment
        if found is not None and held is not None and found.revision < held.revision:
            return  # an older read than what we hold (a lagging replica, say)
        if found is not None:
            self._state.revision = max(self._state.revision, found.revision)
        self._confirm(found)

    # --- applying state ----------------------------------------------------------------

    def _confirm(self, deployment: Deployment | None) -> None:
        changed = not self._state.received or deployment != self._state.deployment
        self._state.deployment = deployment
        self._state.received = True
        self._state.last_confirmed = self._clock()
        if self._first_state is not None:
            self._first_state.set()
        if changed:
            self._notify(deployment)

    def _notify(self, deployment: Deployment | None) -> None:
        for listener in list(self._state.listeners):
            try:
                listener(deployment)
            except Exception:
                log.exception("a deployment change listener failed")


def _describe_error(error: grpc.aio.AioRpcError | ZhijianError) -> str:
    if isinstance(error, ZhijianError):
        return error.message
    return f"{error.code().name}: {error.details()}"


class ThreadedWatcher:
    """A :class:`DeploymentWatcher` on an event loop of its own thread, for processes
    whose request handlers are threads (BentoML model servers): the watch must keep
    running whatever the request traffic does. Reads are plain attribute reads."""

    def __init__(self, watcher: DeploymentWatcher) -> None:
        self.watcher = watcher
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="zhijian-deployment-watcher")

    def start(self, wait_for_state_s: float = 0.0) -> bool:
        """Start watching; with ``wait_for_state_s``, block until the first state arrives
        or the time is up. True if state has arrived."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.watcher.start(), self._loop).result(10)
        if wait_for_state_s <= 0:
            return False
        return asyncio.run_coroutine_threadsafe(
            self.watcher.wait_for_state(wait_for_state_s), self._loop).result()

    def close(self, timeout_s: float = 5.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.watcher.close(), self._loop).result(timeout_s)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout_s)
