"""The outside attack's denial of service, replayed: the largest batch classify accepts,
made of the detectors' worst inputs, sent through the gateway beside ordinary calls.
Before the detectors were linear and off the event loop, one such batch held classify
for about 18 s: ordinary callers timed out and the deployment watch, missing its
heartbeats, turned serving state unknown for everyone."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from bench.dlp import WORST_CASES
from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.classify.v1 import classify_service_pb2_grpc
from zhijian.dlp import detect
from zhijian.errors import parse_error

pytestmark = pytest.mark.integration

WORST_ROUNDS = 2
ORDINARY_TIMEOUT_S = 5.0
MAX_ORDINARY_CALLS = 400  # a bound on the loop, whatever happens to the worst calls


def _outcome(error: grpc.RpcError) -> str:
    return f"{error.code().name}/{parse_error(error).reason}"


def test_the_worst_batch_leaves_ordinary_calls_answered_and_serving_state_known(platform):
    # Only worst cases with nothing to find, so the batch goes all the way to the model
    # (personal data would be refused at the filing's clearance, right after the scan).
    public = [text for text in WORST_CASES.values() if not detect(text).findings]
    assert len(public) >= 6
    worst = pb.ClassifyBatchRequest(requests=[pb.ClassifyRequest(text=public[i % len(public)])
                                              for i in range(256)])
    assert len(worst.requests) == 256 and all(len(r.text) == 4000 for r in worst.requests)
    worst_outcomes: list[str] = []

    def send_worst() -> None:
        with platform.gateway_channel("business") as channel:
            stub = classify_service_pb2_grpc.ClassifyServiceStub(channel)
            for _ in range(WORST_ROUNDS):
                try:
                    stub.ClassifyBatch(worst, timeout=120)
                    worst_outcomes.append("OK")
                except grpc.RpcError as error:
                    worst_outcomes.append(_outcome(error))

    ordinary: list[tuple[str, float]] = []
    sender = threading.Thread(target=send_worst, daemon=True)
    with platform.gateway_channel("business") as channel:
        stub = classify_service_pb2_grpc.ClassifyServiceStub(channel)
        stub.Classify(pb.ClassifyRequest(text="医用外科口罩"), timeout=30)  # warm
        sender.start()
        while (sender.is_alive() or len(ordinary) < 20) and len(ordinary) < MAX_ORDINARY_CALLS:
            started = time.monotonic()
            try:
                stub.Classify(pb.ClassifyRequest(text="电子血压计，示波法测量"),
                              timeout=ORDINARY_TIMEOUT_S)
                ordinary.append(("OK", time.monotonic() - started))
            except grpc.RpcError as error:
                ordinary.append((_outcome(error), time.monotonic() - started))
            time.sleep(0.05)
    sender.join(timeout=400)

    assert not sender.is_alive()
    # Served, or refused for its scanning budget; never dropped, never a server fault.
    assert worst_outcomes and set(worst_outcomes) <= {
        "OK", "RESOURCE_EXHAUSTED/DETECTION_BUDGET_EXCEEDED"}, worst_outcomes
    failures = [outcome for outcome in ordinary if outcome[0] != "OK"]
    assert not failures, f"{len(failures)} of {len(ordinary)} ordinary calls failed: {failures[:5]}"
    # After the storm, serving state is still known and the service still answers.
    with platform.gateway_channel("business") as channel:
        stub = classify_service_pb2_grpc.ClassifyServiceStub(channel)
        assert stub.Classify(pb.ClassifyRequest(text="医用外科口罩"), timeout=10).results
