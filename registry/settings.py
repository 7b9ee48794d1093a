"""Configuration of the registry (``ZHIJIAN_REGISTRY_*``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from registry.datasets import DEFAULT_MAX_BYTES, DatasetAccess
from registry.db import database_url
from zhijian.config import (
    REGISTRY_GRPC_PORT,
    REGISTRY_METRICS_PORT,
    ConfigError,
    HomeLayout,
    env_float,
    env_int,
    env_str,
    zhijian_home,
)
from zhijian.domains import NETWORK_DOMAINS
from zhijian.identity import BOOTSTRAP_CREDENTIALS, IdentitySettings

DEFAULT_GRPC_PORT = REGISTRY_GRPC_PORT
DEFAULT_METRICS_PORT = REGISTRY_METRICS_PORT



def network_domain(name: str) -> int:
    try:
        return NETWORK_DOMAINS[name]
    except KeyError:
        raise ConfigError(f"network domain must be one of {', '.join(NETWORK_DOMAINS)}, "
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
    # Defaults admit nothing: a registry configured without roots reads no dataset.
    dataset_roots: tuple[Path, ...] = ()
    dataset_max_bytes: int = DEFAULT_MAX_BYTES
    dataset_read_workers: int = 2
    # How often every row of serving state is checked against its seal on the ledger.
    seal_check_interval_s: float = 10.0
    # Where `zhijian up` leaves the credentials of the platform's first start for the
    # registry to record once; None: <work_dir>/bootstrap-credentials.json.
    bootstrap_path: Path | None = None

    @property
    def bootstrap_file(self) -> Path:
        return self.bootstrap_path or self.work_dir / BOOTSTRAP_CREDENTIALS

    @property
    def dataset_access(self) -> DatasetAccess:
        return DatasetAccess.of(self.dataset_roots, self.dataset_max_bytes)

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
            dataset_roots=dataset_roots(home, env),
            dataset_max_bytes=positive("ZHIJIAN_DATASET_MAX_BYTES",
                                       env_int("ZHIJIAN_DATASET_MAX_BYTES", DEFAULT_MAX_BYTES,
                                               env)),
            seal_check_interval_s=positive_float(
                "ZHIJIAN_REGISTRY_SEAL_CHECK_INTERVAL_S",
                env_float("ZHIJIAN_REGISTRY_SEAL_CHECK_INTERVAL_S", 10.0, env)),
            dataset_read_workers=positive("ZHIJIAN_DATASET_READ_WORKERS",
                                          env_int("ZHIJIAN_DATASET_READ_WORKERS", 2, env)),
        )


def default_dataset_roots(home: Path) -> tuple[Path, ...]:
    """The datasets folder (where ``zhijian up`` writes the seed corpus's splits) and the
    MLflow artifact store of the embedded platform."""
    return home / "datasets", HomeLayout(home).mlflow_artifacts


def dataset_roots(home: Path, env: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    """``ZHIJIAN_DATASET_ROOTS``: absolute folders separated by os.pathsep; set, it
    replaces the defaults rather than adding to them."""
    raw = env_str("ZHIJIAN_DATASET_ROOTS", "", env)
    if not raw:
        return default_dataset_roots(home)
    roots = tuple(Path(entry.strip()) for entry in raw.split(os.pathsep) if entry.strip())
    relative = [str(root) for root in roots if not root.is_absolute()]
    if relative or not roots:
        raise ConfigError(f"ZHIJIAN_DATASET_ROOTS must list absolute folders separated by "
                          f"{os.pathsep!r}; not absolute: {', '.join(relative) or '(none)'}")
    return roots


def positive(name: str, value: int) -> int:
    if value <= 0:
        raise ConfigError(f"{name}={value} must be positive")
    return value


def positive_float(name: str, value: float) -> float:
    if not value > 0:
        raise ConfigError(f"{name}={value} must be positive")
    return value
