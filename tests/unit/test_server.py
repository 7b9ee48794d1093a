"""The kernel's gRPC bootstrap, served by a real process on a loopback port with a test
servicer behind the classify contract (no model involved)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.classify.v1 import classify_service_pb2_grpc
from zhijian.supervisor import free_port

SERVICER = textwrap.dedent("""
    import asyncio, os
    from zhijian.classify.v1 import classify_service_pb2 as pb
    from zhijian.config import ServerSettings
    from zhijian.errors import invalid_field
    from zhijian.server import Service, serve

    class TestServicer:
        async def Classify(self, request, call):
            if request.text == "boom":
                raise RuntimeError("secret detail that must not reach the caller")
            if request.text == "bad":
                raise invalid_field("text", "is bad", reason="TEXT_BAD")
            if request.text.startswith("sleep:"):
                await asyncio.sleep(float(request.text[6:]))
            call.set_trailer("x-zhijian-model-version", "test/1")
            return pb.ClassifyResponse()

        async def ClassifyBatch(self, request, call):
            return pb.ClassifyBatchResponse()

        async def ReviewResult(self, request, call):
            raise NotImplementedError

    settings = ServerSettings.from_env("test", default_port=0, default_metrics_port=0)
    service = Service(pb.DESCRIPTOR.services_by_name["ClassifyService"], TestServicer())
    asyncio.run(serve(settings, [service]))
""")


@pytest.fixture()
def server(tmp_path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    script = tmp_path / "server.py"
    script.write_text(SERVICER)
    port = free_port()
    env = {"ZHIJIAN_TEST_GRPC_PORT": str(port), "ZHIJIAN_TEST_METRICS_PORT": "0",
           "ZHIJIAN_DEFAULT_DEADLINE_S": "1.0", "ZHIJIAN_SHUTDOWN_GRACE_S": "5",
           "ZHIJIAN_MAX_MESSAGE_BYTES": "65536"}
    process = subprocess.Popen([sys.executable, str(script)], env={**_base_env(), **env},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    target = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    with grpc.insecure_channel(target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                if health.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    break
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(process.stdout.read().decode() if process.stdout else "")
            time.sleep(0.1)
    yield process, target
    if process.poll() is None:
        process.kill()
    process.wait()


def _base_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("ZHIJIAN_", "OTEL_"))}


def stub(target: str) -> classify_service_pb2_grpc.ClassifyServiceStub:
    return classify_service_pb2_grpc.ClassifyServiceStub(grpc.insecure_channel(target))


def test_unexpected_errors_are_internal_without_details_but_with_a_request_id(server):
    _, target = server
    with pytest.raises(grpc.RpcError) as failure:
        stub(target).Classify(pb.ClassifyRequest(text="boom"), timeout=5,
                              metadata=(("x-zhijian-request-id", "req-42"),))
    assert failure.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in failure.value.details() and "req-42" in failure.value.details()
    assert ("x-zhijian-request-id", "req-42") in failure.value.trailing_metadata()


def test_domain_errors_carry_google_rpc_details(server):
    _, target = server
    with pytest.raises(grpc.RpcError) as failure:
        stub(target).Classify(pb.ClassifyRequest(text="bad"), timeout=5)
    status = rpc_status.from_call(failure.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "TEXT_BAD"


def test_trailers_and_request_ids_come_back(server):
    _, target = server
    _, call = stub(target).Classify.with_call(pb.ClassifyRequest(text="ok"), timeout=5)
    trailers = dict(call.trailing_metadata())
    assert trailers["x-zhijian-model-version"] == "test/1"
    assert len(trailers["x-zhijian-request-id"]) == 32


def test_a_call_without_deadline_gets_the_server_default(server):
    _, target = server
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failure:
        stub(target).Classify(pb.ClassifyRequest(text="sleep:5"))  # no client deadline
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 3


def test_oversized_messages_are_refused_by_the_configured_limit(server):
    _, target = server
    with pytest.raises(grpc.RpcError) as failure:
        stub(target).Classify(pb.ClassifyRequest(text="x" * 70_000), timeout=5)
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_sigterm_drains_calls_in_flight_then_exits(server):
    process, target = server
    outcome: dict[str, object] = {}

    def slow_call() -> None:
        try:
            stub(target).Classify(pb.ClassifyRequest(text="sleep:0.8"), timeout=5)
            outcome["ok"] = True
        except grpc.RpcError as error:
            outcome["error"] = error.code()

    caller = threading.Thread(target=slow_call)
    caller.start()
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    caller.join(10)
    assert outcome == {"ok": True}
    assert process.wait(timeout=10) == 0
    with pytest.raises(grpc.RpcError):
        stub(target).Classify(pb.ClassifyRequest(text="ok"), timeout=1)
