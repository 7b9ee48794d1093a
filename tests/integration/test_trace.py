"""One trace id holds spans from the client, the gateway, the gRPC service and the BentoML
process, nested in that order."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_trace_show_finds_client_gateway_service_and_model_server_spans(platform):
    done = platform.cli("classify", "Powered wheelchair with joystick control", "--as",
                        "business", "--json")
    assert done.returncode == 0, done.stderr
    trace_id = json.loads(done.stdout)["trace_id"]

    shown = platform.cli("trace", "show", trace_id, "--json", "--wait", "15")
    assert shown.returncode == 0, shown.stderr
    trace = json.loads(shown.stdout)
    services = set(trace["services"])
    assert {"zhijian-cli", "zhijian-gateway-intranet", "zhijian-classify",
            "zhijian-classify-model-server"} <= services

    def walk(nodes, depth=0):
        for node in nodes:
            yield node, depth
            yield from walk(node["children"], depth + 1)

    spans = list(walk(trace["tree"]))
    assert len(trace["tree"]) == 1, "every span should hang under the CLI's root span"
    root = trace["tree"][0]
    assert root["service"] == "zhijian-cli"
    depth = {n["service"]: d for n, d in reversed(spans)}  # each service's shallowest span
    gateway = [n for n, _ in spans if n["service"] == "zhijian-gateway-intranet"
               and n["kind"] == "SPAN_KIND_SERVER"]
    assert gateway and gateway[0]["attributes"].get("zhijian.network_domain") == "intranet"
    server = [n for n, _ in spans if n["service"] == "zhijian-classify"
              and n["kind"] == "SPAN_KIND_SERVER"]
    assert server and server[0]["attributes"].get("rpc.method") == "Classify"
    assert (depth["zhijian-cli"] < depth["zhijian-gateway-intranet"] < depth["zhijian-classify"]
            < depth["zhijian-classify-model-server"])

    text = platform.cli("trace", "show", trace_id)
    assert "zhijian-gateway-intranet" in text.stdout
    assert "zhijian-classify-model-server" in text.stdout and " ms" in text.stdout


def test_trace_show_rejects_malformed_ids_and_reports_unknown_ones(platform):
    assert platform.cli("trace", "show", "not-a-trace").returncode == 2
    missing = platform.cli("trace", "show", "0" * 32, "--wait", "0")
    assert missing.returncode == 1 and "no spans" in missing.stderr
