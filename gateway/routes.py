"""The gateway's method table, read from the generated descriptors of every zhijian service.

The gateway forwards raw bytes and never parses a message, but it must know each method's
shape (unary or server stream) and whether a retry is safe. Both come from the protos, so
a new RPC is routable the moment its code is generated; an RPC is retried only if its
proto says ``option idempotency_level = NO_SIDE_EFFECTS`` or ``IDEMPOTENT``.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import descriptor_pb2

import zhijian
from zhijian import service_spec

# Where `make proto` writes each contract: zhijian/<name>/v1/<name>_service_pb2.py.
CONTRACT_SUFFIX: Final = "_service_pb2"


@functools.cache
def service_modules() -> tuple[ModuleType, ...]:
    """The generated module of every zhijian service contract, found on disk, and those
    the installed services' specs name (``ServiceSpec.contracts``): a new service's
    contract is routable once its stubs are generated, with no edit here."""
    found = []
    for package in pkgutil.iter_modules(zhijian.__path__):
        versions = Path(zhijian.__path__[0]) / package.name
        for version in sorted(versions.glob("v[0-9]*")):
            for module in pkgutil.iter_modules([str(version)]):
                if module.name.endswith(CONTRACT_SUFFIX):
                    found.append(importlib.import_module(
                        f"zhijian.{package.name}.{version.name}.{module.name}"))
    # A service whose contract is generated beside its own code names it in its spec.
    for spec in service_spec.discover():
        found.extend(importlib.import_module(name) for name in spec.contracts
                     if all(module.__name__ != name for module in found))
    return tuple(found)

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
        files = [module.DESCRIPTOR for module in service_modules()]
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
