"""Run the classify gRPC service: ``python -m services.classify``."""

from __future__ import annotations

import asyncio
import logging

from services.classify.request_checks import classify_service
from services.classify.servicer import ClassifyServicer
from services.classify.settings import DEFAULT_GRPC_PORT, DEFAULT_METRICS_PORT, ClassifySettings
from zhijian.assertion import AssertionVerifier
from zhijian.config import HomeLayout, ServerSettings, zhijian_home
from zhijian.domains import NETWORK_DOMAINS
from zhijian.errors import ZhijianError
from zhijian.model_client import ModelServerClient
from zhijian.results import ResultStore
from zhijian.server import ServerHooks, serve
from zhijian.serving import (
    DeploymentWatcher,
    describe,
    token_from_file,
)

log = logging.getLogger("zhijian.classify")

# Start-up waits this long for the registry's first word, then serves anyway: calls fail
# closed (SERVING_STATE_UNKNOWN) until it arrives, which beats a service that never starts.
FIRST_STATE_WAIT_S = 60.0
MODEL_SERVER_WAIT_S = 120.0


async def main() -> None:
    server_settings = ServerSettings.from_env("classify", default_port=DEFAULT_GRPC_PORT,
                                              default_metrics_port=DEFAULT_METRICS_PORT)
    settings = ClassifySettings.from_env()
    model_server = ModelServerClient(settings.model_server_url)
    results = ResultStore(HomeLayout(zhijian_home()).root / "classify" / "results.db")
    watcher = DeploymentWatcher(settings.registry_target, settings.model_name,
                                token=token_from_file(settings.token_file))
    servicer = ClassifyServicer(settings, model_server, results, watcher)

    async def on_start() -> None:
        await watcher.start()
        arrived, _ = await asyncio.gather(watcher.wait_for_state(FIRST_STATE_WAIT_S),
                                          model_server.wait_ready(MODEL_SERVER_WAIT_S))
        if not arrived:
            log.error("no serving state from the registry at %s after %.0fs; serving "
                      "anyway, every call fails with SERVING_STATE_UNKNOWN until it arrives",
                      settings.registry_target, FIRST_STATE_WAIT_S)
            return
        log.info("%s: %s", settings.model_name, describe(watcher.deployment))
        for domain, value in NETWORK_DOMAINS.items():
            try:
                watcher.select(network_domain=value)
            except ZhijianError as refusal:
                log.info("%s domain: calls are refused for now: %s", domain, refusal.message)

    async def on_stop() -> None:
        await watcher.close()
        await results.close()
        await model_server.close()

    await serve(
        server_settings,
        [classify_service(servicer)],
        ServerHooks(on_start=on_start, on_stop=on_stop),
        # Only calls a gateway vouches for: who, through which domain, under which ceiling.
        assertions=AssertionVerifier.from_env(),
    )


if __name__ == "__main__":
    asyncio.run(main())
