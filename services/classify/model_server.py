"""The classify model server: the kernel's governed model server over classify's pyfunc.

Run with ``bentoml serve services.classify.model_server:ClassifyModelServer``. What it
does (registry-driven versions, artifact verification, per-item refusals, assertions,
``/info``, per-version metrics) is :mod:`zhijian.model_server`; here is only what a
classify item is and how a batch of them reaches the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bentoml
import numpy as np

from services.classify.service import MODEL_NAME
from zhijian.classify.v1 import classify_service_pb2
from zhijian.model_server import (
    BATCHING,
    GovernedModelServer,
    PredictItem,
    PyfuncModel,
    guard,
    service_options,
)


class ClassifyItem(PredictItem):
    text: str


class ClassifyModel(PyfuncModel[ClassifyItem]):
    def model_input(self, items: Sequence[ClassifyItem]) -> Any:
        # A str-dtype array, as in the signature's input example; object dtype fails it.
        return np.array([item.text for item in items], dtype=str)


@bentoml.service(**service_options("zhijian-classify-model"))
class ClassifyModelServer(GovernedModelServer[ClassifyItem]):
    model_name = MODEL_NAME
    model_class = ClassifyModel

    @bentoml.api(**BATCHING)
    def predict(self, items: list[ClassifyItem]) -> list[dict[str, Any]]:
        return self.answer(items)


guard(ClassifyModelServer, audience=classify_service_pb2.DESCRIPTOR
      .services_by_name["ClassifyService"].full_name)
