"""Separation of duties, four eyes, signatures linked to a passed validation, and exactly
one transition to APPROVED when approvers act at the same time."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from governance.harness import ADMIN, ADMIN2, DEVELOPER, VALIDATOR, Harness, complete_filing
from registry import filings, validation_jobs
from registry.context import Actor
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as pb


def refused(fn: object, *args: object) -> ZhijianError:
    with pytest.raises(ZhijianError) as raised:
        fn(*args)  # type: ignore[operator]
    return raised.value


def test_the_submitter_cannot_approve_their_own_filing(harness: Harness) -> None:
    filing, run = harness.validated()
    developer_admin = Actor(DEVELOPER.subject, frozenset({"platform_admin"}))
    harness.enroll(developer_admin)
    error = refused(harness.approve, filing, run, developer_admin)
    assert (error.code.name, error.reason) == ("PERMISSION_DENIED",
                                               "FILING_SEPARATION_OF_DUTIES")
    assert harness.get(filing.name).state == pb.FILING_STATE_VALIDATED


def test_a_developer_cannot_validate_and_the_validator_cannot_approve(harness: Harness) -> None:
    filing = harness.submitted()
    developer_validator = Actor(DEVELOPER.subject, frozenset({"validator"}))
    error = refused(validation_jobs.start, harness.ctx, developer_validator,
                    pb.ValidateFilingRequest(name=filing.name))
    assert error.reason == "FILING_SEPARATION_OF_DUTIES"
    run = harness.validate(filing)
    validator_admin = Actor(VALIDATOR.subject, frozenset({"platform_admin"}))
    harness.enroll(validator_admin)
    error = refused(harness.approve, harness.get(filing.name), run, validator_admin)
    assert error.reason == "FILING_SEPARATION_OF_DUTIES"


def test_submitting_without_a_validation_plan_is_refused(harness: Harness) -> None:
    draft = harness.draft(plan=False)
    error = refused(filings.submit, harness.ctx, DEVELOPER,
                    pb.SubmitFilingRequest(name=draft.name))
    assert (error.code.name, error.reason) == ("FAILED_PRECONDITION", "FILING_INCOMPLETE")
    assert any(v.field.startswith("validation_plan") for v in error.violations)
    assert harness.get(draft.name).state == pb.FILING_STATE_DRAFT


def test_an_approval_signed_with_another_key_is_refused(harness: Harness) -> None:
    filing, run = harness.validated()
    # ADMIN presents ADMIN2's enrolled key id and signature: not ADMIN's key.
    with pytest.raises(ZhijianError) as raised:
        harness.approve(filing, run, ADMIN, key_of=ADMIN2)
    error = raised.value
    assert (error.code.name, error.reason) == ("PERMISSION_DENIED", "SIGNING_KEY_NOT_ENROLLED")
    # ADMIN's own key id, but the signature made by another key.
    statement = b"whatever"
    from zhijian import identity

    forged = identity.sign(harness.keys[ADMIN2.subject], statement)
    error = refused(filings.approve, harness.ctx, ADMIN, pb.ApproveFilingRequest(
        name=filing.name, validation_run=run.name, validation_run_sha256=run.record_sha256,
        signature=forged, key_id=harness.key_id(ADMIN)))
    assert error.reason == "APPROVAL_SIGNATURE_INVALID"
    assert harness.get(filing.name).state == pb.FILING_STATE_VALIDATED
    assert not harness.get(filing.name).approvals


def test_a_signature_over_other_conditions_does_not_verify(harness: Harness) -> None:
    from zhijian import identity

    filing, run = harness.validated()
    statement = identity.approval_statement(
        filing=filing.name, evidence_sha256=filing.evidence_sha256,
        validation_run_sha256=run.record_sha256, decision="approve", conditions=[])
    error = refused(filings.approve, harness.ctx, ADMIN, pb.ApproveFilingRequest(
        name=filing.name, validation_run=run.name, validation_run_sha256=run.record_sha256,
        conditions=["only for Class II"],  # not what was signed
        signature=identity.sign(harness.keys[ADMIN.subject], statement),
        key_id=harness.key_id(ADMIN)))
    assert error.reason == "APPROVAL_SIGNATURE_INVALID"


def test_approval_needs_the_passed_run_by_its_hash(harness: Harness) -> None:
    filing, run = harness.validated()
    tampered = pb.ValidationRun()
    tampered.CopyFrom(run)
    tampered.record_sha256 = "f" * 64
    error = refused(harness.approve, filing, tampered)
    assert error.reason == "VALIDATION_RUN_HASH_MISMATCH"


def test_a_failed_validation_cannot_be_approved(harness: Harness) -> None:
    filing = harness.submitted()
    run = harness.validate(filing, passed=False)
    assert not run.passed and run.failures
    error = refused(harness.approve, harness.get(filing.name), run)
    assert error.reason == "ILLEGAL_FILING_TRANSITION"


def test_high_risk_needs_two_distinct_approvers(harness: Harness) -> None:
    filing, run = harness.validated(tier="high")
    assert filing.required_approvals == 2
    once = harness.approve(filing, run, ADMIN)
    assert once.state == pb.FILING_STATE_VALIDATED
    error = refused(harness.approve, once, run, ADMIN)
    assert (error.code.name, error.reason) == ("ALREADY_EXISTS", "APPROVAL_ALREADY_RECORDED")
    twice = harness.approve(once, run, ADMIN2)
    assert twice.state == pb.FILING_STATE_APPROVED
    assert [a.approver for a in twice.approvals] == [ADMIN.subject, ADMIN2.subject]
    to_approved = [c for c in twice.state_history if c.to_state == pb.FILING_STATE_APPROVED]
    assert len(to_approved) == 1
    assert twice.revalidate_time.seconds > twice.approve_time.seconds


@pytest.mark.parametrize("tier", ["medium", "high"])
def test_concurrent_approvals_make_exactly_one_transition(harness: Harness, tier: str) -> None:
    filing, run = harness.validated(tier=tier)
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def approve(actor: Actor) -> None:
        barrier.wait()
        try:
            outcomes[actor.subject] = harness.approve(filing, run, actor)
        except ZhijianError as error:
            outcomes[actor.subject] = error

    threads = [threading.Thread(target=approve, args=(a,)) for a in (ADMIN, ADMIN2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    final = harness.get(filing.name)
    assert final.state == pb.FILING_STATE_APPROVED
    assert len([c for c in final.state_history
                if c.to_state == pb.FILING_STATE_APPROVED]) == 1
    events = harness.ctx.ledger.list_events("governance", page_size=1000, target=filing.name,
                                            action="filing.approve")
    assert sum(1 for e in events if e.details.get("to") == "APPROVED") == 1
    errors = [o for o in outcomes.values() if isinstance(o, ZhijianError)]
    if tier == "high":  # both approvals are needed and both land
        assert not errors and len(final.approvals) == 2
    else:  # the second finds the filing approved already
        assert len(errors) == 1 and errors[0].reason == "ILLEGAL_FILING_TRANSITION"
        assert len(final.approvals) == 1


def test_renewal_moves_the_revalidation_date(harness: Harness) -> None:
    filing, first = harness.approved()
    harness.clock.advance(100 * 86400)
    error = refused(harness.renew, filing, first)
    assert error.reason == "VALIDATION_RUN_STALE"
    fresh = harness.validate(filing)
    renewed = harness.renew(harness.get(filing.name), fresh)
    assert renewed.state == pb.FILING_STATE_APPROVED
    assert renewed.revalidate_time.seconds > filing.revalidate_time.seconds


def test_due_filings_are_warned_once_then_expire(harness: Harness) -> None:
    filing, _ = harness.approved()
    harness.clock.advance(160 * 86400)  # within 30 days of the 180-day date
    filings.expire_due(harness.ctx)
    filings.expire_due(harness.ctx)
    due = harness.get(filing.name)
    assert due.revalidation_due and due.state == pb.FILING_STATE_APPROVED
    warnings = harness.ctx.ledger.list_events("governance", page_size=100, target=filing.name,
                                              action="filing.revalidation_due")
    assert len(warnings) == 1
    harness.clock.advance(30 * 86400)
    filings.expire_due(harness.ctx)
    assert harness.get(filing.name).state == pb.FILING_STATE_EXPIRED


def test_evidence_is_frozen_at_submission(harness: Harness) -> None:
    filing = harness.submitted()
    assert len(filing.evidence_sha256) == 64
    assert filing.identity.artifacts and all(len(a.sha256) == 64
                                             for a in filing.identity.artifacts)
    assert all(use.snapshot.sha256 for use in filing.datasets)
    # The dataset file changes after registration: a new submission would be refused.
    draft = harness.draft()
    train = harness.tmp / "train.jsonl"
    train.write_text(train.read_text() + '{"text": "late addition"}\n')
    error = refused(filings.submit, harness.ctx, DEVELOPER,
                    pb.SubmitFilingRequest(name=draft.name))
    assert error.reason == "DATASET_CHANGED"


def test_data_above_the_models_clearance_cannot_be_filed(harness: Harness) -> None:
    from registry import catalog
    from zhijian.types.v1 import ai_result_pb2 as types_pb

    path = harness.tmp / "patients.jsonl"
    path.write_text('{"text": "patient record", "product_category": "device"}\n')
    catalog.register(harness.ctx, DEVELOPER, pb.RegisterDatasetRequest(
        dataset_id="ds-important", dataset=pb.Dataset(
            display_name="important", uri=str(path), source="hospital", legal_basis="contract",
            data_level=types_pb.DATA_LEVEL_L3_IMPORTANT)))
    draft = harness.draft()  # classified for L2 at most
    changed = pb.Filing(name=draft.name)
    changed.datasets.extend(draft.datasets)
    changed.datasets[0].dataset = "datasets/ds-important"
    filings.update(harness.ctx, DEVELOPER, pb.UpdateFilingRequest(
        filing=changed, update_mask={"paths": ["datasets"]}))
    error = refused(filings.submit, harness.ctx, DEVELOPER,
                    pb.SubmitFilingRequest(name=draft.name))
    assert error.reason == "DATASET_ABOVE_MODEL_DATA_LEVEL"


def test_approvals_of_different_runs_do_not_add_up(harness: Harness) -> None:
    filing, run = harness.validated(tier="high")
    harness.approve(filing, run, ADMIN)
    filing = harness.approve(harness.get(filing.name), run, ADMIN2)
    assert filing.state == pb.FILING_STATE_APPROVED
    # Renewal: ADMIN signs for one run; later ADMIN2 signs for a newer one.
    harness.clock.advance(100 * 86400)
    older = harness.validate(filing)
    harness.renew(harness.get(filing.name), older, ADMIN)
    harness.clock.advance(86400)
    newer = harness.validate(filing)
    half = harness.renew(harness.get(filing.name), newer, ADMIN2)
    assert half.revalidate_time == filing.revalidate_time, "two runs made one renewal"
    full = harness.renew(half, newer, ADMIN)
    assert full.revalidate_time.seconds > filing.revalidate_time.seconds


def _submit_with_plan(harness: Harness, change: Any) -> ZhijianError:
    filing = complete_filing(harness.mlflow.new_version(), harness.datasets,
                             pb.IMPACT_LEVEL_MEDIUM)
    change(filing.validation_plan)
    draft = filings.create(harness.ctx, DEVELOPER, pb.CreateFilingRequest(filing=filing))
    error = refused(filings.submit, harness.ctx, DEVELOPER,
                    pb.SubmitFilingRequest(name=draft.name))
    assert harness.get(draft.name).state == pb.FILING_STATE_DRAFT
    return error


def test_a_plan_for_an_unknown_task_type_is_refused_at_submission(harness: Harness) -> None:
    error = _submit_with_plan(harness, lambda plan: setattr(plan, "task_type", "regression"))
    assert (error.code.name, error.reason) == ("FAILED_PRECONDITION", "FILING_INCOMPLETE")
    (violation,) = [v for v in error.violations if v.field == "validation_plan.task_type"]
    assert violation.reason == "UNKNOWN_TASK_TYPE" and "span_extraction" in violation.description


def test_a_plan_names_only_its_evaluators_metrics_and_perturbations(harness: Harness) -> None:
    def span_plan_with_text_checks(plan: pb.ValidationPlan) -> None:
        plan.task_type = "span_extraction"  # the plan still names accuracy
        plan.robustness.CopyFrom(pb.RobustnessPlan(perturbations=["width"], target="date",
                                                   min_stability=0.9))

    error = _submit_with_plan(harness, span_plan_with_text_checks)
    fields = {v.field: v for v in error.violations}
    assert "exact_f1" in fields["validation_plan.metrics[0].metric"].description
    perturbation = fields["validation_plan.robustness.perturbations[0]"]
    assert perturbation.reason == "UNKNOWN_PERTURBATION"


def test_test_data_of_another_task_type_is_refused_at_submission(harness: Harness) -> None:
    def span_plan(plan: pb.ValidationPlan) -> None:
        plan.task_type = "span_extraction"
        plan.metrics[0].metric = "exact_f1"

    # The harness's test dataset holds text-classification records.
    error = _submit_with_plan(harness, span_plan)
    assert (error.code.name, error.reason) == ("FAILED_PRECONDITION",
                                               "DATASET_TASK_TYPE_MISMATCH")
