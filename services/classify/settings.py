"""Configuration of the classify service and its model server (``ZHIJIAN_CLASSIFY_*``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from zhijian.config import DEFAULT_HOST, ConfigError, env_int, env_str

MODEL_NAME = "zhijian-classify"

DEFAULT_GRPC_PORT = 50061
DEFAULT_METRICS_PORT = 9461
DEFAULT_MODEL_SERVER_PORT = 3061


@dataclass(frozen=True)
class ClassifySettings:
    model_name: str
    model_version: str  # explicit: which version serves is configuration, never "latest"
    model_server_url: str
    max_text_chars: int
    max_batch_items: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClassifySettings:
        version = env_str("ZHIJIAN_CLASSIFY_MODEL_VERSION", "", env)
        if not version.isdigit():
            raise ConfigError("ZHIJIAN_CLASSIFY_MODEL_VERSION must name a registered version "
                              f"of {MODEL_NAME} (a number), got {version!r}")
        port = env_int("ZHIJIAN_CLASSIFY_MODEL_SERVER_PORT", DEFAULT_MODEL_SERVER_PORT, env)
        return cls(
            model_name=MODEL_NAME,
            model_version=version,
            model_server_url=env_str("ZHIJIAN_CLASSIFY_MODEL_SERVER_URL",
                                     f"http://{DEFAULT_HOST}:{port}", env).rstrip("/"),
            max_text_chars=env_int("ZHIJIAN_CLASSIFY_MAX_TEXT_CHARS", 4000, env),
            max_batch_items=env_int("ZHIJIAN_CLASSIFY_MAX_BATCH_ITEMS", 256, env),
        )
