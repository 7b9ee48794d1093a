"""A model server that stops answering or dies: UNAVAILABLE within the deadline, never a
hang; the supervisor brings a dead one back."""

from __future__ import annotations

import time

import grpc
import pytest

from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.classify.v1 import classify_service_pb2_grpc

pytestmark = pytest.mark.integration


def classify(platform, timeout: float):
    with platform.gateway_channel("business") as channel:
        stub = classify_service_pb2_grpc.ClassifyServiceStub(channel)
        return stub.Classify(pb.ClassifyRequest(text="医用外科口罩"), timeout=timeout)


def test_frozen_model_server_gives_unavailable_within_the_deadline(platform):
    tree = platform.model_server_tree()
    for process in tree:
        process.suspend()
    try:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failure:
            classify(platform, timeout=2.0)
        elapsed = time.monotonic() - started
    finally:
        for process in tree:
            process.resume()
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE, failure.value.details()
    assert elapsed < 2.5
    assert classify(platform, timeout=10).results


def test_dead_model_server_gives_unavailable_and_is_restarted(platform):
    assert len(platform.model_server_tree()) > 1, "BentoML serves from worker processes"
    restarts = platform.component_restarts("classify-model-server")
    platform.kill_model_server()
    time.sleep(1.5)  # the supervisor looks every 0.5 s, then kills the orphans
    # While BentoML restarts (its port bound, its workers loading the model) every call
    # fails fast, well within a generous deadline, until it serves again.
    failures = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        started = time.monotonic()
        try:
            classify(platform, timeout=8.0)
            break
        except grpc.RpcError as failure:
            failures.append((failure.code(), round(time.monotonic() - started, 2)))
        time.sleep(0.2)
    assert failures, "the first call after the kill cannot be served"
    assert all(code == grpc.StatusCode.UNAVAILABLE for code, _ in failures), failures
    assert max(elapsed for _, elapsed in failures) < 3.5, failures
    platform.wait_healthy(180)
    assert classify(platform, timeout=10).results
    assert platform.component_restarts("classify-model-server") == restarts + 1
