"""``zhijian up`` SIGKILLed leaves its ten processes serving unsupervised; ``zhijian down``
stops every one of them, BentoML's workers in their own sessions included.

Its own small platform in a temporary ZHIJIAN_HOME (the session's must survive): started
the way a user starts it, killed the way the OOM killer would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from zhijian.supervisor import free_port

pytestmark = pytest.mark.integration

ZHIJIAN = str(Path(sys.executable).parent / "zhijian")
PORT_VARIABLES = (
    "ZHIJIAN_SINK_PORT", "ZHIJIAN_MLFLOW_PORT", "ZHIJIAN_REGISTRY_GRPC_PORT",
    "ZHIJIAN_REGISTRY_METRICS_PORT", "ZHIJIAN_CLASSIFY_MODEL_SERVER_PORT",
    "ZHIJIAN_CLASSIFY_GRPC_PORT", "ZHIJIAN_CLASSIFY_METRICS_PORT",
    *(f"ZHIJIAN_GATEWAY_{d}_{s}" for d in ("INTERNET", "EXTRANET", "INTRANET")
      for s in ("PORT", "METRICS_PORT")))


def platform_env(home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ZHIJIAN_", "MLFLOW_", "OTEL_"))}
    return {**env, "ZHIJIAN_HOME": str(home), **{v: str(free_port()) for v in PORT_VARIABLES},
            # Shared 2-core machine: starts may take several times their usual time.
            "ZHIJIAN_READY_TIMEOUT_SCALE": os.environ.get("ZHIJIAN_READY_TIMEOUT_SCALE", "3")}


def zhijian(env: dict[str, str], *args: str, timeout: float = 120
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ZHIJIAN, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def everything_under(root: int) -> list[psutil.Process]:
    return psutil.Process(root).children(recursive=True)


def running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in processes if running(p)]


def test_down_stops_every_process_of_a_sigkilled_up(tmp_path: Path) -> None:
    env = platform_env(tmp_path)
    with (tmp_path / "up.log").open("wb") as log:
        up = subprocess.Popen([ZHIJIAN, "up"], env=env, stdout=log, stderr=log,
                              stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 540
        while zhijian(env, "status", timeout=30).returncode != 0:
            assert up.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "platform not healthy in time"
            time.sleep(1.0)
        time.sleep(1.0)  # a look of the supervisor after the last start: workers recorded
        platform = everything_under(up.pid)
        assert len(platform) >= 9, "sink, MLflow, registry, three gateways, BentoML (+ a " \
                                   "worker), classify"
        in_own_session = [p for p in platform if os.getsid(p.pid) != os.getsid(up.pid)]
        assert in_own_session
        up.send_signal(signal.SIGKILL)
        up.wait()
        time.sleep(1.0)
        assert len(alive(platform)) == len(platform), "killed up leaves them running"

        status = zhijian(env, "status")
        assert status.returncode == 1 and "zhijian down" in status.stdout, status.stdout
        again = zhijian(env, "up", timeout=60)
        assert again.returncode == 1
        assert "zhijian down" in again.stderr and "classify-model-server (pid" in again.stderr

        started = time.monotonic()
        down = zhijian(env, "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert time.monotonic() - started < 60
        assert not alive(platform), f"left running: {[p.pid for p in alive(platform)]}"
        assert zhijian(env, "status").returncode == 1
        assert "not running" in zhijian(env, "status").stdout
    finally:
        if up.poll() is None:
            up.kill()
        zhijian(env, "down", "--grace", "2")
