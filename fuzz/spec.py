"""What the engine needs to know about a service, and how it finds every service's spec.

A spec is the little the descriptors cannot say: who may call each method from which
network domain (so that calls get past authentication and authorization and exercise
the service, rather than collecting PERMISSION_DENIED), a few valid requests to mutate,
how careful to be with methods that change platform state, and what to create or look
up on the platform before the run. Everything else — field types, names, patterns, the
method table — comes from the service descriptor.

A spec is a module in ``fuzz/specs/`` that defines ``SPEC: ServiceSpec``; the engine
imports every module there. A method of the descriptor without a ``MethodSpec`` is an
error, so a new RPC cannot go unfuzzed.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message

from fuzz.credentials import Credentials
from fuzz.generate import Fixtures
from zhijian.config import NETWORK_DOMAINS


@dataclass(frozen=True)
class Caller:
    """A demo identity (a ``--as`` name under the platform's identities directory) and
    the network domain whose gateway it calls through."""

    identity: str
    domain: str

    @property
    def label(self) -> str:
        return f"{self.identity}@{self.domain}"


Seeds = Callable[[Fixtures], Sequence[pb_message.Message]]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    # Callers the gateway policy and the service itself let through. Several callers
    # spread calls over the domains (and their ceilings) where a method is offered.
    callers: tuple[Caller, ...]
    # Valid requests, built once setup has run; mutated one field at a time.
    seeds: Seeds
    # Share of the service's calls relative to its other methods.
    weight: float = 1.0
    # Would change what the platform serves or who may call it if given a real resource
    # (suspend, approve, revoke, promote, validate): it only ever sees names the harness
    # made itself or names that do not exist, and no payload carrying a protected name
    # is sent to it.
    destructive: bool = False
    # Stores something even on fuzzed input (a dataset, a call record, a revocation):
    # not called at all when fuzzing a platform shared with other tests.
    writes: bool = False
    timeout_s: float = 10.0
    # Server streams are read for at most this many messages or seconds, then cancelled.
    stream_messages: int = 2
    stream_seconds: float = 1.0


class SetupContext(Protocol):
    """What a spec's setup may do before the run."""

    fixtures: Fixtures
    # True on a throwaway platform the harness started: setup may create resources.
    throwaway: bool
    # Scratch directory for files setup writes (datasets, say); gone after the run.
    scratch: Path
    env: Mapping[str, str]
    # The run's credentials: setup may mint a token and hand it back as a bad one
    # (``credentials.issue`` then ``credentials.add_bad``), e.g. after revoking it.
    credentials: Credentials

    async def call(self, caller: Caller, method: str, request: pb_message.Message,
                   response: type[pb_message.Message]) -> Any:
        """``method`` of the spec's service as ``caller``; the decoded response, or the
        ``grpc.aio.AioRpcError`` raised."""
        ...


Setup = Callable[[SetupContext], Awaitable[None]]
# After the run: what no longer works that worked before it (empty: all is well).
Health = Callable[[SetupContext], Awaitable[list[str]]]


@dataclass(frozen=True)
class ServiceSpec:
    descriptor: pb_descriptor.ServiceDescriptor
    methods: tuple[MethodSpec, ...]
    setup: Setup | None = None
    # A fuzzed platform must still serve: a run that broke it is not a pass.
    health: Health | None = None
    # Methods deliberately not fuzzed, with the reason; the engine reports them.
    skipped: Mapping[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.descriptor.full_name

    @property
    def short_name(self) -> str:
        return self.descriptor.name

    def method(self, name: str) -> MethodSpec:
        return next(m for m in self.methods if m.name == name)


class SpecError(ValueError):
    pass


def check(spec: ServiceSpec) -> ServiceSpec:
    """``spec`` if it covers its descriptor exactly; else SpecError saying what is wrong."""
    declared = [m.name for m in spec.methods]
    offered = {m.name for m in spec.descriptor.methods}
    problems = []
    duplicates = sorted({n for n in declared if declared.count(n) > 1})
    if duplicates:
        problems.append(f"methods specified twice: {', '.join(duplicates)}")
    unknown = sorted(set(declared) - offered)
    if unknown:
        problems.append(f"not methods of the service: {', '.join(unknown)}")
    missing = sorted(offered - set(declared) - set(spec.skipped))
    if missing:
        problems.append(f"methods without a spec (add a MethodSpec or a skipped reason): "
                        f"{', '.join(missing)}")
    for method in spec.methods:
        if not method.callers:
            problems.append(f"{method.name} names no caller")
        bad = [c.domain for c in method.callers if c.domain not in NETWORK_DOMAINS]
        if bad:
            problems.append(f"{method.name}: unknown network domains {bad}")
        if method.weight <= 0:
            problems.append(f"{method.name}: weight must be positive")
    if problems:
        raise SpecError(f"{spec.name}: " + "; ".join(problems))
    return spec


def discover(package: str = "fuzz.specs") -> dict[str, ServiceSpec]:
    """Full service name -> spec, for every module of ``package`` that defines SPEC."""
    root = importlib.import_module(package)
    found: dict[str, ServiceSpec] = {}
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if spec is None:
            continue
        if not isinstance(spec, ServiceSpec):
            raise SpecError(f"{module.__name__}.SPEC is not a ServiceSpec")
        if spec.name in found:
            raise SpecError(f"two specs for {spec.name}")
        found[spec.name] = check(spec)
    return found
