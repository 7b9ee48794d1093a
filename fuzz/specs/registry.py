"""Fuzz spec of zhijian.registry.v1.RegistryService.

Callers follow gateway/policy/policy.csv and registry/authz.py: reads by the governance
roles from the extranet and intranet, writes role by role from the intranet, call
records by a platform component.

The registry holds what the platform serves, so the run must not change it. On a
throwaway platform setup makes resources of its own — an MLflow model ``fuzz-model``
with two versions, its deployment, two DRAFT filings, a dataset, a revoked token — and
the destructive methods (suspend, resume, promote, approve, retire, validate, revoke,
update) see only those and names that do not exist; the seed model's filing and
deployment are protected (see fuzz.generate.Fixtures). Health after the run: every
filing and deployment that existed before is in the state it was in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from pathlib import Path

import grpc
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf import message as pb_message

from fuzz.generate import Fixtures
from fuzz.spec import Caller, MethodSpec, Seeds, ServiceSpec, SetupContext
from zhijian.cli.stack import StackPorts
from zhijian.config import contain_environment
from zhijian.identity import (
    IdentitySettings,
    LocalIdentity,
    enrollment_statement,
    generate_signing_key,
    key_id_of,
    public_key_raw,
    sign,
)
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

FILING = "registry.zhijian.internal/Filing"
RUN = "registry.zhijian.internal/ValidationRun"
DATASET = "registry.zhijian.internal/Dataset"
DEPLOYMENT = "registry.zhijian.internal/Deployment"
LEDGER = "registry.zhijian.internal/Ledger"

FUZZ_MODEL = "fuzz-model"
DRAFT = "filings/fuzz-draft"
TO_RETIRE = "filings/fuzz-retire"
ABSENT = {FILING: "filings/fuzz-absent", DEPLOYMENT: "deployments/fuzz-absent",
          DATASET: "datasets/fuzz-absent", RUN: "filings/fuzz-absent/validationRuns/fuzz-absent"}
GOVERNANCE = "ledgers/governance"
# Read, never verified: VerifyLedger over the calls ledger costs its whole length, and
# every fuzz call adds to it.
CALLS = "ledgers/calls"

AUDITOR = Caller("auditor", "intranet")
DEVELOPER = Caller("developer", "intranet")
ADMIN = Caller("admin", "intranet")
REVIEWER = Caller("reviewer", "intranet")
READERS = (AUDITOR, Caller("sre", "extranet"), DEVELOPER, Caller("validator", "extranet"),
           Caller("reviewer", "intranet"), Caller("admin", "extranet"))
# The audit trail is read from the intranet only.
LEDGER_READERS = (AUDITOR, Caller("sre", "intranet"), DEVELOPER)
KILL_SWITCH = (ADMIN, Caller("sre", "intranet"))
COMPONENT = Caller("svc-gateway-intranet", "intranet")
ANYONE = (AUDITOR, Caller("business", "extranet"), Caller("sre", "extranet"), DEVELOPER)
# Any identity may enrol its own key; only non-approvers do it here, so no approver's
# enrolled key is ever retired by a fuzzed enrolment.
ENROLLERS = (REVIEWER, Caller("business", "intranet"))


def _names(fixtures: Fixtures, kind: str) -> list[str]:
    found = [*fixtures.throwaway.get(kind, ()), *fixtures.names.get(kind, ())]
    if not found and kind in ABSENT:
        found.append(ABSENT[kind])
    return found


def _one(fixtures: Fixtures, kind: str, name: str) -> str:
    """``name`` if setup made it, else the absent name of its kind."""
    return name if name in fixtures.throwaway.get(kind, ()) else ABSENT[kind]


def _deployment(fixtures: Fixtures) -> str:
    return _one(fixtures, DEPLOYMENT, f"deployments/{FUZZ_MODEL}")


def _draft_body(fixtures: Fixtures, model: str, version: str) -> pb.Filing:
    """The seed model's filing with another identity: complete, so that CreateFiling and
    UpdateFiling get past completeness into the deeper checks."""
    body = pb.Filing()
    real = fixtures.values.get("filing")
    if isinstance(real, pb.Filing):
        body.CopyFrom(real)
        for output in ("name", "filing_number", "state", "state_history", "approvals",
                       "latest_validation_run", "evidence_sha256", "etag", "create_time",
                       "update_time", "submit_time", "approve_time", "revalidate_time"):
            body.ClearField(output)
    else:
        body.filing_type = pb.FILING_TYPE_NEW
    body.identity.model = model
    body.identity.version = version
    return body


# --- seeds --------------------------------------------------------------------------------

def create_filing(f: Fixtures) -> list[pb_message.Message]:
    return [pb.CreateFilingRequest(filing=_draft_body(f, FUZZ_MODEL, "1")),
            pb.CreateFilingRequest(filing=_draft_body(f, FUZZ_MODEL, "7"), filing_id="fuzz-seven",
                                   request_id=str(uuid.uuid4())),
            pb.CreateFilingRequest(filing=_draft_body(f, "zhijian-classify", "1"))]


def update_filing(f: Fixtures) -> list[pb_message.Message]:
    body = _draft_body(f, FUZZ_MODEL, "1")
    body.name = _one(f, FILING, DRAFT)
    body.purpose.intended_use = "fuzz: intended use"
    return [pb.UpdateFilingRequest(filing=body, update_mask=field_mask_pb2.FieldMask(
                paths=["purpose.intended_use"])),
            pb.UpdateFilingRequest(filing=body, update_mask=field_mask_pb2.FieldMask(paths=["*"])),
            pb.UpdateFilingRequest(filing=body, update_mask=field_mask_pb2.FieldMask(
                paths=["oversight", "technical_description.guardrails"]))]


def approve(f: Fixtures) -> list[pb_message.Message]:
    draft = _one(f, FILING, DRAFT)
    run = f"{draft}/validationRuns/fuzz-absent"
    return [pb.ApproveFilingRequest(name=draft, validation_run=run,
                                    validation_run_sha256="0" * 64, signature=bytes(64),
                                    key_id="fuzz-key"),
            pb.ApproveFilingRequest(name=draft, validation_run=run,
                                    validation_run_sha256="0" * 64, signature=bytes(64),
                                    key_id="fuzz-key", conditions=["fuzz"], etag="x")]


def renew(f: Fixtures) -> list[pb_message.Message]:
    draft = _one(f, FILING, DRAFT)
    return [pb.RenewFilingRequest(name=draft, validation_run=f"{draft}/validationRuns/fuzz-absent",
                                  validation_run_sha256="0" * 64, signature=bytes(64),
                                  key_id="fuzz-key")]


def reject(f: Fixtures) -> list[pb_message.Message]:
    return [pb.RejectFilingRequest(name=_one(f, FILING, DRAFT), reason="fuzz",
                                   signature=bytes(64), key_id="fuzz-key")]


def _by_name(request: type[pb_message.Message], kind: str, name: str, **extra: object
             ) -> Seeds:
    def seeds(f: Fixtures) -> list[pb_message.Message]:
        return [request(name=_one(f, kind, name), **extra), request(name=ABSENT[kind], **extra)]
    return seeds


def _reads(request: type[pb_message.Message], kind: str) -> Seeds:
    def seeds(f: Fixtures) -> list[pb_message.Message]:
        return [request(name=name) for name in _names(f, kind)] + [request(name=ABSENT[kind])]
    return seeds


def list_filings(_: Fixtures) -> list[pb_message.Message]:
    return [pb.ListFilingsRequest(page_size=10),
            pb.ListFilingsRequest(filter="state = FILING_STATE_APPROVED", order_by="filing_number"),
            pb.ListFilingsRequest(filter='identity.model = "zhijian-classify"', page_size=1),
            pb.ListFilingsRequest(filter='revalidate_time < "2030-01-01T00:00:00Z"')]


def list_runs(f: Fixtures) -> list[pb_message.Message]:
    return [pb.ListValidationRunsRequest(parent="filings/-", page_size=5),
            *(pb.ListValidationRunsRequest(parent=name) for name in _names(f, FILING)[:3])]


def register_dataset(f: Fixtures) -> list[pb_message.Message]:
    uri = str(f.values.get("dataset_file", "/nonexistent/fuzz.jsonl"))
    dataset = pb.Dataset(display_name="fuzz dataset", uri=uri, source="fuzz harness",
                         legal_basis="generated for the test", known_gaps=["synthetic"],
                         data_level=types_pb.DATA_LEVEL_L1_PUBLIC)
    return [pb.RegisterDatasetRequest(dataset=dataset),
            pb.RegisterDatasetRequest(dataset=dataset, dataset_id="fuzz-data"),
            pb.RegisterDatasetRequest(dataset=pb.Dataset(
                display_name="x", uri="file://" + uri, source="s", legal_basis="l",
                data_level=types_pb.DATA_LEVEL_L2_GENERAL), dataset_id="fuzz-data-two")]


def create_deployment(_: Fixtures) -> list[pb_message.Message]:
    return [pb.CreateDeploymentRequest(deployment_id=FUZZ_MODEL, deployment=pb.Deployment(
                network_domains=[types_pb.NETWORK_DOMAIN_INTRANET])),
            pb.CreateDeploymentRequest(deployment_id="zhijian-classify", deployment=pb.Deployment(
                network_domains=[types_pb.NETWORK_DOMAIN_EXTRANET], display_name="fuzz"))]


def update_deployment(f: Fixtures) -> list[pb_message.Message]:
    name = _deployment(f)
    return [pb.UpdateDeploymentRequest(deployment=pb.Deployment(name=name, display_name="fuzz"),
                                       update_mask=field_mask_pb2.FieldMask(paths=["display_name"])),
            pb.UpdateDeploymentRequest(
                deployment=pb.Deployment(name=name, network_domains=[
                    types_pb.NETWORK_DOMAIN_INTRANET, types_pb.NETWORK_DOMAIN_EXTRANET],
                    fallback_to_last_approved=True),
                update_mask=field_mask_pb2.FieldMask(
                    paths=["network_domains", "fallback_to_last_approved"]))]


def promote(f: Fixtures) -> list[pb_message.Message]:
    return [pb.PromoteDeploymentRequest(name=_deployment(f), filing=_one(f, FILING, DRAFT),
                                        reason="fuzz"),
            pb.PromoteDeploymentRequest(name=_deployment(f))]


def canary(f: Fixtures) -> list[pb_message.Message]:
    return [pb.SetDeploymentCanaryRequest(name=_deployment(f), filing=_one(f, FILING, DRAFT),
                                          weight_percent=10, reason="fuzz"),
            pb.SetDeploymentCanaryRequest(name=_deployment(f), weight_percent=0)]


def with_reason(request: type[pb_message.Message]) -> Seeds:
    def seeds(f: Fixtures) -> list[pb_message.Message]:
        return [request(name=_deployment(f), reason="fuzz drill"),
                request(name=ABSENT[DEPLOYMENT], reason="fuzz drill")]
    return seeds


def watch(_: Fixtures) -> list[pb_message.Message]:
    return [pb.WatchDeploymentsRequest(),
            pb.WatchDeploymentsRequest(filter=f'model = "{FUZZ_MODEL}"',
                                       heartbeat_interval=duration_pb2.Duration(nanos=200_000_000)),
            pb.WatchDeploymentsRequest(after_revision=1)]


def audit_events(_: Fixtures) -> list[pb_message.Message]:
    return [pb.ListAuditEventsRequest(parent=GOVERNANCE, page_size=20),
            pb.ListAuditEventsRequest(parent=GOVERNANCE, filter='action = "filing.approve"'),
            pb.ListAuditEventsRequest(parent=CALLS, page_size=5, filter='action = "call"')]


def call_records(_: Fixtures) -> list[pb_message.Message]:
    now = time.time()
    record = pb.CallRecord(
        record_id=uuid.uuid4().hex, caller="user:fuzz.caller",
        network_domain=types_pb.NETWORK_DOMAIN_INTRANET,
        method="/zhijian.classify.v1.ClassifyService/Classify",
        decision=pb.CALL_DECISION_ALLOWED, status_code=0,
        latency=duration_pb2.Duration(nanos=1_500_000), request_id="fuzz-record",
        request_sha256="0" * 64, start_time=timestamp_pb2.Timestamp(seconds=int(now)))
    return [pb.AppendCallRecordsRequest(records=[record]),
            pb.AppendCallRecordsRequest(records=[record, record])]


def review_records(_: Fixtures) -> list[pb_message.Message]:
    record = pb.ReviewRecord(
        result=f"classify/results/{uuid.uuid4().hex}", decision=types_pb.REVIEW_DECISION_ACCEPT,
        model=types_pb.ModelRef(model="zhijian-classify", version="1", filing_id="f-fuzz"),
        reviewer="user:fuzz.reviewer", review_time=timestamp_pb2.Timestamp(
            seconds=int(time.time())))
    return [pb.AppendReviewRecordsRequest(records=[record]),
            pb.AppendReviewRecordsRequest(records=[record, record])]


def enrol(f: Fixtures) -> list[pb_message.Message]:
    seed = f.values.get("enrolment")
    return [seed] if isinstance(seed, pb.EnrollSigningKeyRequest) else \
        [pb.EnrollSigningKeyRequest(public_key=bytes(32), proof=bytes(64))]


def revoke(_: Fixtures) -> list[pb_message.Message]:
    return [pb.RevokeTokenRequest(jti=uuid.uuid4().hex, reason="fuzz: unknown token"),
            pb.RevokeTokenRequest(jti=uuid.uuid4().hex, subject="user:fuzz.nobody",
                                  reason="fuzz")]


def issue(_: Fixtures) -> list[pb_message.Message]:
    # An ordinary identity (issued at once) and a privileged one (left pending: the fuzzer
    # acts as one admin, and a second is needed).
    return [pb.IssueCredentialRequest(subject="user:fuzz.issued", roles=["reviewer"],
                                      clearance="L2", reason="fuzz"),
            pb.IssueCredentialRequest(subject="user:fuzz.admin", roles=["platform_admin"],
                                      clearance="L4", reason="fuzz")]


def _fixed(*requests: pb_message.Message) -> Seeds:
    def seeds(_: Fixtures) -> list[pb_message.Message]:
        return list(requests)
    return seeds


# --- setup and health ---------------------------------------------------------------------

async def _states(context: SetupContext) -> dict[str, int]:
    filings = await context.call(AUDITOR, "ListFilings", pb.ListFilingsRequest(page_size=500),
                                 pb.ListFilingsResponse)
    deployments = await context.call(AUDITOR, "ListDeployments",
                                     pb.ListDeploymentsRequest(page_size=500),
                                     pb.ListDeploymentsResponse)
    states = {f.name: int(f.state) for f in filings.filings}
    states.update({d.name: int(d.state) for d in deployments.deployments})
    return states


async def setup(context: SetupContext) -> None:
    f = context.fixtures
    f.add(LEDGER, GOVERNANCE)
    filings = await context.call(AUDITOR, "ListFilings", pb.ListFilingsRequest(page_size=100),
                                 pb.ListFilingsResponse)
    for filing in filings.filings:
        f.add(FILING, filing.name)
    if filings.filings:
        f.values["filing"] = filings.filings[0]
    runs = await context.call(AUDITOR, "ListValidationRuns",
                              pb.ListValidationRunsRequest(parent="filings/-", page_size=100),
                              pb.ListValidationRunsResponse)
    for run in runs.validation_runs:
        f.add(RUN, run.name)
    datasets = await context.call(AUDITOR, "ListDatasets", pb.ListDatasetsRequest(page_size=100),
                                  pb.ListDatasetsResponse)
    for dataset in datasets.datasets:
        f.add(DATASET, dataset.name, protect=False)
    deployments = await context.call(AUDITOR, "ListDeployments",
                                     pb.ListDeploymentsRequest(page_size=100),
                                     pb.ListDeploymentsResponse)
    for deployment in deployments.deployments:
        f.add(DEPLOYMENT, deployment.name)
    f.values["states"] = await _states(context)
    f.values["enrolment"] = _enrolment(context)
    if context.throwaway:
        await _throwaway_resources(context)


def _enrolment(context: SetupContext) -> pb.EnrollSigningKeyRequest:
    subject = LocalIdentity.load(IdentitySettings.from_env(context.env).identities_dir,
                                 REVIEWER.identity).subject
    key = generate_signing_key()
    proof = sign(key, enrollment_statement(subject=subject, key_id=key_id_of(key.public_key())))
    return pb.EnrollSigningKeyRequest(public_key=public_key_raw(key), proof=proof)


def _mlflow_model(tracking_uri: str, scratch: Path) -> None:
    """A registered model with two versions that nothing serves, for filings and a
    deployment the run may do anything to."""
    contain_environment(scratch)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    # MLflow announces every run it creates on stdout, and logs at INFO (its import sets
    # its own level, hence after it); the fuzz report is the output here.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.create_registered_model(FUZZ_MODEL)
    except MlflowException:
        return  # made by an earlier run on this platform
    artifact = scratch / "model" / "MLmodel"
    artifact.parent.mkdir(parents=True, exist_ok=True)
    artifact.write_text("flavors: {}\n")
    run = client.create_run("0", run_name="fuzz-model")
    client.log_artifacts(run.info.run_id, str(artifact.parent), "model")
    client.set_terminated(run.info.run_id)
    for _ in range(2):
        client.create_model_version(FUZZ_MODEL, f"runs:/{run.info.run_id}/model",
                                    run_id=run.info.run_id)


async def _throwaway_resources(context: SetupContext) -> None:
    f = context.fixtures
    ports = StackPorts.from_env(context.env)
    await asyncio.to_thread(_mlflow_model, f"http://127.0.0.1:{ports.mlflow}", context.scratch)

    async def attempt(caller: Caller, method: str, request: pb_message.Message,
                      response: type[pb_message.Message]) -> pb_message.Message | None:
        try:
            answer: pb_message.Message = await context.call(caller, method, request, response)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            return None
        return answer

    await attempt(ADMIN, "CreateDeployment", pb.CreateDeploymentRequest(
        deployment_id=FUZZ_MODEL, deployment=pb.Deployment(
            network_domains=[types_pb.NETWORK_DOMAIN_INTRANET])), pb.Deployment)
    f.add(DEPLOYMENT, f"deployments/{FUZZ_MODEL}", throwaway=True)
    for name, version in ((DRAFT, "1"), (TO_RETIRE, "2")):
        await attempt(DEVELOPER, "CreateFiling", pb.CreateFilingRequest(
            filing=_draft_body(f, FUZZ_MODEL, version), filing_id=name.split("/")[1]), pb.Filing)
        f.add(FILING, name, throwaway=True)
    f.values["dataset_file"] = str(_dataset_files(context))
    await attempt(DEVELOPER, "RegisterDataset", register_dataset(f)[1], pb.Dataset)
    f.add(DATASET, "datasets/fuzz-data", throwaway=True)
    token, jti = context.credentials.issue("user:fuzz.revoked", ["business_system"])
    await context.call(ADMIN, "RevokeToken", pb.RevokeTokenRequest(
        jti=jti, subject="user:fuzz.revoked", reason="fuzz: a revoked credential"), pb.Revocation)
    context.credentials.add_bad("revoked token", f"Bearer {token}")


def _dataset_files(context: SetupContext) -> Path:
    """A valid dataset inside the registry's default dataset root of this platform, and
    the ways out of that root an attacker would try: ``..``, a symbolic link to a file
    outside, a link to a folder, a directory, an oversized and an invalid file."""
    home = Path(context.env["ZHIJIAN_HOME"])
    root = home / "datasets" / "fuzz"
    root.mkdir(parents=True, exist_ok=True)
    valid = root / "fuzz.jsonl"
    valid.write_text('{"text": "一次性使用无菌注射器", "product_category": "device"}\n'
                     '{"text": "CO2 incubator", "product_category": "not_device"}\n')
    (root / "not-json.jsonl").write_text("not json\n\x00\xff\n", errors="surrogateescape")
    (root / "big.jsonl").write_bytes(b'{"text": "x"}\n' * 300_000)
    for link, points_to in (("passwd.jsonl", Path("/etc/passwd")), ("keys", home / "keys")):
        path = root / link
        if not path.is_symlink():
            path.symlink_to(points_to)
    hostile = [str(valid), "file://" + str(valid), str(root), str(root / "passwd.jsonl"),
               str(root / "keys" / "issuer.pem"), str(root / ".." / ".." / "keys" / "ledger.pem"),
               str(root / "not-json.jsonl"), str(root / "big.jsonl"), str(root / "absent.jsonl"),
               str(home / "datasets" / "seed" / "classify" / "seed-train.jsonl"),
               str(root) + "/./fuzz.jsonl",
               str(root) + "//fuzz.jsonl", str(home / "mlflow" / "mlflow.db")]
    context.fixtures.pools["uri"] = hostile
    return valid


async def health(context: SetupContext) -> list[str]:
    before: dict[str, int] = context.fixtures.values.get("states", {})
    try:
        now = await _states(context)
    except grpc.aio.AioRpcError as error:
        return [f"listing filings and deployments failed: {error.code().name} {error.details()}"]
    problems = []
    for name, state in before.items():
        if now.get(name) != state:
            problems.append(f"{name} changed state during the run: {state} -> {now.get(name)}")
    return problems


SPEC = ServiceSpec(
    descriptor=pb.DESCRIPTOR.services_by_name["RegistryService"],
    methods=(
        MethodSpec("CreateFiling", (DEVELOPER,), create_filing, writes=True),
        MethodSpec("GetFiling", READERS, _reads(pb.GetFilingRequest, FILING)),
        MethodSpec("ListFilings", READERS, list_filings),
        MethodSpec("UpdateFiling", (DEVELOPER,), update_filing, destructive=True, weight=1.5),
        MethodSpec("SubmitFiling", (DEVELOPER,), _by_name(pb.SubmitFilingRequest, FILING, DRAFT),
                   destructive=True),
        MethodSpec("ValidateFiling", (Caller("validator", "intranet"),),
                   _by_name(pb.ValidateFilingRequest, FILING, DRAFT, limitations=["fuzz"]),
                   destructive=True),
        MethodSpec("GetValidationRun", READERS, _reads(pb.GetValidationRunRequest, RUN)),
        MethodSpec("ListValidationRuns", READERS, list_runs),
        MethodSpec("ApproveFiling", (ADMIN,), approve, destructive=True),
        MethodSpec("RejectFiling", (ADMIN,), reject, destructive=True),
        MethodSpec("SuspendFiling", KILL_SWITCH,
                   _by_name(pb.SuspendFilingRequest, FILING, DRAFT, reason="fuzz"),
                   destructive=True),
        MethodSpec("ReinstateFiling", (ADMIN,),
                   _by_name(pb.ReinstateFilingRequest, FILING, DRAFT, reason="fuzz"),
                   destructive=True),
        MethodSpec("RenewFiling", (ADMIN,), renew, destructive=True),
        MethodSpec("RetireFiling", (ADMIN,),
                   _by_name(pb.RetireFilingRequest, FILING, TO_RETIRE, reason="fuzz"),
                   destructive=True),
        MethodSpec("RegisterDataset", (DEVELOPER, Caller("validator", "intranet")),
                   register_dataset, writes=True),
        MethodSpec("GetDataset", READERS, _reads(pb.GetDatasetRequest, DATASET)),
        MethodSpec("ListDatasets", READERS, _fixed(pb.ListDatasetsRequest(page_size=10),
                                                   pb.ListDatasetsRequest())),
        MethodSpec("CreateDeployment", (ADMIN,), create_deployment, writes=True),
        MethodSpec("GetDeployment", READERS, _reads(pb.GetDeploymentRequest, DEPLOYMENT)),
        MethodSpec("ListDeployments", READERS, _fixed(
            pb.ListDeploymentsRequest(page_size=10),
            pb.ListDeploymentsRequest(filter="network_domains: NETWORK_DOMAIN_INTRANET"),
            pb.ListDeploymentsRequest(filter=f'model = "{FUZZ_MODEL}"'))),
        MethodSpec("UpdateDeployment", (ADMIN,), update_deployment, destructive=True),
        MethodSpec("PromoteDeployment", (ADMIN,), promote, destructive=True),
        MethodSpec("SetDeploymentCanary", (ADMIN,), canary, destructive=True),
        MethodSpec("RollbackDeployment", (ADMIN,), with_reason(pb.RollbackDeploymentRequest),
                   destructive=True),
        MethodSpec("SuspendDeployment", KILL_SWITCH, with_reason(pb.SuspendDeploymentRequest),
                   destructive=True),
        MethodSpec("ResumeDeployment", (ADMIN,), with_reason(pb.ResumeDeploymentRequest),
                   destructive=True),
        MethodSpec("WatchDeployments", READERS, watch, weight=0.4, stream_messages=2,
                   stream_seconds=1.0),
        MethodSpec("ListAuditEvents", LEDGER_READERS, audit_events),
        # Costs the whole governance ledger per call.
        MethodSpec("VerifyLedger", (AUDITOR, ADMIN),
                   _fixed(pb.VerifyLedgerRequest(name=GOVERNANCE)), weight=0.2, timeout_s=30.0),
        MethodSpec("AppendCallRecords", (COMPONENT,), call_records, writes=True),
        MethodSpec("AppendReviewRecords", (COMPONENT,), review_records, writes=True),
        MethodSpec("ListReviewStats", READERS, _fixed(
            pb.ListReviewStatsRequest(), pb.ListReviewStatsRequest(model="zhijian-classify"),
            pb.ListReviewStatsRequest(filing="filings/f-fuzz"))),
        MethodSpec("PruneLedger", (ADMIN,), _fixed(pb.PruneLedgerRequest(name=GOVERNANCE),
                                                   pb.PruneLedgerRequest(name=CALLS)),
                   writes=True, weight=0.5),
        MethodSpec("EnrollSigningKey", ENROLLERS, enrol, writes=True),
        MethodSpec("RevokeToken", (ADMIN,), revoke, writes=True, destructive=True),
        MethodSpec("ListRevocations", READERS, _fixed(pb.ListRevocationsRequest(page_size=10),
                                                      pb.ListRevocationsRequest())),
        MethodSpec("IssueCredential", (ADMIN,), issue, writes=True, weight=0.2),
        MethodSpec("ApproveCredentialIssuance", (ADMIN,), _fixed(
            pb.ApproveCredentialIssuanceRequest(name="credentialIssuances/" + "0" * 32)),
                   writes=True, weight=0.2),
        MethodSpec("ListCredentials", (AUDITOR, ADMIN, COMPONENT),
                   _fixed(pb.ListCredentialsRequest(page_size=10), pb.ListCredentialsRequest())),
        MethodSpec("GetCallerIdentity", ANYONE, _fixed(pb.GetCallerIdentityRequest())),
    ),
    setup=setup,
    health=health,
)
