"""Configuration of the classify service's own checks (``ZHIJIAN_CLASSIFY_*``).

Where its model server and the registry are, and the token it asks with, are the
process's (``zhijian.governed_service.ServiceProcess.for_spec``). Which version serves is
not configuration: the registry decides (production, canary, suspension). The network
domain is not either: it is a property of each call, asserted by the gateway it came
through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.classify.service import (  # noqa: F401  (re-exported for the service's modules)
    DEFAULT_GRPC_PORT,
    DEFAULT_METRICS_PORT,
    DEFAULT_MODEL_SERVER_PORT,
    MODEL_NAME,
)
from zhijian.config import env_float, env_int
from zhijian.dlp import DEFAULT_BUDGET_S


@dataclass(frozen=True)
class ClassifySettings:
    model_name: str  # also the id of its deployment in the registry
    max_text_chars: int
    max_batch_items: int
    # CPU seconds a request may spend in the data-level detectors before it is refused.
    detection_budget_s: float = DEFAULT_BUDGET_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClassifySettings:
        return cls(
            model_name=MODEL_NAME,
            max_text_chars=env_int("ZHIJIAN_CLASSIFY_MAX_TEXT_CHARS", 4000, env),
            max_batch_items=env_int("ZHIJIAN_CLASSIFY_MAX_BATCH_ITEMS", 256, env),
            detection_budget_s=env_float("ZHIJIAN_DETECTION_BUDGET_S", DEFAULT_BUDGET_S, env),
        )
