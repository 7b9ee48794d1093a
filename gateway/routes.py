"""The gateway's method table, read from the generated descriptors of every zhijian service.

The gateway forwards raw bytes and never parses a message, but it must know each method's
shape (unary or server stream) and whether a retry is safe. Both come from the protos, so
a new RPC is routable the moment its code is generated; an RPC is retried only if its
proto says ``option idempotency_level = NO_SIDE_EFFECTS`` or ``IDEMPOTENT``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Final

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import descriptor_pb2

from zhijian.classify.v1 import classify_service_pb2
from zhijian.extract.v1 import extract_service_pb2
from zhijian.orchestrator.v1 import orchestrator_service_pb2
from zhijian.registry.v1 import registry_service_pb2
from zhijian.risk.v1 import risk_service_pb2

SERVICE_MODULES: Final[tuple[ModuleType, ...]] = (
    classify_service_pb2, extract_service_pb2, risk_service_pb2, orchestrator_service_pb2,
    registry_service_pb2)

_RETRY_SAFE: Final = frozenset({descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS,
                                descriptor_pb2.MethodOptions.IDEMPOTENT})


@dataclass(frozen=True, slots=True)
class Route:
    """One RPC the gateway forwards."""

    method: str  # full gRPC path, "/zhijian.classify.v1.ClassifyService/Classify"
    service: str  # full service name, the key of ZHIJIAN_GATEWAY_ROUTES
    name: str  # the method's own name, "Classify"
    server_streaming: bool
    client_streaming: bool
    idempotent: bool


def method_path(method: pb_descriptor.MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def _route(method: pb_descriptor.MethodDescriptor) -> Route:
    level = method.GetOptions().idempotency_level
    return Route(method=method_path(method), service=method.containing_service.full_name,
                 name=method.name, server_streaming=method.server_streaming,
                 client_streaming=method.client_streaming, idempotent=level in _RETRY_SAFE)


def build_routes(files: Iterable[pb_descriptor.FileDescriptor] | None = None
                 ) -> dict[str, Route]:
    """Method path -> route for every service of ``files`` (default: all of zhijian)."""
    if files is None:
        files = [module.DESCRIPTOR for module in SERVICE_MODULES]
    routes: dict[str, Route] = {}
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                route = _route(method)
                routes[route.method] = route
    return routes


def services_of(routes: Mapping[str, Route]) -> frozenset[str]:
    return frozenset(route.service for route in routes.values())


def known_services() -> frozenset[str]:
    """Full names of every zhijian service the gateway can route."""
    return services_of(build_routes())
