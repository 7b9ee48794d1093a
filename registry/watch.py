"""WatchDeployments: a snapshot, then every change of serving state, with heartbeats.

Writers insert a ``serving_changes`` row in the transaction that changes serving state
and poke the ``ChangeFeed`` after commit; each stream then reads the rows after the last
revision it sent. Polling the table on every heartbeat as well means a lost poke (or a
change written by another registry process) still arrives within one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

from sqlalchemy import func, select

from registry import deployments
from registry.context import RegistryContext
from registry.filings import timestamp
from registry.schema import ServingChangeRow
from zhijian.errors import invalid_field
from zhijian.registry.v1 import registry_service_pb2 as pb

_MODEL_FILTER = re.compile(r'^\s*model\s*=\s*"([^"]+)"\s*$')
MIN_HEARTBEAT_S = 0.05


def parse_filter(text: str) -> str | None:
    """The one filter subscribers need: ``model = "<name>"``; empty means all models."""
    if not text.strip():
        return None
    match = _MODEL_FILTER.match(text)
    if match is None:
        raise invalid_field("filter", 'supported filter: model = "<registered model>"',
                            reason="UNSUPPORTED_FILTER")
    return match.group(1)


def _current_revision(ctx: RegistryContext) -> int:
    with ctx.db.read() as session:
        return session.scalar(select(func.max(ServingChangeRow.revision))) or 0


def _changes_after(ctx: RegistryContext, revision: int) -> tuple[int, set[str]]:
    with ctx.db.read() as session:
        rows = session.execute(select(ServingChangeRow.revision, ServingChangeRow.deployment)
                               .where(ServingChangeRow.revision > revision)).all()
    if not rows:
        return revision, set()
    return max(r[0] for r in rows), {r[1] for r in rows}


async def watch(ctx: RegistryContext, request: pb.WatchDeploymentsRequest
                ) -> AsyncIterator[pb.WatchDeploymentsResponse]:
    model = parse_filter(request.filter)
    heartbeat = request.heartbeat_interval.ToNanoseconds() / 1e9 or 1.0
    heartbeat = max(heartbeat, MIN_HEARTBEAT_S)
    wake = ctx.changes.subscribe()
    try:
        revision = await asyncio.to_thread(_current_revision, ctx)
        after = request.after_revision
        if after and after <= revision:
            # Resume: replay what changed since, as CHANGED (rows are never deleted).
            revision = after
        else:
            snapshot = await asyncio.to_thread(deployments.list_all, ctx, model)
            yield pb.WatchDeploymentsResponse(
                type=pb.WATCH_EVENT_TYPE_SNAPSHOT, revision=revision, deployments=snapshot,
                event_time=timestamp(ctx.clock()))
        loop = asyncio.get_running_loop()
        sent = loop.time()
        while True:
            wake.clear()  # before reading: a poke that lands after the read wakes us again
            newest, changed = await asyncio.to_thread(_changes_after, ctx, revision)
            if model is not None:
                changed &= {model}
            if changed:
                current = [d for d in await asyncio.to_thread(deployments.list_all, ctx, None)
                           if d.model in changed]
                yield pb.WatchDeploymentsResponse(
                    type=pb.WATCH_EVENT_TYPE_CHANGED, revision=newest, deployments=current,
                    event_time=timestamp(ctx.clock()))
                sent = loop.time()
            revision = newest
            # A heartbeat whenever nothing went out for an interval, even while changes to
            # other models keep waking this stream: silence means a dead stream.
            idle = loop.time() - sent
            if idle >= heartbeat:
                yield pb.WatchDeploymentsResponse(type=pb.WATCH_EVENT_TYPE_HEARTBEAT,
                                                  revision=revision,
                                                  event_time=timestamp(ctx.clock()))
                sent = loop.time()
                idle = 0.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=heartbeat - idle)
    finally:
        ctx.changes.unsubscribe(wake)
