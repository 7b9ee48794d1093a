"""The governed bootstrap of ``zhijian up``: the platform's identities (one per role, and
one per component) and the filing of each service's seed model.

``zhijian up`` enrols one identity per role (``--as developer`` and so on), then files
each service's seed model the way a real version is filed: the developer registers the
datasets and submits, the validator runs the validation, an admin who is neither signs
the approval, and the deployment is promoted — every step on the governance ledger.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zhijian.config import NETWORK_DOMAINS
from zhijian.files import write_file
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.service_spec import SeedDataset, SeedVersion, ServiceSpec, discover
from zhijian.types.v1 import ai_result_pb2 as types_pb

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoIdentity:
    name: str  # what --as takes
    subject: str
    roles: tuple[str, ...]
    clearance: str
    purpose: str


DEMO_IDENTITIES = (
    DemoIdentity("developer", "user:dev.zhang", ("model_developer",), "L3",
                 "trains, registers and submits model versions"),
    DemoIdentity("validator", "user:val.wang", ("validator",), "L3",
                 "runs independent validation"),
    DemoIdentity("admin", "user:admin.li", ("platform_admin",), "L4",
                 "approves filings, deploys, suspends"),
    DemoIdentity("admin2", "user:admin.chen", ("platform_admin",), "L4",
                 "second approver (high-risk filings need two)"),
    DemoIdentity("reviewer", "user:rev.zhao", ("reviewer",), "L3",
                 "reviews AI drafts"),
    DemoIdentity("business", "user:review-system", ("business_system",), "L3",
                 "a business system calling the services"),
    DemoIdentity("sre", "user:sre.sun", ("sre",), "L2", "runs the platform; kill switch"),
    DemoIdentity("auditor", "user:audit.qian", ("auditor",), "L4", "reads and verifies ledgers"),
)

def component_identities() -> tuple[str, ...]:
    """Platform components act as identities of their own: the gateways and every
    service's processes."""
    return (*(component for spec in discover() for component in spec.components),
            *(f"gateway-{domain}" for domain in NETWORK_DOMAINS))


def service_identity_name(component: str) -> str:
    return f"svc-{component}"


# Platform components keep their tokens as long as the registry allows: a component whose
# token lapsed could not reach the registry to be issued a new one.
SERVICE_TTL_S = 400 * 86400
Wanted = tuple[str, str, tuple[str, ...], str, int | None]


def _wanted() -> list[Wanted]:
    return [(d.name, d.subject, d.roles, d.clearance, None) for d in DEMO_IDENTITIES] + [
        (service_identity_name(c), f"svc:{c}", ("service",), "L4", SERVICE_TTL_S)
        for c in component_identities()]


def _usable(identities_dir: Path, name: str) -> bool | None:
    """True if the identity is stored and usable, False if stored but lapsed or revoked,
    None if there is none."""
    from zhijian.identity import IdentityError, LocalIdentity

    try:
        existing = LocalIdentity.load(identities_dir, name)
    except IdentityError:
        return None
    return not existing.is_expired() and existing.revoked_at is None


def enrol_identities(keys_dir: Path, identities_dir: Path, tokens_dir: Path,
                     bootstrap_file: Path, progress: Progress) -> list[Wanted]:
    """On the platform's first start (no identity yet) mint them all and leave their
    records for the registry, which records them once as the bootstrap act. Later,
    return those that are missing or lapsed: the registry issues them
    (:func:`reissue_identities`). Each component's token goes to a file of its own."""
    import json

    from zhijian.cli.identity import bootstrap_record, issue_identity
    from zhijian.identity import IdentitySettings, IssuerKey, LocalIdentity

    settings = IdentitySettings.from_env()
    IssuerKey.load_or_create(keys_dir)
    wanted = _wanted()
    states = {name: _usable(identities_dir, name) for name, *_ in wanted}
    stale: list[Wanted] = []
    if all(state is None for state in states.values()):
        minted = [issue_identity(keys_dir, identities_dir, name, subject, list(roles),
                                 clearance, ttl_s, settings)
                  for name, subject, roles, clearance, ttl_s in wanted]
        bootstrap_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file(bootstrap_file, json.dumps([bootstrap_record(i) for i in minted]).encode(),
                   mode=0o600)
        progress(f"issued the bootstrap identities: {', '.join(i.name for i in minted)}")
    else:
        stale = [w for w in wanted if not states[w[0]]]
    tokens_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for component in component_identities():
        name = service_identity_name(component)
        # Lapsed or missing ones get their file when the registry issues them again.
        if _usable(identities_dir, name):
            identity = LocalIdentity.load(identities_dir, name)
            write_file(tokens_dir / f"{component}.jwt", identity.token.encode(), mode=0o600)
    return stale


async def reissue_identities(stale: list[Wanted], identities_dir: Path, tokens_dir: Path,
                             target: str, progress: Progress) -> None:
    """Have the registry issue the missing or lapsed identities, as the demo admins: one
    asks, and for a privileged identity the other approves."""
    from zhijian.cli.identity import request_credential, store_issued
    from zhijian.cli.session import call_metadata, default_timeout, open_registry
    from zhijian.identity import IdentityError, LocalIdentity

    admins = [LocalIdentity.load(identities_dir, n) for n in ("admin", "admin2")
              if _usable(identities_dir, n)]
    for name, subject, roles, clearance, ttl_s in stale:
        askers = [a for a in admins if a.subject != subject]
        if not askers:
            raise IdentityError(f"identity {name} lapsed and no other admin can ask for it: "
                                "start afresh (`zhijian down; rm -rf .zhijian`)")
        issuance = await request_credential(askers[0], target, subject, roles, clearance,
                                            ttl_s, "zhijian up: lapsed or missing")
        if issuance.state == pb.ISSUANCE_STATE_PENDING_APPROVAL:
            approvers = [a for a in askers[1:] if a.subject != subject]
            if not approvers:
                raise IdentityError(f"identity {name} needs a second admin to approve "
                                    f"{issuance.name}: `zhijian identity approve "
                                    f"{issuance.name} --name {name} --as ADMIN`")
            async with open_registry(target) as stub:
                issuance = await stub.ApproveCredentialIssuance(
                    pb.ApproveCredentialIssuanceRequest(name=issuance.name),
                    metadata=call_metadata(approvers[0]), timeout=default_timeout())
        identity = store_issued(identities_dir, name, issuance)
        if name.startswith("svc-"):
            write_file(tokens_dir / f"{name.removeprefix('svc-')}.jwt",
                       identity.token.encode(), mode=0o600)
        progress(f"the registry issued {name} ({subject}) again")


async def enrol_approver_keys(identities_dir: Path, target: str, progress: Progress) -> None:
    from zhijian.cli.identity import enrol_signing_key
    from zhijian.identity import LocalIdentity

    for demo in DEMO_IDENTITIES:
        identity = LocalIdentity.load(identities_dir, demo.name)
        if identity.is_approver and not identity.signing_key_enrolled:
            await enrol_signing_key(identity, target)
            progress(f"enrolled the signing key of {demo.name} ({demo.subject})")


def code_revision() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


class GovernedFiling:
    """Registry calls acting as the demo identities."""

    def __init__(self, stub: object, identities_dir: Path, progress: Progress) -> None:
        from zhijian.identity import LocalIdentity

        self._stub = stub
        self._progress = progress
        self._ids = {d.name: LocalIdentity.load(identities_dir, d.name) for d in DEMO_IDENTITIES}

    def _meta(self, name: str) -> tuple[tuple[str, str], ...]:
        from zhijian.cli.session import call_metadata

        return call_metadata(self._ids[name])

    async def _call(self, name: str, method: str, request: object, timeout: float = 60) -> object:
        return await getattr(self._stub, method)(request, metadata=self._meta(name),
                                                 timeout=timeout)

    async def dataset(self, dataset_id: str, seed: SeedDataset,
                      shared: Mapping[str, Any]) -> str:
        import grpc
        from google.protobuf import json_format

        dataset = json_format.ParseDict(dict(shared), pb.Dataset())
        dataset.display_name, dataset.uri = seed.display_name, str(seed.path)
        dataset.preparation_notes = seed.preparation_notes
        if not dataset.data_level:
            dataset.data_level = types_pb.DATA_LEVEL_L1_PUBLIC
        request = pb.RegisterDatasetRequest(dataset_id=dataset_id, dataset=dataset)
        try:
            await self._call("developer", "RegisterDataset", request)
            self._progress(f"  developer registered datasets/{dataset_id}")
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        return f"datasets/{dataset_id}"

    async def file_version(self, spec: ServiceSpec, seed: SeedVersion) -> pb.Filing:
        assert spec.seed is not None
        model, version = spec.seed.model_name, seed.version
        found = await self._call("developer", "ListFilings", pb.ListFilingsRequest(
            filter=f'identity.model = "{model}" AND identity.version = "{version}"'))
        if found.filings:  # type: ignore[attr-defined]
            filing: pb.Filing = found.filings[0]  # type: ignore[attr-defined]
            return filing
        self._progress(f"filing {model} version {version} the governed way:")
        # Dataset ids are the registry's, shared by every service: prefixed with its name.
        prefix = f"{spec.name}-seed"
        training = await self.dataset(f"{prefix}-train-v{version}", seed.train,
                                      spec.seed.dataset)
        testing = await self.dataset(f"{prefix}-test-v{version}", seed.test, spec.seed.dataset)
        draft = spec.seed.filing(version, developers=[self._ids["developer"].subject],
                                 business_owner="user:biz.owner",
                                 security_officer="user:sec.officer",
                                 training_dataset=training, test_dataset=testing,
                                 code_revision=code_revision())
        created: pb.Filing = await self._call(  # type: ignore[assignment]
            "developer", "CreateFiling", pb.CreateFilingRequest(filing=draft))
        self._progress(f"  [1/4] developer created {created.name} ({created.filing_number})")
        submitted: pb.Filing = await self._call(  # type: ignore[assignment]
            "developer", "SubmitFiling", pb.SubmitFilingRequest(name=created.name))
        self._progress(f"  [2/4] developer submitted it; evidence sha256 "
                       f"{submitted.evidence_sha256[:16]}… frozen")
        return submitted

    async def validate(self, filing: pb.Filing, timeout_s: float = 600) -> pb.ValidationRun:
        run: pb.ValidationRun = await self._call(  # type: ignore[assignment]
            "validator", "ValidateFiling", pb.ValidateFilingRequest(name=filing.name))
        self._progress(f"  [3/4] validator started {run.name} …")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while run.state == pb.VALIDATION_RUN_STATE_RUNNING:
            if loop.time() > deadline:
                raise TimeoutError(f"validation {run.name} still running after {timeout_s}s")
            await asyncio.sleep(1.0)
            run = await self._call(  # type: ignore[assignment]
                "validator", "GetValidationRun", pb.GetValidationRunRequest(name=run.name))
        verdict = "passed" if run.passed else "did NOT pass: " + "; ".join(run.failures)
        self._progress(f"        validation {verdict}" + (f" ({run.error})" if run.error else ""))
        return run

    async def approve(self, filing: pb.Filing, run: pb.ValidationRun,
                      approver: str = "admin") -> pb.Filing:
        from zhijian.identity import approval_statement, sign

        identity = self._ids[approver]
        statement = approval_statement(filing=filing.name,
                                       evidence_sha256=filing.evidence_sha256,
                                       validation_run_sha256=run.record_sha256,
                                       decision="approve", conditions=[])
        approved: pb.Filing = await self._call(approver, "ApproveFiling", pb.ApproveFilingRequest(  # type: ignore[assignment]
            name=filing.name, validation_run=run.name,
            validation_run_sha256=run.record_sha256,
            signature=sign(identity.signing_key(), statement),
            key_id=identity.signing_key_id or ""))
        self._progress(f"  [4/4] {approver} ({identity.subject}) signed the approval: "
                       f"{pb.FilingState.Name(approved.state).removeprefix('FILING_STATE_')}")
        return approved

    async def deploy(self, filing: pb.Filing) -> pb.Deployment:
        import grpc

        model = filing.identity.model
        try:
            await self._call("admin", "CreateDeployment", pb.CreateDeploymentRequest(
                deployment_id=model, deployment=pb.Deployment(
                    network_domains=list(filing.classification.network_domains),
                    fallback_to_last_approved=True)))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
        deployment: pb.Deployment = await self._call(  # type: ignore[assignment]
            "admin", "GetDeployment", pb.GetDeploymentRequest(name=f"deployments/{model}"))
        if deployment.production.filing != filing.name:
            deployment = await self._call(  # type: ignore[assignment]
                "admin", "PromoteDeployment", pb.PromoteDeploymentRequest(
                    name=f"deployments/{model}", filing=filing.name,
                    reason="governed filing of the seed model"))
            self._progress(f"  admin promoted {filing.filing_number} to production of "
                           f"deployments/{model}")
        return deployment


async def file_seed_model(target: str, identities_dir: Path, spec: ServiceSpec,
                          seed: SeedVersion, progress: Progress) -> pb.Filing:
    """Idempotent: picks up wherever an earlier start left the filing."""
    from zhijian.cli.session import open_registry

    async with open_registry(target) as stub:
        flow = GovernedFiling(stub, identities_dir, progress)
        filing = await flow.file_version(spec, seed)
        if filing.state == pb.FILING_STATE_SUBMITTED:
            run = await flow.validate(filing)
            if not run.passed:
                raise RuntimeError(f"the seed model failed validation: {run.failures or run.error}")
            filing = await flow.approve(filing, run)
        elif filing.state == pb.FILING_STATE_VALIDATED:
            runs = await stub.ListValidationRuns(
                pb.ListValidationRunsRequest(parent=filing.name), metadata=flow._meta("admin"))
            passed = [r for r in runs.validation_runs if r.passed]
            filing = await flow.approve(filing, passed[0])
        if filing.state == pb.FILING_STATE_APPROVED:
            await flow.deploy(filing)
        else:
            progress(f"{filing.name} is {pb.FilingState.Name(filing.state)}: not deployed")
        return filing
