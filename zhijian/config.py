"""Configuration from the environment: ``ZHIJIAN_*`` plus the standard ``OTEL_*`` and
``MLFLOW_*`` variables, so the embedded default and production differ only in values."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from zhijian.domains import NETWORK_DOMAINS as _DOMAINS

# The checkout this kernel was imported from; the embedded default keeps its state here.
REPO_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_HOST = "127.0.0.1"
# One gateway listener each (the table itself is zhijian/domains.py).
NETWORK_DOMAINS = tuple(_DOMAINS)

# Default ports of the platform's own components; each service declares its own in its
# spec (zhijian/service_spec.py).
REGISTRY_GRPC_PORT = 50060
REGISTRY_METRICS_PORT = 9460
GATEWAY_PORTS = {"internet": 50070, "extranet": 50071, "intranet": 50072}
GATEWAY_METRICS_PORTS = {"internet": 9470, "extranet": 9471, "intranet": 9472}


class ConfigError(ValueError):
    """A configuration value is malformed; raised at start-up, never per request."""


def env_str(name: str, default: str, env: Mapping[str, str] | None = None) -> str:
    value = (os.environ if env is None else env).get(name, "").strip()
    return value or default


def env_int(name: str, default: int, env: Mapping[str, str] | None = None) -> int:
    raw = env_str(name, str(default), env)
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def env_float(name: str, default: float, env: Mapping[str, str] | None = None) -> float:
    raw = env_str(name, str(default), env)
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def zhijian_home(env: Mapping[str, str] | None = None) -> Path:
    return Path(env_str("ZHIJIAN_HOME", str(REPO_ROOT / ".zhijian"), env)).resolve()


@dataclass(frozen=True)
class HomeLayout:
    """Where the embedded platform writes; everything lives under one root."""

    root: Path

    @property
    def mlflow_dir(self) -> Path:
        return self.root / "mlflow"

    @property
    def mlflow_db(self) -> Path:
        return self.mlflow_dir / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def bentoml_home(self) -> Path:
        return self.root / "bentoml"

    @property
    def spans_file(self) -> Path:
        return self.root / "spans" / "spans.jsonl"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "up.lock"

    def create(self) -> HomeLayout:
        for path in (self.mlflow_artifacts, self.bentoml_home, self.spans_file.parent,
                     self.logs_dir, self.run_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


def contain_environment(home: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """Keep libraries that write to ~ (MLflow's telemetry id, caches, BentoML's store)
    inside ZHIJIAN_HOME, and their usage tracking off: the network here is closed and
    runs must not leak into each other. Existing settings win."""
    target = os.environ if env is None else env
    defaults = {
        "BENTOML_HOME": str(HomeLayout(home).bentoml_home),
        "BENTOML_DO_NOT_TRACK": "True",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "MPLCONFIGDIR": str(home / "cache" / "matplotlib"),
    }
    for key, value in defaults.items():
        target.setdefault(key, value)
    return defaults


@dataclass(frozen=True)
class ServerSettings:
    """What every gRPC service process shares."""

    service_name: str
    host: str
    port: int
    metrics_port: int
    max_message_bytes: int
    default_deadline_s: float
    shutdown_grace_s: float
    otlp_endpoint: str | None
    log_level: str

    @classmethod
    def from_env(cls, service_name: str, *, default_port: int, default_metrics_port: int,
                 env: Mapping[str, str] | None = None) -> ServerSettings:
        prefix = f"ZHIJIAN_{service_name.upper()}_"
        otlp = env_str("OTEL_EXPORTER_OTLP_ENDPOINT", "", env) or None
        return cls(
            service_name=env_str("OTEL_SERVICE_NAME", f"zhijian-{service_name}", env),
            host=env_str(prefix + "HOST", DEFAULT_HOST, env),
            port=env_int(prefix + "GRPC_PORT", default_port, env),
            metrics_port=env_int(prefix + "METRICS_PORT", default_metrics_port, env),
            max_message_bytes=env_int("ZHIJIAN_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, env),
            default_deadline_s=env_float("ZHIJIAN_DEFAULT_DEADLINE_S", 10.0, env),
            shutdown_grace_s=env_float("ZHIJIAN_SHUTDOWN_GRACE_S", 5.0, env),
            otlp_endpoint=otlp,
            log_level=env_str("ZHIJIAN_LOG_LEVEL", "INFO", env).upper(),
        )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"
