"""Run the registry: ``python -m registry``.

Migrates the governance database, then serves RegistryService while it expires lapsed
approvals, warns ahead of revalidation dates and reconciles MLflow's aliases and tags.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from registry import credentials, seals
from registry.context import RegistryContext
from registry.db import Database, upgrade
from registry.identities import RevocationList
from registry.ledger import LEDGERS, SIGNATURES_BEGIN_ACTION, Ledger, LedgerKey
from registry.model_store import ModelStore
from registry.reconcile import run_duties
from registry.request_checks import registry_service
from registry.servicer import RegistryServicer
from registry.settings import DEFAULT_GRPC_PORT, DEFAULT_METRICS_PORT, RegistrySettings
from registry.validation_jobs import ValidationJobs
from zhijian import identity
from zhijian.assertion import AssertionVerifier
from zhijian.config import ServerSettings
from zhijian.errors import ZhijianError
from zhijian.server import ServerHooks, serve

log = logging.getLogger("zhijian.registry")
REVOCATION_REFRESH_S = 2.0


def build_context(settings: RegistrySettings) -> RegistryContext:
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    ledger = Ledger(db, LedgerKey.load_or_create(settings.ledger_key), settings.witness_dir,
                    segment_size=settings.segment_size,
                    retention_s={"governance": settings.governance_retention_s,
                                 "calls": settings.calls_retention_s})
    for name in ("governance", "calls"):
        # Catch the signed tip up with what committed before a crash.
        ledger.refresh_witness(name)
    return RegistryContext(db=db, ledger=ledger, store=ModelStore(settings.tracking_uri),
                           settings=settings)


def record_bootstrap(ctx: RegistryContext, settings: RegistrySettings) -> None:
    """The credentials of the platform's first start, recorded once (registry/credentials)."""
    try:
        count = credentials.bootstrap(ctx, settings.bootstrap_file)
    except ZhijianError as error:
        log.error("bootstrap credentials not recorded: %s", error.message)
        return
    if count:
        log.warning("recorded the platform's bootstrap: %d credentials (%s)", count,
                    credentials.BOOTSTRAP_ACTION)


def adopt_unsigned_entries(ctx: RegistryContext) -> None:
    """A database from before entries were signed: vouch, once, for what it holds, before
    anything reads single entries (seals, recorded credentials)."""
    for ledger in LEDGERS:
        adopted = ctx.ledger.adopt_unsigned(ledger)
        if adopted:
            log.warning("ledger %s: %d entries from before entries were signed are vouched "
                        "for by %s", ledger, adopted, SIGNATURES_BEGIN_ACTION)


def check_serving_state(ctx: RegistryContext) -> None:
    """Before serving anything: seal a database that predates seals (once), then hold
    every deployment whose serving state does not match the ledger."""
    adopted = seals.adopt_unsealed(ctx)
    if adopted:
        log.warning("sealed %d rows of serving state found without seals (first start "
                    "after an upgrade); recorded as %s on the governance ledger", adopted,
                    seals.ADOPT_ACTION)
    problems = seals.check(ctx)
    for problem in problems:
        log.error("serving state does not match the ledger: %s", problem.text)


async def main() -> None:
    server_settings = ServerSettings.from_env("registry", default_port=DEFAULT_GRPC_PORT,
                                              default_metrics_port=DEFAULT_METRICS_PORT)
    settings = RegistrySettings.from_env()
    ctx = await asyncio.to_thread(build_context, settings)
    ctx.changes.bind(asyncio.get_running_loop())
    await asyncio.to_thread(adopt_unsigned_entries, ctx)
    await asyncio.to_thread(check_serving_state, ctx)
    revocations = RevocationList()
    await asyncio.to_thread(revocations.load, ctx)
    recorded = credentials.RecordedCredentials()
    await asyncio.to_thread(record_bootstrap, ctx, settings)
    await asyncio.to_thread(recorded.load, ctx)
    verifier = identity.TokenVerifier.from_settings(identity.IdentitySettings.from_env(),
                                                    is_revoked=revocations.__contains__)
    jobs = ValidationJobs(ctx)
    stop = asyncio.Event()
    duties: list[asyncio.Task[None]] = []

    async def refresh_revocations() -> None:
        # Another registry process (on the same PostgreSQL) may revoke a token too.
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=REVOCATION_REFRESH_S)
            try:
                await asyncio.to_thread(revocations.load, ctx)
                await asyncio.to_thread(recorded.load, ctx)
            except Exception:
                log.exception("reloading revocations and recorded credentials failed")

    async def on_start() -> None:
        await asyncio.to_thread(jobs.recover)
        duties.append(asyncio.create_task(run_duties(ctx, stop)))
        duties.append(asyncio.create_task(refresh_revocations()))

    async def on_stop() -> None:
        stop.set()
        await jobs.close()
        for task in duties:
            await task
        ctx.db.dispose()

    servicer = RegistryServicer(ctx, verifier, revocations, jobs,
                                assertions=AssertionVerifier.from_env(), recorded=recorded,
                                mint=credentials.Mint(settings.keys_dir,
                                                      identity.IdentitySettings.from_env()))
    await serve(server_settings, [registry_service(servicer)],
                ServerHooks(on_start=on_start, on_stop=on_stop),
                # The registry authenticates every caller itself (RegistryServicer._actor):
                # platform components by their own token, people only through a gateway.
                assertions=None)


if __name__ == "__main__":
    asyncio.run(main())
