"""``zhijian status`` acting as an identity reports a suspended deployment and exits 3;
the session platform's deployment is resumed before the test ends."""

from __future__ import annotations

import json
import time

import pytest

pytestmark = pytest.mark.integration

MODEL = "zhijian-classify"


def test_status_names_a_suspended_deployment_and_exits_3(platform):
    assert platform.cli("status", "--as", "auditor").returncode == 0
    suspended = platform.cli("deploy", "suspend", MODEL, "--reason", "status drill",
                             "--as", "sre")
    assert suspended.returncode == 0, suspended.stdout + suspended.stderr
    try:
        done = platform.cli("status", "--as", "auditor", "--json")
        assert done.returncode == 3, done.stdout + done.stderr
        shown = json.loads(done.stdout)
        [row] = [d for d in shown["deployments"] if d["name"] == f"deployments/{MODEL}"]
        assert row["problem"] == "suspended" and row["state"] == "DEPLOYMENT_STATE_SUSPENDED"
        assert "SUSPENDED" in platform.cli("status", "--as", "auditor").stdout
        # Without an identity it does not call the registry, so cannot know.
        assert platform.cli("status").returncode == 0
    finally:
        resumed = platform.cli("deploy", "resume", MODEL, "--reason", "drill over",
                               "--as", "admin")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    deadline = time.monotonic() + 30
    while platform.cli("status", "--as", "auditor").returncode != 0:
        assert time.monotonic() < deadline, "deployment not serving again"
        time.sleep(0.5)
