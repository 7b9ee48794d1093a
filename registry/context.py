"""What every part of the registry works with: the database, the ledgers, MLflow, the
clock, and the feed that wakes WatchDeployments subscribers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import seals
from registry.db import Database
from registry.ledger import EventInput, Ledger
from registry.model_store import ModelStore
from registry.schema import DeploymentRow, ServingChangeRow
from registry.settings import RegistrySettings

GOVERNANCE = "governance"
CALLS = "calls"
REGISTRY_ACTOR = seals.REGISTRY_ACTOR


@dataclass(frozen=True)
class Actor:
    """The authenticated caller of one registry call."""

    subject: str
    roles: frozenset[str]
    trace_id: str = ""
    jti: str = ""


class ChangeFeed:
    """Wakes WatchDeployments streams after a commit changed serving state. Writers run
    in worker threads; subscribers wait on the event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Event] = set()
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiters.add(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters.discard(event)

    def poke(self) -> None:
        if self._loop is None:
            return
        with self._lock:
            waiters = list(self._waiters)
        for event in waiters:
            self._loop.call_soon_threadsafe(event.set)


@dataclass
class RegistryContext:
    db: Database
    ledger: Ledger
    store: ModelStore
    settings: RegistrySettings
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    holds: seals.ServingHolds = field(default_factory=seals.ServingHolds)
    clock: Callable[[], float] = time.time

    @contextmanager
    def write(self) -> Iterator[Session]:
        """The transaction of one governance act. It first takes the governance ledger's
        append lock, which every act appends to anyway: acts are then serialized in one
        order, so two of them cannot deadlock (a suspension locking filing → deployment
        against a promotion locking deployment → filing) and each sees the state the
        previous one committed.

        Before it commits, the rows of serving state it changed are sealed on the ledger
        (registry/seals.py) — or, if what it read does not match its seals, the act is
        refused and what it affects is held."""
        try:
            with self.db.transaction() as session:
                self.ledger.lock(session, GOVERNANCE)
                seals.track(session)
                yield session
                seals.seal_changes(self, session)
        except seals.ServingStateMismatch as mismatch:
            seals.hold(self, mismatch.problems)
            raise

    def record(self, session: Session, actor: Actor | str, action: str, target: str,
               details: dict[str, Any]) -> str:
        """Append a governance event in the caller's transaction; returns its name."""
        subject = actor if isinstance(actor, str) else actor.subject
        trace_id = "" if isinstance(actor, str) else actor.trace_id
        result = self.ledger.append(session, GOVERNANCE, [
            EventInput(actor=subject, action=action, target=target, details=details,
                       trace_id=trace_id)])
        name = result.appended[0].name
        session.info[seals.ACT] = (subject, trace_id, name)
        return name

    def serving_changed(self, session: Session, deployments: Iterable[str]) -> None:
        """Note a change of serving state in the caller's transaction; subscribers are
        woken once it commits."""
        now = self.clock()
        for name in sorted(set(deployments)):
            change = ServingChangeRow(deployment=name, change_time=now)
            session.add(change)
            session.flush()
            row = session.get(DeploymentRow, name)
            if row is not None:
                row.revision = change.revision
        _after_commit(session, self.changes.poke)

    def deployments_using(self, session: Session, filing_id: str) -> list[str]:
        rows = session.scalars(select(DeploymentRow.id).where(
            (DeploymentRow.production_filing == filing_id)
            | (DeploymentRow.canary_filing == filing_id)
            | (DeploymentRow.previous_filing == filing_id)))
        return list(rows)


def _after_commit(session: Session, callback: Callable[[], None]) -> None:
    from sqlalchemy import event

    def fire(_session: Session) -> None:
        callback()

    # Not once=True: a released savepoint fires after_commit too, before the real commit;
    # an extra poke only makes subscribers re-read, a missing one would delay them.
    if not session.info.get("poke_registered"):
        session.info["poke_registered"] = True
        event.listen(session, "after_commit", fire)
