"""What serving decisions read is bound to the governance ledger: a filing, approval or
deployment row edited beside the ledger — or pointing at another row's event, or at an
older event of its own — is found at the next act that reads it, at every check and by
verification, and the model it affects stops serving until the row is restored.

The edits are made with plain SQL on the registry's database, as someone with database
access and no ledger key would make them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from governance.harness import ADMIN, ADMIN2, Harness
from registry import deployments, listing, seals
from registry.schema import AlertRow, DeploymentRow, FilingRow
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

MODEL = "tiny-classifier"
NAME = f"deployments/{MODEL}"
INTERNET, EXTRANET, INTRANET = (types_pb.NETWORK_DOMAIN_INTERNET,
                                types_pb.NETWORK_DOMAIN_EXTRANET,
                                types_pb.NETWORK_DOMAIN_INTRANET)


def serving(h: Harness, domains: tuple[Any, ...] = (INTRANET,)) -> pb.Filing:
    deployments.create(h.ctx, ADMIN, pb.CreateDeploymentRequest(
        deployment_id=MODEL, deployment=pb.Deployment(network_domains=list(domains))))
    filing, _ = h.approved()
    deployments.promote(h.ctx, ADMIN, pb.PromoteDeploymentRequest(
        name=NAME, filing=filing.name, reason="first version"))
    return filing


def sql(h: Harness, statement: str, **params: Any) -> Any:
    with h.ctx.db.engine.begin() as connection:
        return connection.execute(text(statement), params)


def widen_behind_the_ledger(h: Harness, filing: pb.Filing) -> None:
    """The attack: the filing cleared for the internet and L4, the deployment widened."""
    filing_id = filing.name.removeprefix("filings/")
    body = json.loads(sql(h, "SELECT body FROM filings WHERE id = :id", id=filing_id).scalar())
    body["classification"]["network_domains"] = [
        "NETWORK_DOMAIN_INTERNET", "NETWORK_DOMAIN_EXTRANET", "NETWORK_DOMAIN_INTRANET"]
    body["classification"]["max_data_level"] = "DATA_LEVEL_L4_CORE"
    sql(h, "UPDATE filings SET body = :body WHERE id = :id", body=json.dumps(body),
        id=filing_id)
    sql(h, "UPDATE deployments SET network_domains = :domains WHERE id = :id",
        domains=json.dumps([INTERNET, EXTRANET, INTRANET]), id=MODEL)


def refusal(call: Any) -> ZhijianError:
    with pytest.raises(ZhijianError) as refused:
        call()
    return refused.value


def suspend(h: Harness) -> pb.Deployment:
    return deployments.suspend(h.ctx, ADMIN, pb.SuspendDeploymentRequest(name=NAME,
                                                                         reason="drill"))


def resume(h: Harness) -> pb.Deployment:
    return deployments.resume(h.ctx, ADMIN, pb.ResumeDeploymentRequest(name=NAME,
                                                                       reason="drill over"))


def mismatches(h: Harness) -> list[pb.LedgerProblem]:
    report = listing.verify(h.ctx, "governance")
    found = [p for p in report.problems
             if p.kind == pb.LEDGER_PROBLEM_KIND_SERVING_STATE_MISMATCH]
    assert report.ok is not bool(found)
    return found


def test_the_attack_serves_nowhere_new_after_a_legitimate_suspend_and_resume(
        harness: Harness) -> None:
    filing = serving(harness)
    widen_behind_the_ledger(harness, filing)
    # The attack's sequence: the next legitimate suspend/resume. Neither may seal the
    # widened rows; the model must not come back serving the internet.
    refused = refusal(lambda: suspend(harness))
    assert (refused.code.name, refused.reason) == ("FAILED_PRECONDITION",
                                                   "SERVING_STATE_UNVERIFIED")
    assert "deployments/tiny-classifier" in refused.message
    assert refusal(lambda: resume(harness)).reason == "SERVING_STATE_UNVERIFIED"
    now = deployments.get(harness.ctx, NAME)
    assert now.state == pb.DEPLOYMENT_STATE_SUSPENDED  # held: it serves nowhere
    assert "does not match the governance ledger" in now.suspend_reason
    # audit verify says so, naming both rows.
    targets = {p.detail.split(":")[0] for p in mismatches(harness)}
    assert targets == {NAME, filing.name}


def test_every_check_finds_the_edits_holds_the_model_and_alerts_once(harness: Harness) -> None:
    filing = serving(harness)
    assert seals.check(harness.ctx) == []
    widen_behind_the_ledger(harness, filing)
    problems = seals.check(harness.ctx)
    by_target = {p.target: p.detail for p in problems}
    assert set(by_target) == {NAME, filing.name}
    assert "network_domains" in by_target[NAME]
    assert "max_data_level" in by_target[filing.name]
    assert "network_domains" in by_target[filing.name]
    assert deployments.get(harness.ctx, NAME).state == pb.DEPLOYMENT_STATE_SUSPENDED
    seals.check(harness.ctx)  # a standing mismatch is not alerted again
    with harness.ctx.db.read() as session:
        alerts = session.query(AlertRow).filter_by(kind="serving_state_mismatch").all()
    assert sorted(a.target for a in alerts) == sorted([NAME, filing.name])
    events = harness.ctx.ledger.list_events("governance", page_size=100,
                                            action="alert.serving_state_mismatch")
    assert sorted(e.target for e in events) == sorted([NAME, filing.name])
    assert all(e.details["held"] == [MODEL] for e in events)


def test_restoring_the_rows_releases_the_hold(harness: Harness) -> None:
    filing = serving(harness)
    filing_id = filing.name.removeprefix("filings/")
    saved = sql(harness, "SELECT body FROM filings WHERE id = :id", id=filing_id).scalar()
    widen_behind_the_ledger(harness, filing)
    assert seals.check(harness.ctx)
    sql(harness, "UPDATE filings SET body = :body WHERE id = :id", body=saved, id=filing_id)
    sql(harness, "UPDATE deployments SET network_domains = :d WHERE id = :id",
        d=json.dumps([INTRANET]), id=MODEL)
    assert seals.check(harness.ctx) == []
    assert deployments.get(harness.ctx, NAME).state == pb.DEPLOYMENT_STATE_ACTIVE
    assert [e.target for e in harness.ctx.ledger.list_events(
        "governance", page_size=100, action="serving.hold_released")] == [NAME]
    assert suspend(harness).state == pb.DEPLOYMENT_STATE_SUSPENDED  # acts work again
    assert mismatches(harness) == []


def test_a_row_pointing_at_another_rows_genuine_seal_is_refused(harness: Harness) -> None:
    filing = serving(harness)
    filing_id = filing.name.removeprefix("filings/")
    # Give the deployment the filing's seal pointer: a genuine event, of another row.
    other = sql(harness, "SELECT seal_sequence FROM filings WHERE id = :id",
                id=filing_id).scalar()
    sql(harness, "UPDATE deployments SET seal_sequence = :s WHERE id = :id", s=other, id=MODEL)
    [problem] = seals.check(harness.ctx)
    assert problem.target == NAME and f"points at event {other}" in problem.detail
    assert refusal(lambda: suspend(harness)).reason == "SERVING_STATE_UNVERIFIED"
    assert len(mismatches(harness)) == 1


def test_a_row_rolled_back_to_an_older_genuine_seal_is_refused(harness: Harness) -> None:
    serving(harness, (EXTRANET, INTRANET))
    old = sql(harness, "SELECT seal_sequence, network_domains FROM deployments WHERE id = :id",
              id=MODEL).one()
    deployments.update(harness.ctx, ADMIN, pb.UpdateDeploymentRequest(
        deployment=pb.Deployment(name=NAME, network_domains=[INTRANET]),
        update_mask={"paths": ["network_domains"]}))
    # Back to the wider state, with the pointer and hash of the seal that recorded it.
    sql(harness, "UPDATE deployments SET seal_sequence = :s, network_domains = :d "
        "WHERE id = :id", s=old.seal_sequence, d=old.network_domains, id=MODEL)
    [problem] = seals.check(harness.ctx)
    assert problem.target == NAME
    assert f"points at event {old.seal_sequence}, but its last seal" in problem.detail


def test_a_forged_approval_is_found_and_a_legitimate_act_refuses_to_count_it(
        harness: Harness) -> None:
    filing, run = harness.validated(tier="high")  # needs two approvals
    harness.approve(filing, run)
    filing_id = filing.name.removeprefix("filings/")
    row = sql(harness, "SELECT * FROM approvals WHERE filing_id = :id", id=filing_id).one()
    sql(harness, "INSERT INTO approvals (filing_id, approval_round, approver, decision, "
        "validation_run, validation_run_sha256, key_id, signature, approve_time, body, "
        "seal_sequence, seal_sha256) VALUES (:f, :r, 'user:ghost', :d, :vr, :vs, :k, :sig, "
        ":t, :b, :seal, :sha)", f=filing_id, r=row.approval_round, d=row.decision,
        vr=row.validation_run, vs=row.validation_run_sha256, k=row.key_id, sig=row.signature,
        t=row.approve_time, b=row.body, seal=row.seal_sequence, sha=row.seal_sha256)
    problems = seals.check(harness.ctx)
    assert [p.target.split("/")[0] for p in problems] == ["approvals"]
    # The next act on the filing reads its approvals: it is refused, not sealed.
    refused = refusal(lambda: harness.approve(harness.get(filing.name), run, actor=ADMIN2))
    assert refused.reason == "SERVING_STATE_UNVERIFIED"
    assert harness.get(filing.name).state == pb.FILING_STATE_VALIDATED


def test_a_legitimate_lifecycle_leaves_every_row_sealed(harness: Harness) -> None:
    serving(harness, (EXTRANET, INTRANET))
    second, _ = harness.approved()
    deployments.set_canary(harness.ctx, ADMIN, pb.SetDeploymentCanaryRequest(
        name=NAME, filing=second.name, weight_percent=10))
    deployments.promote(harness.ctx, ADMIN, pb.PromoteDeploymentRequest(name=NAME))
    deployments.rollback(harness.ctx, ADMIN, pb.RollbackDeploymentRequest(name=NAME,
                                                                          reason="regression"))
    suspend(harness)
    resume(harness)
    harness.renew(harness.get(second.name), harness.validate(second))
    harness.reject(harness.validated()[0])
    assert seals.check(harness.ctx) == []
    assert mismatches(harness) == []
    assert deployments.get(harness.ctx, NAME).state == pb.DEPLOYMENT_STATE_ACTIVE


def test_a_database_that_predates_seals_is_adopted_once(harness: Harness) -> None:
    serving(harness)
    # As a database migrated from before seals looks: rows and no seal events.
    for table in ("filings", "approvals", "deployments"):
        sql(harness, f"UPDATE {table} SET seal_sequence = 0, seal_sha256 = ''")
    sql(harness, "UPDATE ledger_events SET action = 'legacy' WHERE action = 'serving.seal'")
    assert seals.adopt_unsealed(harness.ctx) == 3  # filing, approval, deployment
    assert seals.adopt_unsealed(harness.ctx) == 0
    assert seals.check(harness.ctx) == []
    # Once seals exist, an unsealed row is an edit, not something to adopt.
    sql(harness, "UPDATE deployments SET seal_sequence = 0 WHERE id = :id", id=MODEL)
    assert seals.adopt_unsealed(harness.ctx) == 0
    [problem] = seals.check(harness.ctx)
    assert problem.target == NAME


def forge_seals_for_the_edits(h: Harness, filing: pb.Filing, *,
                              signature_of: int | None = None) -> None:
    """The attack completed: after widening the rows, append at the ledger's head a
    well-formed serving.seal of each widened row and point the row at it."""
    with h.ctx.db.read() as session:
        rows = [session.get(FilingRow, filing.name.removeprefix("filings/")),
                session.get(DeploymentRow, MODEL)]
        sealed = [(seals.target_of(row), type(row).__tablename__, seals.serving_fields(row))
                  for row in rows if row is not None]
    for target, table, fields in sealed:
        sequence = h.append_behind_the_ledger(
            seals.SEAL_ACTION, target,
            {"table": table, "fields": fields, "sha256": seals.fields_sha256(fields),
             "act": "deployment.resume"}, signature_of=signature_of)
        sql(h, f"UPDATE {table} SET seal_sequence = :s, seal_sha256 = :digest WHERE id = :id",
            s=sequence, digest=seals.fields_sha256(fields), id=target.split("/", 1)[1])


@pytest.mark.parametrize("signature", ["none", "copied"])
def test_seals_appended_without_the_ledger_key_are_not_believed(harness: Harness,
                                                                signature: str) -> None:
    filing = serving(harness)
    widen_behind_the_ledger(harness, filing)
    # Without a signature, or with another entry's (it signs that entry's hash).
    forge_seals_for_the_edits(
        harness, filing, signature_of=harness.governance_head() if signature == "copied"
        else None)
    problems = seals.check(harness.ctx)
    assert {p.target for p in problems} == {NAME, filing.name}
    assert all("not genuine" in p.detail for p in problems), problems
    assert deployments.get(harness.ctx, NAME).state == pb.DEPLOYMENT_STATE_SUSPENDED
    assert refusal(lambda: resume(harness)).reason == "SERVING_STATE_UNVERIFIED"
    # Verification names the forged entries themselves, not only the rows.
    report = listing.verify(harness.ctx, "governance")
    forged = [p for p in report.problems if p.kind == pb.LEDGER_PROBLEM_KIND_ENTRY_FORGED]
    assert len(forged) == 2 and not report.ok
