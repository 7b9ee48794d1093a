"""ClassifyService over a real socket, in front of a real BentoML server and MLflow model."""

from __future__ import annotations

import json
import math
import time

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.classify.labels import LABELS
from services.classify.training import SEED_CORPUS
from zhijian import metadata as md
from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.classify.v1 import classify_service_pb2_grpc
from zhijian.types.v1 import ai_result_pb2 as types_pb

pytestmark = pytest.mark.integration

TASK_NAMES = {pb.TASK_PRODUCT_CATEGORY: "product_category", pb.TASK_DEVICE_CLASS: "device_class",
              pb.TASK_REVIEW_ROUTE: "review_route"}


@pytest.fixture(scope="module")
def channel(platform):
    """Through the intranet gateway as the demo business system, as business calls go."""
    with platform.gateway_channel("business") as channel:
        yield channel


@pytest.fixture(scope="module")
def stub(channel):
    return classify_service_pb2_grpc.ClassifyServiceStub(channel)


@pytest.fixture(scope="module")
def reviewer(platform):
    """The demo reviewer (user:rev.zhao): reviews are attributed to whoever calls."""
    with platform.gateway_channel("reviewer") as channel:
        yield classify_service_pb2_grpc.ClassifyServiceStub(channel)


def details(error: grpc.RpcError) -> tuple[str, list[tuple[str, str]]]:
    status = rpc_status.from_call(error)
    assert status is not None, "error without google.rpc.Status details"
    reason, violations = "", []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [(v.field, v.reason) for v in bad.field_violations]
    return reason, violations


def test_classify_answers_every_task_with_a_full_distribution(stub):
    text = "一次性使用无菌注射器，由外套、芯杆和活塞组成，无菌提供"
    response, call = stub.Classify.with_call(pb.ClassifyRequest(text=text), timeout=10)
    assert [TASK_NAMES[r.task] for r in response.results] == list(TASK_NAMES.values())
    for result in response.results:
        task = TASK_NAMES[result.task]
        assert {p.label for p in result.probabilities} == set(LABELS[task])
        assert math.isclose(sum(p.probability for p in result.probabilities), 1.0, abs_tol=1e-6)
        assert result.label == result.probabilities[0].label
        assert result.display_name and result.terms
    by_task = {TASK_NAMES[r.task]: r.label for r in response.results}
    assert by_task["product_category"] == "device"
    meta = response.result
    assert meta.ai_generated and meta.review_required and "AI" in meta.disclaimer
    assert len(meta.result_id) == 32 and len(meta.trace_id) == 32
    assert meta.model.model == "zhijian-classify" and meta.model.version == "1"
    trailers = dict(call.trailing_metadata())
    assert trailers[md.MODEL_VERSION] == "zhijian-classify/1"
    assert trailers[md.REQUEST_ID]


def seed_record(language: str, category: str) -> dict:
    """A record the served model was trained on: its label is a fair expectation."""
    for line in SEED_CORPUS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["language"] == language and record["product_category"] == category:
            return record
    raise LookupError((language, category))


def test_english_text_and_task_selection(stub):
    record = seed_record("en", "cosmetic")
    response = stub.Classify(pb.ClassifyRequest(
        text=record["text"],
        tasks=[pb.TASK_REVIEW_ROUTE, pb.TASK_PRODUCT_CATEGORY, pb.TASK_REVIEW_ROUTE],
        display_language="en"), timeout=10)
    assert [r.task for r in response.results] == [pb.TASK_PRODUCT_CATEGORY, pb.TASK_REVIEW_ROUTE]
    assert response.results[0].label == "cosmetic"
    assert response.results[0].display_name == "cosmetic"


def test_batch_keeps_request_order_and_gives_each_its_own_result(stub):
    texts = ["电子血压计，示波法测量", "Hydrocolloid wound dressing, sterile", "阿莫西林胶囊",
             "Sunscreen lotion SPF 50"]
    response = stub.ClassifyBatch(pb.ClassifyBatchRequest(
        requests=[pb.ClassifyRequest(text=t) for t in texts]), timeout=15)
    assert len(response.responses) == len(texts)
    assert len({r.result.result_id for r in response.responses}) == len(texts)
    single = [stub.Classify(pb.ClassifyRequest(text=t), timeout=10) for t in texts]
    for batched, alone in zip(response.responses, single, strict=True):
        assert [r.label for r in batched.results] == [r.label for r in alone.results]


@pytest.mark.parametrize(("request_", "field", "reason"), [
    (pb.ClassifyRequest(text=""), "text", "TEXT_EMPTY"),
    (pb.ClassifyRequest(text="   "), "text", "TEXT_EMPTY"),
    (pb.ClassifyRequest(text="x" * 4001), "text", "TEXT_TOO_LONG"),
    (pb.ClassifyRequest(text="注射器", tasks=[42]),  # type: ignore[list-item]
     "tasks[0]", "UNKNOWN_TASK"),
    (pb.ClassifyRequest(text="注射器", tasks=[pb.TASK_UNSPECIFIED]), "tasks[0]", "UNKNOWN_TASK"),
    (pb.ClassifyRequest(text="注射器", display_language="fr"), "display_language",
     "UNSUPPORTED_LANGUAGE"),
])
def test_bad_input_is_invalid_argument_with_field_violations(stub, request_, field, reason):
    with pytest.raises(grpc.RpcError) as failure:
        stub.Classify(request_, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    got_reason, violations = details(failure.value)
    assert got_reason == reason
    assert (field, reason) in violations


def test_invalid_utf8_is_invalid_argument_not_internal(channel):
    raw = channel.unary_unary("/zhijian.classify.v1.ClassifyService/Classify",
                              request_serializer=None, response_deserializer=None)
    bad_text = b"\xff\xfe\x80abc"
    with pytest.raises(grpc.RpcError) as failure:
        raw(b"\x0a" + bytes([len(bad_text)]) + bad_text, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(failure.value)[0] == "MALFORMED_REQUEST"
    with pytest.raises(grpc.RpcError) as garbage:
        raw(b"\x0a\xff\xff\xff\xff\x0f", timeout=10)  # a length running past the end
    assert garbage.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_batch_limits_and_per_item_field_paths(stub):
    with pytest.raises(grpc.RpcError) as too_many:
        stub.ClassifyBatch(pb.ClassifyBatchRequest(
            requests=[pb.ClassifyRequest(text="注射器")] * 257), timeout=10)
    assert too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details(too_many.value) == ("BATCH_TOO_LARGE", [("requests", "BATCH_TOO_LARGE")])
    with pytest.raises(grpc.RpcError) as empty:
        stub.ClassifyBatch(pb.ClassifyBatchRequest(), timeout=10)
    assert details(empty.value)[0] == "BATCH_EMPTY"
    with pytest.raises(grpc.RpcError) as one_bad:
        stub.ClassifyBatch(pb.ClassifyBatchRequest(requests=[
            pb.ClassifyRequest(text="注射器"), pb.ClassifyRequest(text="")]), timeout=10)
    assert ("requests[1].text", "TEXT_EMPTY") in details(one_bad.value)[1]


def test_message_over_the_size_limit_is_refused_and_the_server_lives_on(stub):
    with pytest.raises(grpc.RpcError) as failure:
        stub.Classify(pb.ClassifyRequest(text="药" * (2 * 1024 * 1024)), timeout=10)
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert stub.Classify(pb.ClassifyRequest(text="医用外科口罩"), timeout=10).results


def test_review_result_records_a_human_decision_once(platform, stub, reviewer):
    response = stub.Classify(pb.ClassifyRequest(text="医用外科口罩，三层无纺布"), timeout=10)
    name = f"results/{response.result.result_id}"
    review = reviewer.ReviewResult(pb.ReviewResultRequest(
        name=name, decision=types_pb.REVIEW_DECISION_MODIFY,
        reason="按分类目录应为二类",
        modified_labels=[pb.TaskLabel(task=pb.TASK_DEVICE_CLASS, label="II")]), timeout=10)
    # The reviewer on record is the authenticated caller, not a name the request claims.
    assert review.result == name and review.reviewer == "user:rev.zhao"
    assert dict(review.modified_value) == {"device_class": "II"}
    assert review.model.version == response.result.model.version
    with pytest.raises(grpc.RpcError) as again:
        reviewer.ReviewResult(pb.ReviewResultRequest(
            name=name, decision=types_pb.REVIEW_DECISION_ACCEPT), timeout=10)
    assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS

    # The review reaches the registry (shipped from the service's store) and is counted
    # for the version and filing that produced the result.
    from zhijian.registry.v1 import registry_service_pb2 as registry_pb
    from zhijian.registry.v1 import registry_service_pb2_grpc as registry_grpc

    model = response.result.model
    with platform.gateway_channel("reviewer") as channel:
        registry = registry_grpc.RegistryServiceStub(channel)
        deadline = time.monotonic() + 20
        while True:
            found = [s for s in registry.ListReviewStats(
                registry_pb.ListReviewStatsRequest(filing=f"filings/{model.filing_id}"),
                timeout=10).stats if s.model.version == model.version]
            if (found and found[0].modified >= 1) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert found, "the review never reached the registry"
    assert found[0].modified >= 1 and found[0].total >= found[0].modified
    assert found[0].modify_rate == found[0].modified / found[0].total


def test_only_reviewers_review_and_only_as_themselves(stub, reviewer):
    response = stub.Classify(pb.ClassifyRequest(text="医用外科口罩"), timeout=10)
    name = f"results/{response.result.result_id}"
    with pytest.raises(grpc.RpcError) as business:
        stub.ReviewResult(pb.ReviewResultRequest(
            name=name, decision=types_pb.REVIEW_DECISION_ACCEPT), timeout=10)
    assert business.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details(business.value)[0] == "ROLE_NOT_PERMITTED"
    with pytest.raises(grpc.RpcError) as other:
        reviewer.ReviewResult(pb.ReviewResultRequest(
            name=name, decision=types_pb.REVIEW_DECISION_ACCEPT, reviewer="user:li.si"),
            timeout=10)
    assert other.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details(other.value)[0] == "REVIEWER_NOT_CALLER"


@pytest.mark.parametrize(("request_", "code", "reason"), [
    (pb.ReviewResultRequest(name="results/" + "0" * 32,
                            decision=types_pb.REVIEW_DECISION_ACCEPT),
     grpc.StatusCode.NOT_FOUND, "RESULT_NOT_FOUND"),
    (pb.ReviewResultRequest(name="cases/1",
                            decision=types_pb.REVIEW_DECISION_ACCEPT),
     grpc.StatusCode.INVALID_ARGUMENT, "INVALID_RESULT_NAME"),
    (pb.ReviewResultRequest(name="results/abc",
                            decision=types_pb.REVIEW_DECISION_REJECT),
     grpc.StatusCode.INVALID_ARGUMENT, "REASON_REQUIRED"),
    (pb.ReviewResultRequest(name="results/abc", reason="wrong",
                            decision=types_pb.REVIEW_DECISION_MODIFY,
                            modified_labels=[pb.TaskLabel(task=pb.TASK_DEVICE_CLASS,
                                                          label="IV")]),
     grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_LABEL"),
])
def test_review_result_rejects_bad_reviews(reviewer, request_, code, reason):
    with pytest.raises(grpc.RpcError) as failure:
        reviewer.ReviewResult(request_, timeout=10)
    assert failure.value.code() == code
    assert details(failure.value)[0] == reason


def test_standard_health_reflection_and_metrics(platform):
    """Probes reach the service itself: they carry no payload and need no assertion."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(platform.classify_target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(
            service="zhijian.classify.v1.ClassifyService"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        answer = next(reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
    services = {s.name for s in answer.list_services_response.service}
    assert "zhijian.classify.v1.ClassifyService" in services
    metrics = httpx.get(platform.metrics_url, timeout=5, trust_env=False).text
    assert 'zhijian_rpc_server_requests_total{code="INVALID_ARGUMENT",method="Classify"' in metrics
    assert 'zhijian_model_predictions_total{label="device",model="zhijian-classify"' in metrics


def test_cli_classify_prints_category_class_route_and_version(platform):
    done = platform.cli("classify", "一次性使用无菌注射器", "--as", "business", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    labels = {r["task"]: r["label"] for r in answer["results"]}
    assert labels["TASK_PRODUCT_CATEGORY"] == "device"
    assert labels["TASK_DEVICE_CLASS"] in {"I", "II", "III"}
    model = answer["result"]["model"]
    assert (model["model"], model["version"]) == ("zhijian-classify", "1")
    assert model["filing_id"] and model["filing_number"].startswith("ZJ-")
    text = platform.cli("classify", "一次性使用无菌注射器", "--as", "business")
    assert "product_category" in text.stdout and "version 1" in text.stdout


def test_cli_reports_bad_input_as_a_clear_error(platform):
    done = platform.cli("classify", " ", "--as", "business", "--json")
    assert done.returncode == 1
    error = json.loads(done.stdout)
    assert error["code"] == "INVALID_ARGUMENT" and error["reason"] == "TEXT_EMPTY"


def test_status_lists_every_component_as_serving(platform):
    done = platform.cli("status", "--json")
    assert done.returncode == 0, done.stdout
    names = [c["name"] for c in json.loads(done.stdout)["components"]]
    assert names == ["span-sink", "mlflow", "registry", "gateway-internet", "gateway-extranet",
                     "gateway-intranet", "classify-model-server", "classify"]


def test_no_deadline_gets_the_server_default_and_short_deadlines_are_kept(stub):
    started = time.monotonic()
    assert stub.Classify(pb.ClassifyRequest(text="医用棉签")).results  # no deadline given
    assert time.monotonic() - started < 10
