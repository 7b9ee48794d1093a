"""Every filing state × every registry action, through the registry itself (roles,
separation of duties, signatures, the database and the ledger), with the outcome of each
written out by hand below. A refused action must leave the filing and the ledger as they
were."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from governance.harness import ADMIN, DEVELOPER, VALIDATOR, Harness
from registry import filings, validation_jobs
from registry.lifecycle import state_name
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as pb

STATES = ("DRAFT", "SUBMITTED", "VALIDATED", "VALIDATION_FAILED", "APPROVED", "REJECTED",
          "SUSPENDED", "EXPIRED", "RETIRED")
ACTIONS = ("update", "submit", "validate", "approve", "reject", "suspend", "reinstate",
           "renew", "retire", "expire")

ILLEGAL = "ILLEGAL_FILING_TRANSITION"
FROZEN = "FILING_FROZEN"
X, FZ = ILLEGAL, FROZEN
D, S, V, VF, AP = "DRAFT", "SUBMITTED", "VALIDATED", "VALIDATION_FAILED", "APPROVED"
RJ, SU, EX, RT = "REJECTED", "SUSPENDED", "EXPIRED", "RETIRED"
# state -> outcome of each action in ACTIONS order: the state after, or the refusal reason.
EXPECTED: dict[str, tuple[str, ...]] = {
    #   update submit valid. approve reject suspend reinst. renew retire expire
    D:  (D,     S,     X,     X,      X,     X,      X,      X,    RT,    D),
    S:  (FZ,    X,     S,     X,      X,     X,      X,      X,    RT,    S),
    V:  (FZ,    X,     X,     AP,     RJ,    X,      X,      X,    RT,    V),
    VF: (FZ,    X,     X,     X,      X,     X,      X,      X,    X,     VF),
    AP: (FZ,    X,     AP,    X,      X,     SU,     X,      AP,   RT,    EX),
    RJ: (FZ,    X,     X,     X,      X,     X,      X,      X,    X,     RJ),
    SU: (FZ,    X,     X,     X,      X,     X,      AP,     X,    RT,    SU),
    EX: (FZ,    X,     EX,    X,      X,     X,      X,      AP,   RT,    EX),
    RT: (FZ,    X,     X,     X,      X,     X,      X,      X,    X,     RT),
}

HALF_YEAR_S = 181 * 86400


def bring_to(h: Harness, state: str) -> tuple[pb.Filing, pb.ValidationRun | None]:
    """A filing in ``state``, reached only through legitimate registry actions."""
    if state == "DRAFT":
        return h.draft(), None
    if state == "SUBMITTED":
        return h.submitted(), None
    if state == "VALIDATION_FAILED":
        filing = h.submitted()
        h.validate(filing, passed=False)
        return h.get(filing.name), None
    if state == "RETIRED":
        draft = h.draft()
        return filings.retire(h.ctx, ADMIN, pb.RetireFilingRequest(name=draft.name,
                                                                    reason="withdrawn")), None
    filing, run = h.validated()
    if state == "VALIDATED":
        return filing, run
    if state == "REJECTED":
        return h.reject(filing), run
    filing = h.approve(filing, run)
    if state == "SUSPENDED":
        filing = filings.suspend(h.ctx, ADMIN, pb.SuspendFilingRequest(name=filing.name,
                                                                       reason="incident 7"))
    elif state == "EXPIRED":
        h.clock.advance(HALF_YEAR_S)
        filings.expire_due(h.ctx)
        filing = h.get(filing.name)
    return filing, run


def attempt(h: Harness, action: str, filing: pb.Filing,
            run: pb.ValidationRun | None) -> Callable[[], object]:
    name = filing.name
    if action == "update":
        changed = pb.Filing(name=name, purpose=filing.purpose)
        changed.purpose.intended_use = "a clearer statement of use"
        return lambda: filings.update(h.ctx, DEVELOPER, pb.UpdateFilingRequest(
            filing=changed, update_mask={"paths": ["purpose"]}))
    if action == "submit":
        return lambda: filings.submit(h.ctx, DEVELOPER, pb.SubmitFilingRequest(name=name))
    if action == "validate":
        return lambda: validation_jobs.start(h.ctx, VALIDATOR,
                                             pb.ValidateFilingRequest(name=name))
    if action == "approve":
        # Any passed run the filing has (or a stand-in the registry must refuse anyway).
        used = run or pb.ValidationRun(name=f"{name}/validationRuns/r-none",
                                       record_sha256="0" * 64)
        return lambda: h.approve(filing, used)
    if action == "reject":
        return lambda: h.reject(filing)
    if action in ("suspend", "reinstate", "retire"):
        request = {"suspend": pb.SuspendFilingRequest, "reinstate": pb.ReinstateFilingRequest,
                   "retire": pb.RetireFilingRequest}[action](name=name, reason="drill")
        call = {"suspend": filings.suspend, "reinstate": filings.reinstate,
                "retire": filings.retire}[action]
        return lambda: call(h.ctx, ADMIN, request)  # type: ignore[operator]
    if action == "renew":
        def renew() -> object:
            fresh = run
            if filing.state in (pb.FILING_STATE_APPROVED, pb.FILING_STATE_EXPIRED):
                fresh = h.validate(filing)  # renewal needs a run newer than the approval
            used = fresh or pb.ValidationRun(name=f"{name}/validationRuns/r-none",
                                             record_sha256="0" * 64)
            return h.renew(filing, used)
        return renew
    assert action == "expire"

    def expire() -> object:
        h.clock.advance(HALF_YEAR_S)
        return filings.expire_due(h.ctx)
    return expire


CASES = [(state, action, EXPECTED[state][i]) for state in STATES
         for i, action in enumerate(ACTIONS)]


def test_the_table_covers_every_state_and_api_action() -> None:
    assert set(EXPECTED) == {state_name(s) for s in pb.FilingState.values() if s}
    assert all(len(row) == len(ACTIONS) for row in EXPECTED.values())


@pytest.mark.parametrize(("state", "action", "expected"), CASES,
                         ids=[f"{s}-{a}" for s, a, _ in CASES])
def test_action_in_state(harness: Harness, state: str, action: str, expected: str) -> None:
    filing, run = bring_to(harness, state)
    assert state_name(filing.state) == state
    act = attempt(harness, action, filing, run)
    head = harness.governance_head()
    if expected in STATES:
        act()
        after = harness.get(filing.name)
        assert state_name(after.state) == expected
        if expected != state or action not in ("expire",):
            assert harness.governance_head() > head, "the act is not on the ledger"
        return
    with pytest.raises(ZhijianError) as refused:
        act()
    assert refused.value.reason == expected
    assert refused.value.code.name == "FAILED_PRECONDITION"
    after = harness.get(filing.name)
    assert after.state == filing.state
    # Renewal may first record a (legal) validation run; nothing else may be written.
    if action != "renew":
        assert harness.governance_head() == head, "a refused act left a ledger entry"
