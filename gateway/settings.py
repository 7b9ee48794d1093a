"""A gateway's configuration, from the environment only.

The network domain is the one setting without a default: which domain a listener serves
decides every ceiling, so a gateway that was not told must not guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from gateway.authz import POLICY_DIR
from gateway.routes import known_services
from zhijian.config import (
    GATEWAY_METRICS_PORTS,
    GATEWAY_PORTS,
    NETWORK_DOMAINS,
    ConfigError,
    env_float,
    env_int,
    env_str,
    zhijian_home,
)
from zhijian.deployment_watcher import DEFAULT_REGISTRY_TARGET, token_file_from_env
from zhijian.identity import IdentitySettings

DEFAULT_PORTS: Final[Mapping[str, int]] = GATEWAY_PORTS
DEFAULT_METRICS_PORTS: Final[Mapping[str, int]] = GATEWAY_METRICS_PORTS
DEFAULT_MAX_MESSAGE_BYTES: Final = 4 * 1024 * 1024


@dataclass(frozen=True)
class TlsSettings:
    """The listener's certificate and the CA its clients' certificates must chain to."""

    cert: Path
    key: Path
    client_ca: Path


@dataclass(frozen=True)
class GatewaySettings:
    domain: str
    host: str
    port: int
    metrics_port: int  # 0: no metrics endpoint
    # Full service name -> backend host:port. A known service without a route answers
    # UNAVAILABLE / BACKEND_NOT_CONFIGURED.
    routes: Mapping[str, str]
    audit_dir: Path
    registry_target: str
    token_file: Path
    policy_dir: Path
    policy_database_url: str | None
    rate_per_s: float
    burst: float
    max_message_bytes: int
    default_deadline_s: float
    retries: int
    tls: TlsSettings | None
    # Where tokens are verified from (issuer JWKS) and assertion keys are published.
    identity_settings: IdentitySettings
    # This domain's private assertion key, the only one the gateway is given; None: the
    # domain's file in the keys directory, created there if missing (a gateway alone).
    assertion_key: Path | None
    otlp_endpoint: str | None
    service_name: str
    log_level: str
    shutdown_grace_s: float

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def keys_dir(self) -> Path:
        return self.identity_settings.keys_dir

    @property
    def model_path(self) -> Path:
        return self.policy_dir / "model.conf"

    @property
    def policy_path(self) -> Path:
        return self.policy_dir / "policy.csv"

    @property
    def identity(self) -> str:
        """The gateway's own subject: what it signs assertions as and ships audit as."""
        return f"svc:gateway-{self.domain}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        domain = env_str("ZHIJIAN_GATEWAY_DOMAIN", "", env)
        if domain not in NETWORK_DOMAINS:
            raise ConfigError(f"ZHIJIAN_GATEWAY_DOMAIN={domain!r} must be one of "
                              f"{', '.join(NETWORK_DOMAINS)}: a gateway serves exactly one "
                              "network domain, set by its operator")
        home = zhijian_home(env)
        database_url = env_str("ZHIJIAN_GATEWAY_POLICY_DATABASE_URL", "", env) or None
        return cls(
            domain=domain,
            host=env_str("ZHIJIAN_GATEWAY_HOST", "127.0.0.1", env),
            port=_port("ZHIJIAN_GATEWAY_PORT", DEFAULT_PORTS[domain], env, allow_zero=False),
            metrics_port=_port("ZHIJIAN_GATEWAY_METRICS_PORT", DEFAULT_METRICS_PORTS[domain],
                               env, allow_zero=True),
            routes=parse_routes(env_str("ZHIJIAN_GATEWAY_ROUTES", "", env)),
            audit_dir=Path(env_str("ZHIJIAN_GATEWAY_AUDIT_DIR",
                                   str(home / "gateway" / domain / "audit"), env)),
            registry_target=env_str("ZHIJIAN_REGISTRY_TARGET", DEFAULT_REGISTRY_TARGET, env),
            token_file=token_file_from_env(env),
            policy_dir=Path(env_str("ZHIJIAN_GATEWAY_POLICY_DIR", str(POLICY_DIR), env)),
            policy_database_url=database_url,
            rate_per_s=_positive("ZHIJIAN_GATEWAY_RATE_PER_S", 200.0, env),
            burst=_positive("ZHIJIAN_GATEWAY_BURST", 400.0, env),
            max_message_bytes=int(_positive("ZHIJIAN_GATEWAY_MAX_MESSAGE_BYTES",
                                            DEFAULT_MAX_MESSAGE_BYTES, env)),
            default_deadline_s=_positive("ZHIJIAN_GATEWAY_DEFAULT_DEADLINE_S", 30.0, env),
            retries=_retries(env),
            tls=_tls(env),
            identity_settings=IdentitySettings.from_env(env),
            assertion_key=_optional_path("ZHIJIAN_GATEWAY_ASSERTION_KEY", env),
            otlp_endpoint=env_str("OTEL_EXPORTER_OTLP_ENDPOINT", "", env) or None,
            service_name=env_str("OTEL_SERVICE_NAME", f"zhijian-gateway-{domain}", env),
            log_level=env_str("ZHIJIAN_LOG_LEVEL", "INFO", env).upper(),
            shutdown_grace_s=env_float("ZHIJIAN_SHUTDOWN_GRACE_S", 5.0, env),
        )


def parse_routes(text: str) -> Mapping[str, str]:
    """``svc=host:port,svc=host:port`` -> {service: target}; every service must exist."""
    known = known_services()
    routes: dict[str, str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        service, sep, target = (s.strip() for s in item.partition("="))
        if not sep or not service or not target:
            raise ConfigError(f"ZHIJIAN_GATEWAY_ROUTES entry {item!r} must be "
                              "full.service.Name=host:port")
        if service not in known:
            raise ConfigError(f"ZHIJIAN_GATEWAY_ROUTES names unknown service {service!r}; "
                              f"known: {', '.join(sorted(known))}")
        if service in routes:
            raise ConfigError(f"ZHIJIAN_GATEWAY_ROUTES routes {service} twice")
        host, colon, port = target.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"ZHIJIAN_GATEWAY_ROUTES target {target!r} of {service} must "
                              "be host:port")
        routes[service] = target
    return MappingProxyType(routes)


def _port(name: str, default: int, env: Mapping[str, str] | None, *, allow_zero: bool) -> int:
    port = env_int(name, default, env)
    if not (0 if allow_zero else 1) <= port < 65536:
        raise ConfigError(f"{name}={port} is not a port")
    return port


def _positive(name: str, default: float, env: Mapping[str, str] | None) -> float:
    value = env_float(name, default, env)
    if value <= 0:
        raise ConfigError(f"{name}={value} must be positive")
    return value


def _optional_path(name: str, env: Mapping[str, str] | None) -> Path | None:
    value = env_str(name, "", env)
    return Path(value) if value else None


def _retries(env: Mapping[str, str] | None) -> int:
    retries = env_int("ZHIJIAN_GATEWAY_RETRIES", 2, env)
    if not 0 <= retries <= 5:
        raise ConfigError(f"ZHIJIAN_GATEWAY_RETRIES={retries} must be 0..5")
    return retries


def _tls(env: Mapping[str, str] | None) -> TlsSettings | None:
    names = ("ZHIJIAN_GATEWAY_TLS_CERT", "ZHIJIAN_GATEWAY_TLS_KEY",
             "ZHIJIAN_GATEWAY_TLS_CLIENT_CA")
    values = [env_str(name, "", env) for name in names]
    if not any(values):
        return None
    # Half a TLS configuration must not quietly fall back to a plaintext listener.
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        raise ConfigError(f"mutual TLS needs all of {', '.join(names)}; missing "
                          f"{', '.join(missing)}")
    paths = [Path(value) for value in values]
    for name, path in zip(names, paths, strict=True):
        if not path.is_file():
            raise ConfigError(f"{name}={str(path)!r} is not a readable file")
    return TlsSettings(*paths)
