"""The process of a model-backed service: ``python -m services.<name>`` calls :func:`run`.

It owns what every such process has: the deployment watcher that says which version may
serve, the model-server client, the result store its reviews read (and the shipper that
brings the reviews to the registry), start-up that waits
for the registry's first word and the model server (then serves anyway, failing closed
with ``SERVING_STATE_UNKNOWN`` until the state arrives), a clean stop that drains the
result store, and gRPC serving that admits only calls a gateway vouches for. The service
supplies its gRPC services, built from these parts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from zhijian.assertion import AssertionVerifier
from zhijian.config import (
    DEFAULT_HOST,
    ConfigError,
    HomeLayout,
    ServerSettings,
    env_str,
    zhijian_home,
)
from zhijian.deployment_watcher import (
    DEFAULT_REGISTRY_TARGET,
    DeploymentWatcher,
    token_file_from_env,
    token_from_file,
)
from zhijian.domains import NETWORK_DOMAINS
from zhijian.errors import ZhijianError
from zhijian.model_client import ModelServerClient
from zhijian.results import ResultStore
from zhijian.review_shipper import ReviewShipper
from zhijian.server import ServerHooks, Service, serve
from zhijian.service_spec import ServiceSpec, ports_of
from zhijian.version_choice import describe

log = logging.getLogger("zhijian.governed_service")

FIRST_STATE_WAIT_S = 60.0
MODEL_SERVER_WAIT_S = 120.0


@dataclass(frozen=True)
class ServiceParts:
    """What a service's servicers are built from."""

    model_server: ModelServerClient
    results: ResultStore
    versions: DeploymentWatcher


@dataclass(frozen=True)
class ServiceProcess:
    name: str  # "classify": its settings prefix, logs and home folder
    model_name: str  # the registry deployment it serves
    model_server_url: str
    registry_target: str
    token_file: Path
    default_grpc_port: int
    default_metrics_port: int

    @classmethod
    def for_spec(cls, spec: ServiceSpec, env: Mapping[str, str] | None = None) -> ServiceProcess:
        """The process of ``spec``'s service, configured as ``zhijian up`` starts it:
        ``ZHIJIAN_<NAME>_MODEL_SERVER_URL`` (else its model server's port on loopback),
        ``ZHIJIAN_REGISTRY_TARGET``, ``ZHIJIAN_IDENTITY_TOKEN_FILE``."""
        if spec.seed is None or spec.model_server is None:
            raise ConfigError(f"service {spec.name} has no model of its own to serve")
        ports = ports_of(spec, env)
        return cls(spec.name, spec.seed.model_name,
                   env_str(spec.setting("MODEL_SERVER_URL"),
                           f"http://{DEFAULT_HOST}:{ports.model_server}", env).rstrip("/"),
                   env_str("ZHIJIAN_REGISTRY_TARGET", DEFAULT_REGISTRY_TARGET, env),
                   token_file_from_env(env), spec.default_grpc_port, spec.default_metrics_port)


async def run(process: ServiceProcess,
              services: Callable[[ServiceParts], Sequence[Service]]) -> None:
    server_settings = ServerSettings.from_env(process.name,
                                              default_port=process.default_grpc_port,
                                              default_metrics_port=process.default_metrics_port)
    parts = ServiceParts(
        ModelServerClient(process.model_server_url),
        ResultStore(HomeLayout(zhijian_home()).root / process.name / "results.db"),
        DeploymentWatcher(process.registry_target, process.model_name,
                          token=token_from_file(process.token_file)))
    watcher = parts.versions
    shipper = ReviewShipper(parts.results, process.registry_target,
                            token_from_file(process.token_file))

    async def on_start() -> None:
        shipper.start()
        await watcher.start()
        arrived, _ = await asyncio.gather(watcher.wait_for_state(FIRST_STATE_WAIT_S),
                                          parts.model_server.wait_ready(MODEL_SERVER_WAIT_S))
        if not arrived:
            log.error("no serving state from the registry at %s after %.0fs; serving "
                      "anyway, every call fails with SERVING_STATE_UNKNOWN until it arrives",
                      process.registry_target, FIRST_STATE_WAIT_S)
            return
        log.info("%s: %s", process.model_name, describe(watcher.deployment))
        for domain, value in NETWORK_DOMAINS.items():
            try:
                watcher.select(network_domain=value)
            except ZhijianError as refusal:
                log.info("%s domain: calls are refused for now: %s", domain, refusal.message)

    async def on_stop() -> None:
        await watcher.close()
        await shipper.close()
        await parts.results.close()
        await parts.model_server.close()

    await serve(server_settings, services(parts),
                ServerHooks(on_start=on_start, on_stop=on_stop),
                # Only calls a gateway vouches for: who, through which domain, under which
                # ceiling.
                assertions=AssertionVerifier.from_env())
