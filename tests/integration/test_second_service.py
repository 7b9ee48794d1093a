"""The toolkit's proof: a second service built from nothing but the kernel goes through the
whole governed path on real processes.

``tests/second_service/dates_service`` finds dates in text (span extraction). It is
installed the way any service is: its contract is compiled here, its spec is named under
the ``zhijian.services`` entry point group (a ``.dist-info`` on ``PYTHONPATH``), and a
platform of its own is started with ``ZHIJIAN_SERVICES=dates``. ``zhijian up`` trains and
registers its model, the developer files it, the validator's run uses the span-extraction
evaluator, an admin who is not the submitter approves, and the intranet gateway routes
to it; the test then suspends it and has its reviews counted by the registry.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import MODEL_SERVICE_PORTS, Platform, platform_env, running_platform

from zhijian.errors import parse_error
from zhijian.registry.v1 import registry_service_pb2 as rpb
from zhijian.registry.v1 import registry_service_pb2_grpc as rgrpc
from zhijian.types.v1 import ai_result_pb2 as types_pb

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SECOND = ROOT / "tests" / "second_service"
SERVICE_CODE = SECOND / "dates_service"
MODEL = "zhijiantest-dates"
LINE_GOAL = 150


def _compile_contract(out: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_proto
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                    f"--proto_path={SECOND / 'proto'}", f"--proto_path={ROOT / 'proto'}",
                    f"--proto_path={gen_proto.googleapis_include()}",
                    f"--proto_path={gen_proto.wkt_include()}",
                    f"--python_out={out}", f"--grpc_python_out={out}",
                    "zhijiantest/dates/v1/dates_service.proto"], check=True)


def _install_entry_point(site: Path) -> None:
    """What ``pip install`` of a package declaring the entry point would leave."""
    info = site / "zhijiantest_dates-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: zhijiantest-dates\n"
                                   "Version: 0\n")
    (info / "entry_points.txt").write_text(
        "[zhijian.services]\ndates = dates_service.service:SPEC\n")


@pytest.fixture(scope="module")
def dates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    site = tmp_path_factory.mktemp("dates-site")
    _compile_contract(site)
    _install_entry_point(site)
    home = tmp_path_factory.mktemp("dates-home")
    path = os.pathsep.join(filter(None, [str(SECOND), str(site), os.environ.get("PYTHONPATH")]))
    env = platform_env(home, {"DATES": MODEL_SERVICE_PORTS},
                       {"ZHIJIAN_SERVICES": "dates", "PYTHONPATH": path})
    sys.path[:0] = [str(site)]
    importlib.invalidate_caches()
    try:
        # Sink, MLflow, registry, three gateways, BentoML (+ worker), dates.
        with running_platform(home, env, min_processes=9) as running:
            yield running
    finally:
        sys.path.remove(str(site))


def _registry(platform: Platform, name: str) -> tuple[rgrpc.RegistryServiceStub, grpc.Channel]:
    channel = platform.gateway_channel(name)
    return rgrpc.RegistryServiceStub(channel), channel


def _find(platform: Platform, text: str, identity: str = "business") -> Any:
    from zhijiantest.dates.v1 import dates_service_pb2 as pb
    from zhijiantest.dates.v1 import dates_service_pb2_grpc as pb_grpc

    with platform.gateway_channel(identity) as channel:
        return pb_grpc.DatesServiceStub(channel).FindDates(pb.FindDatesRequest(text=text),
                                                            timeout=30)


def test_service_code_is_small() -> None:
    files = sorted(SERVICE_CODE.glob("*.py"))
    lines = sum(1 for f in files for line in f.read_text().splitlines() if line.strip())
    print(f"\ndates service: {lines} non-blank lines of Python in {len(files)} files "
          f"(goal <= {LINE_GOAL})")
    assert lines <= LINE_GOAL


def test_the_second_service_goes_the_whole_governed_path(dates: Platform) -> None:
    from zhijiantest.dates.v1 import dates_service_pb2 as pb
    from zhijiantest.dates.v1 import dates_service_pb2_grpc as pb_grpc

    registry, channel = _registry(dates, "auditor")
    with channel:
        [filing] = registry.ListFilings(rpb.ListFilingsRequest(
            filter=f'identity.model = "{MODEL}"'), timeout=30).filings
        assert filing.state == rpb.FILING_STATE_APPROVED
        assert filing.validation_plan.task_type == "span_extraction"
        [run] = registry.ListValidationRuns(
            rpb.ListValidationRunsRequest(parent=filing.name), timeout=30).validation_runs
        assert run.passed
        # The span evaluator's metric, measured on the held-out texts.
        exact = [m for m in run.metric_results if (m.metric, m.target) == ("exact_f1", "date")]
        assert exact and exact[0].value >= 0.9 and exact[0].passed, run.metric_results
        parties = filing.parties
        assert parties.submitter and parties.approvers and parties.validators
        assert parties.submitter not in {*parties.approvers, *parties.validators}

    # Served through the intranet gateway: the dates of the text, as an AI draft.
    text = "批件于2024年3月7日签发，2024-04-01起生效。"
    response = _find(dates, text)
    assert [text[d.start:d.end] for d in response.dates] == ["2024年3月7日", "2024-04-01"]
    assert response.result.ai_generated and response.result.model.model == MODEL
    served_by = response.result.model
    assert (served_by.filing_number, f"filings/{served_by.filing_id}") == (
        filing.filing_number, filing.name)

    # A reviewer changes it; the registry counts the review against the version.
    with dates.gateway_channel("reviewer") as channel:
        pb_grpc.DatesServiceStub(channel).ReviewResult(pb.ReviewResultRequest(
            name=f"results/{response.result.result_id}",
            decision=types_pb.REVIEW_DECISION_MODIFY, reason="second date is the signing",
            modified_dates=[pb.DateSpan(start=3, end=12)]), timeout=30)
    registry, channel = _registry(dates, "auditor")
    with channel:
        deadline = time.monotonic() + 60
        while True:  # the service ships its reviews in the background
            stats = registry.ListReviewStats(rpb.ListReviewStatsRequest(model=MODEL),
                                             timeout=30).stats
            if (stats and stats[0].total) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert [(s.model.version, s.model.filing_id, s.total, s.modified) for s in stats] == [
            (filing.identity.version, served_by.filing_id, 1, 1)]

    # Suspended, it is refused at once.
    admin, channel = _registry(dates, "admin")
    with channel:
        admin.SuspendFiling(rpb.SuspendFilingRequest(name=filing.name,
                                                     reason="test: kill switch"), timeout=30)
    deadline = time.monotonic() + 30
    while True:
        try:
            _find(dates, text)
        except grpc.RpcError as error:
            # Whichever hears of it first refuses: the model server (the service relays
            # its refusal), then the service itself before any model call.
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            reason = parse_error(error).reason
            assert reason in {"MODEL_SUSPENDED", "MODEL_NOT_SERVABLE"}, reason
            if reason == "MODEL_SUSPENDED":
                break
        assert time.monotonic() < deadline, "the service never said MODEL_SUSPENDED"
        time.sleep(0.5)
