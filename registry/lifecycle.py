"""The filing lifecycle as one table: which action is legal in which state, and where
it leads. Pure, so that it can be tested state by state without a database.

    DRAFT -submit-> SUBMITTED -validation passed-> VALIDATED -approvals complete-> APPROVED
                        |                              `-reject-> REJECTED
                        `-validation failed-> VALIDATION_FAILED
    APPROVED -suspend-> SUSPENDED -reinstate-> APPROVED (or EXPIRED if the date passed)
    APPROVED -revalidation date passes-> EXPIRED -renew-> APPROVED
    any non-final state -retire-> RETIRED
"""

from __future__ import annotations

from enum import StrEnum

from zhijian.registry.v1 import registry_service_pb2 as pb

State = pb.FilingState


class Action(StrEnum):
    UPDATE = "update"
    SUBMIT = "submit"
    VALIDATE = "validate"  # start a validation run
    VALIDATION_PASSED = "validation_passed"
    VALIDATION_FAILED = "validation_failed"
    APPROVE = "approve"
    REJECT = "reject"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    EXPIRE = "expire"
    RENEW = "renew"
    RETIRE = "retire"


DRAFT = pb.FILING_STATE_DRAFT
SUBMITTED = pb.FILING_STATE_SUBMITTED
VALIDATED = pb.FILING_STATE_VALIDATED
VALIDATION_FAILED = pb.FILING_STATE_VALIDATION_FAILED
APPROVED = pb.FILING_STATE_APPROVED
REJECTED = pb.FILING_STATE_REJECTED
SUSPENDED = pb.FILING_STATE_SUSPENDED
EXPIRED = pb.FILING_STATE_EXPIRED
RETIRED = pb.FILING_STATE_RETIRED

ALL_STATES: tuple[int, ...] = (DRAFT, SUBMITTED, VALIDATED, VALIDATION_FAILED, APPROVED,
                               REJECTED, SUSPENDED, EXPIRED, RETIRED)
FINAL_STATES = frozenset({VALIDATION_FAILED, REJECTED, RETIRED})
SERVING_STATES = frozenset({APPROVED})

# (state, action) -> next state. Approve and renew are completed by the last required
# approval; before that they leave the state as it is (see `next_state`).
_TABLE: dict[tuple[int, Action], int] = {
    (DRAFT, Action.UPDATE): DRAFT,
    (DRAFT, Action.SUBMIT): SUBMITTED,
    (SUBMITTED, Action.VALIDATE): SUBMITTED,
    (SUBMITTED, Action.VALIDATION_PASSED): VALIDATED,
    (SUBMITTED, Action.VALIDATION_FAILED): VALIDATION_FAILED,
    (VALIDATED, Action.APPROVE): APPROVED,
    (VALIDATED, Action.REJECT): REJECTED,
    (APPROVED, Action.SUSPEND): SUSPENDED,
    (APPROVED, Action.EXPIRE): EXPIRED,
    (SUSPENDED, Action.REINSTATE): APPROVED,
    # Renewal: a new validation run and a new signed approval on a live or lapsed filing.
    (APPROVED, Action.VALIDATE): APPROVED,
    (APPROVED, Action.VALIDATION_PASSED): APPROVED,
    (APPROVED, Action.VALIDATION_FAILED): APPROVED,
    (APPROVED, Action.RENEW): APPROVED,
    (EXPIRED, Action.VALIDATE): EXPIRED,
    (EXPIRED, Action.VALIDATION_PASSED): EXPIRED,
    (EXPIRED, Action.VALIDATION_FAILED): EXPIRED,
    (EXPIRED, Action.RENEW): APPROVED,
}
for _state in ALL_STATES:
    if _state not in FINAL_STATES:
        _TABLE[(_state, Action.RETIRE)] = RETIRED


class IllegalTransition(Exception):
    def __init__(self, state: int, action: Action) -> None:
        super().__init__(f"cannot {action.value} a filing in state {state_name(state)}")
        self.state = state
        self.action = action


def state_name(state: int) -> str:
    return pb.FilingState.Name(state).removeprefix("FILING_STATE_")


def allowed(state: int, action: Action) -> bool:
    return (state, action) in _TABLE


def next_state(state: int, action: Action, *, approvals_complete: bool = True,
               expired: bool = False) -> int:
    """The state after ``action``; raises ``IllegalTransition`` if it is not allowed.

    ``approvals_complete``: whether this approval (or renewal) is the last one required.
    ``expired``: whether the revalidation date has passed (a reinstated filing whose
    approval lapsed meanwhile comes back EXPIRED, not APPROVED).
    """
    target = _TABLE.get((state, action))
    if target is None:
        raise IllegalTransition(state, action)
    if action in (Action.APPROVE, Action.RENEW) and not approvals_complete:
        return state
    if action is Action.REINSTATE and expired:
        return EXPIRED
    return target
