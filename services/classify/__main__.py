"""Run the classify gRPC service: ``python -m services.classify``."""

from __future__ import annotations

import asyncio

from services.classify.request_checks import classify_service
from services.classify.service import SPEC
from services.classify.servicer import ClassifyServicer
from services.classify.settings import ClassifySettings
from zhijian.governed_service import ServiceParts, ServiceProcess, run
from zhijian.server import Service


def main() -> None:
    settings = ClassifySettings.from_env()

    def services(parts: ServiceParts) -> list[Service]:
        return [classify_service(ClassifyServicer(settings, parts.model_server, parts.results,
                                                  parts.versions))]

    asyncio.run(run(ServiceProcess.for_spec(SPEC), services))


if __name__ == "__main__":
    main()
