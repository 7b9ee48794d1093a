"""Run the classify gRPC service: ``python -m services.classify``."""

from __future__ import annotations

import asyncio

from services.classify.request_checks import classify_service
from services.classify.servicer import ClassifyServicer
from services.classify.settings import DEFAULT_GRPC_PORT, DEFAULT_METRICS_PORT, ClassifySettings
from zhijian.governed_service import ServiceParts, ServiceProcess, run
from zhijian.server import Service


def main() -> None:
    settings = ClassifySettings.from_env()
    process = ServiceProcess("classify", settings.model_name, settings.model_server_url,
                             settings.registry_target, settings.token_file,
                             DEFAULT_GRPC_PORT, DEFAULT_METRICS_PORT)

    def services(parts: ServiceParts) -> list[Service]:
        return [classify_service(ClassifyServicer(settings, parts.model_server, parts.results,
                                                  parts.versions))]

    asyncio.run(run(process, services))


if __name__ == "__main__":
    main()
