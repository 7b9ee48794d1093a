"""The platform under test: a throwaway one the harness starts in a temporary
ZHIJIAN_HOME (the default of ``python -m fuzz``), or one already running (the test
suite's, or ``--attach``); and the watch on its processes.

The watch reads the supervisor's ``run/state.json`` and the process table: a component
whose pid changed or whose restart count rose, a supervisor that is gone, or a worker
process (BentoML's, say) that was there before the run and is not after, is a process
that died during the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from zhijian.cli.stack import StackPorts, gateway_components
from zhijian.config import NETWORK_DOMAINS, HomeLayout
from zhijian.supervisor import free_port, pid_alive, read_state

START_TIMEOUT_S = 480
STOP_TIMEOUT_S = 90
# Variables of the caller's shell that would point the throwaway platform elsewhere.
_FOREIGN = ("MLFLOW_TRACKING_URI", "OTEL_EXPORTER_OTLP_ENDPOINT", "ZHIJIAN_CLASSIFY_MODEL_VERSION",
            "ZHIJIAN_REGISTRY_DATABASE_URL", "ZHIJIAN_REGISTRY_TARGET", "ZHIJIAN_AS",
            "ZHIJIAN_KEYS_DIR", "ZHIJIAN_IDENTITIES_DIR", "ZHIJIAN_DOMAIN",
            "ZHIJIAN_GATEWAY_POLICY_DATABASE_URL")


@dataclass
class Target:
    home: Path
    env: dict[str, str]
    throwaway: bool

    @property
    def ports(self) -> StackPorts:
        return StackPorts.from_env(self.env)

    def gateways(self) -> dict[str, str]:
        ports = self.ports
        return {domain: f"127.0.0.1:{ports.gateways[domain]}" for domain in NETWORK_DOMAINS}

    def routed_services(self) -> frozenset[str]:
        """The services the stack's gateways route (what ``zhijian up`` wires)."""
        routes = gateway_components(HomeLayout(self.home), self.ports)[0].env[
            "ZHIJIAN_GATEWAY_ROUTES"]
        return frozenset(item.split("=", 1)[0] for item in routes.split(",") if item)

    @property
    def state_file(self) -> Path:
        return HomeLayout(self.home).state_file


def throwaway_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _FOREIGN}
    env.update({
        "ZHIJIAN_HOME": str(home),
        "ZHIJIAN_SINK_PORT": str(free_port()),
        "ZHIJIAN_MLFLOW_PORT": str(free_port()),
        "ZHIJIAN_REGISTRY_GRPC_PORT": str(free_port()),
        "ZHIJIAN_REGISTRY_METRICS_PORT": str(free_port()),
        "ZHIJIAN_CLASSIFY_MODEL_SERVER_PORT": str(free_port()),
        "ZHIJIAN_CLASSIFY_GRPC_PORT": str(free_port()),
        "ZHIJIAN_CLASSIFY_METRICS_PORT": str(free_port()),
        # The fuzzer is one caller sending as fast as the platform answers; the rate
        # limiter would otherwise answer most calls and the services would see few.
        "ZHIJIAN_GATEWAY_RATE_PER_S": "1000000",
        "ZHIJIAN_GATEWAY_BURST": "1000000",
        # Refusals are logged at INFO, one line per call; errors and tracebacks are what
        # the run reads back.
        "ZHIJIAN_LOG_LEVEL": "WARNING",
        **{f"ZHIJIAN_GATEWAY_{domain.upper()}_{suffix}": str(free_port())
           for domain in NETWORK_DOMAINS for suffix in ("PORT", "METRICS_PORT")},
    })
    return env


class ThrowawayPlatform:
    """``zhijian up`` in a fresh temporary home, on free loopback ports; stopped (every
    process) and removed on exit."""

    def __init__(self, *, keep_home: bool = False, progress: Any = print) -> None:
        self.keep_home = keep_home
        self.progress = progress
        self.home = Path(tempfile.mkdtemp(prefix="zhijian-fuzz-"))
        self.env = throwaway_env(self.home)
        self.process: subprocess.Popen[bytes] | None = None
        self.leftovers: list[int] = []

    def __enter__(self) -> Target:
        zhijian = str(Path(sys.executable).parent / "zhijian")
        self.progress(f"starting a throwaway platform in {self.home} …")
        with (self.home / "up.log").open("wb") as log:
            self.process = subprocess.Popen([zhijian, "up"], env=self.env, stdout=log,
                                            stderr=log, stdin=subprocess.DEVNULL)
        started = time.monotonic()
        try:
            self._wait_healthy(zhijian)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        self.progress(f"platform up in {time.monotonic() - started:.0f}s")
        return Target(self.home, self.env, throwaway=True)

    def _wait_healthy(self, zhijian: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"zhijian up exited with {self.process.returncode}; see "
                                   f"{self.home / 'up.log'}\n" + self.log_tail())
            status = subprocess.run([zhijian, "status"], env=self.env, capture_output=True,
                                    timeout=60, check=False)
            if status.returncode == 0:
                return
            time.sleep(1.0)
        raise TimeoutError(f"the platform was not healthy after {START_TIMEOUT_S}s\n"
                           + self.log_tail())

    def log_tail(self) -> str:
        parts = []
        for log in [self.home / "up.log", *sorted((self.home / "logs").glob("*.log"))]:
            if log.exists():
                parts.append(f"--- {log.name}\n" + log.read_text(errors="replace")[-2000:])
        return "\n".join(parts)

    def __exit__(self, *_: object) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            tree: list[int] = []
            with contextlib.suppress(psutil.Error):
                tree = [c.pid for c in psutil.Process(process.pid).children(recursive=True)]
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            self.leftovers = [pid for pid in tree if pid_alive(pid)]
            for pid in self.leftovers:
                # Only our own platform's processes, by the pids we saw it start.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        if not self.keep_home:
            shutil.rmtree(self.home, ignore_errors=True)


@contextlib.contextmanager
def attached(home: Path, env: Mapping[str, str]) -> Iterator[Target]:
    yield Target(home, dict(env), throwaway=False)


# --- the watch on processes ---------------------------------------------------------------

@dataclass(frozen=True)
class Proc:
    pid: int
    created: float
    name: str


@dataclass
class Snapshot:
    taken: float
    supervisor: Proc | None
    phase: str
    components: dict[str, dict[str, Any]]  # name -> pid, restarts, status, created
    descendants: dict[str, list[Proc]]  # component -> its worker processes

    def to_json(self) -> dict[str, Any]:
        return {"supervisor_pid": self.supervisor.pid if self.supervisor else None,
                "phase": self.phase, "components": self.components,
                "workers": {name: [p.pid for p in procs]
                            for name, procs in self.descendants.items()}}


def _proc(pid: int) -> Proc | None:
    try:
        process = psutil.Process(pid)
        return Proc(pid, process.create_time(), process.name())
    except psutil.Error:
        return None


def snapshot(target: Target) -> Snapshot:
    state = read_state(target.state_file) or {}
    supervisor_pid = state.get("supervisor_pid")
    components: dict[str, dict[str, Any]] = {}
    descendants: dict[str, list[Proc]] = {}
    for component in state.get("components", []):
        pid = int(component["pid"])
        proc = _proc(pid)
        components[component["name"]] = {
            "pid": pid, "restarts": int(component.get("restarts", 0)),
            "status": component.get("status", "?"),
            "created": proc.created if proc else None}
        children: list[Proc] = []
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children(recursive=True):
                found = _proc(child.pid)
                if found is not None:
                    children.append(found)
        descendants[component["name"]] = children
    return Snapshot(time.time(), _proc(int(supervisor_pid)) if supervisor_pid else None,
                    str(state.get("phase", "")), components, descendants)


def compare(before: Snapshot, after: Snapshot) -> list[str]:
    """Every process of ``before`` that died, restarted or changed state by ``after``."""
    problems = []
    if before.supervisor is None:
        problems.append("no supervisor state before the run (is the platform running?)")
    elif after.supervisor != before.supervisor:
        problems.append(f"the supervisor (pid {before.supervisor.pid}) is gone")
    for name, was in before.components.items():
        now = after.components.get(name)
        if now is None:
            problems.append(f"{name} is no longer in the supervisor's state")
            continue
        if now["pid"] != was["pid"] or now["created"] != was["created"]:
            problems.append(f"{name} restarted: pid {was['pid']} -> {now['pid']}")
        if now["restarts"] != was["restarts"]:
            problems.append(f"{name} restart count {was['restarts']} -> {now['restarts']}")
        if now["status"] != "serving":
            problems.append(f"{name} is {now['status']}")
        if now["created"] is None:
            problems.append(f"{name} (pid {now['pid']}) is not running")
        alive = {(p.pid, p.created) for p in after.descendants.get(name, ())}
        for worker in before.descendants.get(name, ()):
            if (worker.pid, worker.created) not in alive:
                problems.append(f"{name}'s worker {worker.name} (pid {worker.pid}) exited")
    if after.phase != "running":
        problems.append(f"the supervisor's phase is {after.phase!r}, not 'running'")
    return problems


@dataclass
class Monitor:
    """Polls the supervisor's state during the run: restarts happen and heal between a
    before and an after, so the watch must see them as they happen."""

    target: Target
    before: Snapshot
    interval_s: float = 1.0
    events: list[str] = field(default_factory=list)
    down: asyncio.Event = field(default_factory=asyncio.Event)

    async def watch(self) -> None:
        started = time.monotonic()
        reported: set[str] = set()
        while True:
            await asyncio.sleep(self.interval_s)
            now = await asyncio.to_thread(snapshot, self.target)
            for problem in compare(self.before, now):
                # Workers come and go between polls only if they die; report each once.
                if problem not in reported:
                    reported.add(problem)
                    self.events.append(f"+{time.monotonic() - started:.0f}s {problem}")
            if now.supervisor is None or not pid_alive(now.supervisor.pid):
                self.down.set()
                return
