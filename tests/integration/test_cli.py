"""The CLI as a user meets it when something is off."""

from __future__ import annotations

import json
import socket

import pytest

pytestmark = pytest.mark.integration


def test_a_second_up_on_the_same_home_is_refused(platform):
    done = platform.cli("up", timeout=60)
    assert done.returncode == 1
    assert "already running" in done.stderr
    assert platform.cli("status").returncode == 0  # the first one is untouched


def test_classify_against_nothing_says_what_to_do(platform):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = platform.cli("classify", "注射器", "--as", "business", "--gateway",
                        f"127.0.0.1:{port}", "--json", "--timeout", "3")
    assert done.returncode == 1
    error = json.loads(done.stdout)
    assert error["code"] == "UNAVAILABLE" and error["reason"] == "SERVICE_UNREACHABLE"
    assert "make run" in error["error"]


def test_classify_without_an_identity_is_refused_before_any_call(platform):
    done = platform.cli("classify", "注射器", "--json")
    assert done.returncode == 2
    assert "--as" in json.loads(done.stdout)["error"]
