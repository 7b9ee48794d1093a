"""Configuration of the registry (``ZHIJIAN_REGISTRY_*``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from registry.db import database_url
from zhijian.config import ConfigError, env_float, env_int, env_str, zhijian_home
from zhijian.identity import IdentitySettings
from zhijian.types.v1 import ai_result_pb2 as types_pb

DEFAULT_GRPC_PORT = 50060
DEFAULT_METRICS_PORT = 9460

DOMAINS = {"internet": types_pb.NETWORK_DOMAIN_INTERNET,
           "extranet": types_pb.NETWORK_DOMAIN_EXTRANET,
           "intranet": types_pb.NETWORK_DOMAIN_INTRANET}


def network_domain(name: str) -> int:
    try:
        return DOMAINS[name]
    except KeyError:
        raise ConfigError(f"network domain must be one of {', '.join(DOMAINS)}, "
                          f"got {name!r}") from None


@dataclass(frozen=True)
class RegistrySettings:
    database_url: str
    tracking_uri: str
    keys_dir: Path
    ledger_key: Path
    witness_dir: Path
    work_dir: Path
    network_domain: int
    segment_size: int
    calls_retention_s: float
    governance_retention_s: float
    revalidation_warning_s: float
    sweep_interval_s: float
    reconcile_interval_s: float
    validation_timeout_s: float

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RegistrySettings:
        home = zhijian_home(env)
        keys = IdentitySettings.from_env(env).keys_dir  # one reading of ZHIJIAN_KEYS_DIR
        tracking_uri = env_str("MLFLOW_TRACKING_URI", "", env)
        if not tracking_uri:
            raise ConfigError("MLFLOW_TRACKING_URI must point at the MLflow tracking server")
        return cls(
            database_url=database_url(env),
            tracking_uri=tracking_uri,
            keys_dir=keys,
            # The ledger key lives beside, never inside, the database it protects.
            ledger_key=Path(env_str("ZHIJIAN_LEDGER_KEY", str(keys / "ledger.pem"), env)),
            witness_dir=Path(env_str("ZHIJIAN_LEDGER_WITNESS_DIR", str(home / "ledger"), env)),
            work_dir=home / "registry",
            network_domain=network_domain(env_str("ZHIJIAN_REGISTRY_NETWORK_DOMAIN",
                                                  "intranet", env)),
            segment_size=env_int("ZHIJIAN_LEDGER_SEGMENT_SIZE", 1000, env),
            calls_retention_s=env_float("ZHIJIAN_LEDGER_CALLS_RETENTION_S", 183 * 86400, env),
            governance_retention_s=env_float("ZHIJIAN_LEDGER_GOVERNANCE_RETENTION_S",
                                             10 * 366 * 86400, env),
            revalidation_warning_s=env_float("ZHIJIAN_REVALIDATION_WARNING_S", 30 * 86400,
                                             env),
            sweep_interval_s=env_float("ZHIJIAN_REGISTRY_SWEEP_INTERVAL_S", 1.0, env),
            reconcile_interval_s=env_float("ZHIJIAN_REGISTRY_RECONCILE_INTERVAL_S", 10.0, env),
            validation_timeout_s=env_float("ZHIJIAN_VALIDATION_TIMEOUT_S", 900.0, env),
        )
