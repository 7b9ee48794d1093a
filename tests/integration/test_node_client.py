"""A Node.js business system calls classify through a gateway with a client built from
``proto/`` alone (the contracts and the third-party protos shipped in proto/third_party/),
and reads a refusal's ``google.rpc.Status`` details the way any gRPC client must: from the
``grpc-status-details-bin`` trailer.

The client is tests/node/classify_client.mjs on ``@grpc/grpc-js`` and ``@grpc/proto-loader``
(pinned devDependencies that ``make test`` installs with ``npm ci``), run against the
session's real platform.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest

from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.classify.v1 import classify_service_pb2_grpc as cgrpc
from zhijian.metadata import ERROR_DOMAIN, MODEL_VERSION

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tests" / "node" / "classify_client.mjs"
NODE_TIMEOUT_S = 90
OK_TEXT = "医用外科口罩"  # the text the Node client classifies first
CALLER = "business"
# The served version is authorized for the intranet (not the internet), whose ceiling, L4,
# leaves the caller's clearance as the ceiling the refused call (declared L4) exceeds.
DOMAIN = "intranet"
TASKS = ["TASK_PRODUCT_CATEGORY", "TASK_DEVICE_CLASS", "TASK_REVIEW_ROUTE"]
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
# A proxy from the environment would take grpc-js's loopback call elsewhere.
PROXY_VARIABLES = {"http_proxy", "https_proxy", "grpc_proxy", "all_proxy"}


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary; the test is skipped (before any platform starts) without one."""
    binary = shutil.which("node")
    if binary is None:
        pytest.skip("node (Node.js) is not on PATH")
    if not (ROOT / "node_modules" / "@grpc" / "grpc-js").is_dir():
        pytest.skip("node_modules/@grpc/grpc-js is absent: run `npm ci` (make test does)")
    return binary


@pytest.fixture(scope="module")
def node_report(node: str, platform: Any) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items()
           if key.lower() not in PROXY_VARIABLES}
    # The token goes by environment, not argv, which every local user can read.
    env["ZHIJIAN_TOKEN"] = platform.identity(CALLER).token
    proc = subprocess.run([node, str(CLIENT), platform.gateway_target(DOMAIN)],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=NODE_TIMEOUT_S)
    assert proc.returncode == 0, f"node client failed:\n{proc.stdout}\n{proc.stderr}"
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def test_the_node_client_classifies_through_the_gateway(
        node_report: dict[str, Any], platform: Any) -> None:
    ok = node_report["ok"]
    response = ok["response"]
    assert [r["task"] for r in response["results"]] == TASKS
    for result in response["results"]:
        assert result["label"] and result["display_name"]
        probabilities = [p["probability"] for p in result["probabilities"]]
        assert probabilities == sorted(probabilities, reverse=True)
        assert math.isclose(sum(probabilities), 1.0, abs_tol=1e-3)
        assert result["label"] == result["probabilities"][0]["label"]
    ai = response["result"]
    assert ai["ai_generated"] is True and ai["result_id"] and ai["disclaimer"]
    model = ai["model"]
    assert model["version"] and model["filing_id"]
    assert ok["trailers"][MODEL_VERSION] == f"{model['model']}/{model['version']}"

    # Same answer as the Python client gets for the same text: the Node client decoded
    # the very message the service sent, enums and all.
    with platform.gateway_channel(CALLER, DOMAIN) as channel:
        expected = cgrpc.ClassifyServiceStub(channel).Classify(
            cpb.ClassifyRequest(text=OK_TEXT), timeout=20)
    assert [(r["task"], r["label"]) for r in response["results"]] == [
        (cpb.Task.Name(r.task), r.label) for r in expected.results]


def test_the_node_client_decodes_the_status_details_of_a_refusal(
        node_report: dict[str, Any], platform: Any) -> None:
    refusal = node_report["refusal"]
    denied = grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert (refusal["code"], refusal["code_name"]) == (denied, "PERMISSION_DENIED")
    status = refusal["status"]
    assert (status["code"], status["message"]) == (denied, refusal["message"])
    infos = [d for d in status["details"] if d["@type"] == ERROR_INFO]
    assert len(infos) == 1, status["details"]
    assert (infos[0]["reason"], infos[0]["domain"]) == ("DATA_LEVEL_EXCEEDS_CEILING",
                                                        ERROR_DOMAIN)
    metadata = infos[0]["metadata"]
    assert (metadata["ceiling"], metadata["ceiling_source"]) == (
        platform.identity(CALLER).clearance, "caller")
