"""Configuration of the classify service and its model server (``ZHIJIAN_CLASSIFY_*``).

Which version serves is not configuration: the registry decides (production, canary,
suspension) and both processes follow its ``WatchDeployments`` stream. What they need to
ask it is here: where it is and the identity token to ask with. The network domain is not
here either: it is a property of each call, asserted by the gateway it came through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.classify.service import (  # noqa: F401  (re-exported for the service's modules)
    DEFAULT_GRPC_PORT,
    DEFAULT_METRICS_PORT,
    DEFAULT_MODEL_SERVER_PORT,
    MODEL_NAME,
)
from zhijian.config import DEFAULT_HOST, env_float, env_int, env_str
from zhijian.deployment_watcher import DEFAULT_REGISTRY_TARGET, token_file_from_env
from zhijian.dlp import DEFAULT_BUDGET_S


@dataclass(frozen=True)
class ClassifySettings:
    model_name: str  # also the id of its deployment in the registry
    model_server_url: str
    max_text_chars: int
    max_batch_items: int
    registry_target: str
    token_file: Path  # re-read on every (re)connect, so a rotated token is picked up
    # CPU seconds a request may spend in the data-level detectors before it is refused.
    detection_budget_s: float = DEFAULT_BUDGET_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClassifySettings:
        port = env_int("ZHIJIAN_CLASSIFY_MODEL_SERVER_PORT", DEFAULT_MODEL_SERVER_PORT, env)
        return cls(
            model_name=MODEL_NAME,
            model_server_url=env_str("ZHIJIAN_CLASSIFY_MODEL_SERVER_URL",
                                     f"http://{DEFAULT_HOST}:{port}", env).rstrip("/"),
            max_text_chars=env_int("ZHIJIAN_CLASSIFY_MAX_TEXT_CHARS", 4000, env),
            max_batch_items=env_int("ZHIJIAN_CLASSIFY_MAX_BATCH_ITEMS", 256, env),
            registry_target=env_str("ZHIJIAN_REGISTRY_TARGET", DEFAULT_REGISTRY_TARGET, env),
            token_file=token_file_from_env(env),
            detection_budget_s=env_float("ZHIJIAN_DETECTION_BUDGET_S", DEFAULT_BUDGET_S, env),
        )
