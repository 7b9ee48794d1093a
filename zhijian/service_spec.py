"""What a service tells the platform about itself, and how the platform finds it.

Each service declares one :class:`ServiceSpec` in ``services/<name>/service.py`` and
names it under the ``zhijian.services`` entry point group of ``pyproject.toml``. The
platform (``zhijian up``, ``status``, the gateways' routes, the component identities, the
CLI's service commands) is derived from the specs it finds, so the kernel never imports a
service and adding one touches no kernel file.

Everything a spec points at is loaded lazily (hooks are plain callables that import
inside), so ``zhijian status`` does not pay for a service's scikit-learn or MLflow.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from zhijian.config import ConfigError, env_int
from zhijian.files import write_file

ENTRY_POINT_GROUP = "zhijian.services"
# Which installed services this process sees (comma-separated names; unset: all of them).
SELECTION_SETTING = "ZHIJIAN_SERVICES"
Progress = Callable[[str], None]

EVERY_DOMAIN: tuple[str, ...] = ("internet", "extranet", "intranet")
GOVERNMENT_NETWORKS: tuple[str, ...] = ("extranet", "intranet")
# The roles a service may grant calls of its own methods to. Not ``service`` (platform
# components call the registry, never a service's business methods) and not ``*``.
GRANTABLE_ROLES: frozenset[str] = frozenset({
    "business_system", "reviewer", "model_developer", "validator", "platform_admin", "sre",
    "auditor"})
# Contracts no service may claim: the platform's own, which its policy file governs.
PLATFORM_SERVICES: frozenset[str] = frozenset({"zhijian.registry.v1.RegistryService"})
_SERVICE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+")


@dataclass(frozen=True)
class Access:
    """Who may call some of a service's methods, and from which network domains (named
    every time: the internet is never a default).

    A service's access list is its part of the gateways' default policy (allow rows
    only): the gateway adds it to the operator's policy file or seeds it into the policy
    table, and a deny there still overrides it. Methods are short names of ``service``
    (the spec's only gRPC service when it has one); the gateway drops a service's rows
    if one names a method its contract does not have."""

    methods: tuple[str, ...]
    roles: tuple[str, ...]
    domains: tuple[str, ...]
    service: str | None = None


@dataclass(frozen=True)
class ModelServerSpec:
    """The BentoML model server a service calls: ``bentoml serve <bento>``."""

    bento: str  # "package.module:ServiceClass"
    default_port: int
    ready_timeout_s: float = 180.0


@dataclass(frozen=True)
class SeedDataset:
    """A seed dataset file and what its registration says about it."""

    path: Path
    display_name: str
    preparation_notes: str


def write_records(path: Path, records: Iterable[Mapping[str, Any]]) -> Path:
    """A seed dataset as JSONL, written whole; a file that already holds exactly these
    records is left alone (the registry may have hashed it)."""
    data = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode()
    if not path.is_file() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, data, mode=0o644)
    return path


@dataclass(frozen=True)
class SeedVersion:
    """A model version ready to be filed on a first start, with the datasets its filing
    names (written under the platform's home, where the registry may read them)."""

    version: str
    train: SeedDataset
    test: SeedDataset


@dataclass(frozen=True)
class SeedModel:
    """How ``zhijian up`` gets a first version of the service's model to serve.

    ``ensure_version(tracking_uri, folder, progress)`` returns the newest registered
    version (training one on the seed data if there is none), with the seed datasets
    written to ``folder``. ``filing(version, **names)`` drafts its filing
    (``registry.v1.Filing``); the names are the people and datasets of the governed
    bootstrap: ``developers``, ``business_owner``, ``security_officer``,
    ``training_dataset``, ``test_dataset``, ``code_revision``. ``dataset`` holds the
    fields of ``registry.v1.Dataset`` that both seed datasets share (source, legal basis,
    data level, annotation notes, known gaps)."""

    model_name: str
    ensure_version: Callable[[str, Path, Progress], SeedVersion]
    filing: Callable[..., Any]
    dataset: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandGroups:
    """Where a service adds its CLI commands: top-level verbs (``zhijian classify``) and
    the model-keyed groups (``zhijian train <model>``, ``eval <model>``). A command sets
    ``handler(args, out) -> exit code`` with ``set_defaults``."""

    commands: Any  # argparse's subparsers action (its type is private)
    train: Any
    evaluate: Any


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # "classify": its folder, its component names, its ZHIJIAN_<NAME>_* settings
    grpc_services: tuple[str, ...]  # full names the gateways route to it
    module: str  # what ``python -m`` runs
    default_grpc_port: int
    default_metrics_port: int
    model_server: ModelServerSpec | None = None
    seed: SeedModel | None = None
    add_commands: Callable[[CommandGroups], None] | None = None
    ready_timeout_s: float = 150.0
    access: tuple[Access, ...] = ()
    # Generated contract modules outside ``zhijian/`` that the gateways must import to
    # route this service (a service whose protos live with its code).
    contracts: tuple[str, ...] = ()
    # Sample calls for `zhijian up`'s greeting.
    examples: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for name in self.grpc_services:
            if not _SERVICE_NAME.fullmatch(name) or name in PLATFORM_SERVICES:
                raise ConfigError(f"service {self.name}: {name!r} is not a gRPC service a "
                                  "service may declare (a full name like pkg.v1.Service, "
                                  "not the platform's own)")
        for access in self.access:
            for part in ("methods", "roles", "domains"):
                if not isinstance(getattr(access, part), tuple):
                    raise ConfigError(f"service {self.name}: access {part} must be a tuple "
                                      f"of names, not {getattr(access, part)!r}")
            strange = set(access.roles) - GRANTABLE_ROLES
            if strange or not access.roles:
                raise ConfigError(f"service {self.name}: access roles {sorted(strange)} are "
                                  f"not among {', '.join(sorted(GRANTABLE_ROLES))}")
            if access.service is None and len(self.grpc_services) != 1:
                raise ConfigError(f"service {self.name}: an access entry must name its gRPC "
                                  "service when the spec has several")
            if access.service is not None and access.service not in self.grpc_services:
                raise ConfigError(f"service {self.name}: access names {access.service}, "
                                  "which it does not serve")
            unknown = set(access.domains) - set(EVERY_DOMAIN)
            if unknown or not access.domains:
                raise ConfigError(f"service {self.name}: access domains {access.domains} "
                                  f"are not among {', '.join(EVERY_DOMAIN)}")
            if any(not method.isidentifier() for method in access.methods):
                raise ConfigError(f"service {self.name}: access methods {access.methods} "
                                  "must be short RPC names")

    def policy_rows(self) -> list[list[str]]:
        """The access list as gateway policy rules: ``[role, domain, /svc/Method, allow]``."""
        return [[role, domain, f"/{access.service or self.grpc_services[0]}/{method}",
                 "allow"]
                for access in self.access
                for method in access.methods
                for role in access.roles
                for domain in access.domains]

    @property
    def components(self) -> tuple[str, ...]:
        """Its processes, each with an identity of its own (``svc:<component>``)."""
        return ((f"{self.name}-model-server",) if self.model_server else ()) + (self.name,)

    def setting(self, suffix: str) -> str:
        return f"ZHIJIAN_{self.name.upper()}_{suffix}"


@dataclass(frozen=True)
class ServicePorts:
    grpc: int
    metrics: int
    model_server: int | None


def ports_of(spec: ServiceSpec, env: Mapping[str, str] | None = None) -> ServicePorts:
    model_server = (env_int(spec.setting("MODEL_SERVER_PORT"), spec.model_server.default_port,
                            env) if spec.model_server else None)
    return ServicePorts(grpc=env_int(spec.setting("GRPC_PORT"), spec.default_grpc_port, env),
                        metrics=env_int(spec.setting("METRICS_PORT"),
                                        spec.default_metrics_port, env),
                        model_server=model_server)


def discover() -> tuple[ServiceSpec, ...]:
    """Every installed service in name order, or those ``ZHIJIAN_SERVICES`` selects. A
    broken or duplicate spec is a configuration error naming its entry point, not a
    traceback at start-up."""
    return _discover(os.environ.get(SELECTION_SETTING, ""))


@functools.cache
def _discover(selection: str) -> tuple[ServiceSpec, ...]:
    found: dict[str, ServiceSpec] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            spec = point.load()
        except Exception as error:
            raise ConfigError(f"service entry point {point.name} = {point.value} does not "
                              f"load: {error}") from error
        if not isinstance(spec, ServiceSpec):
            raise ConfigError(f"service entry point {point.name} = {point.value} is not a "
                              "zhijian.service_spec.ServiceSpec")
        if spec.name in found:
            raise ConfigError(f"two services are named {spec.name!r}")
        claimed = [other.name for other in found.values()
                   if set(other.grpc_services) & set(spec.grpc_services)]
        if claimed:
            raise ConfigError(f"services {claimed[0]} and {spec.name} declare the same gRPC "
                              "service")
        found[spec.name] = spec
    wanted = [name.strip() for name in selection.split(",") if name.strip()]
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise ConfigError(f"{SELECTION_SETTING} names {', '.join(missing)}, which "
                          f"{'is' if len(missing) == 1 else 'are'} not installed "
                          f"(installed: {', '.join(sorted(found)) or 'none'})")
    return tuple(found[name] for name in sorted(found) if not wanted or name in wanted)


def policy_rows(specs: Sequence[ServiceSpec] | None = None) -> list[list[str]]:
    """Every service's access list as gateway policy rules, without repeats."""
    rows: list[list[str]] = []
    for spec in discover() if specs is None else specs:
        rows.extend(row for row in spec.policy_rows() if row not in rows)
    return rows


def find(name: str, specs: Sequence[ServiceSpec] | None = None) -> ServiceSpec:
    for spec in discover() if specs is None else specs:
        if spec.name == name:
            return spec
    raise ConfigError(f"no service named {name!r} is installed")


def add_service_commands(groups: CommandGroups,
                         specs: Sequence[ServiceSpec] | None = None) -> None:
    for spec in discover() if specs is None else specs:
        if spec.add_commands is not None:
            spec.add_commands(groups)


def json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
