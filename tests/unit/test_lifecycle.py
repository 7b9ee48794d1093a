"""Every filing state × every action, with the expected outcome written out by hand."""

from __future__ import annotations

import pytest

from registry.lifecycle import (
    ALL_STATES,
    APPROVED,
    DRAFT,
    EXPIRED,
    REJECTED,
    RETIRED,
    SUBMITTED,
    SUSPENDED,
    VALIDATED,
    VALIDATION_FAILED,
    Action,
    IllegalTransition,
    next_state,
)

X = None  # illegal
A = Action
D, S, V, VF, AP = DRAFT, SUBMITTED, VALIDATED, VALIDATION_FAILED, APPROVED
RJ, SU, EX, RT = REJECTED, SUSPENDED, EXPIRED, RETIRED
COLUMNS = (A.UPDATE, A.SUBMIT, A.VALIDATE, A.VALIDATION_PASSED, A.VALIDATION_FAILED, A.APPROVE,
           A.REJECT, A.SUSPEND, A.REINSTATE, A.EXPIRE, A.RENEW, A.RETIRE)
EXPECTED: dict[int, tuple[int | None, ...]] = {
    #    update submit valid. passed failed approve reject suspend reinst. expire renew retire
    D:  (D,     S,     X,     X,     X,     X,      X,     X,      X,      X,     X,    RT),
    S:  (X,     X,     S,     V,     VF,    X,      X,     X,      X,      X,     X,    RT),
    V:  (X,     X,     X,     X,     X,     AP,     RJ,    X,      X,      X,     X,    RT),
    VF: (X,     X,     X,     X,     X,     X,      X,     X,      X,      X,     X,    X),
    AP: (X,     X,     AP,    AP,    AP,    X,      X,     SU,     X,      EX,    AP,   RT),
    RJ: (X,     X,     X,     X,     X,     X,      X,     X,      X,      X,     X,    X),
    SU: (X,     X,     X,     X,     X,     X,      X,     X,      AP,     X,     X,    RT),
    EX: (X,     X,     EX,    EX,    EX,    X,      X,     X,      X,      X,     AP,   RT),
    RT: (X,     X,     X,     X,     X,     X,      X,     X,      X,      X,     X,    X),
}

CASES = [(state, action, EXPECTED[state][i]) for state in ALL_STATES
         for i, action in enumerate(COLUMNS)]


def test_the_matrix_covers_every_state_and_action() -> None:
    assert set(EXPECTED) == set(ALL_STATES)
    assert set(COLUMNS) == set(Action)
    assert all(len(row) == len(COLUMNS) for row in EXPECTED.values())


@pytest.mark.parametrize(("state", "action", "expected"), CASES,
                         ids=[f"{s}-{a.value}" for s, a, _ in CASES])
def test_transition(state: int, action: Action, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(IllegalTransition) as raised:
            next_state(state, action)
        assert action.value in str(raised.value)
    else:
        assert next_state(state, action) == expected


def test_an_incomplete_approval_leaves_the_filing_validated() -> None:
    assert next_state(VALIDATED, A.APPROVE, approvals_complete=False) == VALIDATED
    assert next_state(EXPIRED, A.RENEW, approvals_complete=False) == EXPIRED


def test_reinstating_after_the_revalidation_date_gives_expired() -> None:
    assert next_state(SUSPENDED, A.REINSTATE, expired=True) == EXPIRED
    assert next_state(SUSPENDED, A.REINSTATE, expired=False) == APPROVED
