"""Serving state sealed on the governance ledger.

Whether, where and at which data level a model serves is read from three tables: filings
(state, classification, artifacts, revalidation date), approvals and deployments. The
ledger proves its own history, but these rows sit beside it and could be edited without
touching it. So the transaction of every governance act that changes such a row also
appends a ``serving.seal`` event holding the canonical hash of the row's serving fields,
and the row points at that event. A row is genuine when it points at the newest seal of
its own target and hashes to what that seal says; pointing at another row's seal, or at
an older seal of its own, fails.

Checked in three places:

* at the end of every governance write (``RegistryContext.write``): the rows the act
  changed, the filings a changed deployment serves and the approvals of a changed filing
  must be genuine as the act read them, or the act is refused — a legitimate act never
  seals what someone edited behind the registry's back;
* by ``check`` at start and every seal-check interval: every row;
* by ``VerifyLedger`` on the governance ledger (``zhijian audit verify``).

A mismatch fails closed: the deployments it affects are held (rendered SUSPENDED, so every
service and model server stops serving them), and an alert goes on the ledger. The hold
lifts when a later check finds the rows matching their seals again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, func, inspect, select
from sqlalchemy.orm import InstanceState, Session

from registry.ledger import EventInput, Ledger, canonical_json
from registry.schema import AlertRow, ApprovalRow, DeploymentRow, FilingRow, LedgerEventRow
from zhijian.errors import FailedPrecondition

if TYPE_CHECKING:
    from registry.context import RegistryContext

log = logging.getLogger("zhijian.registry.seals")

SEAL_ACTION = "serving.seal"
ADOPT_ACTION = "serving.adopt"
MISMATCH_ALERT = "serving_state_mismatch"
REASON = "SERVING_STATE_UNVERIFIED"
GOVERNANCE = "governance"
REGISTRY_ACTOR = "svc:registry"  # = registry.context.REGISTRY_ACTOR, which imports this

SealedRow = FilingRow | ApprovalRow | DeploymentRow
SEALED_TYPES: tuple[type, ...] = (FilingRow, ApprovalRow, DeploymentRow)

# Keys in Session.info / InstanceState.info.
_TRACK = "zhijian.seal.track"
_ADOPTING = "zhijian.seal.adopting"
_LOADED = "zhijian.seal.loaded"
_CREATED = "zhijian.seal.created"
_ROWS = "zhijian.seal.rows"
ACT = "zhijian.seal.act"  # (actor, trace id, event name) of the act being recorded


# --- what is sealed ----------------------------------------------------------------------


def target_of(row: SealedRow) -> str:
    if isinstance(row, FilingRow):
        return f"filings/{row.id}"
    if isinstance(row, ApprovalRow):
        return f"approvals/{row.id}"
    return f"deployments/{row.id}"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _json_or_marker(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return {"unreadable_sha256": _sha256(text)}


def serving_fields(row: SealedRow) -> dict[str, Any]:
    """The fields of a row that a serving decision reads, as plain JSON values. The whole
    body is covered by its hash; the parts named beside it make a mismatch readable."""
    if isinstance(row, FilingRow):
        body = _json_or_marker(row.body)
        classification = body.get("classification", {}) if isinstance(body, dict) else {}
        return {"model": row.model, "version": row.version, "state": row.state,
                "filing_number": row.filing_number,
                "required_approvals": row.required_approvals,
                "approval_round": row.approval_round, "revalidate_time": row.revalidate_time,
                "evidence_sha256": row.evidence_sha256,
                "network_domains": sorted(map(str, classification.get("network_domains", []))),
                "max_data_level": str(classification.get("max_data_level", "")),
                "body_sha256": _sha256(row.body)}
    if isinstance(row, ApprovalRow):
        return {"filing_id": row.filing_id, "approval_round": row.approval_round,
                "approver": row.approver, "decision": row.decision,
                "validation_run": row.validation_run,
                "validation_run_sha256": row.validation_run_sha256, "key_id": row.key_id,
                "signature": bytes(row.signature or b"").hex(),
                "approve_time": row.approve_time, "body_sha256": _sha256(row.body)}
    domains = _json_or_marker(row.network_domains)
    return {"state": row.state, "production_filing": row.production_filing,
            "canary_filing": row.canary_filing, "previous_filing": row.previous_filing,
            "canary_weight": row.canary_weight,
            "network_domains": sorted(domains) if isinstance(domains, list) else domains,
            "fallback_to_last_approved": bool(row.fallback_to_last_approved),
            "suspend_reason": row.suspend_reason}


def fields_sha256(fields: Mapping[str, Any]) -> str:
    return _sha256(canonical_json(dict(fields)))


def serving_sha256(row: SealedRow) -> str:
    return fields_sha256(serving_fields(row))


# --- problems ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SealProblem:
    target: str  # "deployments/x", "filings/y", "approvals/7"
    sequence: int  # the seal event it was checked against (0: none)
    detail: str

    @property
    def text(self) -> str:
        return f"{self.target}: {self.detail}"


class ServingStateMismatch(FailedPrecondition):
    def __init__(self, problems: Sequence[SealProblem]) -> None:
        self.problems = list(problems)
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(
            f"refused: {first.text}{more}. The serving state read by this act does not "
            "match the governance ledger; the deployments it affects are held and do not "
            "serve until the rows match their seals again", reason=REASON,
            metadata={"target": first.target})


def _diff(sealed: Any, fields: Mapping[str, Any]) -> list[str]:
    if not isinstance(sealed, dict):
        return sorted(fields)
    return sorted(k for k in set(sealed) | set(fields) if sealed.get(k) != fields.get(k))


def _problem(ledger: Ledger, session: Session, target: str, sha256: str,
             fields: Mapping[str, Any] | None, pointer: int,
             seal: Any | None) -> SealProblem | None:
    """Why a row (hashing to ``sha256``, pointing at ``pointer``) is not what the newest
    seal of its target (``seal``, a ledger event row, or None) says; None if it is."""
    if seal is None:
        return SealProblem(target, 0, "no governance act ever sealed this row (written "
                                      "behind the registry's back)")
    if (edited := ledger.entry_problem(session, seal)):
        return SealProblem(target, seal.sequence, f"its seal (event {seal.sequence}) is not "
                                                  f"genuine: {edited}")
    if pointer != seal.sequence:
        return SealProblem(target, seal.sequence,
                           f"points at event {pointer}, but its last seal is event "
                           f"{seal.sequence}")
    details = json.loads(seal.details)
    if details.get("sha256") != sha256:
        differing = _diff(details.get("fields"), fields or {})
        named = ", ".join(differing) if differing else "its serving fields"
        return SealProblem(target, seal.sequence,
                           f"{named} differ from its seal (event {seal.sequence})")
    return None


# --- at every governance write ---------------------------------------------------------


def _remember(row: Any, context: Any, *_: Any) -> None:
    """What a row was as a tracked write transaction read it (before the act changed
    it): the hash and pointer checked against the ledger when the act commits."""
    session = getattr(context, "session", None)
    state = inspect(row)
    # A row this process created has no "as read": a reload of its server-set columns
    # after the insert is not a reading of what someone else stored.
    if state.info.get(_CREATED):
        return
    if session is not None and session.info.get(_TRACK):
        # The first reading counts: a savepoint rolled back reloads the same state, and a
        # later reload must not pass the act's own changes off as what it read.
        fields = serving_fields(row)
        if _LOADED not in state.info:
            state.info[_LOADED] = (fields_sha256(fields), row.seal_sequence, fields)
            _hold_on(session, row)


def _created(row: Any, *_: Any) -> None:
    inspect(row).info[_CREATED] = True


def _hold_on(session: Session, row: Any) -> None:
    # The session's identity map holds clean rows weakly; a row flushed early in the act
    # and no longer referenced would be collected before the act is sealed.
    session.info.setdefault(_ROWS, {})[id(row)] = row


def _added(session: Session, row: Any) -> None:
    if session.info.get(_TRACK) and isinstance(row, SEALED_TYPES):
        _hold_on(session, row)


for _cls in SEALED_TYPES:
    event.listen(_cls, "init", _created)
    event.listen(_cls, "load", _remember)
    event.listen(_cls, "refresh", _remember)
event.listen(Session, "transient_to_pending", _added)


def track(session: Session) -> None:
    session.info[_TRACK] = True


def _latest_seal(session: Session, target: str) -> Any | None:
    return session.execute(
        select(LedgerEventRow.__table__).where(
            LedgerEventRow.ledger == GOVERNANCE, LedgerEventRow.action == SEAL_ACTION,
            LedgerEventRow.target == target)
        .order_by(LedgerEventRow.sequence.desc()).limit(1)).one_or_none()


def _loaded(row: SealedRow) -> tuple[str, int, dict[str, Any]] | None:
    state: InstanceState[Any] = inspect(row)
    return state.info.get(_LOADED)


def _as_read(ledger: Ledger, session: Session, row: SealedRow) -> SealProblem | None:
    loaded = _loaded(row)
    if loaded is None:  # created by this act
        return None
    sha256, pointer, fields = loaded
    target = target_of(row)
    return _problem(ledger, session, target, sha256, fields, pointer,
                    _latest_seal(session, target))


def seal_changes(ctx: RegistryContext, session: Session) -> None:
    """At the end of a governance write: refuse it if what it read was not genuine, else
    seal every row it changed, in its own transaction."""
    session.flush()
    # Persistent only: a row deleted, or added in a savepoint that rolled back, has
    # nothing to seal.
    rows = [obj for obj in session.info.get(_ROWS, {}).values() if inspect(obj).persistent]
    adopting = bool(session.info.get(_ADOPTING))
    changed = [row for row in rows if adopting or _changed_here(row)]
    if not changed:
        return
    if not adopting:
        problems = [p for row in _read_by(session, changed)
                    if (p := _as_read(ctx.ledger, session, row)) is not None]
        if problems:
            raise ServingStateMismatch(problems)
    actor, trace_id, act = session.info.get(ACT, (REGISTRY_ACTOR, "", ""))
    changed.sort(key=target_of)
    sealed = [(row, serving_fields(row)) for row in changed]
    appended = ctx.ledger.append(session, GOVERNANCE, [
        EventInput(actor=actor, action=SEAL_ACTION, target=target_of(row), trace_id=trace_id,
                   details={"table": type(row).__tablename__, "fields": fields,
                            "sha256": fields_sha256(fields), "act": act})
        for row, fields in sealed]).appended
    for (row, fields), entry in zip(sealed, appended, strict=True):
        row.seal_sequence, row.seal_sha256 = entry.sequence, fields_sha256(fields)
    session.flush()


def _changed_here(row: SealedRow) -> bool:
    """Created by this transaction, or its serving fields differ from how it read them
    (a row it only read, or changed outside its serving fields, needs no new seal)."""
    loaded = _loaded(row)
    return loaded is None or serving_sha256(row) != loaded[0]


def _read_by(session: Session, changed: Sequence[SealedRow]) -> list[SealedRow]:
    """The rows whose state the changes were decided on: the changed rows themselves, the
    filings a changed deployment serves and every approval of a changed filing."""
    rows: dict[str, SealedRow] = {target_of(row): row for row in changed}
    for row in changed:
        if isinstance(row, DeploymentRow):
            for filing_id in (row.production_filing, row.canary_filing, row.previous_filing):
                filing = session.get(FilingRow, filing_id) if filing_id else None
                if filing is not None:
                    rows.setdefault(target_of(filing), filing)
        elif isinstance(row, FilingRow):
            for approval in session.scalars(select(ApprovalRow).where(
                    ApprovalRow.filing_id == row.id)):
                rows.setdefault(target_of(approval), approval)
    return list(rows.values())


# --- whole-database check ----------------------------------------------------------------


_CHUNK = 500


def find_problems(ledger: Ledger, session: Session) -> list[SealProblem]:
    """Every sealed row against the newest seal of its target, and every seal whose row
    is gone."""
    events = LedgerEventRow.__table__
    latest: dict[str, int] = {target: sequence for target, sequence in session.execute(
        select(LedgerEventRow.target, func.max(LedgerEventRow.sequence))
        .where(LedgerEventRow.ledger == GOVERNANCE, LedgerEventRow.action == SEAL_ACTION)
        .group_by(LedgerEventRow.target)).all()}
    seals: dict[int, Any] = {}
    wanted = sorted(latest.values())
    for start in range(0, len(wanted), _CHUNK):
        for seal in session.execute(select(events).where(
                LedgerEventRow.ledger == GOVERNANCE,
                LedgerEventRow.sequence.in_(wanted[start:start + _CHUNK]))):
            seals[seal.sequence] = seal
    problems: list[SealProblem] = []
    seen: set[str] = set()
    for cls in SEALED_TYPES:
        row: SealedRow
        for row in session.scalars(select(cls)):
            target = target_of(row)
            seen.add(target)
            fields = serving_fields(row)
            sequence = latest.get(target)
            problem = _problem(ledger, session, target, fields_sha256(fields), fields,
                               row.seal_sequence,
                               seals.get(sequence) if sequence is not None else None)
            if problem is not None:
                problems.append(problem)
    for target in sorted(set(latest) - seen):
        problems.append(SealProblem(target, latest[target],
                                    "sealed on the ledger, but the row is gone"))
    return problems


def affected_deployments(session: Session, problems: Iterable[SealProblem]) -> set[str]:
    """Deployments that serve what a problem is about."""
    affected: set[str] = set()
    for problem in problems:
        kind, _, key = problem.target.partition("/")
        filing_id: str | None = None
        if kind == "deployments":
            affected.add(key)
        elif kind == "filings":
            filing_id = key
        elif kind == "approvals" and key.isdigit():
            approval = session.get(ApprovalRow, int(key))
            filing_id = approval.filing_id if approval is not None else None
        if filing_id:
            affected |= set(session.scalars(select(DeploymentRow.id).where(
                (DeploymentRow.production_filing == filing_id)
                | (DeploymentRow.canary_filing == filing_id)
                | (DeploymentRow.previous_filing == filing_id))))
    return affected


class ServingHolds:
    """Deployments held because their serving state does not match the ledger, and the
    problems already alerted (so a standing mismatch is alerted once, not every check)."""

    def __init__(self) -> None:
        self._held: dict[str, str] = {}
        self._alerted: set[SealProblem] = set()
        self._lock = threading.Lock()

    def reason(self, deployment: str) -> str | None:
        return self._held.get(deployment)

    def held(self) -> dict[str, str]:
        with self._lock:
            return dict(self._held)

    def new_problems(self, problems: Iterable[SealProblem]) -> list[SealProblem]:
        with self._lock:
            return [p for p in problems if p not in self._alerted]

    def apply(self, held: Mapping[str, str], alerted: Iterable[SealProblem], *,
              replace: bool) -> set[str]:
        """Set (replace=True, after a full check) or add to the holds; returns the
        deployments whose hold status or reason changed."""
        with self._lock:
            before = dict(self._held)
            if replace:
                self._held = dict(held)
                self._alerted = set(alerted)
            else:
                self._held.update(held)
                self._alerted |= set(alerted)
            return {d for d in set(before) | set(self._held)
                    if before.get(d) != self._held.get(d)}


def _hold_reason(problems: Sequence[SealProblem]) -> str:
    first = problems[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return (f"held by the registry: serving state does not match the governance ledger — "
            f"{first.text}{more}")


def _apply(ctx: RegistryContext, problems: Sequence[SealProblem], *, replace: bool
           ) -> list[SealProblem]:
    with ctx.write() as session:
        if replace:
            # Under the append lock: a hold set by an act refused since the check read the
            # rows must not be released on that older reading.
            problems = find_problems(ctx.ledger, session)
        held: dict[str, str] = {}
        for problem in problems:
            for deployment in affected_deployments(session, [problem]):
                held.setdefault(deployment, _hold_reason([problem]))
        new = ctx.holds.new_problems(problems)
        released = set(ctx.holds.held()) - set(held) if replace else set()
        for problem in new:
            detail = {"problem": problem.detail, "seal_event": problem.sequence,
                      "held": sorted(affected_deployments(session, [problem])),
                      "action": "held: the affected deployments do not serve until the "
                                "row matches its seal again"}
            session.add(AlertRow(kind=MISMATCH_ALERT, target=problem.target,
                                 detail=json.dumps(detail, sort_keys=True),
                                 create_time=ctx.clock()))
            ctx.record(session, REGISTRY_ACTOR, f"alert.{MISMATCH_ALERT}", problem.target,
                       detail)
            log.error("serving state of %s does not match the ledger: %s", problem.target,
                      problem.detail)
        for deployment in sorted(released):
            ctx.record(session, REGISTRY_ACTOR, "serving.hold_released",
                       f"deployments/{deployment}",
                       {"reason": "its rows match their seals on the ledger again"})
        changed = ctx.holds.apply(held, problems, replace=replace)
        if changed:
            ctx.serving_changed(session, changed)
    return list(problems)


def hold(ctx: RegistryContext, problems: Sequence[SealProblem]) -> None:
    """A refused act found these: hold what they affect and alert, at once."""
    try:
        _apply(ctx, problems, replace=False)
    except Exception:  # the act is refused whatever happens here; the next check retries
        log.exception("holding after a serving-state mismatch failed")


def check(ctx: RegistryContext) -> list[SealProblem]:
    """Check every row; hold what mismatches, release what matches again."""
    with ctx.ledger.snapshot() as session:
        problems = find_problems(ctx.ledger, session)
    if problems or ctx.holds.held():
        # Confirmed (and applied) under the governance append lock.
        return _apply(ctx, problems, replace=True)
    return problems


def adopt_unsealed(ctx: RegistryContext) -> int:
    """Seal, once, the rows of a database that predates seals: only while the ledger
    holds no seal at all (once one exists, an unsealed row is an edit). Returns how many
    rows were sealed."""
    with ctx.write() as session:
        if session.scalar(select(func.count()).select_from(LedgerEventRow).where(
                LedgerEventRow.ledger == GOVERNANCE,
                LedgerEventRow.action.in_((SEAL_ACTION, ADOPT_ACTION)))):
            return 0
        rows: list[SealedRow] = []
        for cls in SEALED_TYPES:
            rows.extend(session.scalars(select(cls)))
        if not rows:
            return 0
        session.info[_ADOPTING] = True
        ctx.record(session, REGISTRY_ACTOR, ADOPT_ACTION, "ledgers/governance", {
            "rows": len(rows),
            "reason": "first start with serving seals: the rows present are sealed as found"})
        return len(rows)
