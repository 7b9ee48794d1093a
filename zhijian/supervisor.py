"""A small process supervisor for the embedded platform (``zhijian up``).

Components start in order, each only after the one before it answers its readiness
check; a component that dies is restarted with back-off. Its restart budget is a sliding
window (at most ``max_restarts`` restarts within ``restart_window_s``), so a component
that crashes now and then over weeks is never given up on, while one in a crash loop is.
A critical component that exhausts its budget stops the platform; a non-critical one
(the span sink: tracing only) is left down with a warning and the rest serves on,
degraded. Stop goes in reverse order, SIGTERM first, SIGKILL after the grace period, so
nothing is left behind.

Components fork workers that leave the process group (BentoML's workers start sessions
of their own), so the supervisor remembers every descendant it has seen: when a
component dies, its orphaned workers would otherwise keep the port and serve on.

The supervisor itself may die without a chance to stop anything (SIGKILL, OOM killer),
so it keeps a pid file beside its state (``run/pids.json``): every component's process
group and every descendant, each with its start time. ``zhijian down`` stops what that
file names and ``zhijian up`` refuses to start over it; the start time makes sure a pid
the kernel has since given to a stranger is never signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import grpc
import httpx
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

log = logging.getLogger("zhijian.supervisor")


@dataclass(frozen=True)
class Readiness:
    """How to tell a component serves: a gRPC health check or an HTTP 200."""

    kind: Literal["grpc", "http"]
    target: str  # host:port for grpc, a URL for http

    async def check(self, timeout_s: float = 1.0) -> bool:
        if self.kind == "grpc":
            return await grpc_serving(self.target, timeout_s)
        try:
            async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
                return (await client.get(self.target)).status_code == 200
        except httpx.HTTPError:
            return False


async def grpc_serving(target: str, timeout_s: float = 1.0, service: str = "") -> bool:
    async with grpc.aio.insecure_channel(target) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.aio.AioRpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


@dataclass(frozen=True)
class ComponentSpec:
    name: str
    argv: list[str]
    readiness: Readiness
    endpoint: str
    env: Mapping[str, str] = field(default_factory=dict)
    # Loopback ports the component will listen on: checked free before it starts, or a
    # leftover process would answer the readiness check in its place.
    ports: tuple[int, ...] = ()
    ready_timeout_s: float = 120.0
    # At most this many restarts within the window; one more crash exhausts the budget.
    max_restarts: int = 3
    restart_window_s: float = 300.0
    # A non-critical component that exhausts its budget is left down; the platform serves
    # on without what it adds (``degraded`` says what that costs the operator).
    critical: bool = True
    degraded: str = ""
    backoff_s: float = 2.0  # before the first restart within the window; doubles, up to 10 s
    stop_grace_s: float = 10.0


@dataclass
class _Running:
    spec: ComponentSpec
    process: asyncio.subprocess.Process
    restarts: int = 0  # over its whole life, for status; the budget uses recent_restarts
    status: str = "starting"
    recent_restarts: deque[float] = field(default_factory=deque)  # monotonic times
    created: float = 0.0  # start time of ``process`` (psutil's), to recognise it later
    # Descendants seen so far, keyed by pid with their start time (pids get reused).
    descendants: dict[int, float] = field(default_factory=dict)

    def remember_descendants(self) -> bool:
        """Record descendants not seen before; whether there were any."""
        before = len(self.descendants)
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    self.descendants.setdefault(child.pid, child.create_time())
        return len(self.descendants) != before

    def record(self) -> dict[str, Any]:
        return {"name": self.spec.name, "pid": self.process.pid,
                # Its own session (start_new_session), so the group id is its pid.
                "pgid": self.process.pid, "create_time": self.created,
                "descendants": [{"pid": pid, "create_time": created}
                                for pid, created in self.descendants.items()]}

    def budget_left(self, now: float) -> int:
        """Restarts still allowed now, forgetting those older than the window."""
        window = self.spec.restart_window_s
        while self.recent_restarts and now - self.recent_restarts[0] >= window:
            self.recent_restarts.popleft()
        return self.spec.max_restarts - len(self.recent_restarts)

    def kill_descendants(self) -> None:
        for pid, created in self.descendants.items():
            with contextlib.suppress(psutil.Error):
                child = psutil.Process(pid)
                if child.create_time() == created:
                    child.kill()
        self.descendants.clear()


class ComponentFailed(RuntimeError):
    def __init__(self, name: str, reason: str, log_file: Path) -> None:
        super().__init__(f"{name}: {reason} (log: {log_file})")
        self.name = name
        self.log_file = log_file


class Supervisor:
    def __init__(self, *, logs_dir: Path, state_file: Path,
                 on_event: Callable[[str], None] = lambda _message: None) -> None:
        self._logs_dir = logs_dir
        self._state_file = state_file
        self._pid_file = pid_file_beside(state_file)
        self._running: dict[str, _Running] = {}
        # "starting" until the caller has started everything it means to; status readers
        # must not call a half-started platform healthy.
        self.phase = "starting"
        self._on_event = on_event

    def log_file(self, name: str) -> Path:
        return self._logs_dir / f"{name}.log"

    async def _spawn(self, spec: ComponentSpec) -> asyncio.subprocess.Process:
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file(spec.name).open("ab") as log_handle:
            return await asyncio.create_subprocess_exec(
                *spec.argv, env={**os.environ, **spec.env}, stdin=asyncio.subprocess.DEVNULL,
                stdout=log_handle, stderr=log_handle,
                start_new_session=True,  # own process group: stop reaches its children
            )

    def _started(self, running: _Running, process: asyncio.subprocess.Process) -> None:
        """Record a new process at once: an ``up`` killed a moment later must not leave it
        unnamed in the pid file."""
        running.process = process
        running.created = _create_time(process.pid)
        self.write_state()

    async def _wait_ready(self, running: _Running) -> None:
        spec = running.spec
        deadline = time.monotonic() + spec.ready_timeout_s
        while time.monotonic() < deadline:
            if running.process.returncode is not None:
                raise ComponentFailed(spec.name, f"exited with code {running.process.returncode} "
                                      "before it was ready", self.log_file(spec.name))
            if running.remember_descendants():
                self.write_pids()
            if await spec.readiness.check():
                running.remember_descendants()
                running.status = "serving"
                self.write_state()
                return
            await asyncio.sleep(0.25)
        raise ComponentFailed(spec.name, f"not ready after {spec.ready_timeout_s:.0f}s",
                              self.log_file(spec.name))

    async def start(self, specs: list[ComponentSpec]) -> None:
        """Start components in order, each once the one before is ready; on any failure
        stop everything started so far and raise."""
        try:
            for spec in specs:
                for port in spec.ports:
                    if not port_free(port):
                        raise ComponentFailed(
                            spec.name, f"port {port} is already in use (another platform "
                            "running? stop it or choose other ZHIJIAN_*_PORT values)",
                            self.log_file(spec.name))
                self._on_event(f"starting {spec.name} …")
                started = time.monotonic()
                process = await self._spawn(spec)
                running = _Running(spec, process)
                self._running[spec.name] = running
                self._started(running, process)
                await self._wait_ready(running)
                self._on_event(f"{spec.name} serving on {spec.endpoint} "
                               f"({time.monotonic() - started:.1f}s)")
        except BaseException:
            await self.stop()
            raise

    async def watch(self, stop: asyncio.Event) -> None:
        """Restart components that die, until ``stop`` is set or a critical one exhausts
        its restart budget (then raise ComponentFailed)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.5)
            if stop.is_set():
                return
            for running in list(self._running.values()):
                if running.status == "down":
                    continue  # given up on: non-critical, budget exhausted
                code = running.process.returncode
                if code is None:
                    if running.remember_descendants():
                        self.write_pids()
                    continue
                await self._recover(running, f"exited with code {code}")

    async def _recover(self, running: _Running, why: str) -> None:
        """Restart a dead component within its budget; a restart that dies before it is
        ready spends budget like any other crash."""
        spec = running.spec
        while True:
            running.kill_descendants()
            if running.budget_left(time.monotonic()) <= 0:
                self._exhausted(running, why)
                return
            running.recent_restarts.append(time.monotonic())
            running.restarts += 1
            running.status = "restarting"
            self.write_state()
            self._on_event(f"{spec.name} {why}; restart {len(running.recent_restarts)}"
                           f"/{spec.max_restarts} within {spec.restart_window_s:.0f}s")
            await asyncio.sleep(min(spec.backoff_s * 2 ** (len(running.recent_restarts) - 1),
                                    10))
            self._started(running, await self._spawn(spec))
            try:
                await self._wait_ready(running)
            except ComponentFailed as failure:
                running.remember_descendants()
                await _terminate(running.process, spec.stop_grace_s)
                why = str(failure).removeprefix(f"{spec.name}: ")
                continue
            self._on_event(f"{spec.name} serving again")
            return

    def _exhausted(self, running: _Running, why: str) -> None:
        spec = running.spec
        summary = (f"{why}; {len(running.recent_restarts)} restarts within "
                   f"{spec.restart_window_s:.0f}s exhausted its budget")
        if spec.critical:
            running.status = "failed"
            self.write_state()
            raise ComponentFailed(spec.name, summary, self.log_file(spec.name))
        running.status = "down"
        self.write_state()
        cost = f" ({spec.degraded})" if spec.degraded else ""
        message = (f"WARNING: {spec.name} {summary}; left down{cost}; the platform serves on, "
                   f"degraded (log: {self.log_file(spec.name)})")
        log.warning(message)
        self._on_event(message)

    async def stop(self) -> None:
        for name in reversed(list(self._running)):
            running = self._running[name]
            running.remember_descendants()
            await _terminate(running.process, running.spec.stop_grace_s)
            running.kill_descendants()
            running.status = "stopped"
            self._on_event(f"stopped {name}")
        self._running.clear()
        for done in (self._state_file, self._pid_file):
            with contextlib.suppress(FileNotFoundError):
                done.unlink()

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.write_state()

    def write_state(self) -> None:
        state: dict[str, Any] = {
            "supervisor_pid": os.getpid(),
            "phase": self.phase,
            "updated_at": time.time(),
            "components": [
                {"name": r.spec.name, "pid": r.process.pid, "endpoint": r.spec.endpoint,
                 "status": r.status, "restarts": r.restarts, "critical": r.spec.critical,
                 "degraded": r.spec.degraded,
                 "readiness": asdict(r.spec.readiness), "log": str(self.log_file(r.spec.name))}
                for r in self._running.values()
            ],
        }
        _write_atomically(self._state_file, state)
        self.write_pids()

    def write_pids(self) -> None:
        _write_atomically(self._pid_file, {
            "supervisor": {"pid": os.getpid(), "create_time": _create_time(os.getpid())},
            "components": [r.record() for r in self._running.values()],
        })


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)  # readers never see half a file


def pid_file_beside(state_file: Path) -> Path:
    return state_file.with_name("pids.json")


def _create_time(pid: int) -> float:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


async def _terminate(process: asyncio.subprocess.Process, grace_s: float) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), timeout=grace_s)
    except TimeoutError:
        log.warning("pid %s did not stop within %.0fs; killing", process.pid, grace_s)
    # Workers forked by the component may outlive it; the group takes them along.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        # As servers do: connections of a process that just stopped (TIME_WAIT) must not
        # count as taken; a listener still does, on Linux.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on now (for tests and benchmark helpers)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def read_state(state_file: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return state


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
