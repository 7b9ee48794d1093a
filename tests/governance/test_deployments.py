"""Deployments choose among APPROVED versions only; MLflow's protected aliases follow the
registry, and a change made behind its back is detected, recorded and undone; MLflow
being down fails writes before anything is stored, while reads go on."""

from __future__ import annotations

import pytest

from governance.harness import ADMIN, Harness
from registry import deployments, filings, identities, reconcile
from registry.context import Actor
from registry.model_store import ModelStore
from registry.schema import AlertRow
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

MODEL = "tiny-classifier"
NAME = f"deployments/{MODEL}"


def create(h: Harness) -> pb.Deployment:
    return deployments.create(h.ctx, ADMIN, pb.CreateDeploymentRequest(
        deployment_id=MODEL, deployment=pb.Deployment(
            network_domains=[types_pb.NETWORK_DOMAIN_INTRANET])))


def promote(h: Harness, filing: pb.Filing) -> pb.Deployment:
    return deployments.promote(h.ctx, ADMIN, pb.PromoteDeploymentRequest(
        name=NAME, filing=filing.name, reason="test"))


def test_an_unapproved_version_cannot_be_promoted(harness: Harness) -> None:
    create(harness)
    filing, _ = harness.validated()
    with pytest.raises(ZhijianError) as refused:
        promote(harness, filing)
    assert (refused.value.code.name, refused.value.reason) == ("FAILED_PRECONDITION",
                                                               "MODEL_NOT_APPROVED")
    assert not deployments.get(harness.ctx, NAME).HasField("production")


def test_promote_canary_rollback_and_aliases(harness: Harness) -> None:
    create(harness)
    first, _ = harness.approved()
    second, _ = harness.approved()
    deployment = promote(harness, first)
    assert deployment.production.filing == first.name
    assert deployment.production.filing_state == pb.FILING_STATE_APPROVED
    assert deployment.production.artifacts
    canary = deployments.set_canary(harness.ctx, ADMIN, pb.SetDeploymentCanaryRequest(
        name=NAME, filing=second.name, weight_percent=10))
    assert (canary.canary.filing, canary.canary_weight_percent) == (second.name, 10)
    state = harness.ctx.store.model_state(MODEL)
    assert state.aliases == {"production": first.identity.version,
                             "canary": second.identity.version}
    promoted = deployments.promote(harness.ctx, ADMIN, pb.PromoteDeploymentRequest(name=NAME))
    assert promoted.production.filing == second.name and not promoted.HasField("canary")
    assert promoted.previous.filing == first.name
    rolled = deployments.rollback(harness.ctx, ADMIN, pb.RollbackDeploymentRequest(
        name=NAME, reason="regression"))
    assert rolled.production.filing == first.name
    assert harness.ctx.store.model_state(MODEL).aliases == {
        "production": first.identity.version}
    assert rolled.revision > deployment.revision


def test_suspending_a_filing_shows_in_its_deployment(harness: Harness) -> None:
    create(harness)
    filing, _ = harness.approved()
    before = promote(harness, filing)
    filings.suspend(harness.ctx, ADMIN, pb.SuspendFilingRequest(name=filing.name,
                                                                reason="incident 12"))
    after = deployments.get(harness.ctx, NAME)
    assert after.production.filing_state == pb.FILING_STATE_SUSPENDED
    assert after.revision > before.revision  # watchers are told


def test_a_suspended_deployment_resumes(harness: Harness) -> None:
    create(harness)
    suspended = deployments.suspend(harness.ctx, ADMIN, pb.SuspendDeploymentRequest(
        name=NAME, reason="drill"))
    assert suspended.state == pb.DEPLOYMENT_STATE_SUSPENDED
    with pytest.raises(ZhijianError) as again:
        deployments.suspend(harness.ctx, ADMIN, pb.SuspendDeploymentRequest(name=NAME,
                                                                            reason="drill"))
    assert again.value.reason == "DEPLOYMENT_ALREADY_SUSPENDED"
    resumed = deployments.resume(harness.ctx, ADMIN, pb.ResumeDeploymentRequest(
        name=NAME, reason="drill over"))
    assert resumed.state == pb.DEPLOYMENT_STATE_ACTIVE


def test_out_of_band_alias_and_tag_changes_are_recorded_and_undone(harness: Harness) -> None:
    create(harness)
    first, _ = harness.approved()
    promote(harness, first)
    rogue, _ = harness.validated()  # not approved
    client = harness.mlflow.client
    client.set_registered_model_alias(MODEL, "production", rogue.identity.version)
    client.set_model_version_tag(MODEL, rogue.identity.version, "zhijian.filing_id", "forged")
    assert reconcile.reconcile_mlflow(harness.ctx) >= 2
    state = harness.ctx.store.model_state(MODEL)
    assert state.aliases["production"] == first.identity.version
    assert "zhijian.filing_id" not in state.tags[rogue.identity.version]
    assert state.tags[first.identity.version]["zhijian.filing_id"] == \
        first.name.removeprefix("filings/")
    with harness.ctx.db.read() as session:
        assert session.query(AlertRow).filter_by(kind="out_of_band_change").count() >= 2
    alerts = harness.ctx.ledger.list_events("governance", page_size=100,
                                            action="alert.out_of_band_change")
    assert len(alerts) >= 2
    assert reconcile.reconcile_mlflow(harness.ctx) == 0  # nothing left to undo
    # Serving never followed the alias: the deployment still names the approved filing.
    assert deployments.get(harness.ctx, NAME).production.filing == first.name


def test_mlflow_down_fails_writes_cleanly_and_reads_go_on(harness: Harness) -> None:
    create(harness)
    filing, run = harness.validated()
    harness.ctx.store = ModelStore("http://127.0.0.1:9")  # nothing listens on port 9
    head = harness.governance_head()
    with pytest.raises(ZhijianError) as refused:
        harness.approve(filing, run)
    assert (refused.value.code.name, refused.value.reason) == ("UNAVAILABLE",
                                                               "MLFLOW_UNAVAILABLE")
    after = harness.get(filing.name)  # reads still answer
    assert after.state == pb.FILING_STATE_VALIDATED and not after.approvals
    assert harness.governance_head() == head  # nothing half-written


def test_a_revoked_token_id_is_refused_at_once(harness: Harness) -> None:
    revoked = identities.RevocationList()
    revoked.load(harness.ctx)
    assert "jti-1" not in revoked
    admin = Actor(ADMIN.subject, ADMIN.roles)
    identities.revoke(harness.ctx, revoked, admin, pb.RevokeTokenRequest(
        jti="jti-1", subject="user:leaver", reason="left the unit"))
    assert "jti-1" in revoked
    fresh = identities.RevocationList()
    fresh.load(harness.ctx)  # a restarted registry still knows
    assert "jti-1" in fresh
    events = harness.ctx.ledger.list_events("governance", page_size=10,
                                            action="identity.revoke")
    assert [e.details["jti"] for e in events] == ["jti-1"]


def test_a_completed_renewal_reaches_serving(harness: Harness) -> None:
    create(harness)
    filing, _ = harness.approved()
    before = promote(harness, filing)
    harness.clock.advance(100 * 86400)
    fresh = harness.validate(filing)
    harness.renew(harness.get(filing.name), fresh)
    after = deployments.get(harness.ctx, NAME)
    # Serving processes check the date themselves: the new one must reach them.
    assert after.revision > before.revision
    assert after.production.revalidate_time.seconds > \
        before.production.revalidate_time.seconds


def test_a_deployment_needs_a_registered_model(harness: Harness) -> None:
    with pytest.raises(ZhijianError) as refused:
        deployments.create(harness.ctx, ADMIN, pb.CreateDeploymentRequest(
            deployment_id="no-such-model", deployment=pb.Deployment(
                network_domains=[types_pb.NETWORK_DOMAIN_INTRANET])))
    assert refused.value.reason == "MODEL_NOT_REGISTERED"
    with pytest.raises(ZhijianError) as invalid:
        deployments.create(harness.ctx, ADMIN, pb.CreateDeploymentRequest(
            deployment_id="../etc", deployment=pb.Deployment(
                network_domains=[types_pb.NETWORK_DOMAIN_INTRANET])))
    assert invalid.value.reason == "DEPLOYMENT_ID_INVALID"
