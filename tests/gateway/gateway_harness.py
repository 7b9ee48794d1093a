"""Real servers for the gateway tests: an asyncio loop on a thread, keys in a temporary
ZHIJIAN_HOME, a small backend behind the kernel's own handler (so the gateway's assertion
is verified for real), and gateways built from the production parts.

The call audit here is :class:`MemoryRecorder`, a list: the gateway's real write-ahead
log (gateway.audit) is tested on its own in test_audit.py, and end to end by the
subprocess test in test_gateway_process.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.authn import Authenticator
from gateway.authz import Authorizer
from gateway.proxy import GatewayProxy, ProxyOptions
from gateway.ratelimit import RateLimiter
from gateway.routes import Route, build_routes
from gateway.server import create_server
from gateway.settings import TlsSettings
from zhijian import identity
from zhijian import metadata as md
from zhijian.assertion import (
    Assertion,
    AssertionSigner,
    AssertionVerifier,
    provision_domain_keys,
)
from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.errors import (
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    Unavailable,
    ZhijianError,
)
from zhijian.registry.v1 import registry_service_pb2 as rpb
from zhijian.registry.v1.registry_service_pb2 import CallRecord
from zhijian.server import Call, Service, generic_handler
from zhijian.types.v1 import ai_result_pb2 as tpb

T = TypeVar("T")

CLASSIFY = "/zhijian.classify.v1.ClassifyService/Classify"
GET_FILING = "/zhijian.registry.v1.RegistryService/GetFiling"
SUSPEND_DEPLOYMENT = "/zhijian.registry.v1.RegistryService/SuspendDeployment"
WATCH_DEPLOYMENTS = "/zhijian.registry.v1.RegistryService/WatchDeployments"
CLASSIFY_SERVICE = "zhijian.classify.v1.ClassifyService"
REGISTRY_SERVICE = "zhijian.registry.v1.RegistryService"
MODEL_VERSION = "classify-product-category/7"
FILING_ID = "0f4e2c"
PAGE = 2  # the stand-in registry pages small, so that the poller must follow pages


class LoopThread:
    """An event loop on a daemon thread: the servers live there, tests call them with
    ordinary blocking gRPC clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class Keys:
    """The issuer key and identity settings of a temporary ZHIJIAN_HOME, and each domain's
    assertion key unless a gateway is to make its own."""

    def __init__(self, home: Path, *, assertion_keys: bool = True) -> None:
        self.home = home
        self.settings = identity.IdentitySettings.from_env({"ZHIJIAN_HOME": str(home)})
        self.issuer = identity.IssuerKey.load_or_create(self.settings.keys_dir)
        if assertion_keys:
            # Up front, as `zhijian up` does: a backend that saw one domain's key re-reads
            # the published keys at most every few seconds.
            provision_domain_keys(self.settings.keys_dir)

    @property
    def keys_dir(self) -> Path:
        return self.settings.keys_dir

    def token(self, subject: str, roles: tuple[str, ...], clearance: str = "L4", *,
              ttl_s: int = 3600, **kwargs: Any) -> identity.IssuedToken:
        return identity.issue_token(self.issuer, subject=subject, roles=roles,
                                    clearance=clearance, ttl_s=ttl_s,
                                    issuer_name=self.settings.issuer_name,
                                    audience=self.settings.audience, **kwargs)


@dataclass
class Seen:
    """One call as the backend saw it."""

    method: str
    request_id: str
    assertion: Assertion
    remaining_s: float
    request: Any


# Request metadata of these tests only: "first" or "always" makes the backend answer like
# a service that was never reached.
UNREACHABLE = "x-test-unreachable"


class BackendServicer:
    """A few ClassifyService and RegistryService methods. Behaviour is chosen by the
    request: Classify text ``fail`` raises with google.rpc details, ``unavailable`` and
    ``flaky`` answer UNAVAILABLE (always / on the first attempt of a request id),
    ``sleep:S`` waits S seconds; GetFiling of ``filings/flaky`` and SuspendDeployment of
    ``deployments/flaky`` fail once the same way. These are answers of the service itself;
    ``x-test-unreachable`` metadata makes a call fail as if the service was not reached."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.raw_metadata: dict[str, tuple[tuple[str, str | bytes], ...]] = {}
        self._attempts: dict[str, int] = {}
        # Attempts refused before reaching the service (see UNREACHABLE), per request id.
        self.missed: dict[str, int] = {}

    def calls(self, request_id: str) -> list[Seen]:
        return [s for s in self.seen if s.request_id == request_id]

    def _see(self, method: str, call: Call, request: Any) -> None:
        self.seen.append(Seen(method, call.request_id, call.caller, call.remaining(), request))

    def _first_attempt(self, call: Call) -> bool:
        count = self._attempts.get(call.request_id, 0)
        self._attempts[call.request_id] = count + 1
        return count == 0

    async def Classify(self, request: cpb.ClassifyRequest, call: Call) -> cpb.ClassifyResponse:
        self._see("Classify", call, request)
        call.set_trailer(md.MODEL_VERSION, MODEL_VERSION)
        call.set_trailer(md.FILING_ID, FILING_ID)
        call.set_trailer(md.EFFECTIVE_LEVEL, "DATA_LEVEL_L1_PUBLIC")
        if request.text == "fail":
            raise FailedPrecondition("classify-product-category version 7 is suspended",
                                     reason="MODEL_SUSPENDED",
                                     metadata={"model": "classify-product-category",
                                               "version": "7"})
        if request.text == "unavailable" or (request.text == "flaky" and
                                             self._first_attempt(call)):
            raise Unavailable("the model server is restarting", reason="MODEL_SERVER_DOWN")
        if request.text.startswith("sleep:"):
            await asyncio.sleep(float(request.text.removeprefix("sleep:")))
        return cpb.ClassifyResponse(result=tpb.AiResult(result_id=call.request_id,
                                                        ai_generated=True))

    async def GetFiling(self, request: rpb.GetFilingRequest, call: Call) -> rpb.Filing:
        self._see("GetFiling", call, request)
        if request.name == "filings/flaky" and self._first_attempt(call):
            raise Unavailable("the registry database is failing over",
                              reason="DATABASE_UNAVAILABLE")
        if request.name == "filings/missing":
            raise NotFound("no filing filings/missing", reason="FILING_NOT_FOUND")
        return rpb.Filing(name=request.name)

    async def SuspendDeployment(self, request: rpb.SuspendDeploymentRequest,
                                call: Call) -> rpb.Deployment:
        self._see("SuspendDeployment", call, request)
        if request.name == "deployments/flaky" and self._first_attempt(call):
            raise Unavailable("the registry database is failing over",
                              reason="DATABASE_UNAVAILABLE")
        return rpb.Deployment(name=request.name)

    async def WatchDeployments(self, request: rpb.WatchDeploymentsRequest,
                               call: Call) -> AsyncIterator[rpb.WatchDeploymentsResponse]:
        self._see("WatchDeployments", call, request)
        call.set_trailer("x-zhijian-watch-end", "3")
        for revision in (1, 2, 3):
            yield rpb.WatchDeploymentsResponse(revision=revision, deployments=[
                rpb.Deployment(name=f"deployments/d{revision}")])
        if request.filter == "then-fail":
            raise PermissionDenied("the watch was revoked", reason="WATCH_REVOKED")

    def __getattr__(self, name: str) -> Callable[[Any, Call], Awaitable[Any]]:
        if name.startswith("_") or not name[:1].isupper():
            raise AttributeError(name)

        async def unimplemented(request: Any, call: Call) -> Any:
            raise FailedPrecondition(f"{name} is not part of this test backend",
                                     reason="NOT_IN_TEST_BACKEND")
        return unimplemented


class _RawMetadata(grpc.aio.ServerInterceptor):
    """Keeps every call's metadata exactly as it arrived (duplicates included), which the
    kernel's Call collapses into a dict."""

    def __init__(self, backend: BackendServicer) -> None:
        self._backend = backend

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        metadata = tuple((k, v) for k, v in details.invocation_metadata or ())
        request_id = next((str(v) for k, v in metadata if k == md.REQUEST_ID), "")
        self._backend.raw_metadata[request_id] = metadata
        unreachable = next((str(v) for k, v in metadata if k == UNREACHABLE), "")
        if unreachable and (unreachable == "always" or request_id not in self._backend.missed):
            # What a caller sees when the service was never reached (a connection
            # reset, a load balancer with no healthy upstream): UNAVAILABLE, no details.
            self._backend.missed[request_id] = self._backend.missed.get(request_id, 0) + 1

            async def unavailable(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "connection reset")
            return grpc.unary_unary_rpc_method_handler(unavailable)
        return await continuation(details)


async def start_backend(keys: Keys, backend: BackendServicer) -> tuple[grpc.aio.Server, str]:
    verifier = AssertionVerifier.from_keys_dir(keys.keys_dir)
    server = grpc.aio.server(interceptors=[_RawMetadata(backend)])
    for module in (cpb, rpb):
        name = "ClassifyService" if module is cpb else "RegistryService"
        service = Service(module.DESCRIPTOR.services_by_name[name], backend)
        server.add_generic_rpc_handlers((generic_handler(service, 10.0, verifier),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


class MemoryRecorder:
    """The CallRecorder of these tests (see the module docstring)."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []
        self.failing = False

    def append(self, record: CallRecord) -> None:
        if self.failing:
            raise OSError("no space left on device")
        self.records.append(record)

    def of(self, request_id: str) -> list[CallRecord]:
        return [r for r in self.records if r.request_id == request_id]

    def one(self, request_id: str) -> CallRecord:
        found = self.of(request_id)
        assert len(found) == 1, f"{len(found)} records for request {request_id}"
        return found[0]


@dataclass
class GatewayUnderTest:
    target: str
    recorder: MemoryRecorder
    revoked: set[str]
    proxy: GatewayProxy
    server: grpc.aio.Server
    spans: InMemorySpanExporter
    routes: dict[str, Route] = field(default_factory=dict)
    # Credential ids the (stand-in) registry has no record of; every other id counts as
    # recorded. The real list is polled from the registry (gateway/revocations.py).
    unrecorded: set[str] = field(default_factory=set)


def recorded(token: str) -> rpb.Credential:
    """The registry's record of an issued token: its id, subject, roles, clearance, expiry
    (read back from the token itself, which the tests minted)."""
    claims = json.loads(identity.b64url_decode(token.split(".")[1]))
    record = rpb.Credential(credential_id=claims["jti"], subject=claims["sub"],
                            roles=claims["roles"], clearance=claims["clearance"])
    record.expire_time.FromSeconds(int(claims["exp"]))
    return record


def routes_with_idempotent(*methods: str) -> dict[str, Route]:
    """The real route table with ``methods`` marked idempotent, as a proto option would."""
    routes = build_routes()
    for method in methods:
        routes[method] = dataclasses.replace(routes[method], idempotent=True)
    return routes


async def start_gateway(keys: Keys, *, domain: str, backends: Mapping[str, str],
                        routes: Mapping[str, Route] | None = None, rate_per_s: float = 1e6,
                        burst: float = 1e6, options: ProxyOptions | None = None,
                        tls: TlsSettings | None = None) -> GatewayUnderTest:
    revoked: set[str] = set()
    unrecorded: set[str] = set()
    recorder = MemoryRecorder()
    options = options or ProxyOptions()
    if tls is not None:
        options = dataclasses.replace(options, mtls=True)
    route_table = dict(routes or build_routes())
    # A recording tracer, as `python -m gateway` installs, with spans kept in memory.
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    proxy = GatewayProxy(
        domain=domain, routes=route_table, backends=backends,
        authenticator=Authenticator.from_settings(
            keys.settings, is_revoked=revoked.__contains__,
            is_recorded=lambda credential_id, *_: credential_id not in unrecorded),
        authorizer=Authorizer.from_files(), limiter=RateLimiter(rate_per_s, burst),
        signer=AssertionSigner.load_or_create(keys.keys_dir, issuer=f"svc:gateway-{domain}",
                                              domain=domain),
        recorder=recorder, options=options, tracer=provider.get_tracer("gateway-test"))
    server, _health, port = create_server(proxy, address="127.0.0.1:0",
                                          max_message_bytes=options.max_message_bytes,
                                          tls=tls)
    await server.start()
    return GatewayUnderTest(f"127.0.0.1:{port}", recorder, revoked, proxy, server, spans,
                            route_table, unrecorded)


async def stop_gateway(gateway: GatewayUnderTest) -> None:
    await gateway.server.stop(0)
    await gateway.proxy.close()


# --- the registry's side of a gateway -------------------------------------------------------

@dataclass
class Registry:
    """The registry's side of a gateway, with the real registry's contract for it:
    revocations to poll (paged) and call records to take (idempotent by record_id), both
    for a verified service token only. The real registry needs MLflow and a database; it
    runs with the gateways in tests/integration/test_gateway.py."""

    verifier: identity.TokenVerifier
    revoked: list[str] = field(default_factory=list)
    # Credentials issued on the record (see recorded()).
    recorded: list[rpb.Credential] = field(default_factory=list)
    records: dict[str, rpb.CallRecord] = field(default_factory=dict)
    callers: set[str] = field(default_factory=set)
    polls: int = 0

    async def _caller(self, context: grpc.aio.ServicerContext) -> identity.Principal:
        metadata = {k: v for k, v in context.invocation_metadata() or () if isinstance(v, str)}
        try:
            principal = identity.principal_from_metadata(metadata, self.verifier)
            if "service" not in principal.roles:
                raise PermissionDenied("service role only", reason="ROLE_NOT_PERMITTED")
        except ZhijianError as error:
            status = error.to_grpc_status()
            await context.abort(status.code, status.details, status.trailing_metadata)
        self.callers.add(principal.subject)
        return principal

    async def list_revocations(self, request: rpb.ListRevocationsRequest,
                               context: grpc.aio.ServicerContext) -> rpb.ListRevocationsResponse:
        await self._caller(context)
        self.polls += 1
        start = int(request.page_token or 0)
        end = start + min(PAGE, request.page_size or PAGE)
        return rpb.ListRevocationsResponse(
            revocations=[rpb.Revocation(jti=jti) for jti in self.revoked[start:end]],
            next_page_token=str(end) if end < len(self.revoked) else "")

    async def list_credentials(self, request: rpb.ListCredentialsRequest,
                               context: grpc.aio.ServicerContext) -> rpb.ListCredentialsResponse:
        await self._caller(context)
        start = int(request.page_token or 0)
        end = start + min(PAGE, request.page_size or PAGE)
        return rpb.ListCredentialsResponse(
            credentials=self.recorded[start:end],
            next_page_token=str(end) if end < len(self.recorded) else "")

    async def append_call_records(self, request: rpb.AppendCallRecordsRequest,
                                  context: grpc.aio.ServicerContext
                                  ) -> rpb.AppendCallRecordsResponse:
        await self._caller(context)
        fresh = [r for r in request.records if r.record_id not in self.records]
        self.records.update((r.record_id, r) for r in fresh)
        return rpb.AppendCallRecordsResponse(appended_count=len(fresh))

    def of(self, request_id: str) -> list[rpb.CallRecord]:
        return [r for r in list(self.records.values()) if r.request_id == request_id]


async def start_registry(registry: Registry) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "zhijian.registry.v1.RegistryService", {
            "ListRevocations": grpc.unary_unary_rpc_method_handler(
                registry.list_revocations,
                request_deserializer=rpb.ListRevocationsRequest.FromString,
                response_serializer=rpb.ListRevocationsResponse.SerializeToString),
            "ListCredentials": grpc.unary_unary_rpc_method_handler(
                registry.list_credentials,
                request_deserializer=rpb.ListCredentialsRequest.FromString,
                response_serializer=rpb.ListCredentialsResponse.SerializeToString),
            "AppendCallRecords": grpc.unary_unary_rpc_method_handler(
                registry.append_call_records,
                request_deserializer=rpb.AppendCallRecordsRequest.FromString,
                response_serializer=rpb.AppendCallRecordsResponse.SerializeToString),
        }),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"
