"""The gateways of the running platform: per-domain ceilings before any model, no way
around them, and a call ledger that loses nothing when a gateway is killed under load.

Everything here is the real platform that `zhijian up` started: three gateway processes,
the classify service, BentoML and the registry's calls ledger.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format

from bench.classify import bentoml_counters
from zhijian import metadata as md
from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.classify.v1 import classify_service_pb2_grpc as cgrpc
from zhijian.errors import parse_error
from zhijian.registry.v1 import registry_service_pb2 as rpb
from zhijian.registry.v1 import registry_service_pb2_grpc as rgrpc

pytestmark = pytest.mark.integration

CLASSIFY = "/zhijian.classify.v1.ClassifyService/Classify"
SHIPPED_WITHIN_S = 20.0


def resident_id_number() -> str:
    """A synthetic number with a valid GB 11643 check digit (nobody's)."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    first17 = "11010519900307151"
    return first17 + "10X98765432"[sum(int(d) * w for d, w in
                                       zip(first17, weights, strict=True)) % 11]


@pytest.fixture(scope="module")
def auditor(platform: Any) -> Iterator[rgrpc.RegistryServiceStub]:
    with platform.gateway_channel("auditor", "intranet") as channel:
        yield rgrpc.RegistryServiceStub(channel)


def call_records(auditor: rgrpc.RegistryServiceStub, recorder: str | None = None
                 ) -> list[dict[str, Any]]:
    """Every call record on the calls ledger (optionally of one gateway), as dicts."""
    records, token = [], ""
    query = 'action = "call"' + (f' AND actor = "{recorder}"' if recorder else "")
    while True:
        page = auditor.ListAuditEvents(rpb.ListAuditEventsRequest(
            parent="ledgers/calls", page_size=1000, page_token=token, filter=query),
            timeout=30)
        records += [json_format.MessageToDict(e.details) for e in page.audit_events]
        token = page.next_page_token
        if not token:
            return records


def wait_for_records(auditor: rgrpc.RegistryServiceStub, request_ids: set[str],
                     recorder: str | None = None) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + SHIPPED_WITHIN_S
    while True:
        found = {r["request_id"]: r for r in call_records(auditor, recorder)
                 if r.get("request_id") in request_ids}
        if len(found) == len(request_ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_an_internet_call_with_a_resident_id_never_reaches_a_model_nor_any_record(
        platform: Any, auditor: rgrpc.RegistryServiceStub) -> None:
    number = resident_id_number()
    text = f"申请人身份证号 {number}，电子血压计注册申请"
    request = cpb.ClassifyRequest(text=text)
    request_id = uuid.uuid4().hex
    before, _ = bentoml_counters(platform.model_server_url)
    with (platform.gateway_channel("business", "internet") as channel,
          pytest.raises(grpc.RpcError) as refused):
        cgrpc.ClassifyServiceStub(channel).Classify(
            request, timeout=10, metadata=((md.REQUEST_ID, request_id),))
    parsed = parse_error(refused.value)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                            "DATA_LEVEL_EXCEEDS_CEILING")
    assert number not in (refused.value.details() or "")
    after, _ = bentoml_counters(platform.model_server_url)
    assert after == before, "the refused request reached the model server"

    # Audited: the refusal is on the calls ledger, with the hash of the request only.
    record = wait_for_records(auditor, {request_id})[request_id]
    assert record["caller"] == platform.identity("business").subject
    assert record["network_domain"] == "NETWORK_DOMAIN_INTERNET"
    assert record["method"] == CLASSIFY and record["status_code"] == "PERMISSION_DENIED"
    assert record["reason"] == "DATA_LEVEL_EXCEEDS_CEILING"
    assert record["request_sha256"] == hashlib.sha256(request.SerializeToString()).hexdigest()

    # The number is nowhere: logs, spans, the gateways' write-ahead files, the ledger.
    time.sleep(1.0)  # spans are exported every 0.5 s
    needle = number.encode()
    searched = 0
    for folder in ("logs", "spans", "gateway"):
        for path in (platform.home / folder).rglob("*"):
            if path.is_file():
                searched += 1
                assert needle not in path.read_bytes(), f"the number leaked into {path}"
    assert searched >= 5
    assert number not in json.dumps(call_records(auditor), ensure_ascii=False)


def test_the_gateway_refuses_declared_levels_and_methods_above_its_domain(
        platform: Any) -> None:
    with (platform.gateway_channel("business", "internet") as channel,
          pytest.raises(grpc.RpcError) as declared):
        cgrpc.ClassifyServiceStub(channel).Classify(
            cpb.ClassifyRequest(text="电子血压计"), timeout=10,
            metadata=((md.DATA_LEVEL, "L2"),))
    assert parse_error(declared.value).reason == "DATA_LEVEL_EXCEEDS_CEILING"
    with (platform.gateway_channel("admin", "internet") as channel,
          pytest.raises(grpc.RpcError) as write):
        rgrpc.RegistryServiceStub(channel).SuspendDeployment(
            rpb.SuspendDeploymentRequest(name="deployments/zhijian-classify",
                                         reason="from the internet"), timeout=10)
    parsed = parse_error(write.value)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                            "ROLE_NOT_PERMITTED")
    with (grpc.insecure_channel(platform.gateway_target("internet")) as channel,
          pytest.raises(grpc.RpcError) as anonymous):
        cgrpc.ClassifyServiceStub(channel).Classify(cpb.ClassifyRequest(text="口罩"),
                                                    timeout=10)
    assert parse_error(anonymous.value).code == grpc.StatusCode.UNAUTHENTICATED


def test_bypassing_the_gateway_gets_nothing(platform: Any) -> None:
    request = cpb.ClassifyRequest(text="医用外科口罩")
    with grpc.insecure_channel(platform.classify_target) as channel:
        stub = cgrpc.ClassifyServiceStub(channel)
        with pytest.raises(grpc.RpcError) as bare:
            stub.Classify(request, timeout=10, metadata=(
                (md.AUTHORIZATION, f"Bearer {platform.identity('business').token}"),))
        parsed = parse_error(bare.value)
        assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAUTHENTICATED,
                                                "ASSERTION_MISSING")
        # An assertion lifted from one call does not carry another.
        minted = platform.minted("user:review-system", ("business_system",))
        replayed = ((md.ASSERTION, dict(minted)[md.ASSERTION]),
                    (md.REQUEST_ID, uuid.uuid4().hex))
        with pytest.raises(grpc.RpcError) as replay:
            stub.Classify(request, timeout=10, metadata=replayed)
        assert parse_error(replay.value).reason == "ASSERTION_INVALID"
        # What tests and benchmarks do: mint with the platform's key.
        assert stub.Classify(request, timeout=10, metadata=minted).results
    answer = httpx.post(platform.model_server_url + "/predict", timeout=10, trust_env=False,
                        json={"items": [{"text": "医用外科口罩", "version": "1"}]})
    assert answer.status_code == 401
    assert answer.json()["error"]["reason"] == "ASSERTION_MISSING"


class Load:
    """Business calls on several threads; remembers the request id of every OK answer."""

    def __init__(self, platform: Any, domain: str, threads: int = 4) -> None:
        self._platform = platform
        self._domain = domain
        self._stop = threading.Event()
        self.answered: set[str] = set()
        self.failed: dict[str, int] = {}
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self) -> None:
        with self._platform.gateway_channel("business", self._domain) as channel:
            stub = cgrpc.ClassifyServiceStub(channel)
            while not self._stop.is_set():
                request_id = uuid.uuid4().hex
                try:
                    stub.Classify(cpb.ClassifyRequest(text="一次性使用无菌注射器"), timeout=5,
                                  metadata=((md.REQUEST_ID, request_id),))
                except grpc.RpcError as error:
                    with self._lock:
                        name = error.code().name
                        self.failed[name] = self.failed.get(name, 0) + 1
                    time.sleep(0.05)
                    continue
                with self._lock:
                    self.answered.add(request_id)


def test_sigkill_under_load_loses_no_call_record(platform: Any,
                                                 auditor: rgrpc.RegistryServiceStub) -> None:
    name = "gateway-extranet"
    restarts = platform.component_restarts(name)
    with Load(platform, "extranet") as load:
        time.sleep(3.0)
        os.kill(platform.component_pid(name), signal.SIGKILL)
        killed_after = len(load.answered)
        time.sleep(1.0)
    assert killed_after > 50, f"too little load to mean anything: {killed_after} answers"
    platform.wait_healthy(120)
    assert platform.component_restarts(name) == restarts + 1
    found = wait_for_records(auditor, load.answered, recorder="svc:gateway-extranet")
    missing = load.answered - set(found)
    assert not missing, (f"{len(missing)} of {len(load.answered)} answered calls have no "
                         "record on the calls ledger")
    # MessageToDict leaves out default values: an OK status has no status_code.
    assert all(r.get("status_code", "OK") == "OK" and r["model"]["version"]
               for r in found.values())
