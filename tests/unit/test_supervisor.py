"""The supervisor on small real processes: order, readiness, restarts, clean stop."""

import asyncio
import os
import signal
import socket
import sys
import textwrap
import time

import pytest

from zhijian.supervisor import (
    ComponentFailed,
    ComponentSpec,
    Readiness,
    Supervisor,
    free_port,
    pid_alive,
    read_state,
)

# Serves HTTP after a delay and forks a grandchild in a session of its own (as BentoML's
# workers are) that records its pid: stop and restart must reach it all the same.
SERVER = textwrap.dedent("""
    import http.server, os, subprocess, sys, time
    port, pidfile = int(sys.argv[1]), sys.argv[2]
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             start_new_session=True)
    open(pidfile, "w").write(str(child.pid))
    time.sleep(0.3)
    handler = http.server.SimpleHTTPRequestHandler
    http.server.HTTPServer(("127.0.0.1", port), handler).serve_forever()
""")


def spec(name, tmp_path, **kwargs):
    port = free_port()
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    return ComponentSpec(name=name, argv=[sys.executable, str(script), str(port),
                                          str(tmp_path / f"{name}.child")],
                         readiness=Readiness("http", f"http://127.0.0.1:{port}/"),
                         endpoint=f"127.0.0.1:{port}", **kwargs)


def test_starts_in_order_records_state_and_stops_process_groups(tmp_path):
    events: list[str] = []
    state_file = tmp_path / "run" / "state.json"
    supervisor = Supervisor(logs_dir=tmp_path / "logs", state_file=state_file,
                            on_event=events.append)

    async def scenario():
        await supervisor.start([spec("first", tmp_path), spec("second", tmp_path)])
        state = read_state(state_file)
        assert state is not None
        assert [c["name"] for c in state["components"]] == ["first", "second"]
        assert all(c["status"] == "serving" for c in state["components"])
        await supervisor.stop()

    asyncio.run(scenario())
    starts = [e for e in events if e.startswith("starting")]
    assert starts == ["starting first …", "starting second …"]
    assert events.index("starting second …") > next(
        i for i, e in enumerate(events) if e.startswith("first serving"))
    for name in ("first", "second"):
        assert_dies(int((tmp_path / f"{name}.child").read_text()))
    assert not state_file.exists()


def assert_dies(pid: int) -> None:
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # reaped by init once killed
    assert not pid_alive(pid)


def test_restarts_a_component_that_dies(tmp_path):
    events: list[str] = []
    supervisor = Supervisor(logs_dir=tmp_path / "logs", state_file=tmp_path / "state.json",
                            on_event=events.append)

    async def scenario():
        await supervisor.start([spec("flaky", tmp_path, max_restarts=2)])
        first_state = read_state(tmp_path / "state.json")
        assert first_state is not None
        first_pid = first_state["components"][0]["pid"]
        orphan = int((tmp_path / "flaky.child").read_text())
        os.killpg(first_pid, signal.SIGKILL)
        stop = asyncio.Event()
        watcher = asyncio.ensure_future(supervisor.watch(stop))
        for _ in range(100):
            await asyncio.sleep(0.1)
            if any(e == "flaky serving again" for e in events):
                break
        stop.set()
        await watcher
        state = read_state(tmp_path / "state.json")
        assert state is not None
        assert_dies(orphan)  # the worker outside the group went with its parent
        await supervisor.stop()
        return first_pid, state

    first_pid, state = asyncio.run(scenario())
    assert "flaky serving again" in events
    assert state["components"][0]["restarts"] == 1
    assert state["components"][0]["pid"] != first_pid


def test_a_component_that_never_gets_ready_fails_start_and_leaves_nothing(tmp_path):
    supervisor = Supervisor(logs_dir=tmp_path / "logs", state_file=tmp_path / "state.json")
    never = ComponentSpec(name="never", argv=[sys.executable, "-c", "import time; time.sleep(60)"],
                          readiness=Readiness("http", f"http://127.0.0.1:{free_port()}/"),
                          endpoint="-", ready_timeout_s=1.0)
    with pytest.raises(ComponentFailed, match="not ready"):
        asyncio.run(supervisor.start([never]))
    assert not (tmp_path / "state.json").exists()


def test_a_component_that_exits_at_start_reports_its_log(tmp_path):
    supervisor = Supervisor(logs_dir=tmp_path / "logs", state_file=tmp_path / "state.json")
    crash = ComponentSpec(name="crash", argv=[sys.executable, "-c", "raise SystemExit(3)"],
                          readiness=Readiness("grpc", f"127.0.0.1:{free_port()}"), endpoint="-")
    with pytest.raises(ComponentFailed, match="exited with code 3") as failure:
        asyncio.run(supervisor.start([crash]))
    assert failure.value.log_file == tmp_path / "logs" / "crash.log"


def test_a_taken_port_fails_start_instead_of_trusting_a_stranger(tmp_path):
    supervisor = Supervisor(logs_dir=tmp_path / "logs", state_file=tmp_path / "state.json")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        taken = ComponentSpec(name="late", argv=[sys.executable, "-c", "pass"],
                              readiness=Readiness("http", f"http://127.0.0.1:{port}/"),
                              endpoint="-", ports=(port,))
        with pytest.raises(ComponentFailed, match=f"port {port} is already in use"):
            asyncio.run(supervisor.start([taken]))
    assert not (tmp_path / "logs" / "late.log").exists()  # never spawned


def server_pid(state_file, name: str) -> int:
    state = read_state(state_file)
    assert state is not None
    return int(next(c["pid"] for c in state["components"] if c["name"] == name))


def component_state(state_file, name: str) -> dict:
    state = read_state(state_file)
    assert state is not None
    return next(c for c in state["components"] if c["name"] == name)


async def until(condition, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_restart_budget_is_a_sliding_window_not_a_lifetime(tmp_path):
    """One restart allowed per 4 s: a crash after the window is restarted however many
    came before; only a second crash within the window exhausts the budget."""
    events: list[str] = []
    state_file = tmp_path / "state.json"
    supervisor = Supervisor(logs_dir=tmp_path / "logs", state_file=state_file,
                            on_event=events.append)

    async def scenario():
        await supervisor.start([spec("flaky", tmp_path, max_restarts=1, restart_window_s=4.0,
                                     backoff_s=0.1)])
        stop = asyncio.Event()
        watcher = asyncio.ensure_future(supervisor.watch(stop))
        try:
            os.killpg(server_pid(state_file, "flaky"), signal.SIGKILL)
            await until(lambda: events.count("flaky serving again") == 1)
            await asyncio.sleep(4.1)  # that restart leaves the window
            os.killpg(server_pid(state_file, "flaky"), signal.SIGKILL)
            await until(lambda: events.count("flaky serving again") == 2)
            assert not watcher.done()  # a lifetime budget of 1 would have stopped here
            # A crash within the window of the last restart exhausts the budget (the
            # window is wide enough for a restart on a loaded machine).
            os.killpg(server_pid(state_file, "flaky"), signal.SIGKILL)
            with pytest.raises(ComponentFailed, match="exhausted its budget"):
                await asyncio.wait_for(watcher, timeout=10)
        finally:
            stop.set()
            await supervisor.stop()

    asyncio.run(scenario())


def test_a_non_critical_component_out_of_budget_is_left_down_and_the_rest_serves(tmp_path):
    events: list[str] = []
    state_file = tmp_path / "state.json"
    supervisor = Supervisor(logs_dir=tmp_path / "logs", state_file=state_file,
                            on_event=events.append)

    async def scenario():
        await supervisor.start([
            spec("sink", tmp_path, max_restarts=0, critical=False,
                 degraded="tracing off: no spans are recorded"),
            spec("core", tmp_path)])
        stop = asyncio.Event()
        watcher = asyncio.ensure_future(supervisor.watch(stop))
        try:
            orphan = int((tmp_path / "sink.child").read_text())
            os.killpg(server_pid(state_file, "sink"), signal.SIGKILL)
            await until(lambda: component_state(state_file, "sink")["status"] == "down")
            await asyncio.sleep(1.0)  # the watcher looks again: it must not restart or fail
            assert not watcher.done()
            assert component_state(state_file, "sink")["status"] == "down"
            core = component_state(state_file, "core")
            assert core["status"] == "serving"
            assert await Readiness(**core["readiness"]).check()
            assert_dies(orphan)
            stop.set()
            await watcher  # returns normally: the platform was never stopped
        finally:
            stop.set()
            await supervisor.stop()

    asyncio.run(scenario())
    warning = next(e for e in events if e.startswith("WARNING: sink"))
    assert "left down" in warning and "tracing off" in warning


def test_a_critical_component_out_of_budget_stops_the_platform(tmp_path):
    state_file = tmp_path / "state.json"
    supervisor = Supervisor(logs_dir=tmp_path / "logs", state_file=state_file)

    async def scenario():
        await supervisor.start([spec("core", tmp_path, max_restarts=0)])
        stop = asyncio.Event()
        watcher = asyncio.ensure_future(supervisor.watch(stop))
        os.killpg(server_pid(state_file, "core"), signal.SIGKILL)
        try:
            with pytest.raises(ComponentFailed, match="core: exited with code -9"):
                await asyncio.wait_for(watcher, timeout=10)
            assert component_state(state_file, "core")["status"] == "failed"
        finally:
            await supervisor.stop()

    asyncio.run(scenario())


def test_a_restart_that_never_gets_ready_spends_budget_instead_of_stopping(tmp_path):
    """A non-critical component whose restarts keep failing is left down, however it
    fails: dying at once or never answering."""
    events: list[str] = []
    state_file = tmp_path / "state.json"
    supervisor = Supervisor(logs_dir=tmp_path / "logs", state_file=state_file,
                            on_event=events.append)
    marker = tmp_path / "started-once"
    # Serves the first time; every later start exits before it is ready.
    script = tmp_path / "once.py"
    script.write_text(textwrap.dedent(f"""
        import http.server, os, sys
        if os.path.exists({str(marker)!r}):
            sys.exit(5)
        open({str(marker)!r}, "w").close()
        http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])),
                               http.server.SimpleHTTPRequestHandler).serve_forever()
    """))
    port = free_port()
    once = ComponentSpec(name="once", argv=[sys.executable, str(script), str(port)],
                         readiness=Readiness("http", f"http://127.0.0.1:{port}/"),
                         endpoint="-", max_restarts=2, backoff_s=0.1, critical=False)

    async def scenario():
        await supervisor.start([once])
        stop = asyncio.Event()
        watcher = asyncio.ensure_future(supervisor.watch(stop))
        try:
            os.killpg(server_pid(state_file, "once"), signal.SIGKILL)
            await until(lambda: component_state(state_file, "once")["status"] == "down")
            assert not watcher.done()
            stop.set()
            await watcher
        finally:
            stop.set()
            await supervisor.stop()

    asyncio.run(scenario())
    assert any("exited with code 5 before it was ready" in e for e in events)
