"""The documented load test, run as a user runs it (``python -m load``), against the
platform `zhijian up` started: it must pass, and leave CSV and HTML reports that name
every user class."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# Enough for 200 requests per class at the default pacing on two cores, with margin.
RUN_TIME = "35s"
# Written out rather than imported from load/: the test states what the report must hold.
USER_CLASSES = ("InternetBusinessUser", "ExtranetBusinessUser", "IntranetReviewerUser",
                "IntranetAuditorUser", "IntranetSreUser", "UnauthorizedMixUser")


def test_the_load_test_passes_and_reports_every_user_class(platform: Any,
                                                           tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "load", "--run-time", RUN_TIME, "--report-dir", str(tmp_path)],
        cwd=REPO, env=platform.env, capture_output=True, text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "PASS" in done.stdout

    with (tmp_path / "zhijian_stats.csv").open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Name"] != "Aggregated"]
    requests: dict[str, int] = {}
    for row in rows:
        assert row["Type"] == "grpc" and row["Failure Count"] == "0", row
        owner = row["Name"].split(" ", 1)[0]
        requests[owner] = requests.get(owner, 0) + int(row["Request Count"])
    assert set(requests) == set(USER_CLASSES)
    assert min(requests.values()) >= 200, requests
    # Expected refusals are in the report under names that say so.
    names = {row["Name"] for row in rows}
    assert "InternetBusinessUser Classify [refused: resident id]" in names
    assert any(name.startswith("UnauthorizedMixUser") for name in names)
    page = (tmp_path / "zhijian.html").read_text(encoding="utf-8")
    assert all(name in page for name in USER_CLASSES)
