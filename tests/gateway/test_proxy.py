"""The gateway's pass-through on real loopback sockets: a real grpc.aio gateway (the
production proxy and listener) in front of a real backend that verifies the gateway's
assertion with the kernel's own handler. Clients are ordinary blocking gRPC stubs.

Call records go to an in-memory recorder (gateway_harness.MemoryRecorder); the real
write-ahead log is tested in test_audit.py and end to end in test_gateway_process.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from gateway_harness import (
    CLASSIFY,
    CLASSIFY_SERVICE,
    FILING_ID,
    GET_FILING,
    MODEL_VERSION,
    REGISTRY_SERVICE,
    SUSPEND_DEPLOYMENT,
    UNREACHABLE,
    WATCH_DEPLOYMENTS,
    BackendServicer,
    GatewayUnderTest,
    Keys,
    LoopThread,
    MemoryRecorder,
    routes_with_idempotent,
    start_backend,
    start_gateway,
    stop_gateway,
)
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.authn import Authenticator
from gateway.authz import Authorizer
from gateway.proxy import GatewayProxy, ProxyOptions
from gateway.ratelimit import RateLimiter
from gateway.routes import build_routes
from gateway.settings import TlsSettings
from zhijian import certs, identity
from zhijian import metadata as md
from zhijian.assertion import AssertionSigner, read_domain_keys
from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.classify.v1 import classify_service_pb2_grpc as cgrpc
from zhijian.errors import parse_error
from zhijian.registry.v1 import registry_service_pb2 as rpb
from zhijian.registry.v1 import registry_service_pb2_grpc as rgrpc
from zhijian.supervisor import free_port
from zhijian.types.v1 import ai_result_pb2 as tpb

BUSINESS = ("user:review-system", ("business_system",), "L2")
AUDITOR = ("user:auditor-1", ("auditor",), "L4")
SRE = ("user:sre-1", ("sre",), "L4")


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def backend(loop: LoopThread, keys: Keys) -> Iterator[tuple[BackendServicer, str]]:
    servicer = BackendServicer()
    server, target = loop.run(start_backend(keys, servicer))
    yield servicer, target
    loop.run(server.stop(0))


def _gateway(loop: LoopThread, keys: Keys, backend_target: str, domain: str,
             **kwargs: object) -> GatewayUnderTest:
    backends = kwargs.pop("backends", None) or {CLASSIFY_SERVICE: backend_target,
                                                REGISTRY_SERVICE: backend_target}
    return loop.run(start_gateway(keys, domain=domain, backends=backends, **kwargs))


@pytest.fixture(scope="module")
def internet(loop: LoopThread, keys: Keys, backend: tuple[BackendServicer, str]
             ) -> Iterator[GatewayUnderTest]:
    gateway = _gateway(loop, keys, backend[1], "internet")
    yield gateway
    loop.run(stop_gateway(gateway))


@pytest.fixture(scope="module")
def intranet(loop: LoopThread, keys: Keys, backend: tuple[BackendServicer, str]
             ) -> Iterator[GatewayUnderTest]:
    gateway = _gateway(loop, keys, backend[1], "intranet")
    yield gateway
    loop.run(stop_gateway(gateway))


def bearer(keys: Keys, who: tuple[str, tuple[str, ...], str] = BUSINESS, **kwargs: object
           ) -> tuple[str, str]:
    subject, roles, clearance = who
    return (md.AUTHORIZATION, f"Bearer {keys.token(subject, roles, clearance, **kwargs).token}")


def rid() -> str:
    return uuid.uuid4().hex


def classify(target: str, metadata: tuple[tuple[str, str], ...], text: str = "医用外科口罩",
             timeout: float = 10, credentials: grpc.ChannelCredentials | None = None
             ) -> tuple[cpb.ClassifyResponse, dict[str, str | bytes]]:
    channel = (grpc.secure_channel(target, credentials) if credentials is not None
               else grpc.insecure_channel(target))
    with channel:
        response, call = cgrpc.ClassifyServiceStub(channel).Classify.with_call(
            cpb.ClassifyRequest(text=text), metadata=metadata, timeout=timeout)
        return response, dict(call.trailing_metadata() or ())


def refused(target: str, metadata: tuple[tuple[str, str], ...], text: str = "医用外科口罩",
            timeout: float = 10) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        classify(target, metadata, text, timeout)
    return caught.value


# --- the allowed path -------------------------------------------------------------------

def test_a_gateway_signs_with_its_own_domains_key_and_takes_no_other(
        internet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    servicer, _ = backend
    request_id = rid()
    classify(internet.target, ((md.AUTHORIZATION, f"Bearer {keys.token(*BUSINESS).token}"),
                               (md.REQUEST_ID, request_id)))
    forwarded = dict(servicer.raw_metadata[request_id])[md.ASSERTION]
    kid = json.loads(identity.b64url_decode(forwarded.partition(".")[0]))["kid"]
    assert read_domain_keys(keys.keys_dir)[kid].domain == "internet"
    intranet_key = AssertionSigner.load_or_create(keys.keys_dir, issuer="svc:gateway-intranet")
    with pytest.raises(ValueError, match="needs the internet assertion key"):
        GatewayProxy(domain="internet", routes=build_routes(), backends={},
                     authenticator=Authenticator.from_settings(
                         keys.settings, is_revoked=lambda _: False, is_recorded=lambda *_: True),
                     authorizer=Authorizer.from_files(), limiter=RateLimiter(1.0, 1.0),
                     signer=intranet_key, recorder=MemoryRecorder())


def test_an_authenticated_call_reaches_the_backend_with_an_assertion_of_the_caller(
        internet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    servicer, _ = backend
    request_id = rid()
    token = keys.token(*BUSINESS)
    response, trailers = classify(internet.target, (
        (md.AUTHORIZATION, f"Bearer {token.token}"), (md.REQUEST_ID, request_id),
        ("x-custom-header", "kept")))

    assert response.result.result_id == request_id
    [seen] = servicer.calls(request_id)
    assertion = seen.assertion
    assert (assertion.subject, assertion.roles, assertion.clearance) == (
        "user:review-system", frozenset({"business_system"}), "L2")
    assert (assertion.domain, assertion.ceiling) == ("internet", "L1")
    assert assertion.request_id == request_id and assertion.credential_id == token.jti
    assert assertion.issuer == "svc:gateway-internet"
    forwarded = dict(servicer.raw_metadata[request_id])
    assert forwarded["x-custom-header"] == "kept"
    # The backend's trailers come back to the caller.
    assert trailers[md.MODEL_VERSION] == MODEL_VERSION
    assert trailers[md.REQUEST_ID] == request_id

    record = internet.recorder.one(request_id)
    assert record.caller == "user:review-system" and record.method == CLASSIFY
    assert record.network_domain == tpb.NETWORK_DOMAIN_INTERNET
    assert record.decision == rpb.CALL_DECISION_ALLOWED and record.status_code == 0
    assert (record.model.model, record.model.version, record.model.filing_id) == (
        "classify-product-category", "7", FILING_ID)
    assert record.data_level == tpb.DATA_LEVEL_L1_PUBLIC
    request_bytes = cpb.ClassifyRequest(text="医用外科口罩").SerializeToString()
    assert record.request_sha256 == hashlib.sha256(request_bytes).hexdigest()
    response_bytes = response.SerializeToString()
    assert record.response_sha256 == hashlib.sha256(response_bytes).hexdigest()
    assert record.latency.ToNanoseconds() > 0
    assert abs(record.start_time.ToSeconds() - time.time()) < 30
    assert len(record.record_id) == 32


def test_a_request_id_is_made_when_the_caller_sends_none_or_an_unusable_one(
        internet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    _, trailers = classify(internet.target, (bearer(keys),))
    made = str(trailers[md.REQUEST_ID])
    assert len(made) == 32 and internet.recorder.one(made)
    hostile = "x" * 65
    _, trailers = classify(internet.target, (bearer(keys), (md.REQUEST_ID, hostile)))
    assert trailers[md.REQUEST_ID] != hostile and len(str(trailers[md.REQUEST_ID])) == 32
    assert not internet.recorder.of(hostile)


def test_credentials_are_never_forwarded_and_a_callers_assertion_is_dropped(
        internet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    servicer, _ = backend
    request_id = rid()
    forged = "eyJmb3JnZWQiOnRydWV9.c2lnbmF0dXJl"
    caller_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    classify(internet.target, (bearer(keys), (md.REQUEST_ID, request_id),
                               (md.ASSERTION, forged), ("traceparent", caller_trace)))
    raw = servicer.raw_metadata[request_id]
    keys_seen = [key for key, _ in raw]
    assert md.AUTHORIZATION not in keys_seen
    assertions = [value for key, value in raw if key == md.ASSERTION]
    assert len(assertions) == 1 and assertions[0] != forged
    # The caller's trace continues, under the gateway's span rather than the caller's.
    [traceparent] = [str(value) for key, value in raw if key == "traceparent"]
    assert traceparent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert traceparent.split("-")[2] != "b7ad6b7169203331"
    assert internet.recorder.one(request_id).trace_id == "0af7651916cd43dd8448eb211c80319c"


def test_the_gateway_opens_a_server_span_with_the_callers_trace_as_parent(
        internet: GatewayUnderTest, keys: Keys) -> None:
    request_id = rid()
    classify(internet.target, (bearer(keys), (md.REQUEST_ID, request_id), (
        "traceparent", "00-11111111111111111111111111111111-2222222222222222-01")),
        text="personal text that must stay out of spans")
    [span] = [s for s in internet.spans.get_finished_spans()
              if (s.attributes or {}).get("zhijian.request_id") == request_id]
    assert span.name == CLASSIFY and span.kind.name == "SERVER"
    assert format(span.context.trace_id, "032x") == "1" * 32
    assert span.parent is not None and format(span.parent.span_id, "016x") == "2" * 16
    attributes = dict(span.attributes or {})
    assert attributes["rpc.system"] == "grpc"
    assert attributes["rpc.service"] == CLASSIFY_SERVICE
    assert attributes["rpc.method"] == "Classify"
    assert attributes["zhijian.network_domain"] == "internet"
    assert attributes["zhijian.caller"] == "user:review-system"
    assert attributes["zhijian.decision"] == "allowed"
    assert attributes["rpc.grpc.status_code"] == 0
    assert "personal text" not in repr(attributes) and "Bearer" not in repr(attributes)
    assert not [e for e in span.events]  # nothing of the payload as an event either


# --- who is calling -----------------------------------------------------------------------

@pytest.mark.parametrize("credential, reason", [
    (None, "CREDENTIALS_MISSING"),
    ("Bearer not-a-jwt", "CREDENTIALS_INVALID"),
    ("Basic dXNlcjpwYXNz", "CREDENTIALS_MISSING"),
    ("expired", "CREDENTIALS_EXPIRED"),
    ("revoked", "CREDENTIALS_REVOKED"),
    ("foreign", "CREDENTIALS_INVALID"),
])
def test_missing_or_bad_credentials_are_unauthenticated_and_recorded(
        internet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys,
        tmp_path: Path, credential: str | None, reason: str) -> None:
    servicer, _ = backend
    request_id = rid()
    if credential == "expired":
        from datetime import UTC, datetime, timedelta

        token = keys.token(*BUSINESS, ttl_s=60, now=datetime.now(UTC) - timedelta(hours=1))
        credential = f"Bearer {token.token}"
    elif credential == "revoked":
        token = keys.token(*BUSINESS)
        internet.revoked.add(token.jti)
        credential = f"Bearer {token.token}"
    elif credential == "foreign":
        # Well formed, signed by an issuer the platform does not know.
        stranger = Keys(tmp_path / "elsewhere")
        credential = f"Bearer {stranger.token(*BUSINESS).token}"
    metadata = ((md.REQUEST_ID, request_id),) + (
        ((md.AUTHORIZATION, credential),) if credential else ())
    error = refused(internet.target, metadata)
    parsed = parse_error(error)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAUTHENTICATED, reason)
    assert "kid" not in parsed.message and "signature" not in parsed.message
    assert not servicer.calls(request_id)
    record = internet.recorder.one(request_id)
    assert record.caller == "anonymous" and record.decision == rpb.CALL_DECISION_DENIED
    assert record.status_code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    assert record.reason == reason


# --- what they may do ---------------------------------------------------------------------

def test_a_role_not_allowed_in_the_domain_is_refused_before_the_backend(
        internet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    servicer, _ = backend
    request_id = rid()
    with grpc.insecure_channel(internet.target) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        rgrpc.RegistryServiceStub(channel).SuspendDeployment(
            rpb.SuspendDeploymentRequest(name="deployments/zhijian-classify", reason="x"),
            metadata=(bearer(keys), (md.REQUEST_ID, request_id)), timeout=10)
    parsed = parse_error(caught.value)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                            "ROLE_NOT_PERMITTED")
    assert not servicer.calls(request_id)
    record = internet.recorder.one(request_id)
    assert (record.method, record.caller, record.decision, record.reason) == (
        SUSPEND_DEPLOYMENT, "user:review-system", rpb.CALL_DECISION_DENIED,
        "ROLE_NOT_PERMITTED")


@pytest.mark.parametrize("declared", ["L3", "DATA_LEVEL_L2_GENERAL", "l2"])
def test_a_declared_level_above_the_internet_ceiling_never_reaches_the_backend(
        internet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys,
        declared: str) -> None:
    servicer, _ = backend
    request_id = rid()
    error = refused(internet.target, (bearer(keys), (md.REQUEST_ID, request_id),
                                      (md.DATA_LEVEL, declared)))
    parsed = parse_error(error)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                            "DATA_LEVEL_EXCEEDS_CEILING")
    assert parsed.metadata["ceiling"] == "L1" and parsed.metadata["network_domain"] == "internet"
    assert not servicer.calls(request_id)
    record = internet.recorder.one(request_id)
    assert record.reason == "DATA_LEVEL_EXCEEDS_CEILING"
    assert record.decision == rpb.CALL_DECISION_DENIED
    assert record.data_level >= tpb.DATA_LEVEL_L2_GENERAL


def test_the_ceiling_is_the_lower_of_domain_and_clearance(
        intranet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    # business_system with clearance L2 on the intranet (ceiling L4): L2 passes, L3 not.
    servicer, _ = backend
    request_id = rid()
    classify(intranet.target, (bearer(keys), (md.REQUEST_ID, request_id),
                               (md.DATA_LEVEL, "L2")))
    assert servicer.calls(request_id)[0].assertion.ceiling == "L2"
    # The declared level reaches the service, which also detects it from content.
    assert dict(servicer.raw_metadata[request_id])[md.DATA_LEVEL] == "L2"
    error = refused(intranet.target, (bearer(keys), (md.DATA_LEVEL, "L3")))
    assert parse_error(error).metadata["clearance"] == "L2"


def test_an_unparsable_level_is_invalid_argument(internet: GatewayUnderTest,
                                                 keys: Keys) -> None:
    request_id = rid()
    error = refused(internet.target, (bearer(keys), (md.REQUEST_ID, request_id),
                                      (md.DATA_LEVEL, "top-secret")))
    parsed = parse_error(error)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.INVALID_ARGUMENT,
                                            "UNKNOWN_DATA_LEVEL")
    assert internet.recorder.one(request_id).reason == "UNKNOWN_DATA_LEVEL"


def test_an_unknown_method_is_unimplemented_and_recorded(internet: GatewayUnderTest,
                                                       keys: Keys) -> None:
    request_id = rid()
    with grpc.insecure_channel(internet.target) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/zhijian.classify.v1.ClassifyService/DropTables")(
            b"", metadata=(bearer(keys), (md.REQUEST_ID, request_id)), timeout=10)
    parsed = parse_error(caught.value)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNIMPLEMENTED, "UNKNOWN_METHOD")
    record = internet.recorder.one(request_id)
    assert record.method == "/zhijian.classify.v1.ClassifyService/DropTables"
    assert record.decision == rpb.CALL_DECISION_DENIED


def test_the_gateways_own_health_needs_no_credentials(internet: GatewayUnderTest) -> None:
    with grpc.insecure_channel(internet.target) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                          timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# --- what comes back ---------------------------------------------------------------------

def test_a_backend_error_reaches_the_caller_intact(
        internet: GatewayUnderTest, keys: Keys) -> None:
    request_id = rid()
    error = refused(internet.target, (bearer(keys), (md.REQUEST_ID, request_id)), text="fail")
    parsed = parse_error(error)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                            "MODEL_SUSPENDED")
    assert parsed.message == "classify-product-category version 7 is suspended"
    assert parsed.metadata == {"model": "classify-product-category", "version": "7"}
    trailers = dict(error.trailing_metadata() or ())
    assert trailers[md.MODEL_VERSION] == MODEL_VERSION
    record = internet.recorder.one(request_id)
    assert record.reason == "MODEL_SUSPENDED" and record.decision == rpb.CALL_DECISION_DENIED
    assert record.status_code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert record.model.version == "7" and not record.response_sha256


def test_a_backend_that_is_down_answers_unavailable_fast(
        loop: LoopThread, keys: Keys, backend: tuple[BackendServicer, str]) -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    gateway = _gateway(loop, keys, backend[1], "intranet",
                       backends={CLASSIFY_SERVICE: nowhere, REGISTRY_SERVICE: nowhere},
                       routes=routes_with_idempotent(GET_FILING))
    try:
        for attempt in range(2):  # the second call meets a channel in TRANSIENT_FAILURE
            request_id = rid()
            started = time.monotonic()
            error = refused(gateway.target, (bearer(keys), (md.REQUEST_ID, request_id)))
            assert time.monotonic() - started < 1.0, f"attempt {attempt}"
            parsed = parse_error(error)
            assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAVAILABLE,
                                                    "BACKEND_UNAVAILABLE")
            assert "127.0.0.1" not in parsed.message  # backend addresses stay inside
            record = gateway.recorder.one(request_id)
            assert record.reason == "BACKEND_UNAVAILABLE"
            assert record.decision == rpb.CALL_DECISION_ALLOWED
        # Retried (idempotent) and still fast.
        started = time.monotonic()
        with grpc.insecure_channel(gateway.target) as channel, pytest.raises(grpc.RpcError):
            rgrpc.RegistryServiceStub(channel).GetFiling(
                rpb.GetFilingRequest(name="filings/x"), metadata=(bearer(keys, AUDITOR),),
                timeout=10)
        assert time.monotonic() - started < 1.0
    finally:
        loop.run(stop_gateway(gateway))


def test_a_service_without_a_route_is_backend_not_configured(
        internet: GatewayUnderTest, keys: Keys) -> None:
    request_id = rid()
    with grpc.insecure_channel(internet.target) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary("/zhijian.risk.v1.RiskService/ScoreRisk")(
            b"", metadata=(bearer(keys), (md.REQUEST_ID, request_id)), timeout=10)
    parsed = parse_error(caught.value)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAVAILABLE,
                                            "BACKEND_NOT_CONFIGURED")
    assert internet.recorder.one(request_id).reason == "BACKEND_NOT_CONFIGURED"


def test_the_callers_deadline_reaches_the_backend(
        internet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    servicer, _ = backend
    request_id = rid()
    classify(internet.target, (bearer(keys), (md.REQUEST_ID, request_id)), timeout=2.0)
    [seen] = servicer.calls(request_id)
    # gRPC rounds the grpc-timeout header up (to a few significant digits), hence the slack.
    assert 1.0 < seen.remaining_s <= 2.05
    # Without a caller deadline the gateway's default (30 s) applies, not the backend's.
    request_id = rid()
    classify(internet.target, (bearer(keys), (md.REQUEST_ID, request_id)), timeout=None)  # type: ignore[arg-type]
    [seen] = servicer.calls(request_id)
    assert 20.0 < seen.remaining_s <= 30.5


def test_a_call_past_its_deadline_is_deadline_exceeded_and_recorded(
        internet: GatewayUnderTest, keys: Keys) -> None:
    request_id = rid()
    error = refused(internet.target, (bearer(keys), (md.REQUEST_ID, request_id)),
                    text="sleep:2", timeout=0.3)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 2
    while not internet.recorder.of(request_id) and time.monotonic() < deadline:
        time.sleep(0.01)
    record = internet.recorder.one(request_id)
    assert record.status_code == grpc.StatusCode.DEADLINE_EXCEEDED.value[0]


def test_only_idempotent_methods_are_retried_and_only_on_unavailable(
        intranet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    servicer, _ = backend
    auditor = bearer(keys, AUDITOR)
    # What the protos say (option idempotency_level), read into the route table.
    assert intranet.routes[GET_FILING].idempotent
    assert not intranet.routes[SUSPEND_DEPLOYMENT].idempotent
    with grpc.insecure_channel(intranet.target) as channel:
        registry = rgrpc.RegistryServiceStub(channel)
        request_id = rid()
        filing = registry.GetFiling(rpb.GetFilingRequest(name="filings/x"), timeout=10,
                                    metadata=(auditor, (md.REQUEST_ID, request_id),
                                              (UNREACHABLE, "first")))
        assert filing.name == "filings/x"
        assert servicer.missed[request_id] == 1 and len(servicer.calls(request_id)) == 1
        assert intranet.recorder.one(request_id).status_code == 0
        # UNAVAILABLE answered by the service itself (it tried and spent the caller's
        # time): relayed, not retried.
        request_id = rid()
        with pytest.raises(grpc.RpcError) as caught:
            registry.GetFiling(rpb.GetFilingRequest(name="filings/flaky"),
                               metadata=(auditor, (md.REQUEST_ID, request_id)), timeout=10)
        assert parse_error(caught.value).reason == "DATABASE_UNAVAILABLE"
        assert len(servicer.calls(request_id)) == 1
        # NOT_FOUND is an answer, not an outage: asked once.
        request_id = rid()
        with pytest.raises(grpc.RpcError) as caught:
            registry.GetFiling(rpb.GetFilingRequest(name="filings/missing"),
                               metadata=(auditor, (md.REQUEST_ID, request_id)), timeout=10)
        assert parse_error(caught.value).reason == "FILING_NOT_FOUND"
        assert len(servicer.calls(request_id)) == 1
        # A write is never repeated behind the caller's back: one attempt, and the
        # backend's answer relayed.
        request_id = rid()
        with pytest.raises(grpc.RpcError) as caught:
            registry.SuspendDeployment(
                rpb.SuspendDeploymentRequest(name="deployments/flaky", reason="incident 7"),
                metadata=(bearer(keys, SRE), (md.REQUEST_ID, request_id)), timeout=10)
        parsed = parse_error(caught.value)
        assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAVAILABLE,
                                                "DATABASE_UNAVAILABLE")
        assert len(servicer.calls(request_id)) == 1
        assert intranet.recorder.one(request_id).reason == "DATABASE_UNAVAILABLE"


def test_retries_stop_at_the_configured_count(
        intranet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys,
        loop: LoopThread) -> None:
    servicer, target = backend
    gateway = _gateway(loop, keys, target, "intranet",
                       routes=routes_with_idempotent(CLASSIFY),
                       options=ProxyOptions(retries=2, retry_backoff_s=0.001))
    try:
        request_id = rid()
        refused(gateway.target, (bearer(keys), (md.REQUEST_ID, request_id),
                                 (UNREACHABLE, "always")))
        assert servicer.missed[request_id] == 3  # the first attempt and two retries
        assert len(gateway.recorder.of(request_id)) == 1
    finally:
        loop.run(stop_gateway(gateway))


def test_a_caller_over_its_rate_gets_resource_exhausted_with_retry_info(
        loop: LoopThread, keys: Keys, backend: tuple[BackendServicer, str]) -> None:
    gateway = _gateway(loop, keys, backend[1], "internet", rate_per_s=1.0, burst=2.0)
    try:
        classify(gateway.target, (bearer(keys),))
        classify(gateway.target, (bearer(keys),))
        request_id = rid()
        error = refused(gateway.target, (bearer(keys), (md.REQUEST_ID, request_id)))
        parsed = parse_error(error)
        assert (parsed.code, parsed.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED,
                                                "RATE_LIMITED")
        assert parsed.retry_delay_s is not None and 0 < parsed.retry_delay_s <= 1.0
        assert gateway.recorder.one(request_id).reason == "RATE_LIMITED"
        # Buckets are per caller: another identity still gets through.
        classify(gateway.target, (bearer(keys, ("user:other-system", ("business_system",),
                                                "L1")),))
    finally:
        loop.run(stop_gateway(gateway))


def test_an_oversize_request_is_resource_exhausted(
        loop: LoopThread, keys: Keys, backend: tuple[BackendServicer, str]) -> None:
    servicer, target = backend
    gateway = _gateway(loop, keys, target, "internet",
                       options=ProxyOptions(max_message_bytes=64 * 1024))
    try:
        request_id = rid()
        error = refused(gateway.target, (bearer(keys), (md.REQUEST_ID, request_id)),
                        text="药" * 30_000)  # 90 kB of UTF-8
        parsed = parse_error(error)
        assert (parsed.code, parsed.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED,
                                                "MESSAGE_TOO_LARGE")
        assert not servicer.calls(request_id)
        assert gateway.recorder.one(request_id).reason == "MESSAGE_TOO_LARGE"
        # Far beyond the limit gRPC itself refuses it, before any handler runs.
        error = refused(gateway.target, (bearer(keys),), text="药" * 100_000)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        loop.run(stop_gateway(gateway))


def stream_records(gateway: GatewayUnderTest, request_id: str
                   ) -> tuple[rpb.CallRecord, rpb.CallRecord]:
    """A stream's two records: written before its first message, and at its end."""
    opened, ended = gateway.recorder.of(request_id)
    assert opened.reason == "STREAM_OPENED" and opened.status_code == 0
    assert not opened.response_sha256
    return opened, ended


def test_a_server_stream_passes_through_with_its_trailers_and_records(
        intranet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    servicer, _ = backend
    request_id = rid()
    with grpc.insecure_channel(intranet.target) as channel:
        stream = rgrpc.RegistryServiceStub(channel).WatchDeployments(
            rpb.WatchDeploymentsRequest(), metadata=(bearer(keys, AUDITOR),
                                                     (md.REQUEST_ID, request_id)), timeout=10)
        messages = list(stream)
    assert [m.revision for m in messages] == [1, 2, 3]
    assert servicer.calls(request_id)[0].assertion.subject == "user:auditor-1"
    _, record = stream_records(intranet, request_id)
    assert record.method == WATCH_DEPLOYMENTS and record.status_code == 0
    digest = hashlib.sha256(b"".join(m.SerializeToString() for m in messages)).hexdigest()
    assert record.response_sha256 == digest

    # An error after some messages: the caller gets those, then the backend's error.
    request_id = rid()
    received = []
    with grpc.insecure_channel(intranet.target) as channel, \
            pytest.raises(grpc.RpcError) as caught:
        for message in rgrpc.RegistryServiceStub(channel).WatchDeployments(
                rpb.WatchDeploymentsRequest(filter="then-fail"),
                metadata=(bearer(keys, AUDITOR), (md.REQUEST_ID, request_id)), timeout=10):
            received.append(message.revision)
    assert received == [1, 2, 3]
    assert parse_error(caught.value).reason == "WATCH_REVOKED"
    # The backend's trailers come along (the kernel sends a stream's on errors).
    trailers = dict(caught.value.trailing_metadata() or ())
    assert trailers["x-zhijian-watch-end"] == "3"
    assert stream_records(intranet, request_id)[1].reason == "WATCH_REVOKED"


def test_a_stream_the_caller_abandons_is_recorded_as_cancelled(
        intranet: GatewayUnderTest, keys: Keys) -> None:
    request_id = rid()
    with grpc.insecure_channel(intranet.target) as channel:
        stream = rgrpc.RegistryServiceStub(channel).WatchDeployments(
            rpb.WatchDeploymentsRequest(), metadata=(bearer(keys, AUDITOR),
                                                     (md.REQUEST_ID, request_id)), timeout=10)
        next(stream)
        stream.cancel()
    deadline = time.monotonic() + 5
    while len(intranet.recorder.of(request_id)) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    # Cancelled, or OK if the three messages were all out before the cancel arrived.
    assert stream_records(intranet, request_id)[1].status_code in (
        0, grpc.StatusCode.CANCELLED.value[0])


def test_shutdown_waits_for_calls_still_unwinding_to_record_themselves(
        loop: LoopThread, keys: Keys, backend: tuple[BackendServicer, str]) -> None:
    _, target = backend
    gateway = _gateway(loop, keys, target, "intranet")
    try:
        caller = threading.Thread(target=classify, args=(
            gateway.target, (bearer(keys), (md.REQUEST_ID, rid())), "sleep:0.5"))
        caller.start()
        time.sleep(0.2)
        assert not loop.run(gateway.proxy.drained(0.05)), "a call is in flight"
        caller.join()
        assert loop.run(gateway.proxy.drained(1.0))
    finally:
        loop.run(stop_gateway(gateway))


def test_no_answer_leaves_without_its_record(
        loop: LoopThread, keys: Keys, backend: tuple[BackendServicer, str]) -> None:
    servicer, target = backend
    gateway = _gateway(loop, keys, target, "internet")
    try:
        gateway.recorder.failing = True
        request_id = rid()
        error = refused(gateway.target, (bearer(keys), (md.REQUEST_ID, request_id)))
        parsed = parse_error(error)
        assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAVAILABLE,
                                                "AUDIT_UNAVAILABLE")
        assert servicer.calls(request_id), "the backend answered; the caller must not see it"
        # From then on calls are refused before the backend acts, until a record is
        # written again: no executed call goes unrecorded while the log is failing.
        request_id = rid()
        error = refused(gateway.target, (bearer(keys), (md.REQUEST_ID, request_id)))
        assert parse_error(error).reason == "AUDIT_UNAVAILABLE"
        assert not servicer.calls(request_id)
        gateway.recorder.failing = False
        request_id = rid()
        refused(gateway.target, (bearer(keys), (md.REQUEST_ID, request_id)))
        assert gateway.recorder.one(request_id).reason == "AUDIT_UNAVAILABLE"
        request_id = rid()
        classify(gateway.target, (bearer(keys), (md.REQUEST_ID, request_id)))
        assert servicer.calls(request_id) and gateway.recorder.one(request_id).status_code == 0
    finally:
        loop.run(stop_gateway(gateway))


def test_only_the_data_level_the_gateway_checked_reaches_the_service(
        intranet: GatewayUnderTest, backend: tuple[BackendServicer, str], keys: Keys) -> None:
    servicer, _ = backend
    request_id = rid()
    classify(intranet.target, (bearer(keys), (md.REQUEST_ID, request_id),
                               (md.DATA_LEVEL, "L4"), (md.DATA_LEVEL, "L1")))
    sent = [v for k, v in servicer.raw_metadata[request_id] if k == md.DATA_LEVEL]
    assert sent == ["L1"]


def test_the_payload_appears_in_no_record_only_its_hash(
        internet: GatewayUnderTest, keys: Keys) -> None:
    marker = "患者张三 身份证 payload-marker-5f3a"
    request_ids = [rid() for _ in range(3)]
    classify(internet.target, (bearer(keys), (md.REQUEST_ID, request_ids[0])), text=marker)
    refused(internet.target, ((md.REQUEST_ID, request_ids[1]),), text=marker)
    refused(internet.target, (bearer(keys), (md.REQUEST_ID, request_ids[2]),
                              (md.DATA_LEVEL, "L4")), text=marker)
    digest = hashlib.sha256(cpb.ClassifyRequest(text=marker).SerializeToString()).hexdigest()
    for request_id in request_ids:
        record = internet.recorder.one(request_id)
        assert record.request_sha256 == digest
        blob = record.SerializeToString()
        assert marker.encode() not in blob and b"payload-marker" not in blob
        assert b"Bearer" not in blob and b"eyJ" not in blob


def test_every_call_leaves_exactly_one_record(
        internet: GatewayUnderTest, keys: Keys) -> None:
    before = len(internet.recorder.records)
    outcomes = []
    for index in range(12):
        request_id = rid()
        metadata: tuple[tuple[str, str], ...] = ((md.REQUEST_ID, request_id),)
        if index % 3:
            metadata += (bearer(keys),)
        try:
            classify(internet.target, metadata, text="fail" if index % 4 == 0 else "口罩")
            outcomes.append(request_id)
        except grpc.RpcError:
            outcomes.append(request_id)
    assert len(internet.recorder.records) - before == 12
    assert all(len(internet.recorder.of(request_id)) == 1 for request_id in outcomes)


# --- mutual TLS ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mtls(loop: LoopThread, keys: Keys, backend: tuple[BackendServicer, str],
         tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[GatewayUnderTest, certs.CertificateAuthority]]:
    directory = tmp_path_factory.mktemp("tls")
    ca = certs.load_or_create_ca(keys.keys_dir)
    server_cert = certs.issue_server_certificate(ca)
    server_cert.write(directory / "server.pem", directory / "server.key")
    tls = TlsSettings(directory / "server.pem", directory / "server.key",
                      keys.keys_dir / certs.CA_CERT)
    gateway = _gateway(loop, keys, backend[1], "extranet", tls=tls)
    yield gateway, ca
    loop.run(stop_gateway(gateway))


def _client(ca: certs.CertificateAuthority, issued: certs.IssuedCertificate | None
            ) -> grpc.ChannelCredentials:
    if issued is None:
        return grpc.ssl_channel_credentials(root_certificates=ca.cert_pem)
    return grpc.ssl_channel_credentials(root_certificates=ca.cert_pem,
                                        private_key=issued.key_pem,
                                        certificate_chain=issued.cert_pem)


def test_a_client_certificate_identifies_the_caller(
        mtls: tuple[GatewayUnderTest, certs.CertificateAuthority],
        backend: tuple[BackendServicer, str]) -> None:
    gateway, ca = mtls
    servicer, _ = backend
    issued = certs.issue_client_certificate(ca, subject="user:drug-review-portal",
                                            roles=["business_system"], clearance="L3")
    request_id = rid()
    classify(gateway.target, ((md.REQUEST_ID, request_id),), credentials=_client(ca, issued))
    assertion = servicer.calls(request_id)[0].assertion
    assert (assertion.subject, assertion.domain, assertion.ceiling) == (
        "user:drug-review-portal", "extranet", "L3")
    assert assertion.credential_id == issued.fingerprint
    assert gateway.recorder.one(request_id).caller == "user:drug-review-portal"
    # Revoked by fingerprint, like a token by its jti.
    gateway.revoked.add(issued.fingerprint)
    with pytest.raises(grpc.RpcError) as caught:
        classify(gateway.target, (), credentials=_client(ca, issued))
    assert parse_error(caught.value).reason == "CREDENTIALS_REVOKED"


def test_without_a_client_certificate_the_handshake_fails(
        mtls: tuple[GatewayUnderTest, certs.CertificateAuthority], keys: Keys) -> None:
    gateway, ca = mtls
    before = len(gateway.recorder.records)
    with pytest.raises(grpc.RpcError) as caught:
        classify(gateway.target, (bearer(keys),), credentials=_client(ca, None), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(gateway.recorder.records) == before  # no call ever reached the gateway


def test_a_certificate_from_another_ca_fails(
        mtls: tuple[GatewayUnderTest, certs.CertificateAuthority]) -> None:
    gateway, ca = mtls
    rogue = certs.issue_client_certificate(certs.create_ca("rogue CA"),
                                           subject="user:drug-review-portal",
                                           roles=["business_system"], clearance="L4")
    with pytest.raises(grpc.RpcError) as caught:
        classify(gateway.target, (), credentials=_client(ca, rogue), timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_error_details_survive_the_relay_byte_for_byte(
        internet: GatewayUnderTest, keys: Keys) -> None:
    error = refused(internet.target, (bearer(keys),), text="fail")
    trailers = dict(error.trailing_metadata() or ())
    details = trailers["grpc-status-details-bin"]
    from google.rpc import status_pb2

    status = status_pb2.Status.FromString(details)
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert (status.code, info.reason, info.domain) == (9, "MODEL_SUSPENDED",
                                                       "zhijian.platform")
