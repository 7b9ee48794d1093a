"""``zhijian down`` after its ``zhijian up`` was SIGKILLed, on small real processes: the
supervisor's pid file is all it has, and it must stop everything, a worker in a session
of its own included, yet never signal a process that merely reuses a recorded pid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from zhijian.cli.main import main
from zhijian.supervisor import pid_alive

ZHIJIAN = str(Path(sys.executable).parent / "zhijian")

# A stand-in for `zhijian up`: the real Supervisor starts two components, each of which
# forks a worker into a session of its own (as BentoML's are), then it serves until killed.
FAKE_UP = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from test_supervisor import spec
    from zhijian.supervisor import Supervisor

    home = Path(sys.argv[1])
    async def main():
        supervisor = Supervisor(logs_dir=home / "logs", state_file=home / "run" / "state.json")
        await supervisor.start([spec("first", home), spec("second", home)])
        supervisor.set_phase("running")
        (home / "ready").touch()
        await supervisor.watch(asyncio.Event())
    asyncio.run(main())
""")


def start_fake_up(home: Path) -> subprocess.Popen[bytes]:
    script = home / "fake_up.py"
    script.write_text(FAKE_UP)
    process = subprocess.Popen([sys.executable, str(script), str(home),
                                str(Path(__file__).parent)])
    deadline = time.monotonic() + 30
    while not (home / "ready").exists():
        assert process.poll() is None, "fake up died"
        assert time.monotonic() < deadline, "fake up not ready"
        time.sleep(0.1)
    time.sleep(0.7)  # one more look of the watcher: descendants recorded
    return process


def platform_pids(home: Path) -> list[int]:
    data = json.loads((home / "run" / "pids.json").read_text())
    pids = []
    for component in data["components"]:
        pids.append(component["pid"])
        pids += [d["pid"] for d in component["descendants"]]
    return pids


def wait_dead(pids: list[int], timeout_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [pid for pid in pids if pid_alive(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def test_down_stops_every_process_of_a_killed_up(tmp_path, monkeypatch, capsys):
    up = start_fake_up(tmp_path)
    pids = platform_pids(tmp_path)
    workers = [int((tmp_path / f"{name}.child").read_text()) for name in ("first", "second")]
    assert set(workers) <= set(pids), "the workers in their own sessions are recorded"
    up.kill()
    up.wait()
    time.sleep(0.5)
    assert len(wait_dead(pids, 0.1)) == len(pids), "they outlive their killed supervisor"

    monkeypatch.setenv("ZHIJIAN_HOME", str(tmp_path))
    assert main(["status"]) == 1
    assert "zhijian down" in capsys.readouterr().out
    assert main(["down", "--grace", "3", "--json"]) == 0
    stopped = json.loads(capsys.readouterr().out)["stopped"]
    assert {s["component"] for s in stopped} == {"first", "second"}
    assert not wait_dead(pids), "every process of the platform is gone"
    assert not (tmp_path / "run" / "pids.json").exists()
    assert main(["down"]) == 0  # nothing left to do is no error


def test_up_names_the_orphans_of_a_killed_up_and_says_to_run_down(tmp_path):
    up = start_fake_up(tmp_path)
    up.kill()
    up.wait()
    env = {**os.environ, "ZHIJIAN_HOME": str(tmp_path)}
    try:
        done = subprocess.run([ZHIJIAN, "up"], env=env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 1
        assert "zhijian down" in done.stderr
        assert "first (pid" in done.stderr and "second (pid" in done.stderr
    finally:
        subprocess.run([ZHIJIAN, "down", "--grace", "3"], env=env, timeout=60, check=True)


def test_a_recycled_pid_is_never_signalled(tmp_path, monkeypatch, capsys):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                start_new_session=True)
    try:
        created = psutil.Process(stranger.pid).create_time()
        (tmp_path / "run").mkdir()
        # The pid file names the stranger's pid, and its group, with another start time:
        # what it looks like after the kernel gave a dead component's pid to someone else.
        (tmp_path / "run" / "pids.json").write_text(json.dumps({
            "supervisor": {"pid": stranger.pid, "create_time": created - 100},
            "components": [{"name": "registry", "pid": stranger.pid, "pgid": stranger.pid,
                            "create_time": created - 100,
                            "descendants": [{"pid": stranger.pid,
                                             "create_time": created - 50}]}]}))
        monkeypatch.setenv("ZHIJIAN_HOME", str(tmp_path))
        assert main(["down", "--grace", "1"]) == 0
        assert "no process of the platform was running" in capsys.readouterr().out
        assert stranger.poll() is None, "a stranger holding a recorded pid was signalled"
    finally:
        stranger.kill()
        stranger.wait()


def test_down_stops_a_live_up_through_its_own_shutdown(tmp_path, monkeypatch):
    up = start_fake_up(tmp_path)
    pids = platform_pids(tmp_path)
    monkeypatch.setenv("ZHIJIAN_HOME", str(tmp_path))
    try:
        assert main(["down", "--grace", "3"]) == 0
        assert up.wait(timeout=30) is not None
        assert not wait_dead(pids)
    finally:
        if up.poll() is None:
            up.kill()
