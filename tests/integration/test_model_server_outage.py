"""A model server that stops answering or dies: UNAVAILABLE within the deadline, never a
hang; the supervisor brings a dead one back."""

from __future__ import annotations

import os
import signal
import time

import grpc
import pytest

from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.classify.v1 import classify_service_pb2_grpc

pytestmark = pytest.mark.integration


def classify(platform, timeout: float):
    with grpc.insecure_channel(platform.classify_target) as channel:
        stub = classify_service_pb2_grpc.ClassifyServiceStub(channel)
        return stub.Classify(pb.ClassifyRequest(text="医用外科口罩"), timeout=timeout)


def test_frozen_model_server_gives_unavailable_within_the_deadline(platform):
    group = platform.component_pid("classify-model-server")
    os.killpg(group, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failure:
            classify(platform, timeout=2.0)
        elapsed = time.monotonic() - started
    finally:
        os.killpg(group, signal.SIGCONT)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE, failure.value.details()
    assert elapsed < 2.5
    assert classify(platform, timeout=10).results


def test_dead_model_server_gives_unavailable_and_is_restarted(platform):
    os.killpg(platform.component_pid("classify-model-server"), signal.SIGKILL)
    time.sleep(0.5)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as failure:
        classify(platform, timeout=3.0)
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert time.monotonic() - started < 3.5
    platform.wait_healthy(180)
    assert classify(platform, timeout=10).results
    restarted = next(c for c in platform.state()["components"]
                     if c["name"] == "classify-model-server")
    assert restarted["restarts"] == 1
