"""Run the classify gRPC service: ``python -m services.classify``."""

from __future__ import annotations

import asyncio

from services.classify.model_client import ModelServerClient
from services.classify.servicer import ClassifyServicer
from services.classify.settings import DEFAULT_GRPC_PORT, DEFAULT_METRICS_PORT, ClassifySettings
from zhijian.classify.v1 import classify_service_pb2
from zhijian.config import HomeLayout, ServerSettings, zhijian_home
from zhijian.results import ResultStore
from zhijian.server import ServerHooks, Service, serve


async def main() -> None:
    server_settings = ServerSettings.from_env("classify", default_port=DEFAULT_GRPC_PORT,
                                              default_metrics_port=DEFAULT_METRICS_PORT)
    settings = ClassifySettings.from_env()
    model_server = ModelServerClient(settings.model_server_url)
    results = ResultStore(HomeLayout(zhijian_home()).root / "classify" / "results.db")
    servicer = ClassifyServicer(settings, model_server, results)

    async def on_stop() -> None:
        await results.close()
        await model_server.close()

    await serve(
        server_settings,
        [Service(classify_service_pb2.DESCRIPTOR.services_by_name["ClassifyService"], servicer)],
        ServerHooks(on_start=lambda: servicer.check_model_server(timeout_s=120.0),
                    on_stop=on_stop),
    )


if __name__ == "__main__":
    asyncio.run(main())
