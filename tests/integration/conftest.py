"""The real embedded platform, started once per session the way a user starts it:
``zhijian up`` as a process, in a temporary ZHIJIAN_HOME, on free loopback ports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import psutil
import pytest

from zhijian import metadata as md
from zhijian.assertion import AssertionSigner, assertion_metadata
from zhijian.identity import LocalIdentity
from zhijian.supervisor import free_port, pid_alive

ZHIJIAN = str(Path(sys.executable).parent / "zhijian")
START_TIMEOUT_S = 420
DOMAINS = ("internet", "extranet", "intranet")


class _Credentials(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds a caller's token to every call, as a business system's client library would."""

    def __init__(self, token: str) -> None:
        self._token = token

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [*(details.metadata or ()), (md.AUTHORIZATION, f"Bearer {self._token}")]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)


@dataclass
class Platform:
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    @property
    def classify_target(self) -> str:
        """The classify service itself, behind the gateways (for bypass tests)."""
        return f"127.0.0.1:{self.env['ZHIJIAN_CLASSIFY_GRPC_PORT']}"

    def gateway_target(self, domain: str = "intranet") -> str:
        return f"127.0.0.1:{self.env[f'ZHIJIAN_GATEWAY_{domain.upper()}_PORT']}"

    def identity(self, name: str) -> LocalIdentity:
        return LocalIdentity.load(self.home / "identities", name)

    def gateway_channel(self, name: str, domain: str = "intranet") -> grpc.Channel:
        """A channel to a domain's gateway that presents identity ``name``'s token."""
        channel = grpc.insecure_channel(self.gateway_target(domain))
        return grpc.intercept_channel(channel, _Credentials(self.identity(name).token))

    def minted(self, subject: str, roles: tuple[str, ...], domain: str = "intranet",
               clearance: str = "L4", service: str = "zhijian.classify.v1.ClassifyService"
               ) -> tuple[tuple[str, str], ...]:
        """Metadata of a direct call as ``domain``'s gateway would send it (assertion minted
        with that domain's key, the way tests and benchmarks reach a service directly)."""
        signer = AssertionSigner.load(self.home / "keys", domain=domain, issuer="svc:tests")
        return assertion_metadata(signer, subject=subject, roles=roles, clearance=clearance,
                                  audience=service)

    @property
    def registry_target(self) -> str:
        return f"127.0.0.1:{self.env['ZHIJIAN_REGISTRY_GRPC_PORT']}"

    @property
    def model_server_url(self) -> str:
        return f"http://127.0.0.1:{self.env['ZHIJIAN_CLASSIFY_MODEL_SERVER_PORT']}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.env['ZHIJIAN_CLASSIFY_METRICS_PORT']}/metrics"

    def state(self) -> dict:
        return json.loads((self.home / "run" / "state.json").read_text())

    def component_pid(self, name: str) -> int:
        return next(c["pid"] for c in self.state()["components"] if c["name"] == name)

    def component_restarts(self, name: str) -> int:
        return int(next(c["restarts"] for c in self.state()["components"]
                        if c["name"] == name))

    def model_server_tree(self) -> list[psutil.Process]:
        root = psutil.Process(self.component_pid("classify-model-server"))
        return [root, *root.children(recursive=True)]

    def kill_model_server(self) -> None:
        """SIGKILL the BentoML root only (its workers are orphaned, as in a real crash)."""
        os.kill(self.model_server_tree()[0].pid, signal.SIGKILL)

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ZHIJIAN, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"zhijian up exited with {self.process.returncode}:\n"
                                   + self.log_tail())
            if self.cli("status", timeout=30).returncode == 0:
                return
            time.sleep(1.0)
        raise TimeoutError("platform not healthy in time:\n" + self.log_tail())

    def log_tail(self) -> str:
        parts = []
        for log in sorted((self.home / "logs").glob("*.log")):
            parts.append(f"--- {log.name}\n" + log.read_text(errors="replace")[-3000:])
        up_log = self.home / "up.log"
        if up_log.exists():
            parts.append("--- zhijian up\n" + up_log.read_text(errors="replace")[-3000:])
        return "\n".join(parts)


def platform_env(home: Path, services: dict[str, tuple[str, ...]],
                 extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a platform in ``home`` on free ports; ``services`` maps each
    service's setting prefix to the ports it needs (``GRPC_PORT`` and so on)."""
    env = {
        **os.environ,
        "ZHIJIAN_HOME": str(home),
        "ZHIJIAN_SINK_PORT": str(free_port()),
        "ZHIJIAN_MLFLOW_PORT": str(free_port()),
        "ZHIJIAN_REGISTRY_GRPC_PORT": str(free_port()),
        "ZHIJIAN_REGISTRY_METRICS_PORT": str(free_port()),
        # Expiry and reconciliation run often, so tests see their effect quickly.
        "ZHIJIAN_REGISTRY_RECONCILE_INTERVAL_S": "1",
        "ZHIJIAN_REGISTRY_SEAL_CHECK_INTERVAL_S": "1",
        **{f"ZHIJIAN_{prefix}_{port}": str(free_port())
           for prefix, ports in services.items() for port in ports},
        **{f"ZHIJIAN_GATEWAY_{domain.upper()}_{suffix}": str(free_port())
           for domain in DOMAINS for suffix in ("PORT", "METRICS_PORT")},
        **(extra or {}),
    }
    for key in ("MLFLOW_TRACKING_URI", "OTEL_EXPORTER_OTLP_ENDPOINT",
                "ZHIJIAN_CLASSIFY_MODEL_VERSION", "ZHIJIAN_REGISTRY_DATABASE_URL",
                "ZHIJIAN_REGISTRY_TARGET", "ZHIJIAN_AS", "ZHIJIAN_KEYS_DIR",
                "ZHIJIAN_IDENTITIES_DIR", "ZHIJIAN_DOMAIN"):
        env.pop(key, None)
    return env


MODEL_SERVICE_PORTS = ("MODEL_SERVER_PORT", "GRPC_PORT", "METRICS_PORT")


@contextlib.contextmanager
def running_platform(home: Path, env: dict[str, str], *,
                     min_processes: int) -> Iterator[Platform]:
    """``zhijian up`` in ``home``, healthy; on exit Ctrl-C, after which no process of it
    may be left."""
    with (home / "up.log").open("wb") as up_log:
        process = subprocess.Popen([ZHIJIAN, "up"], env=env, stdout=up_log, stderr=up_log,
                                   stdin=subprocess.DEVNULL)
    platform = Platform(home, env, process)
    try:
        platform.wait_healthy(START_TIMEOUT_S)
        yield platform
    finally:
        # Every process of the platform, BentoML's workers (own sessions) included.
        pids = [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        leftovers = [pid for pid in pids if pid_alive(pid)]
        assert not leftovers, f"processes still running after Ctrl-C: {leftovers}"
        assert len(pids) >= min_processes, f"only {len(pids)} processes: {pids}"
        assert process.returncode == 0, platform.log_tail()
        assert not (home / "run" / "state.json").exists()


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("zhijian-home")
    # Sink, MLflow, registry, three gateways, BentoML (+ worker), classify.
    with running_platform(home, platform_env(home, {"CLASSIFY": MODEL_SERVICE_PORTS}),
                          min_processes=9) as running:
        yield running
