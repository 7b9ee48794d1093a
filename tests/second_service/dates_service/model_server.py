"""``bentoml serve dates_service.model_server:DatesModelServer``: the kernel's governed
model server over the dates pyfunc (an item is one text)."""

from dates_service.service import MODEL_NAME
from zhijian.model_server import text_model_server

DatesModelServer = text_model_server(MODEL_NAME, bento_name="zhijiantest-dates-model",
                                     audience="zhijiantest.dates.v1.DatesService",
                                     module=__name__, attribute="DatesModelServer")
