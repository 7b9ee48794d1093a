"""``zhijian status`` over a state file and real listeners: which exit code says what."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from zhijian.cli.main import main
from zhijian.supervisor import free_port


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def live_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def component(name: str, url: str, *, status: str = "serving", critical: bool = True,
              degraded: str = "") -> dict:
    return {"name": name, "pid": os.getpid(), "endpoint": url, "status": status,
            "restarts": 0, "critical": critical, "degraded": degraded,
            "readiness": {"kind": "http", "target": url}, "log": "-"}


def status(home: Path, monkeypatch: pytest.MonkeyPatch, components: list[dict],
           capsys: pytest.CaptureFixture[str], phase: str = "running") -> tuple[int, dict]:
    (home / "run").mkdir(parents=True, exist_ok=True)
    (home / "run" / "state.json").write_text(json.dumps(
        {"supervisor_pid": os.getpid(), "phase": phase, "components": components}))
    monkeypatch.setenv("ZHIJIAN_HOME", str(home))
    monkeypatch.delenv("ZHIJIAN_AS", raising=False)
    code = main(["status", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_every_component_serving_exits_0(tmp_path, monkeypatch, capsys, live_url):
    code, shown = status(tmp_path, monkeypatch, [component("registry", live_url)], capsys)
    assert code == 0 and shown["healthy"]


def test_a_non_critical_component_left_down_is_degraded_exit_4(tmp_path, monkeypatch, capsys,
                                                                live_url):
    dead = f"http://127.0.0.1:{free_port()}/"
    code, shown = status(tmp_path, monkeypatch, [
        component("span-sink", dead, status="down", critical=False,
                  degraded="tracing off: no spans are recorded"),
        component("registry", live_url)], capsys)
    assert code == 4
    assert shown["degraded"] and not shown["healthy"]
    sink = shown["components"][0]
    assert sink["status"] == "down" and not sink["serving"] and not sink["critical"]


def test_degraded_text_names_the_component_and_what_is_lost(tmp_path, monkeypatch, capsys,
                                                            live_url):
    dead = f"http://127.0.0.1:{free_port()}/"
    (tmp_path / "run").mkdir(parents=True)
    (tmp_path / "run" / "state.json").write_text(json.dumps(
        {"supervisor_pid": os.getpid(), "phase": "running", "components": [
            component("span-sink", dead, status="down", critical=False,
                      degraded="tracing off: no spans are recorded"),
            component("registry", live_url)]}))
    monkeypatch.setenv("ZHIJIAN_HOME", str(tmp_path))
    assert main(["status"]) == 4
    text = capsys.readouterr().out
    assert "DEGRADED" in text
    assert "span-sink" in text and "left down (tracing off" in text


def test_a_critical_component_not_serving_exits_1(tmp_path, monkeypatch, capsys, live_url):
    dead = f"http://127.0.0.1:{free_port()}/"
    code, _ = status(tmp_path, monkeypatch, [
        component("span-sink", live_url, critical=False),
        component("registry", dead, status="restarting")], capsys)
    assert code == 1


def test_no_supervisor_exits_1(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZHIJIAN_HOME", str(tmp_path))
    assert main(["status", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["running"] is False


def test_deployments_suspended_or_expired_are_named_and_exit_3(live_url):
    from google.protobuf.timestamp_pb2 import Timestamp

    from zhijian.cli.status import deployment_rows, exit_code
    from zhijian.registry.v1 import registry_service_pb2 as pb

    now = 2_000_000_000.0

    def deployed(version: str, state: pb.FilingState, revalidate: float
                 ) -> pb.DeployedVersion:
        return pb.DeployedVersion(version=version, filing_state=state,
                                  revalidate_time=Timestamp(seconds=int(revalidate)))

    approved = pb.FILING_STATE_APPROVED
    rows = deployment_rows([
        pb.Deployment(name="deployments/ok", state=pb.DEPLOYMENT_STATE_ACTIVE,
                      production=deployed("1", approved, now + 86400)),
        pb.Deployment(name="deployments/killed", state=pb.DEPLOYMENT_STATE_SUSPENDED,
                      production=deployed("2", approved, now + 86400)),
        pb.Deployment(name="deployments/filing-suspended", state=pb.DEPLOYMENT_STATE_ACTIVE,
                      production=deployed("3", pb.FILING_STATE_SUSPENDED, now + 86400)),
        pb.Deployment(name="deployments/lapsed", state=pb.DEPLOYMENT_STATE_ACTIVE,
                      production=deployed("4", pb.FILING_STATE_EXPIRED, now - 1)),
        # The registry's EXPIRED push may lag: the date alone decides, as serving does.
        pb.Deployment(name="deployments/past-date", state=pb.DEPLOYMENT_STATE_ACTIVE,
                      production=deployed("5", approved, now - 1)),
        pb.Deployment(name="deployments/empty", state=pb.DEPLOYMENT_STATE_ACTIVE),
    ], now)
    assert {r["name"].removeprefix("deployments/"): r["problem"] for r in rows} == {
        "ok": "", "killed": "suspended", "filing-suspended": "production version suspended",
        "lapsed": "production version expired", "past-date": "production version expired",
        "empty": ""}
    serving = [{"serving": True, "critical": True}]
    assert exit_code("running", serving, rows) == 3
    assert exit_code("running", serving, rows[:1]) == 0
    assert exit_code("running", serving, None) == 0  # not checked: no identity
    # Down outranks a deployment, which outranks a degraded platform.
    assert exit_code("running", [{"serving": False, "critical": True}], rows) == 1
    assert exit_code("running", [*serving, {"serving": False, "critical": False}], rows) == 3
    assert exit_code("running", [*serving, {"serving": False, "critical": False}], []) == 4


def test_without_an_identity_deployments_are_not_checked_and_say_how(tmp_path, monkeypatch,
                                                                      capsys, live_url):
    monkeypatch.delenv("ZHIJIAN_AS", raising=False)
    code, shown = status(tmp_path, monkeypatch, [component("registry", live_url)], capsys)
    assert code == 0 and shown["deployments"] is None
    assert "--as" in shown["deployments_unchecked"]
