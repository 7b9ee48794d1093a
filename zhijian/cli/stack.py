"""The embedded platform: which processes ``zhijian up`` starts, in what order, where.

sink (OTLP spans) → MLflow tracking server → registry → one gateway per network domain
(internet, extranet, intranet) → each service found through its spec
(``zhijian/service_spec.py``): its model server (BentoML), then its gRPC service. Ports
come from ``ZHIJIAN_*_PORT``; state lives under ``$ZHIJIAN_HOME``; children inherit an
environment that keeps them there.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from zhijian.config import (
    DEFAULT_HOST,
    GATEWAY_METRICS_PORTS,
    GATEWAY_PORTS,
    NETWORK_DOMAINS,
    REGISTRY_GRPC_PORT,
    REGISTRY_METRICS_PORT,
    HomeLayout,
    contain_environment,
    env_float,
    env_int,
)
from zhijian.service_spec import ServicePorts, ServiceSpec, discover, ports_of
from zhijian.supervisor import ComponentSpec, Readiness

DEFAULT_SINK_PORT = 4317
DEFAULT_MLFLOW_PORT = 5061
# What `--domain` picks when not given: the platform's own operators sit on the
# government intranet, where every operation is reachable.
DEFAULT_DOMAIN = "intranet"
# Restart budget of every component: at most this many restarts within the window.
DEFAULT_RESTART_MAX = 3
DEFAULT_RESTART_WINDOW_S = 300.0


@dataclass(frozen=True)
class StackPorts:
    sink: int
    mlflow: int
    registry_grpc: int
    registry_metrics: int
    gateways: Mapping[str, int]
    gateway_metrics: Mapping[str, int]
    services: Mapping[str, ServicePorts]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None,
                 specs: Sequence[ServiceSpec] | None = None) -> StackPorts:
        return cls(
            sink=env_int("ZHIJIAN_SINK_PORT", DEFAULT_SINK_PORT, env),
            mlflow=env_int("ZHIJIAN_MLFLOW_PORT", DEFAULT_MLFLOW_PORT, env),
            registry_grpc=env_int("ZHIJIAN_REGISTRY_GRPC_PORT", REGISTRY_GRPC_PORT, env),
            registry_metrics=env_int("ZHIJIAN_REGISTRY_METRICS_PORT", REGISTRY_METRICS_PORT,
                                     env),
            gateways={d: env_int(gateway_port_variable(d), GATEWAY_PORTS[d], env)
                      for d in NETWORK_DOMAINS},
            gateway_metrics={d: env_int(gateway_port_variable(d, "METRICS_PORT"),
                                        GATEWAY_METRICS_PORTS[d], env)
                             for d in NETWORK_DOMAINS},
            services={spec.name: ports_of(spec, env)
                      for spec in (discover() if specs is None else specs)},
        )

    def gateway_target(self, domain: str) -> str:
        return f"{DEFAULT_HOST}:{self.gateways[domain]}"


def gateway_port_variable(domain: str, suffix: str = "PORT") -> str:
    """``ZHIJIAN_GATEWAY_INTERNET_PORT`` and so on: one listener per network domain."""
    return f"ZHIJIAN_GATEWAY_{domain.upper()}_{suffix}"


def platform_env(layout: HomeLayout, ports: StackPorts) -> dict[str, str]:
    """Environment every component (and the CLI itself) runs with."""
    return {
        **contain_environment(layout.root, {}),
        "ZHIJIAN_HOME": str(layout.root),
        "MLFLOW_TRACKING_URI": f"http://{DEFAULT_HOST}:{ports.mlflow}",
        "ZHIJIAN_REGISTRY_TARGET": f"{DEFAULT_HOST}:{ports.registry_grpc}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{DEFAULT_HOST}:{ports.sink}",
        # Export spans every 0.5 s (default 5 s) so `zhijian trace show` sees a call at once.
        "OTEL_BSP_SCHEDULE_DELAY": "500",
    }


def with_restart_policy(specs: list[ComponentSpec],
                        env: Mapping[str, str] | None = None) -> list[ComponentSpec]:
    """``ZHIJIAN_RESTART_MAX`` restarts within ``ZHIJIAN_RESTART_WINDOW_S`` seconds; every
    readiness timeout times ``ZHIJIAN_READY_TIMEOUT_SCALE`` (a machine shared with other
    work starts MLflow in minutes, not seconds)."""
    limit = env_int("ZHIJIAN_RESTART_MAX", DEFAULT_RESTART_MAX, env)
    window = env_float("ZHIJIAN_RESTART_WINDOW_S", DEFAULT_RESTART_WINDOW_S, env)
    scale = env_float("ZHIJIAN_READY_TIMEOUT_SCALE", 1.0, env)
    return [dataclasses.replace(spec, max_restarts=limit, restart_window_s=window,
                                ready_timeout_s=spec.ready_timeout_s * scale)
            for spec in specs]


def infrastructure(layout: HomeLayout, ports: StackPorts) -> list[ComponentSpec]:
    python = sys.executable
    return with_restart_policy([
        ComponentSpec(
            name="span-sink",
            argv=[python, "-m", "zhijian.span_sink", "--address",
                  f"{DEFAULT_HOST}:{ports.sink}", "--file", str(layout.spans_file)],
            readiness=Readiness("grpc", f"{DEFAULT_HOST}:{ports.sink}"),
            endpoint=f"{DEFAULT_HOST}:{ports.sink} (OTLP/gRPC)",
            ports=(ports.sink,),
            ready_timeout_s=30,
            # Spans are diagnostics: losing them must not take the regulator's calls down.
            critical=False,
            degraded="tracing off: no spans are recorded"),
        ComponentSpec(
            name="mlflow",
            argv=[os.path.join(os.path.dirname(python), "mlflow"), "server",
                  "--backend-store-uri", f"sqlite:///{layout.mlflow_db}",
                  "--artifacts-destination", str(layout.mlflow_artifacts),
                  "--host", DEFAULT_HOST, "--port", str(ports.mlflow), "--workers", "1"],
            # Job execution spawns a fleet of workers (2.6 GB); nothing here needs it.
            env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
            readiness=Readiness("http", f"http://{DEFAULT_HOST}:{ports.mlflow}/health"),
            endpoint=f"http://{DEFAULT_HOST}:{ports.mlflow}",
            ports=(ports.mlflow,),
            ready_timeout_s=90),
    ])


def registry_component(ports: StackPorts) -> ComponentSpec:
    target = f"{DEFAULT_HOST}:{ports.registry_grpc}"
    [spec] = with_restart_policy([ComponentSpec(
        name="registry",
        argv=[sys.executable, "-m", "registry"],
        env={"ZHIJIAN_REGISTRY_GRPC_PORT": str(ports.registry_grpc),
             "ZHIJIAN_REGISTRY_METRICS_PORT": str(ports.registry_metrics),
             "OTEL_SERVICE_NAME": "zhijian-registry"},
        readiness=Readiness("grpc", target),
        endpoint=f"{target} (gRPC; metrics "
                 f"http://{DEFAULT_HOST}:{ports.registry_metrics}/metrics)",
        ports=(ports.registry_grpc, ports.registry_metrics),
        ready_timeout_s=90)])
    return spec


def gateway_routes(ports: StackPorts, specs: Sequence[ServiceSpec] | None = None) -> str:
    """``ZHIJIAN_GATEWAY_ROUTES``: the registry and every service's gRPC services."""
    return ",".join([
        f"zhijian.registry.v1.RegistryService={DEFAULT_HOST}:{ports.registry_grpc}",
        *(f"{service}={DEFAULT_HOST}:{ports.services[spec.name].grpc}"
          for spec in (discover() if specs is None else specs)
          for service in spec.grpc_services)])


def gateway_components(layout: HomeLayout, ports: StackPorts) -> list[ComponentSpec]:
    """One gateway per network domain. The domain is each listener's configuration: a
    caller picks a domain by the address it can reach, never by what it claims."""
    routes = gateway_routes(ports)
    specs = []
    for domain in NETWORK_DOMAINS:
        name = f"gateway-{domain}"
        target = ports.gateway_target(domain)
        specs.append(ComponentSpec(
            name=name,
            argv=[sys.executable, "-m", "gateway"],
            env={"ZHIJIAN_GATEWAY_DOMAIN": domain,
                 "ZHIJIAN_GATEWAY_PORT": str(ports.gateways[domain]),
                 "ZHIJIAN_GATEWAY_METRICS_PORT": str(ports.gateway_metrics[domain]),
                 "ZHIJIAN_GATEWAY_ROUTES": routes,
                 "ZHIJIAN_IDENTITY_TOKEN_FILE": token_file(layout, name),
                 "ZHIJIAN_GATEWAY_ASSERTION_KEY": assertion_key_file(domain),
                 "OTEL_SERVICE_NAME": f"zhijian-{name}"},
            readiness=Readiness("grpc", target),
            endpoint=f"{target} (gRPC; metrics "
                     f"http://{DEFAULT_HOST}:{ports.gateway_metrics[domain]}/metrics)",
            ports=(ports.gateways[domain], ports.gateway_metrics[domain]),
            ready_timeout_s=60))
    return with_restart_policy(specs)


def token_file(layout: HomeLayout, component: str) -> str:
    return str(layout.run_dir / "tokens" / f"{component}.jwt")


def assertion_key_file(domain: str) -> str:
    """The one private assertion key a domain's gateway is given: with another domain's,
    a compromised gateway could vouch for that domain's callers."""
    from zhijian.assertion import assertion_key_path
    from zhijian.identity import IdentitySettings

    return str(assertion_key_path(IdentitySettings.from_env().keys_dir, domain))


def service_components(layout: HomeLayout, ports: StackPorts,
                       spec: ServiceSpec) -> list[ComponentSpec]:
    """A service's model server (if it has one), then its gRPC service."""
    python = sys.executable
    own = ports.services[spec.name]
    components = []
    model_server_env: dict[str, str] = {}
    if spec.model_server is not None and own.model_server is not None:
        name = f"{spec.name}-model-server"
        url = f"http://{DEFAULT_HOST}:{own.model_server}"
        model_server_env = {spec.setting("MODEL_SERVER_URL"): url}
        components.append(ComponentSpec(
            name=name,
            argv=[os.path.join(os.path.dirname(python), "bentoml"), "serve",
                  spec.model_server.bento, "--host", DEFAULT_HOST, "--port",
                  str(own.model_server)],
            env={"ZHIJIAN_IDENTITY_TOKEN_FILE": token_file(layout, name),
                 "OTEL_SERVICE_NAME": f"zhijian-{name}"},
            readiness=Readiness("http", f"{url}/readyz"),
            endpoint=url,
            ports=(own.model_server,),
            ready_timeout_s=spec.model_server.ready_timeout_s))
    components.append(ComponentSpec(
        name=spec.name,
        argv=[python, "-m", spec.module],
        env={"ZHIJIAN_IDENTITY_TOKEN_FILE": token_file(layout, spec.name),
             **model_server_env,
             spec.setting("GRPC_PORT"): str(own.grpc),
             spec.setting("METRICS_PORT"): str(own.metrics),
             "OTEL_SERVICE_NAME": f"zhijian-{spec.name}"},
        readiness=Readiness("grpc", f"{DEFAULT_HOST}:{own.grpc}"),
        endpoint=f"{DEFAULT_HOST}:{own.grpc} (gRPC; metrics "
                 f"http://{DEFAULT_HOST}:{own.metrics}/metrics)",
        ports=(own.grpc, own.metrics),
        ready_timeout_s=spec.ready_timeout_s))
    return with_restart_policy(components)


def service_endpoints(ports: StackPorts, specs: Sequence[ServiceSpec] | None = None
                      ) -> dict[str, str]:
    """What `zhijian up` prints for each service: ``<name>_grpc`` and so on."""
    endpoints: dict[str, str] = {}
    for spec in discover() if specs is None else specs:
        own = ports.services[spec.name]
        endpoints[f"{spec.name}_grpc"] = f"{DEFAULT_HOST}:{own.grpc}"
        endpoints[f"{spec.name}_metrics"] = f"http://{DEFAULT_HOST}:{own.metrics}/metrics"
        if own.model_server is not None:
            endpoints[f"{spec.name}_model_server"] = f"http://{DEFAULT_HOST}:{own.model_server}"
    return endpoints
