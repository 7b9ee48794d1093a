"""Background duties of the registry: expire approvals whose revalidation date passed,
warn ahead of it, and keep MLflow's protected aliases and zhijian.* tags as the registry
recorded them — a change made behind its back is recorded as an alert, undone, and has
no effect on serving (which follows the registry's own records, never the aliases)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from sqlalchemy import select

from registry import deployments, filings, records, seals
from registry.context import REGISTRY_ACTOR, RegistryContext
from registry.model_store import PROTECTED_ALIASES
from registry.schema import AlertRow, FilingRow
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as pb

log = logging.getLogger("zhijian.registry.reconcile")

TAGGED_STATES = frozenset({pb.FILING_STATE_APPROVED, pb.FILING_STATE_SUSPENDED,
                           pb.FILING_STATE_EXPIRED})


def expected_tags(ctx: RegistryContext) -> dict[str, dict[str, dict[str, str]]]:
    """model -> version -> zhijian.* tags, per the registry's records."""
    result: dict[str, dict[str, dict[str, str]]] = {}
    with ctx.db.read() as session:
        for row in session.scalars(select(FilingRow)):
            tags: dict[str, str] = {}
            if row.state in TAGGED_STATES:
                tags = filings.approval_tags(records.from_json(pb.Filing, row.body))
            result.setdefault(row.model, {})[row.version] = tags
    return result


def _alert(ctx: RegistryContext, kind: str, target: str, detail: dict[str, object]) -> None:
    with ctx.write() as session:
        session.add(AlertRow(kind=kind, target=target, detail=json.dumps(detail, sort_keys=True),
                             create_time=ctx.clock()))
        ctx.record(session, REGISTRY_ACTOR, f"alert.{kind}", target, detail)
    log.warning("alert %s on %s: %s", kind, target, detail)


def reconcile_mlflow(ctx: RegistryContext) -> int:
    """One pass; returns the number of out-of-band changes found (and undone). A model
    that cannot be read is skipped (and logged), not a reason to skip the others."""
    aliases = deployments.expected_aliases(ctx)
    tags = expected_tags(ctx)
    found = 0
    for model in sorted(set(aliases) | set(tags)):
        try:
            found += _reconcile_model(ctx, model, aliases.get(model, {}), tags.get(model, {}))
        except ZhijianError as error:
            log.warning("reconcile of %s skipped: %s", model, error.message)
    return found


def _reconcile_model(ctx: RegistryContext, model: str, want_aliases: dict[str, str],
                     want_tags: dict[str, dict[str, str]]) -> int:
    state = ctx.store.model_state(model)
    differs = any(state.aliases.get(a) != want_aliases.get(a) for a in PROTECTED_ALIASES) or \
        any(have != want_tags.get(v, {}) for v, have in state.tags.items())
    if not differs:
        return 0
    # The registry itself may have changed the model since the snapshot (a promotion
    # writes MLflow before it commits): compare against fresh records before acting.
    want_aliases = deployments.expected_aliases(ctx).get(model, {})
    want_tags = expected_tags(ctx).get(model, {})
    state = ctx.store.model_state(model)
    found = 0
    for alias in PROTECTED_ALIASES:
        have, want = state.aliases.get(alias), want_aliases.get(alias)
        if have != want:
            found += 1
            _alert(ctx, "out_of_band_change", f"deployments/{model}", {
                "alias": alias, "found": have, "expected": want,
                "action": "restored; serving follows the registry's records"})
            ctx.store.set_alias(model, alias, want)
    for version, have_tags in state.tags.items():
        expected = want_tags.get(version, {})
        if have_tags == expected:
            continue
        found += 1
        _alert(ctx, "out_of_band_change", f"models/{model}/versions/{version}", {
            "found": have_tags, "expected": expected,
            "action": "restored; serving follows the registry's records"})
        for key in set(have_tags) - set(expected):
            ctx.store.delete_version_tag(model, version, key)
        if expected:
            ctx.store.set_version_tags(model, version, expected)
    return found


PRUNE_INTERVAL_S = 3600.0


def prune_ledgers(ctx: RegistryContext) -> None:
    """Retention: whole expired segments give way to signed tombstones."""
    for ledger in ("calls", "governance"):
        result = ctx.ledger.prune(ledger)
        if result.dropped_segments:
            log.info("retention dropped %d segment(s) of %s", len(result.dropped_segments),
                     ledger)
        if result.refused:
            log.error("retention refused on %s: %s", ledger, result.refused)


async def run_duties(ctx: RegistryContext, stop: asyncio.Event) -> None:
    """Expiry every sweep interval, MLflow reconciliation every reconcile interval, the
    serving-state check every seal-check interval, ledger retention hourly."""
    settings = ctx.settings
    next_reconcile = 0.0
    next_prune = 0.0
    loop = asyncio.get_running_loop()
    # The registry checked the seals just before it started serving.
    next_seal_check = loop.time() + settings.seal_check_interval_s
    while not stop.is_set():
        if loop.time() >= next_seal_check:
            next_seal_check = loop.time() + settings.seal_check_interval_s
            try:
                await asyncio.to_thread(seals.check, ctx)
            except Exception:
                log.exception("serving-state check failed")
        try:
            await asyncio.to_thread(filings.expire_due, ctx)
        except Exception:
            log.exception("expiry sweep failed")
        now = asyncio.get_running_loop().time()
        if now >= next_prune:
            next_prune = now + PRUNE_INTERVAL_S
            try:
                await asyncio.to_thread(prune_ledgers, ctx)
            except Exception:
                log.exception("ledger retention failed")
        if now >= next_reconcile:
            next_reconcile = now + settings.reconcile_interval_s
            try:
                await asyncio.to_thread(reconcile_mlflow, ctx)
            except ZhijianError as error:  # MLflow down: try again next round
                log.warning("reconcile skipped: %s", error.message)
            except Exception:
                log.exception("reconcile failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.sweep_interval_s)
