"""The classify model server: the kernel's governed model server over classify's pyfunc.

Run with ``bentoml serve services.classify.model_server:ClassifyModelServer``. What it
does (registry-driven versions, artifact verification, per-item refusals, assertions,
``/info``, per-version metrics) is :mod:`zhijian.model_server`; a classify item is one
text, which the kernel's text model hands to the pyfunc as it is.
"""

from __future__ import annotations

from services.classify.service import MODEL_NAME
from zhijian.classify.v1 import classify_service_pb2
from zhijian.model_server import text_model_server

ClassifyModelServer = text_model_server(
    MODEL_NAME, bento_name="zhijian-classify-model",
    audience=classify_service_pb2.DESCRIPTOR.services_by_name["ClassifyService"].full_name,
    module=__name__, attribute="ClassifyModelServer")
