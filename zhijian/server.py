"""gRPC server bootstrap shared by every service.

A service hands over its servicer and the generated service descriptor; the bootstrap
adds what every zhijian endpoint has: health checking and reflection, OpenTelemetry
spans, Prometheus metrics, explicit message-size limits, a default deadline, request ids,
requests checked against their proto contract before any handler
(``zhijian.request_validation``), error mapping to ``google.rpc.Status`` and a graceful
stop on SIGTERM.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import grpc
from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_server_interceptor
from prometheus_client import Counter, Histogram, start_http_server

from zhijian import metadata as md
from zhijian.assertion import Assertion, AssertionVerifier, assertion_from_metadata
from zhijian.config import ServerSettings
from zhijian.errors import ZhijianError, internal_status, invalid_field
from zhijian.request_validation import request_validator
from zhijian.telemetry import setup_json_logging, setup_tracing, shutdown_tracing

log = logging.getLogger("zhijian.server")

RPC_REQUESTS = Counter("zhijian_rpc_server_requests", "RPCs handled",
                       ["service", "method", "code"])
RPC_SECONDS = Histogram("zhijian_rpc_server_duration_seconds", "RPC handling time",
                        ["service", "method"],
                        buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
                                 5, 10))


class Call:
    """What a handler knows about the call in flight, beyond the request message."""

    def __init__(self, metadata: dict[str, str], request_id: str, deadline: float) -> None:
        self.metadata = metadata
        self.request_id = request_id
        self.deadline = deadline  # time.monotonic() by which the caller wants its answer
        self.trailers: dict[str, str] = {md.REQUEST_ID: request_id}
        # Set before the handler runs on every service that requires assertions.
        self.assertion: Assertion | None = None

    @property
    def caller(self) -> Assertion:
        """The gateway's assertion of who is calling; only for services that require it."""
        if self.assertion is None:
            raise RuntimeError("this service was started without assertion checking")
        return self.assertion

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def set_trailer(self, key: str, value: str) -> None:
        self.trailers[key] = value


Handler = Callable[[Any, Call], Awaitable[Any]]
Validator = Callable[[Any], None]


class _Status(NamedTuple):
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]


@dataclass
class Service:
    """A servicer object whose methods are named as in the proto service.

    Every request is checked against its descriptor before the handler runs
    (``zhijian.request_validation``). ``checked_by_handler`` names, per method, the request
    fields (dotted paths, e.g. ``records.caller``) whose presence and form the handler
    checks itself with a more precise reason; ``refuse_nul_in_text`` is for a service whose
    store cannot hold U+0000 in any text."""

    descriptor: pb_descriptor.ServiceDescriptor
    servicer: object
    checked_by_handler: Mapping[str, Collection[str]] = field(default_factory=dict)
    refuse_nul_in_text: bool = False

    @property
    def name(self) -> str:
        return self.descriptor.full_name


class _Undecodable:
    """Stands in for a request that failed to parse, so the handler can answer
    INVALID_ARGUMENT (gRPC would otherwise answer INTERNAL before any code of ours runs)."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _safe_deserializer(message_class: type[pb_message.Message]) -> Callable[[bytes], object]:
    def deserialize(data: bytes) -> object:
        try:
            return message_class.FromString(data)
        except Exception as error:  # DecodeError, and UnicodeDecodeError for bad UTF-8
            return _Undecodable(error)
    return deserialize


def _check_assertion(call: Call, assertions: AssertionVerifier | None, service: str) -> None:
    if assertions is not None:
        call.assertion = assertion_from_metadata(call.metadata, assertions, (service,))


def _wrap(service: str, method: str, handler: Handler, default_deadline_s: float,
          assertions: AssertionVerifier | None = None, validate: Validator | None = None,
          ) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> Any:
        started = time.perf_counter()
        incoming = dict((k, v) for k, v in (context.invocation_metadata() or ())
                        if isinstance(v, str))
        request_id = incoming.get(md.REQUEST_ID) or uuid.uuid4().hex
        remaining = context.time_remaining()
        budget = default_deadline_s if remaining is None else remaining
        call = Call(incoming, request_id, time.monotonic() + budget)
        code = grpc.StatusCode.OK
        try:
            # Who is calling comes first: an unauthenticated caller learns nothing about
            # what the service would make of its request.
            _check_assertion(call, assertions, service)
            if isinstance(request, _Undecodable):
                raise invalid_field("request", f"the request is not a valid {method} message "
                                    f"(for example a string field holds invalid UTF-8): "
                                    f"{request.error.__class__.__name__}",
                                    reason="MALFORMED_REQUEST")
            if validate is not None:
                validate(request)
            async with asyncio.timeout(budget):
                response = await handler(request, call)
            context.set_trailing_metadata(tuple(call.trailers.items()))
            return response
        except ZhijianError as error:
            code = error.code
            status = error.to_grpc_status()
            log.info("rejected: %s", error.message,
                     extra={"request_id": request_id, "method": method, "code": code.name})
            await context.abort_with_status(_Status(
                status.code, status.details,
                tuple(status.trailing_metadata) + tuple(call.trailers.items())))
        except TimeoutError:
            code = grpc.StatusCode.DEADLINE_EXCEEDED
            await context.abort(code, f"no answer within the deadline of {budget:.3f}s",
                                trailing_metadata=tuple(call.trailers.items()))
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unexpected failure", extra={"request_id": request_id, "method": method})
            status = internal_status(request_id)
            await context.abort_with_status(_Status(
                status.code, status.details,
                tuple(status.trailing_metadata) + tuple(call.trailers.items())))
        finally:
            RPC_REQUESTS.labels(service, method, code.name).inc()
            RPC_SECONDS.labels(service, method).observe(time.perf_counter() - started)

    return behavior


def _wrap_stream(service: str, method: str, handler: Callable[[Any, Call], AsyncIterator[Any]],
                 assertions: AssertionVerifier | None = None, validate: Validator | None = None,
                 ) -> Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]:
    """Server streams (watches) live until the caller's deadline or cancellation: the
    default deadline of unary calls would cut every subscriber off."""
    async def behavior(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        incoming = dict((k, v) for k, v in (context.invocation_metadata() or ())
                        if isinstance(v, str))
        request_id = incoming.get(md.REQUEST_ID) or uuid.uuid4().hex
        remaining = context.time_remaining()
        call = Call(incoming, request_id,
                    time.monotonic() + (remaining if remaining is not None else 10 * 365 * 86400))
        code = grpc.StatusCode.OK
        try:
            _check_assertion(call, assertions, service)
            if isinstance(request, _Undecodable):
                raise invalid_field("request", f"the request is not a valid {method} message: "
                                    f"{request.error.__class__.__name__}",
                                    reason="MALFORMED_REQUEST")
            if validate is not None:
                validate(request)
            async for response in handler(request, call):
                yield response
        except ZhijianError as error:
            code = error.code
            status = error.to_grpc_status()
            await context.abort_with_status(_Status(
                status.code, status.details,
                tuple(status.trailing_metadata) + tuple(call.trailers.items())))
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unexpected failure", extra={"request_id": request_id, "method": method})
            status = internal_status(request_id)
            await context.abort_with_status(_Status(
                status.code, status.details, tuple(status.trailing_metadata)))
        finally:
            RPC_REQUESTS.labels(service, method, code.name).inc()

    return behavior


def generic_handler(service: Service, default_deadline_s: float,
                    assertions: AssertionVerifier | None = None) -> grpc.GenericRpcHandler:
    """Method handlers built from the descriptor rather than the generated
    ``add_*_to_server``, so that deserialization failures stay ours to report."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    unknown = set(service.checked_by_handler) - set(service.descriptor.methods_by_name)
    if unknown:
        raise ValueError(f"{service.name} has no method {', '.join(sorted(unknown))}")
    for method in service.descriptor.methods:
        if method.client_streaming:
            raise NotImplementedError(f"{method.full_name}: client streaming is not supported")
        request_class = message_factory.GetMessageClass(method.input_type)
        handler = getattr(service.servicer, method.name)
        validate = request_validator(
            method, checked_by_handler=service.checked_by_handler.get(method.name, ()),
            refuse_nul_in_text=service.refuse_nul_in_text)
        if method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(
                _wrap_stream(service.name, method.name, handler, assertions, validate),
                request_deserializer=_safe_deserializer(request_class),
                response_serializer=lambda response: response.SerializeToString(),
            )
            continue
        handlers[method.name] = grpc.unary_unary_rpc_method_handler(
            _wrap(service.name, method.name, handler, default_deadline_s, assertions, validate),
            request_deserializer=_safe_deserializer(request_class),
            response_serializer=lambda response: response.SerializeToString(),
        )
    return grpc.method_handlers_generic_handler(service.name, handlers)


@dataclass
class ServerHooks:
    """Start-up work that must finish before the process reports SERVING, and clean-up."""

    on_start: Callable[[], Awaitable[None]] | None = None
    on_stop: Callable[[], Awaitable[None]] | None = None


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # A second process on the same port must fail loudly, not share the traffic.
        ("grpc.so_reuseport", 0),
    ]


async def serve(settings: ServerSettings, services: Sequence[Service],
                hooks: ServerHooks | None = None, *,
                assertions: AssertionVerifier | None) -> None:
    """Run until SIGTERM or SIGINT, then stop accepting, drain and return.

    With ``assertions``, every call must carry a gateway's valid assertion (health and
    reflection excepted); ``None`` is for the registry, which authenticates its callers
    itself, and must be passed explicitly."""
    hooks = hooks or ServerHooks()
    setup_json_logging(settings.log_level)
    setup_tracing(settings.service_name, settings.otlp_endpoint)
    server = grpc.aio.server(interceptors=[aio_server_interceptor()],
                             options=server_options(settings.max_message_bytes))
    for service in services:
        server.add_generic_rpc_handlers((generic_handler(service, settings.default_deadline_s,
                                                         assertions),))
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [s.name for s in services] + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                       reflection.SERVICE_NAME], server)
    if server.add_insecure_port(settings.address) == 0:
        raise OSError(f"cannot listen on {settings.address}")
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.host)

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)

    await server.start()
    # NOT_SERVING until start-up work (model warm-up, say) is done: readiness means ready.
    for name in ("", *(s.name for s in services)):
        await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    if hooks.on_start is not None:
        await hooks.on_start()
    for name in ("", *(s.name for s in services)):
        await health.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving %s on %s (metrics on %s:%s)", settings.service_name, settings.address,
             settings.host, settings.metrics_port, extra={"component": settings.service_name})

    await stopping.wait()
    log.info("stopping: draining for up to %.1fs", settings.shutdown_grace_s)
    await health.enter_graceful_shutdown()
    await server.stop(settings.shutdown_grace_s)
    if hooks.on_stop is not None:
        await hooks.on_stop()
    shutdown_tracing()
    log.info("stopped", extra={"component": settings.service_name})


