"""No unapproved model serves: the registry over gRPC, with tokens, in front of the real
classify service and BentoML model server that `zhijian up` started.

The seed model was filed the governed way by `zhijian up` (developer → validator →
admin). Here a second version is trained and taken through the same gates over gRPC:
refused while unapproved, served once approved and promoted, stopped by suspension,
and refused by the model server once one byte of its stored files changes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.classify.filing import seed_filing
from zhijian import identity
from zhijian import metadata as md
from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.classify.v1 import classify_service_pb2_grpc as cgrpc
from zhijian.errors import parse_error
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.registry.v1 import registry_service_pb2_grpc as rgrpc
from zhijian.types.v1 import ai_result_pb2 as types_pb

pytestmark = pytest.mark.integration

MODEL = "zhijian-classify"
DEPLOYMENT = f"deployments/{MODEL}"
REFUSAL_WITHIN_S = 10.0


class Registry:
    def __init__(self, platform: Any, channel: grpc.Channel) -> None:
        self.stub = rgrpc.RegistryServiceStub(channel)
        self.home: Path = platform.home

    def who(self, name: str) -> identity.LocalIdentity:
        return identity.LocalIdentity.load(self.home / "identities", name)

    def meta(self, name: str) -> tuple[tuple[str, str], ...]:
        return ((md.AUTHORIZATION, f"Bearer {self.who(name).token}"),)

    def call(self, name: str, method: str, request: Any, timeout: float = 60) -> Any:
        return getattr(self.stub, method)(request, metadata=self.meta(name), timeout=timeout)

    def refusal(self, name: str, method: str, request: Any) -> tuple[str, str]:
        with pytest.raises(grpc.RpcError) as raised:
            self.call(name, method, request)
        parsed = parse_error(raised.value)
        return parsed.code.name, parsed.reason


@pytest.fixture(scope="module")
def registry(platform: Any) -> Iterator[Registry]:
    """The registry through the intranet gateway, the only domain its writes reach."""
    with grpc.insecure_channel(platform.gateway_target("intranet")) as channel:
        yield Registry(platform, channel)


@pytest.fixture(scope="module")
def classify(platform: Any) -> Iterator[cgrpc.ClassifyServiceStub]:
    with platform.gateway_channel("business", "intranet") as channel:
        yield cgrpc.ClassifyServiceStub(channel)


def served(classify: cgrpc.ClassifyServiceStub) -> tuple[str, str, str]:
    response, call = classify.Classify.with_call(cpb.ClassifyRequest(text="医用外科口罩"),
                                                 timeout=10)
    trailers = dict(call.trailing_metadata())
    model = response.result.model
    assert trailers[md.FILING_ID] == model.filing_id
    return model.version, model.filing_id, trailers[md.MODEL_VERSION]


def eventually(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except grpc.RpcError as error:
            last = parse_error(error)
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen within {timeout_s}s; last: {last}")


def refusal_reason(classify: cgrpc.ClassifyServiceStub) -> str:
    try:
        served(classify)
    except grpc.RpcError as error:
        parsed = parse_error(error)
        return f"{parsed.code.name}/{parsed.reason}"
    return ""


def test_the_seed_model_was_filed_and_serves_under_its_filing(registry: Registry,
                                                              classify: Any) -> None:
    found = registry.call("auditor", "ListFilings", pb.ListFilingsRequest(
        filter=f'identity.model = "{MODEL}" AND identity.version = "1"'))
    (filing,) = found.filings
    assert filing.state == pb.FILING_STATE_APPROVED
    assert filing.parties.submitter == registry.who("developer").subject
    assert filing.parties.validators == [registry.who("validator").subject]
    assert filing.parties.approvers == [registry.who("admin").subject]
    # Pinned from the version's own requirements at submission.
    assert {"scikit-learn", "mlflow"} <= {d.name for d in
                                          filing.technical_description.dependencies}
    version, filing_id, trailer = served(classify)
    assert (version, trailer) == ("1", f"{MODEL}/1")
    assert f"filings/{filing_id}" == filing.name
    verified = registry.call("auditor", "VerifyLedger",
                             pb.VerifyLedgerRequest(name="ledgers/governance"))
    assert verified.ok and verified.entries_checked > 10


def test_data_above_the_filings_clearance_never_reaches_the_model(classify: Any) -> None:
    # The seed filing clears the version for L2 (general) data at most.
    with pytest.raises(grpc.RpcError) as refused:
        classify.Classify(cpb.ClassifyRequest(
            text="病历摘要", data_level=types_pb.DATA_LEVEL_L3_IMPORTANT), timeout=10)
    parsed = parse_error(refused.value)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                            "DATA_LEVEL_EXCEEDS_CEILING")
    assert classify.Classify(cpb.ClassifyRequest(
        text="病历摘要", data_level=types_pb.DATA_LEVEL_L2_GENERAL), timeout=10).results


def test_personal_data_and_markings_are_refused_before_the_model(platform: Any,
                                                                 classify: Any) -> None:
    from bench.classify import bentoml_counters

    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    first17 = "11010519850612123"
    resident_id = first17 + "10X98765432"[sum(int(d) * w for d, w in
                                               zip(first17, weights, strict=True)) % 11]
    before, _ = bentoml_counters(platform.model_server_url)
    for text, reason in ((f"申请人 {resident_id} 的血压计", "DATA_LEVEL_EXCEEDS_CEILING"),
                         ("机密★ 某器械审评意见", "CLASSIFIED_MARKING")):
        with pytest.raises(grpc.RpcError) as refused:
            classify.Classify(cpb.ClassifyRequest(text=text), timeout=10)
        parsed = parse_error(refused.value)
        assert (parsed.code, parsed.reason) == (grpc.StatusCode.PERMISSION_DENIED, reason)
        assert resident_id not in (refused.value.details() or "")
    after, _ = bentoml_counters(platform.model_server_url)
    assert after == before, "a refused request reached the model server"
    # The effective level of an accepted call comes back as a trailer.
    _, call = classify.Classify.with_call(cpb.ClassifyRequest(text="电子血压计"), timeout=10)
    assert dict(call.trailing_metadata())[md.EFFECTIVE_LEVEL] == "DATA_LEVEL_L1_PUBLIC"
    log = (platform.home / "logs" / "classify.log").read_text(errors="replace")
    assert resident_id not in log


def test_credentials_and_roles_are_checked_by_the_registry(registry: Registry) -> None:
    request = pb.ListFilingsRequest()
    with pytest.raises(grpc.RpcError) as anonymous:
        registry.stub.ListFilings(request, timeout=10)
    assert parse_error(anonymous.value).code == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as forged:
        registry.stub.ListFilings(request, timeout=10, metadata=(
            (md.AUTHORIZATION, "Bearer " + registry.who("auditor").token[:-4] + "AAAA"),))
    assert parse_error(forged.value).code == grpc.StatusCode.UNAUTHENTICATED
    assert registry.refusal("business", "ListFilings", request) == (
        "PERMISSION_DENIED", "ROLE_NOT_PERMITTED")
    assert registry.refusal("sre", "PromoteDeployment", pb.PromoteDeploymentRequest(
        name=DEPLOYMENT)) == ("PERMISSION_DENIED", "ROLE_NOT_PERMITTED")


def test_the_registry_refuses_people_who_bypass_the_gateway(platform: Any,
                                                             registry: Registry) -> None:
    with grpc.insecure_channel(platform.registry_target) as channel:
        direct = rgrpc.RegistryServiceStub(channel)
        with pytest.raises(grpc.RpcError) as bypass:
            direct.ListFilings(pb.ListFilingsRequest(), timeout=10,
                               metadata=registry.meta("auditor"))
        parsed = parse_error(bypass.value)
        assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAUTHENTICATED,
                                                "ASSERTION_REQUIRED")
        # Platform components (here the classify service's own identity) call it directly.
        assert direct.ListDeployments(pb.ListDeploymentsRequest(), timeout=10,
                                      metadata=registry.meta("svc-classify")).deployments


def test_a_revoked_token_is_refused_at_once(platform: Any, registry: Registry) -> None:
    issued = platform.cli("identity", "issue", "leaver", "--role", "auditor",
                          "--clearance", "L2", "--no-enrol", "--as", "admin")
    assert issued.returncode == 0, issued.stderr
    registry.call("leaver", "ListFilings", pb.ListFilingsRequest())
    registry.call("admin", "RevokeToken", pb.RevokeTokenRequest(
        jti=registry.who("leaver").jti, subject="user:leaver", reason="left the unit"))
    with pytest.raises(grpc.RpcError) as refused:
        registry.call("leaver", "ListFilings", pb.ListFilingsRequest())
    parsed = parse_error(refused.value)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAUTHENTICATED,
                                            "CREDENTIALS_REVOKED")


def test_only_credentials_issued_on_the_record_work(platform: Any, registry: Registry) -> None:
    """Tokens minted from the issuer key file alone — a platform admin, a platform
    component — are refused by the gateway and by the registry's direct path; one admin
    cannot make a second admin alone; what the registry issued works at once."""
    from zhijian.cli.identity import issue_identity

    settings = identity.IdentitySettings.from_env(platform.env)
    for name, subject, roles in (("forged-admin", None, ["platform_admin"]),
                                 ("forged-svc", "svc:forged", ["service"])):
        issue_identity(settings.keys_dir, settings.identities_dir, name, subject, roles,
                       "L4", None, settings)
    assert registry.refusal("forged-admin", "ListFilings", pb.ListFilingsRequest()) == (
        "UNAUTHENTICATED", "CREDENTIALS_INVALID")
    direct = rgrpc.RegistryServiceStub(grpc.insecure_channel(platform.registry_target))
    with pytest.raises(grpc.RpcError) as refused:
        direct.ListDeployments(pb.ListDeploymentsRequest(), timeout=10,
                               metadata=registry.meta("forged-svc"))
    assert (parse_error(refused.value).code.name, parse_error(refused.value).reason) == (
        "UNAUTHENTICATED", "CREDENTIALS_INVALID")

    pending = platform.cli("identity", "issue", "boss", "--role", "platform_admin",
                           "--clearance", "L4", "--as", "admin", "--json")
    assert pending.returncode == 0, pending.stderr
    assert json.loads(pending.stdout)["state"] == "PENDING_APPROVAL"
    issuance = json.loads(pending.stdout)["issuance"]
    alone = platform.cli("identity", "approve", issuance, "--as", "admin")
    assert alone.returncode == 1 and "SECOND_ADMIN_REQUIRED" in alone.stderr
    approved = platform.cli("identity", "approve", issuance, "--name", "boss",
                            "--as", "admin2", "--json")
    assert approved.returncode == 0, approved.stderr + approved.stdout
    assert registry.call("boss", "ListFilings", pb.ListFilingsRequest()).filings
    events = registry.call("auditor", "ListAuditEvents", pb.ListAuditEventsRequest(
        parent="ledgers/governance", filter='action = "identity.issue"'))
    issued = [e for e in events.audit_events if e.target == issuance]
    assert len(issued) == 1 and issued[0].actor == "user:admin.chen"


@pytest.fixture(scope="module")
def second_version(platform: Any, registry: Registry) -> pb.Filing:
    """Version 2, trained on the seed training split and filed by the developer (DRAFT →
    SUBMITTED), not yet validated or approved."""
    # A different training set than version 1's, so that its files differ too.
    seed_train = platform.home / "datasets" / "seed" / "classify" / "seed-train.jsonl"
    lines = seed_train.read_text(encoding="utf-8").splitlines(keepends=True)
    train = platform.home / "datasets" / "seed-train-v2.jsonl"
    train.write_text("".join(lines[:-25]), encoding="utf-8")
    trained = platform.cli("train", "classify", "--data", str(train), "--json", timeout=300)
    assert trained.returncode == 0, trained.stderr[-2000:]
    version = json.loads(trained.stdout)["version"]
    registry.call("developer", "RegisterDataset", pb.RegisterDatasetRequest(
        dataset_id="seed-train-v2", dataset=pb.Dataset(
            display_name="seed corpus (training, v2)", uri=str(train),
            source="zhijian seed corpus", legal_basis="project's own work",
            data_level=types_pb.DATA_LEVEL_L1_PUBLIC)))
    draft = seed_filing(version, developers=[registry.who("developer").subject],
                        business_owner="user:biz.owner", security_officer="user:sec.officer",
                        training_dataset="datasets/seed-train-v2",
                        test_dataset="datasets/classify-seed-test-v1")
    created = registry.call("developer", "CreateFiling", pb.CreateFilingRequest(filing=draft))
    filing: pb.Filing = registry.call("developer", "SubmitFiling",
                                      pb.SubmitFilingRequest(name=created.name))
    return filing


def test_an_unapproved_version_cannot_serve(registry: Registry, classify: Any,
                                            second_version: pb.Filing) -> None:
    assert second_version.state == pb.FILING_STATE_SUBMITTED
    for method, request in (
            ("PromoteDeployment", pb.PromoteDeploymentRequest(name=DEPLOYMENT,
                                                              filing=second_version.name)),
            ("SetDeploymentCanary", pb.SetDeploymentCanaryRequest(
                name=DEPLOYMENT, filing=second_version.name, weight_percent=50))):
        assert registry.refusal("admin", method, request) == ("FAILED_PRECONDITION",
                                                              "MODEL_NOT_APPROVED")
    # The submitter cannot validate it, and nobody can approve it before validation.
    assert registry.refusal("developer", "ValidateFiling", pb.ValidateFilingRequest(
        name=second_version.name))[1] == "ROLE_NOT_PERMITTED"
    assert registry.refusal("admin", "ApproveFiling", pb.ApproveFilingRequest(
        name=second_version.name, validation_run=f"{second_version.name}/validationRuns/r-x",
        validation_run_sha256="0" * 64, signature=b"x", key_id="k"))[1] == \
        "ILLEGAL_FILING_TRANSITION"
    assert served(classify)[0] == "1"


def approve(registry: Registry, filing: pb.Filing) -> pb.Filing:
    run = registry.call("validator", "ValidateFiling", pb.ValidateFilingRequest(
        name=filing.name))
    run = eventually(lambda: (lambda r: r if r.state != pb.VALIDATION_RUN_STATE_RUNNING
                              else None)(registry.call("validator", "GetValidationRun",
                                                       pb.GetValidationRunRequest(
                                                           name=run.name))),
                     300, "validation result")
    assert run.passed, (run.failures, run.error)
    assert run.report_markdown and run.mlflow_run_id
    filing = registry.call("admin", "GetFiling", pb.GetFilingRequest(name=filing.name))
    admin = registry.who("admin")
    statement = identity.approval_statement(
        filing=filing.name, evidence_sha256=filing.evidence_sha256,
        validation_run_sha256=run.record_sha256, decision="approve", conditions=[])
    approved: pb.Filing = registry.call("admin", "ApproveFiling", pb.ApproveFilingRequest(
        name=filing.name, validation_run=run.name, validation_run_sha256=run.record_sha256,
        signature=identity.sign(admin.signing_key(), statement),
        key_id=admin.signing_key_id or ""))
    return approved


def test_an_approved_version_serves_once_promoted_and_stops_when_suspended(
        registry: Registry, classify: Any, second_version: pb.Filing) -> None:
    approved = approve(registry, second_version)
    assert approved.state == pb.FILING_STATE_APPROVED
    registry.call("admin", "PromoteDeployment", pb.PromoteDeploymentRequest(
        name=DEPLOYMENT, filing=approved.name, reason="version 2"))
    version = approved.identity.version
    eventually(lambda: served(classify)[0] == version, 60, f"version {version} serving")
    assert served(classify)[1] == approved.name.removeprefix("filings/")

    registry.call("sre", "SuspendDeployment", pb.SuspendDeploymentRequest(
        name=DEPLOYMENT, reason="kill-switch drill"))
    suspended_at = time.monotonic()
    first = eventually(lambda: refusal_reason(classify), REFUSAL_WITHIN_S, "refusal")
    # The model server and the service hear of the suspension separately: for a moment
    # the model server may already refuse (MODEL_NOT_SERVABLE) what the service still
    # picks. Either way the call is refused; the service's own refusal follows.
    assert first in ("FAILED_PRECONDITION/MODEL_SUSPENDED",
                     "FAILED_PRECONDITION/MODEL_NOT_SERVABLE")
    eventually(lambda: refusal_reason(classify) == "FAILED_PRECONDITION/MODEL_SUSPENDED",
               REFUSAL_WITHIN_S, "the service's own refusal")
    assert time.monotonic() - suspended_at < REFUSAL_WITHIN_S
    registry.call("admin", "ResumeDeployment", pb.ResumeDeploymentRequest(
        name=DEPLOYMENT, reason="drill over"))
    eventually(lambda: served(classify)[0] == version, 30, "serving again")

    # Suspending the version's filing (not the deployment) falls back to the last
    # approved version, as the deployment allows.
    registry.call("admin", "SuspendFiling", pb.SuspendFilingRequest(
        name=approved.name, reason="incident 42"))
    eventually(lambda: served(classify)[0] == "1", REFUSAL_WITHIN_S, "fallback to version 1")
    registry.call("admin", "ReinstateFiling", pb.ReinstateFilingRequest(
        name=approved.name, reason="incident closed"))
    eventually(lambda: served(classify)[0] == version, 30, "version 2 again")


def test_one_changed_byte_in_the_stored_model_stops_it_loading(
        platform: Any, registry: Registry, classify: Any,
        second_version: pb.Filing) -> None:
    filing = registry.call("admin", "GetFiling", pb.GetFilingRequest(name=second_version.name))
    assert filing.state == pb.FILING_STATE_APPROVED  # after the previous test
    registry.call("admin", "RollbackDeployment", pb.RollbackDeploymentRequest(
        name=DEPLOYMENT, reason="make room for the tamper test"))
    eventually(lambda: served(classify)[0] == "1", 30, "version 1 after rollback")
    # Flip one byte of the classifier in every stored copy of version 2 (MLflow's
    # artifact store and BentoML's model store), as someone with disk access might.
    first = registry.call("admin", "ListFilings", pb.ListFilingsRequest(
        filter=f'identity.model = "{MODEL}" AND identity.version = "1"')).filings[0]
    assert not _belongs_to_both(first, filing), "versions 1 and 2 must differ"
    copies = [p for p in platform.home.rglob("classifier.pkl") if _belongs_to(p, filing)]
    assert copies, "no stored copy of version 2 found"
    for path in copies:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    # The running server verified and loaded version 2 earlier; a restart loads afresh.
    restarts = platform.component_restarts("classify-model-server")
    platform.kill_model_server()
    eventually(lambda: platform.component_restarts("classify-model-server") > restarts, 30,
               "model server restart")
    platform.wait_healthy(180)
    assert served(classify)[0] == "1"  # the untouched version still loads and serves
    registry.call("admin", "PromoteDeployment", pb.PromoteDeploymentRequest(
        name=DEPLOYMENT, filing=filing.name, reason="tampered version"))
    reason = eventually(lambda: refusal_reason(classify), 30, "refusal of the tampered model")
    assert reason == "FAILED_PRECONDITION/MODEL_NOT_SERVABLE", reason
    log = (platform.home / "logs" / "classify-model-server.log").read_text(errors="replace")
    assert "differs from the filed" in log
    registry.call("admin", "RollbackDeployment", pb.RollbackDeploymentRequest(
        name=DEPLOYMENT, reason="tampered"))
    eventually(lambda: served(classify)[0] == "1", 30, "version 1 again")


def _belongs_to_both(one: pb.Filing, other: pb.Filing) -> bool:
    def pickles(filing: pb.Filing) -> set[str]:
        return {a.sha256 for a in filing.identity.artifacts
                if a.path.endswith("classifier.pkl")}

    return bool(pickles(one) & pickles(other))


def _belongs_to(path: Path, filing: pb.Filing) -> bool:
    """Whether a stored classifier.pkl is the one version 2 pinned (by its hash)."""
    import hashlib

    pinned = {a.sha256 for a in filing.identity.artifacts if a.path.endswith("classifier.pkl")}
    return hashlib.sha256(path.read_bytes()).hexdigest() in pinned


def test_the_admin_cli_shows_and_verifies(platform: Any) -> None:
    listed = platform.cli("filing", "list", "--as", "auditor", "--json")
    assert listed.returncode == 0, listed.stderr
    shown = platform.cli("filing", "show", json.loads(listed.stdout)["filings"][-1]["name"],
                         "--as", "auditor")
    assert shown.returncode == 0, shown.stderr
    for section in ("Purpose", "Classification", "Validation", "Approvals", "Human reviews"):
        assert section.lower() in shown.stdout.lower()
    verified = platform.cli("audit", "verify", "--as", "auditor")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    nobody = platform.cli("deploy", "suspend", MODEL, "--reason", "x")
    assert nobody.returncode == 2 and "identity" in nobody.stderr.lower()


def test_a_killed_registry_comes_back_with_everything(platform: Any, registry: Registry,
                                                       classify: Any) -> None:
    import os
    import signal

    before = registry.call("auditor", "VerifyLedger",
                           pb.VerifyLedgerRequest(name="ledgers/governance"))
    restarts = platform.component_restarts("registry")
    os.kill(platform.component_pid("registry"), signal.SIGKILL)
    eventually(lambda: platform.component_restarts("registry") > restarts, 30,
               "registry restart")
    platform.wait_healthy(120)
    after = eventually(lambda: registry.call("auditor", "VerifyLedger",
                                             pb.VerifyLedgerRequest(name="ledgers/governance")),
                       30, "ledger verification")
    assert after.ok and after.entries_checked >= before.entries_checked
    assert after.head_sha256 == before.head_sha256 or after.entries_checked > \
        before.entries_checked
    # Serving processes fail closed on state older than 10 s: still serving well after
    # that shows their watches reconnected to the restarted registry.
    time.sleep(11)
    eventually(lambda: served(classify)[0] == "1", 10, "serving after the restart")


def test_serving_state_edited_beside_the_ledger_stops_the_model(
        platform: Any, registry: Registry, classify: Any) -> None:
    """The outside attack's edit, on the running platform's database: the deployment
    widened to the internet with plain SQL. The registry's check holds the model (it stops
    serving on every domain), `zhijian audit verify` names the row and exits 1, a
    legitimate resume is refused; restoring the row brings the model back."""
    import sqlite3

    eventually(lambda: served(classify)[0] == "1", 30, "serving before the edit")
    database = sqlite3.connect(platform.home / "registry" / "registry.db")
    try:
        [saved] = database.execute("SELECT network_domains FROM deployments WHERE id = ?",
                                   (MODEL,)).fetchone()
        widened = sorted({*json.loads(saved), types_pb.NETWORK_DOMAIN_INTERNET})
        with database:
            database.execute("UPDATE deployments SET network_domains = ? WHERE id = ?",
                             (json.dumps(widened), MODEL))
        eventually(lambda: refusal_reason(classify) == "FAILED_PRECONDITION/MODEL_SUSPENDED",
                   REFUSAL_WITHIN_S + 5, "held after the edit")
        verified = platform.cli("audit", "verify", "--as", "auditor")
        assert verified.returncode == 1, verified.stdout + verified.stderr
        assert "SERVING_STATE_MISMATCH at entry" in verified.stdout
        assert f"{DEPLOYMENT}: network_domains differ from its seal" in verified.stdout
        assert registry.refusal("admin", "ResumeDeployment", pb.ResumeDeploymentRequest(
            name=DEPLOYMENT, reason="try")) == ("FAILED_PRECONDITION",
                                               "SERVING_STATE_UNVERIFIED")
        alerts = registry.call("auditor", "ListAuditEvents", pb.ListAuditEventsRequest(
            parent="ledgers/governance", filter='action = "alert.serving_state_mismatch"'))
        assert [e.target for e in alerts.audit_events] == [DEPLOYMENT]
    finally:
        with database:
            database.execute("UPDATE deployments SET network_domains = ? WHERE id = ?",
                             (saved, MODEL))
        database.close()
    eventually(lambda: served(classify)[0] == "1", 30, "serving again once restored")
    assert platform.cli("audit", "verify", "--as", "auditor").returncode == 0
