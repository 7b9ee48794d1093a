"""The gateway's hot path: authenticate, authorize, rate-limit, forward raw bytes, audit.

Every zhijian RPC is forwarded as the bytes the caller sent; the gateway never parses a
message. Per call it opens the SERVER span, decides who is calling and whether they may,
replaces the caller's credentials with a signed assertion bound to the request id, calls
the backend on a cached channel within the caller's deadline (retrying only methods the
proto marks idempotent, only on UNAVAILABLE), relays the answer with the backend's
trailers or its exact error, and appends one ``CallRecord`` before the caller sees
anything. Payloads, tokens and assertions never reach a log, a span or a record; the
record holds the SHA-256 of the request and response bytes only.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.status import Status, StatusCode
from prometheus_client import Counter, Histogram

from gateway import authz
from gateway.authn import Authenticator, Caller, Unrecorded
from gateway.authz import Authorizer
from gateway.ratelimit import RateLimiter
from gateway.routes import Route
from zhijian import metadata as md
from zhijian.assertion import AssertionSigner
from zhijian.client import RECONNECT_OPTIONS
from zhijian.dlp import LEVELS_BY_NAME, declared_level
from zhijian.domains import NETWORK_DOMAINS
from zhijian.errors import (
    DeadlineExceeded,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
    ZhijianError,
)
from zhijian.registry.v1.registry_service_pb2 import (
    CALL_DECISION_ALLOWED,
    CALL_DECISION_DENIED,
    CallRecord,
)
from zhijian.types.v1 import ai_result_pb2 as types_pb
from zhijian.version_choice import (
    MODEL_EXPIRED,
    MODEL_NOT_APPROVED,
    MODEL_NOT_AUTHORIZED_FOR_DOMAIN,
    MODEL_SUSPENDED,
)

log = logging.getLogger("gateway.proxy")
_tracer = trace.get_tracer("zhijian.gateway")

REQUESTS = Counter("zhijian_gateway_requests", "Calls through the gateway",
                   ["domain", "method", "code", "decision"])
LATENCY = Histogram("zhijian_gateway_request_duration_seconds",
                    "Time from a call's arrival to its answer, backend included",
                    ["domain", "method"],
                    buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5,
                             10))

# Stable ErrorInfo reasons the gateway itself raises.
BACKEND_NOT_CONFIGURED: Final = "BACKEND_NOT_CONFIGURED"
BACKEND_UNAVAILABLE: Final = "BACKEND_UNAVAILABLE"
BACKEND_ERROR: Final = "BACKEND_ERROR"
UNKNOWN_METHOD: Final = "UNKNOWN_METHOD"
MESSAGE_TOO_LARGE: Final = "MESSAGE_TOO_LARGE"
AUDIT_UNAVAILABLE: Final = "AUDIT_UNAVAILABLE"
BACKEND_REJECTED_ASSERTION: Final = "BACKEND_REJECTED_ASSERTION"
# The reason on a server stream's first record (see _record_opening).
STREAM_OPENED: Final = "STREAM_OPENED"
_ASSERTION_REFUSALS: Final = frozenset({"ASSERTION_MISSING", "ASSERTION_INVALID",
                                        "ASSERTION_DOMAIN_MISMATCH", "ASSERTION_REQUIRED"})

_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
_STATUS_DETAILS: Final = "grpc-status-details-bin"
_TRACE_HEADERS: Final = frozenset({"traceparent", "tracestate"})
# Never forwarded: credentials (ours replace them), and transport headers the channel
# sets itself.
_DROPPED: Final = frozenset({md.AUTHORIZATION, md.ASSERTION, md.REQUEST_ID, "user-agent", "te",
                             "content-type", "host", "grpc-accept-encoding",
                             "grpc-encoding", "grpc-timeout"})
# A backend's own refusals (beside PERMISSION_DENIED): the call was denied, not failed.
_DENYING_REASONS: Final = frozenset({MODEL_SUSPENDED, MODEL_EXPIRED, MODEL_NOT_APPROVED,
                                     MODEL_NOT_AUTHORIZED_FOR_DOMAIN})
_SPAN_ERRORS: Final = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED,
                                 grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.INTERNAL,
                                 grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS})
# Unknown method names come from callers: bound what reaches a record.
_MAX_METHOD_CHARS: Final = 200  # what the registry accepts in a record
UNKNOWN_METHOD_LABEL: Final = "unknown"
DEADLINE_MARGIN_S: Final = 0.002

Trailers = tuple[tuple[str, str | bytes], ...]


class CallRecorder(Protocol):
    """Where call records go: ``append`` returns once the record is durable enough for
    the response to be sent (gateway.audit.CallAuditLog writes its WAL first)."""

    def append(self, record: CallRecord) -> None: ...


@dataclass(frozen=True)
class ProxyOptions:
    max_message_bytes: int = 4 * 1024 * 1024
    default_deadline_s: float = 30.0
    retries: int = 2
    retry_backoff_s: float = 0.02
    # Read the peer certificate from the TLS layer (an mTLS listener).
    mtls: bool = False


def new_id() -> str:
    """128 random bits as 32 hex characters, the shape of a uuid4 hex at a fraction of
    uuid4's cost (two per call on the hot path)."""
    return os.urandom(16).hex()


def _peer_host(context: grpc.aio.ServicerContext) -> str:
    """``ipv4:10.0.0.7:53211`` → ``peer:ipv4:10.0.0.7``: one bucket per address, not port."""
    return "peer:" + (context.peer() or "unknown").rpartition(":")[0]


def _answered_by_service(error: grpc.aio.AioRpcError) -> bool:
    return any(key == _STATUS_DETAILS for key, _ in (error.trailing_metadata() or ()))


def _timeout(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _cancelled_code(context: grpc.aio.ServicerContext) -> grpc.StatusCode:
    """What the caller saw of a call cut short: its deadline passed, or it hung up."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def _level_name(level: int) -> str:
    return "L" + str(level)


class UnknownMethod(ZhijianError):
    code = grpc.StatusCode.UNIMPLEMENTED
    default_reason = UNKNOWN_METHOD


class _Failure:
    """What the caller is told when a call fails, and what the record says about it."""

    __slots__ = ("code", "details", "reason", "trailers")

    def __init__(self, code: grpc.StatusCode, details: str, trailers: Trailers,
                 reason: str) -> None:
        self.code = code
        self.details = details
        self.trailers = trailers
        self.reason = reason


class _State:
    """One call in flight."""

    __slots__ = ("admitted", "caller", "declared", "method", "recorded", "request_id",
                 "request_sha256", "span", "start_ns", "started")

    def __init__(self, method: str, request_id: str, span: Span, request: bytes) -> None:
        self.method = method
        self.request_id = request_id
        self.span = span
        self.started = time.perf_counter()
        self.start_ns = time.time_ns()
        self.request_sha256 = hashlib.sha256(request).hexdigest()
        self.caller: Caller | None = None
        self.declared: int = types_pb.DATA_LEVEL_UNSPECIFIED
        self.admitted = False
        self.recorded = False


def _error_reason(trailers: Sequence[tuple[str, str | bytes]]) -> str:
    for key, value in trailers:
        if key == _STATUS_DETAILS and isinstance(value, bytes):
            try:
                status = status_pb2.Status.FromString(value)
            except DecodeError:  # a malformed details blob is still relayed as it came
                return ""
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return info.reason
    return ""


def _relayable(trailers: Any) -> Trailers:
    """A backend's trailing metadata minus what gRPC sets itself."""
    if not trailers:
        return ()
    return tuple((key, value) for key, value in trailers
                 if key == _STATUS_DETAILS or not key.startswith(("grpc-", ":")))


class GatewayProxy(grpc.GenericRpcHandler):
    def __init__(self, *, domain: str, routes: Mapping[str, Route],
                 backends: Mapping[str, str], authenticator: Authenticator,
                 authorizer: Authorizer, limiter: RateLimiter, signer: AssertionSigner,
                 recorder: CallRecorder, options: ProxyOptions | None = None,
                 tracer: trace.Tracer | None = None,
                 refresh_recorded: Callable[[], Awaitable[None]] | None = None) -> None:
        if domain not in NETWORK_DOMAINS:
            raise ValueError(f"unknown network domain {domain!r}")
        if signer.domain != domain:
            raise ValueError(f"the {domain} gateway needs the {domain} assertion key, not "
                             f"the {signer.domain} one")
        self.domain = domain
        self._domain_value = NETWORK_DOMAINS[domain]
        self._routes = dict(routes)
        self._backends = dict(backends)
        self._authenticator = authenticator
        # Re-reads the registry's recorded credentials (gateway/revocations.py).
        self._refresh_recorded = refresh_recorded
        self._authorizer = authorizer
        self._limiter = limiter
        self._signer = signer
        self._recorder = recorder
        # Set when a record could not be written; cleared by the next one that is.
        self._audit_broken = False
        # Calls begun and not yet recorded: shutdown waits for them before closing the log.
        self._unrecorded = 0
        self._options = options or ProxyOptions()
        # The global provider's tracer unless told otherwise (tests give their own).
        self._tracer = tracer or _tracer
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._callables: dict[str, Any] = {}
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._metrics: dict[tuple[str, str, str], tuple[Any, Any]] = {}
        for route in self._routes.values():
            handler = self._handler_for(route)
            if handler is not None:
                self._handlers[route.method] = handler

    # --- gRPC plumbing ------------------------------------------------------------------

    def _handler_for(self, route: Route) -> grpc.RpcMethodHandler | None:
        # No serializers: requests and responses stay the caller's and backend's bytes.
        if route.client_streaming:
            return None  # no zhijian RPC streams requests; such a method is "unknown"
        if route.server_streaming:
            return grpc.unary_stream_rpc_method_handler(functools.partial(self._stream, route))
        return grpc.unary_unary_rpc_method_handler(functools.partial(self._unary, route))

    def service(self, handler_call_details: grpc.HandlerCallDetails
                ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is not None:
            return handler
        # Answered (UNIMPLEMENTED) and audited like any other call.
        return grpc.unary_unary_rpc_method_handler(
            functools.partial(self._unary, None, method=method))

    def _multicallable(self, route: Route, target: str, stream: bool) -> Any:
        callable_ = self._callables.get(route.method)
        if callable_ is None:
            channel = self._channels.get(target)
            if channel is None:
                size = self._options.max_message_bytes
                # No interceptors: the trace context is injected by hand, under our span.
                channel = grpc.aio.insecure_channel(target, options=[
                    ("grpc.max_receive_message_length", size),
                    ("grpc.max_send_message_length", size), *RECONNECT_OPTIONS])
                self._channels[target] = channel
            factory = channel.unary_stream if stream else channel.unary_unary
            callable_ = self._callables[route.method] = factory(route.method)
        return callable_

    async def drained(self, timeout_s: float) -> bool:
        """Wait until every call begun so far has its record; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._unrecorded and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return not self._unrecorded

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        self._callables.clear()
        for channel in channels:
            await channel.close()

    # --- admission ----------------------------------------------------------------------

    def _begin(self, method: str, request: bytes, context: grpc.aio.ServicerContext
               ) -> tuple[_State, str | None, str, list[tuple[str, str | bytes]]]:
        """Read the metadata once: (state, authorization, declared level, what may be
        forwarded). Opens the span."""
        authorization: str | None = None
        request_id = ""
        level = ""
        carrier: dict[str, str] | None = None
        forward: list[tuple[str, str | bytes]] = []
        for key, value in context.invocation_metadata() or ():
            if key in _DROPPED:
                if key == md.AUTHORIZATION:
                    authorization = value
                elif key == md.REQUEST_ID:
                    request_id = value
            elif key in _TRACE_HEADERS:
                if carrier is None:
                    carrier = {}
                carrier[key] = value
            elif key.startswith(("grpc-", ":")):
                continue
            elif key == md.DATA_LEVEL:
                level = value  # the last one counts, and only it goes on (see below)
            else:
                forward.append((key, value))
        if isinstance(level, str) and level:
            # Exactly the value the gateway checked, so that no service can read another.
            forward.append((md.DATA_LEVEL, level))
        if not (isinstance(request_id, str) and _REQUEST_ID.fullmatch(request_id)):
            request_id = new_id()
        parent = propagate.extract(carrier) if carrier else None
        span = self._tracer.start_span(method, context=parent, kind=SpanKind.SERVER, attributes={
            "rpc.system": "grpc", "rpc.service": method.rpartition("/")[0].lstrip("/"),
            "rpc.method": method.rpartition("/")[2], "zhijian.network_domain": self.domain,
            "zhijian.request_id": request_id})
        state = _State(method, request_id, span, request)
        self._unrecorded += 1
        return state, authorization if isinstance(authorization, str) else None, level, forward

    def _client_cert(self, context: grpc.aio.ServicerContext) -> bytes | None:
        if not self._options.mtls:
            return None
        certs = context.auth_context().get("x509_pem_cert")
        return certs[0] if certs else None

    async def _admit_fresh(self, state: _State, route: Route | None, request: bytes,
                           authorization: str | None, level: str,
                           context: grpc.aio.ServicerContext) -> tuple[Route, Caller, str]:
        """_admit, once more after re-reading the registry's list if the credential was
        not on it: one issued a moment ago works on its first call."""
        try:
            return self._admit(state, route, request, authorization, level, context)
        except Unrecorded:
            if self._refresh_recorded is None:
                raise
            await self._refresh_recorded()
            return self._admit(state, route, request, authorization, level, context)

    def _admit(self, state: _State, route: Route | None, request: bytes,
               authorization: str | None, level: str, context: grpc.aio.ServicerContext
               ) -> tuple[Route, Caller, str]:
        """Authenticate, authorize, rate-limit; the route and backend of an admitted call.
        Raises the ZhijianError the caller gets."""
        if self._audit_broken:
            # The last record could not be written: refuse before the backend acts, so no
            # executed call goes unrecorded while the log is failing.
            raise Unavailable("the gateway cannot record calls right now; retry shortly",
                              reason=AUDIT_UNAVAILABLE)
        try:
            caller = self._authenticator.authenticate(authorization,
                                                      self._client_cert(context))
        except ZhijianError:
            # Refusals cost a record each: anonymous floods are limited per peer address.
            self._limiter.check(_peer_host(context))
            raise
        state.caller = caller
        # Before authorization, so that refused calls count against the caller too.
        self._limiter.check(caller.subject)
        if route is None:
            raise UnknownMethod(
                f"{state.method[:_MAX_METHOD_CHARS]} is not a zhijian method",
                reason=UNKNOWN_METHOD)
        declared = declared_level(level)
        state.declared = declared
        decision = self._authorizer.decide(caller.roles, caller.clearance_level, self.domain,
                                           route.method, declared)
        if not decision.allowed:
            raise self._refusal(route, caller, declared, decision.reason)
        if len(request) > self._options.max_message_bytes:
            raise ResourceExhausted(
                f"the request is {len(request)} bytes; the limit is "
                f"{self._options.max_message_bytes}", reason=MESSAGE_TOO_LARGE,
                metadata={"limit_bytes": str(self._options.max_message_bytes)})
        state.admitted = True
        target = self._backends.get(route.service)
        if target is None:
            raise Unavailable(f"no backend is configured for {route.service} on this gateway",
                              reason=BACKEND_NOT_CONFIGURED, metadata={"service": route.service})
        return route, caller, target

    def _refusal(self, route: Route, caller: Caller, declared: int, reason: str
                 ) -> PermissionDenied:
        if reason == authz.DATA_LEVEL_EXCEEDS_CEILING:
            ceiling = authz.ceiling(self.domain, caller.clearance_level)
            return PermissionDenied(
                f"the declared data level {_level_name(declared)} is above the ceiling "
                f"{_level_name(ceiling)} of this call (the {self.domain} network domain and "
                f"the caller's clearance {caller.clearance})", reason=reason,
                metadata={"ceiling": _level_name(ceiling), "ceiling_source": "caller",
                          "network_domain": self.domain, "clearance": caller.clearance,
                          "data_level": _level_name(declared)})
        return PermissionDenied(f"{route.method} is not permitted for the caller's roles "
                                f"through the {self.domain} gateway", reason=reason,
                                metadata={"method": route.method, "network_domain": self.domain})

    def _outgoing(self, state: _State, caller: Caller, forward: list[tuple[str, str | bytes]],
                  service: str) -> list[tuple[str, str | bytes]]:
        forward.append((md.REQUEST_ID, state.request_id))
        forward.append((md.ASSERTION, self._signer.mint(
            subject=caller.subject, roles=caller.roles, clearance=caller.clearance,
            domain=self.domain, request_id=state.request_id, audience=service,
            credential_id=caller.credential_id)))
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=trace.set_span_in_context(state.span))
        forward.extend(carrier.items())
        return forward

    def _deadline(self, context: grpc.aio.ServicerContext, *, stream: bool) -> float | None:
        """The monotonic time by which the backend must have answered, or None."""
        remaining = context.time_remaining()
        if remaining is None:
            # A watch lives until its caller hangs up; the default is for unary calls.
            return None if stream else time.monotonic() + self._options.default_deadline_s
        # A little short of the caller's own deadline, so that the gateway answers
        # DEADLINE_EXCEEDED and records it, rather than being cancelled mid-call.
        return time.monotonic() + max(0.0, float(remaining) - DEADLINE_MARGIN_S)

    def _may_retry(self, route: Route, error: grpc.aio.AioRpcError, attempt: int,
                   deadline: float | None) -> float | None:
        """The back-off before another attempt, or None.

        Only when the backend was not reached: an UNAVAILABLE the service itself answered
        (it carries google.rpc details, e.g. its model server is down) already spent the
        caller's time on its own attempt, and a retry would only run out the deadline."""
        if not route.idempotent or error.code() != grpc.StatusCode.UNAVAILABLE or \
                attempt >= self._options.retries or _answered_by_service(error):
            return None
        backoff = self._options.retry_backoff_s * (2 ** attempt)
        if deadline is not None and time.monotonic() + backoff >= deadline:
            return None
        return backoff

    # --- unary --------------------------------------------------------------------------

    async def _unary(self, route: Route | None, request: bytes,
                     context: grpc.aio.ServicerContext, method: str = "") -> bytes:
        state, authorization, level, forward = self._begin(
            route.method if route is not None else method, request, context)
        failure: _Failure
        try:
            admitted, caller, target = await self._admit_fresh(state, route, request,
                                                               authorization, level, context)
            metadata = self._outgoing(state, caller, forward, admitted.service)
            deadline = self._deadline(context, stream=False)
            callable_ = self._multicallable(admitted, target, stream=False)
            attempt = 0
            while True:
                call = callable_(request, metadata=metadata, timeout=_timeout(deadline))
                try:
                    response: bytes = await call
                    trailers = _relayable(await call.trailing_metadata())
                    break
                except grpc.aio.AioRpcError as error:
                    backoff = self._may_retry(admitted, error, attempt, deadline)
                    if backoff is None:
                        raise
                    attempt += 1
                    await asyncio.sleep(backoff)
        except ZhijianError as error:
            failure = self._gateway_failure(state, error)
        except grpc.aio.AioRpcError as error:
            failure = self._backend_failure(state, error)
        except asyncio.CancelledError:
            self._finish(state, _cancelled_code(context), "", ())
            raise
        except Exception:
            failure = self._internal(state)
        else:
            if self._finish(state, grpc.StatusCode.OK, "", trailers,
                            hashlib.sha256(response).hexdigest()):
                context.set_trailing_metadata(trailers)
                return response
            failure = self._audit_failure(state)
        if not state.recorded and not self._finish(state, failure.code, failure.reason,
                                                   failure.trailers):
            failure = self._audit_failure(state)
        await context.abort(failure.code, failure.details, failure.trailers)
        raise AssertionError("unreachable: abort raises")

    # --- server streams -----------------------------------------------------------------

    async def _stream(self, route: Route, request: bytes, context: grpc.aio.ServicerContext
                      ) -> AsyncIterator[bytes]:
        state, authorization, level, forward = self._begin(route.method, request, context)
        failure: _Failure | None = None
        call: Any = None
        digest = hashlib.sha256()
        sent = 0
        try:
            try:
                admitted, caller, target = await self._admit_fresh(
                    state, route, request, authorization, level, context)
                metadata = self._outgoing(state, caller, forward, admitted.service)
                deadline = self._deadline(context, stream=True)
                callable_ = self._multicallable(admitted, target, stream=True)
                attempt = 0
                while True:
                    call = callable_(request, metadata=metadata, timeout=_timeout(deadline))
                    try:
                        async for message in call:
                            if not sent:
                                self._record_opening(state)
                            digest.update(message)
                            sent += 1
                            yield message
                        trailers = _relayable(await call.trailing_metadata())
                        break
                    except grpc.aio.AioRpcError as error:
                        # Only before the first message: a caller must never see one twice.
                        backoff = None if sent else self._may_retry(admitted, error, attempt,
                                                                    deadline)
                        if backoff is None:
                            raise
                        attempt += 1
                        await asyncio.sleep(backoff)
            except ZhijianError as error:
                if call is not None:
                    call.cancel()  # the opening record failed: stop the backend's stream
                failure = self._gateway_failure(state, error)
            except grpc.aio.AioRpcError as error:
                failure = self._backend_failure(state, error)
            except Exception:
                failure = self._internal(state)
            response_sha256 = digest.hexdigest() if sent else ""
            if failure is None:
                if self._finish(state, grpc.StatusCode.OK, "", trailers, response_sha256):
                    context.set_trailing_metadata(trailers)
                    return
                failure = self._audit_failure(state)
            elif not self._finish(state, failure.code, failure.reason, failure.trailers,
                                  response_sha256):
                failure = self._audit_failure(state)
            await context.abort(failure.code, failure.details, failure.trailers)
        finally:
            if not state.recorded:
                # The caller hung up (or the server is stopping) mid-stream.
                if call is not None:
                    call.cancel()
                self._finish(state, _cancelled_code(context), "", (),
                             digest.hexdigest() if sent else "")

    # --- outcomes -----------------------------------------------------------------------

    def _with_request_id(self, state: _State, trailers: Trailers) -> Trailers:
        if any(key == md.REQUEST_ID for key, _ in trailers):
            return trailers
        return (*trailers, (md.REQUEST_ID, state.request_id))

    def _gateway_failure(self, state: _State, error: ZhijianError) -> _Failure:
        status = error.to_grpc_status()
        if error.reason != "RATE_LIMITED":
            log.info("refused: %s", error.message, extra={
                "request_id": state.request_id, "method": state.method[:_MAX_METHOD_CHARS],
                "code": error.code.name})
        return _Failure(status.code, status.details,
                        self._with_request_id(state, tuple(status.trailing_metadata)),
                        error.reason)

    def _backend_failure(self, state: _State, error: grpc.aio.AioRpcError) -> _Failure:
        trailers = _relayable(error.trailing_metadata())
        code = error.code()
        if any(key == _STATUS_DETAILS for key, _ in trailers):
            reason = _error_reason(trailers)
            if reason in _ASSERTION_REFUSALS:
                # The caller's credentials were fine: the hop behind us refused ours (keys
                # out of step, clocks apart). Not the caller's fault, nor to be retried.
                log.error("the backend refused the gateway's assertion: %s", reason, extra={
                    "request_id": state.request_id, "method": state.method})
                return self._gateway_failure(state, ZhijianError(
                    f"internal error (request id {state.request_id})",
                    reason=BACKEND_REJECTED_ASSERTION,
                    metadata={"request_id": state.request_id}))
            # The backend's own answer: relayed exactly, details and all.
            return _Failure(code, error.details() or "", self._with_request_id(state, trailers),
                            reason)
        # The transport's answer: its text names backend addresses, so it stays here.
        log.warning("backend call failed: %s %s", code.name, error.details(), extra={
            "request_id": state.request_id, "method": state.method, "code": code.name})
        gateway_error: ZhijianError
        if code == grpc.StatusCode.UNAVAILABLE:
            gateway_error = Unavailable("the service behind this gateway is unavailable",
                                        reason=BACKEND_UNAVAILABLE)
        elif code == grpc.StatusCode.DEADLINE_EXCEEDED:
            gateway_error = DeadlineExceeded("no answer from the service within the deadline",
                                             reason="DEADLINE_EXCEEDED")
        else:
            gateway_error = ZhijianError(error.details() or code.name, reason=BACKEND_ERROR)
            gateway_error.code = code
        status = gateway_error.to_grpc_status()
        return _Failure(status.code, status.details,
                        self._with_request_id(state, (*trailers, *status.trailing_metadata)),
                        gateway_error.reason)

    def _internal(self, state: _State) -> _Failure:
        log.exception("unexpected failure", extra={"request_id": state.request_id,
                                                   "method": state.method[:_MAX_METHOD_CHARS]})
        error = ZhijianError(f"internal error (request id {state.request_id})",
                             metadata={"request_id": state.request_id})
        return self._gateway_failure(state, error)

    def _audit_failure(self, state: _State) -> _Failure:
        """The record could not be written: the answer must not go out unrecorded."""
        error = Unavailable("the gateway cannot record calls right now; retry shortly",
                            reason=AUDIT_UNAVAILABLE)
        status = error.to_grpc_status()
        return _Failure(status.code, status.details,
                        self._with_request_id(state, tuple(status.trailing_metadata)),
                        error.reason)

    def _finish(self, state: _State, code: grpc.StatusCode, reason: str, trailers: Trailers,
                response_sha256: str = "") -> bool:
        """Record the call, close its span, count it. False if the record could not be
        written (the span and metrics are still closed)."""
        if not state.recorded:
            self._unrecorded -= 1
        state.recorded = True
        elapsed = time.perf_counter() - state.started
        denied = not state.admitted or code in (grpc.StatusCode.PERMISSION_DENIED,
                                                grpc.StatusCode.UNAUTHENTICATED) or \
            reason in _DENYING_REASONS
        if code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED):
            denied = not state.admitted
        record = self._record(state, code, reason, trailers, response_sha256, elapsed, denied)
        written = True
        try:
            self._recorder.append(record)
            self._audit_broken = False
        except Exception:
            log.exception("cannot append the call record", extra={
                "request_id": state.request_id, "method": state.method[:_MAX_METHOD_CHARS]})
            written = False
            self._audit_broken = True
            code = grpc.StatusCode.UNAVAILABLE
        span = state.span
        attributes: dict[str, str | int] = {
            "zhijian.decision": "denied" if denied else "allowed",
            "rpc.grpc.status_code": code.value[0]}
        if state.caller is not None:
            attributes["zhijian.caller"] = state.caller.subject
        span.set_attributes(attributes)
        if code in _SPAN_ERRORS:
            span.set_status(Status(StatusCode.ERROR, code.name))
        span.end()
        label = state.method if state.method in self._routes else UNKNOWN_METHOD_LABEL
        counter, histogram = self._children(label, code.name, "denied" if denied else "allowed")
        counter.inc()
        histogram.observe(elapsed)
        return written

    def _children(self, method: str, code: str, decision: str) -> tuple[Any, Any]:
        # Prometheus' labels() locks and hashes on every call; the set of children is small.
        key = (method, code, decision)
        found = self._metrics.get(key)
        if found is None:
            found = self._metrics[key] = (REQUESTS.labels(self.domain, method, code, decision),
                                          LATENCY.labels(self.domain, method))
        return found

    def _record_opening(self, state: _State) -> None:
        """A stream's first record, written before its first message reaches the caller
        (the caller then holds data, so a record must exist even if the gateway dies
        before the stream ends); the stream's end writes the second. Raises the
        AUDIT_UNAVAILABLE refusal when it cannot be written."""
        record = self._record(state, grpc.StatusCode.OK, STREAM_OPENED, (), "",
                              time.perf_counter() - state.started, False)
        try:
            self._recorder.append(record)
        except Exception:
            log.exception("cannot append the call record", extra={
                "request_id": state.request_id, "method": state.method[:_MAX_METHOD_CHARS]})
            self._audit_broken = True
            raise Unavailable("the gateway cannot record calls right now; retry shortly",
                              reason=AUDIT_UNAVAILABLE) from None

    def _record(self, state: _State, code: grpc.StatusCode, reason: str, trailers: Trailers,
                response_sha256: str, elapsed: float, denied: bool) -> CallRecord:
        context = state.span.get_span_context()
        record = CallRecord(
            record_id=new_id(),
            caller=state.caller.subject if state.caller is not None else "anonymous",
            network_domain=self._domain_value,  # type: ignore[arg-type]
            method=state.method[:_MAX_METHOD_CHARS],
            decision=CALL_DECISION_DENIED if denied else CALL_DECISION_ALLOWED,
            reason=reason,
            status_code=code.value[0],
            request_id=state.request_id,
            trace_id=format(context.trace_id, "032x") if context.is_valid else "",
            request_sha256=state.request_sha256,
            response_sha256=response_sha256,
            data_level=state.declared)  # type: ignore[arg-type]
        for key, value in trailers:
            if not isinstance(value, str):
                continue
            if key == md.MODEL_VERSION:
                model, _, version = value.rpartition("/")
                record.model.model = model
                record.model.version = version
            elif key == md.FILING_ID:
                record.model.filing_id = value
            elif key == md.EFFECTIVE_LEVEL:
                effective = LEVELS_BY_NAME.get(value)
                if effective is not None:
                    record.data_level = effective  # type: ignore[assignment]
        record.latency.FromNanoseconds(int(elapsed * 1e9))
        record.start_time.FromNanoseconds(state.start_ns)
        return record
