"""ClassifyServicer applies the caller's ceiling, the caller's network domain and the
filing's clearance, in that order, and attributes reviews to the authenticated caller.

A real servicer, result store and model client; the model server is a small aiohttp app
on a loopback port that records what reaches it. The version selection is the real
:func:`zhijian.version_choice.select_version` over a hand-built deployment (the watcher that
feeds it from the registry has tests of its own). Calls are handed to the servicer as the
kernel would, with the assertion verified from real keys.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web

from services.classify.labels import LABELS, TASKS
from services.classify.servicer import ClassifyServicer
from services.classify.settings import MODEL_NAME, ClassifySettings
from zhijian import metadata as md
from zhijian.assertion import (
    DOMAIN_CEILINGS,
    AssertionSigner,
    AssertionVerifier,
    assertion_from_metadata,
    assertion_metadata,
)
from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.dlp import DEFAULT_BUDGET_S
from zhijian.errors import PermissionDenied, ZhijianError
from zhijian.model_client import ModelServerClient
from zhijian.registry.v1 import registry_service_pb2 as registry_pb
from zhijian.results import ResultStore
from zhijian.server import Call
from zhijian.supervisor import free_port
from zhijian.types.v1 import ai_result_pb2 as types_pb
from zhijian.version_choice import Selected, select_version

SERVICE = "zhijian.classify.v1.ClassifyService"
INTERNET = types_pb.NETWORK_DOMAIN_INTERNET
EXTRANET = types_pb.NETWORK_DOMAIN_EXTRANET
INTRANET = types_pb.NETWORK_DOMAIN_INTRANET
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(first17: str) -> str:
    """A synthetic number with a valid check character (computed as GB 11643 says)."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS,
                                                                    strict=True)) % 11]


ID_NUMBER = resident_id("11010519800101123")
PERSONAL = f"申请人身份证号{ID_NUMBER}，电子血压计"  # L3 by content
PUBLIC = "电子血压计，用于测量成人血压"  # L1


def deployment(*, filed_for: types_pb.DataLevel = types_pb.DATA_LEVEL_L3_IMPORTANT,
               domains: Sequence[types_pb.NetworkDomain] = (INTERNET, EXTRANET, INTRANET),
               ) -> registry_pb.Deployment:
    version = registry_pb.DeployedVersion(
        filing="filings/f-3", version="3", filing_number="ZJ-2030-0003",
        filing_state=registry_pb.FILING_STATE_APPROVED, max_data_level=filed_for,
        network_domains=domains)
    version.revalidate_time.FromSeconds(int(time.time()) + 86_400)
    return registry_pb.Deployment(
        name=f"deployments/{MODEL_NAME}", model=MODEL_NAME,
        state=registry_pb.DEPLOYMENT_STATE_ACTIVE, production=version,
        network_domains=[INTERNET, EXTRANET, INTRANET])


@dataclass
class Selector:
    """The registry's word, fixed; remembers for which domains it was asked."""

    deployment: registry_pb.Deployment
    asked: list[int] = field(default_factory=list)

    def select(self, routing_key: str | None = None, *, network_domain: int) -> Selected:
        self.asked.append(network_domain)
        return select_version(self.deployment, network_domain=network_domain,
                              now=time.time(), routing_key=routing_key)


@dataclass
class ModelServer:
    """What reached the model server: one entry of headers and texts per request."""

    requests: list[tuple[dict[str, str], list[str]]] = field(default_factory=list)

    async def predict(self, request: web.Request) -> web.Response:
        body = await request.json()
        texts = [item["text"] for item in body["items"]]
        self.requests.append((dict(request.headers), texts))
        prediction = {task: {"label": next(iter(LABELS[task])), "terms": [],
                             "probabilities": {next(iter(LABELS[task])): 1.0}}
                      for task in TASKS}
        return web.json_response([prediction for _ in texts])


@dataclass
class Harness:
    servicer: ClassifyServicer
    selector: Selector
    model_server: ModelServer
    # Each domain's gateway key: a caller's domain is vouched for by that domain's only.
    gateways: Mapping[str, AssertionSigner]
    verifier: AssertionVerifier

    def call(self, *, domain: str, clearance: str = "L4", subject: str = "user:zhang.san",
             roles: Sequence[str] = ("business_system",), **extra: str) -> Call:
        """A call as the kernel hands it over: its assertion verified, ``call.caller`` set."""
        metadata = {**dict(assertion_metadata(self.gateways[domain], subject=subject,
                                              roles=roles,
                                              clearance=clearance, domain=domain,
                                              audience=SERVICE)), **extra}
        call = Call(metadata, metadata[md.REQUEST_ID], time.monotonic() + 10)
        call.assertion = assertion_from_metadata(metadata, self.verifier, (SERVICE,))
        return call


@asynccontextmanager
async def harness(tmp_path: Path, found: registry_pb.Deployment,
                  detection_budget_s: float = DEFAULT_BUDGET_S) -> AsyncIterator[Harness]:
    model_server = ModelServer()
    app = web.Application()
    app.router.add_post("/predict", model_server.predict)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}"
    client = ModelServerClient(url)
    results = ResultStore(tmp_path / "results.db")
    selector = Selector(found)
    settings = ClassifySettings(model_name=MODEL_NAME, max_text_chars=4000, max_batch_items=16,
                                detection_budget_s=detection_budget_s)
    gateways = {domain: AssertionSigner.load_or_create(tmp_path / "keys",
                                                       issuer=f"svc:gateway-{domain}")
                for domain in DOMAIN_CEILINGS}
    try:
        yield Harness(ClassifyServicer(settings, client, results, selector), selector,
                      model_server, gateways, AssertionVerifier.from_keys_dir(tmp_path / "keys"))
    finally:
        await client.close()
        await results.close()
        await runner.cleanup()


def refused(tmp_path: Path, found: registry_pb.Deployment, request: Any,
            **caller: str) -> tuple[ZhijianError, Harness]:
    async def scenario() -> tuple[ZhijianError, Harness]:
        async with harness(tmp_path, found) as h:
            method = h.servicer.ClassifyBatch if isinstance(request, pb.ClassifyBatchRequest) \
                else h.servicer.Classify
            with pytest.raises(ZhijianError) as failure:
                await method(request, h.call(**caller))
            return failure.value, h
    return asyncio.run(scenario())


def test_an_internet_caller_with_a_resident_id_number_is_refused_before_any_model(tmp_path):
    error, h = refused(tmp_path, deployment(), pb.ClassifyRequest(text=PERSONAL),
                       domain="internet", clearance="L4")
    assert isinstance(error, PermissionDenied)
    assert error.reason == "DATA_LEVEL_EXCEEDS_CEILING"
    assert error.metadata == {"ceiling": "L1", "ceiling_source": "caller",
                              "network_domain": "internet", "clearance": "L4",
                              "data_level": "L3"}
    assert ID_NUMBER not in error.message and ID_NUMBER not in str(error.metadata)
    # Refused before a version was even chosen, and nothing reached the model server.
    assert h.selector.asked == [] and h.model_server.requests == []


def test_a_declared_level_counts_against_the_caller_ceiling_too(tmp_path):
    error, h = refused(tmp_path, deployment(), pb.ClassifyRequest(text=PUBLIC),
                       domain="extranet", clearance="L2", **{md.DATA_LEVEL: "L3"})
    assert (error.reason, error.metadata["ceiling"]) == ("DATA_LEVEL_EXCEEDS_CEILING", "L2")
    assert h.model_server.requests == []


def test_one_request_above_the_ceiling_refuses_the_batch_and_names_it(tmp_path):
    batch = pb.ClassifyBatchRequest(requests=[pb.ClassifyRequest(text=PUBLIC),
                                              pb.ClassifyRequest(text=PERSONAL)])
    error, h = refused(tmp_path, deployment(), batch, domain="internet")
    assert error.reason == "DATA_LEVEL_EXCEEDS_CEILING" and "requests[1]" in error.message
    assert h.model_server.requests == []


def test_an_intranet_caller_passes_its_ceiling_and_meets_the_filings(tmp_path):
    error, h = refused(tmp_path, deployment(filed_for=types_pb.DATA_LEVEL_L2_GENERAL),
                       pb.ClassifyRequest(text=PERSONAL), domain="intranet", clearance="L4")
    assert error.reason == "DATA_LEVEL_EXCEEDS_CEILING"
    assert error.metadata["ceiling_source"] == "filing"
    assert error.metadata["ceiling"] == "L2" and error.metadata["data_level"] == "L3"
    assert error.metadata["version"] == "3"
    assert h.selector.asked == [INTRANET] and h.model_server.requests == []


def test_the_version_is_chosen_for_the_callers_network_domain(tmp_path):
    error, h = refused(tmp_path, deployment(domains=(INTRANET,)),
                       pb.ClassifyRequest(text=PUBLIC), domain="extranet", clearance="L3")
    assert error.reason == "MODEL_NOT_AUTHORIZED_FOR_DOMAIN"
    assert h.selector.asked == [EXTRANET] and h.model_server.requests == []


def test_an_allowed_call_reaches_the_model_server_with_the_callers_assertion(tmp_path):
    async def scenario() -> None:
        async with harness(tmp_path, deployment()) as h:
            call = h.call(domain="intranet", clearance="L3")
            response = await h.servicer.Classify(pb.ClassifyRequest(text=PERSONAL), call)
            assert response.result.model.version == "3"
            assert response.result.data_level == types_pb.DATA_LEVEL_L3_IMPORTANT
            assert call.trailers[md.EFFECTIVE_LEVEL] == "DATA_LEVEL_L3_IMPORTANT"
            ((headers, texts),) = h.model_server.requests
            assert texts == [PERSONAL]
            assert headers[md.ASSERTION] == call.metadata[md.ASSERTION]
            assert headers[md.REQUEST_ID] == call.request_id

    asyncio.run(scenario())


def review(h: Harness, call: Call, result_id: str, reviewer: str) -> Any:
    return h.servicer.ReviewResult(pb.ReviewResultRequest(
        name=f"results/{result_id}", decision=types_pb.REVIEW_DECISION_ACCEPT,
        reviewer=reviewer), call)


def test_the_reviewer_is_the_authenticated_caller(tmp_path):
    async def scenario() -> None:
        async with harness(tmp_path, deployment()) as h:
            results = [await h.servicer.Classify(pb.ClassifyRequest(text=PUBLIC),
                                                 h.call(domain="intranet"))
                       for _ in range(3)]
            ids = [r.result.result_id for r in results]
            def reviewer() -> Call:
                return h.call(domain="intranet", subject="user:wang.wu", roles=("reviewer",))

            with pytest.raises(PermissionDenied) as other:
                await review(h, reviewer(), ids[0], "user:zhang.san")
            assert other.value.reason == "REVIEWER_NOT_CALLER"
            # Unnamed, or named as the caller: recorded under the caller's identity.
            unnamed = await review(h, reviewer(), ids[1], "")
            named = await review(h, reviewer(), ids[2], "user:wang.wu")
            assert unnamed.reviewer == named.reviewer == "user:wang.wu"

    asyncio.run(scenario())


def test_a_request_over_its_detection_budget_is_refused_not_served_unscanned(tmp_path):
    batch = pb.ClassifyBatchRequest(requests=[pb.ClassifyRequest(text="1 " * 2000)] * 16)

    async def scenario() -> tuple[ZhijianError, Harness]:
        async with harness(tmp_path, deployment(), detection_budget_s=1e-6) as h:
            with pytest.raises(ZhijianError) as failure:
                await h.servicer.ClassifyBatch(batch, h.call(domain="intranet"))
            return failure.value, h

    error, h = asyncio.run(scenario())
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.reason == "DETECTION_BUDGET_EXCEEDED"
    assert h.selector.asked == [] and h.model_server.requests == []
