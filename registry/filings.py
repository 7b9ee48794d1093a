"""Filings through their lifecycle: create, update, submit, validate, approve, reject,
suspend, reinstate, renew, retire, expire — each one transaction that locks the filing,
checks roles, separation of duties and the lifecycle, changes state and appends the
governance ledger event that records it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf import timestamp_pb2
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry import lifecycle, records
from registry.authz import check_independent
from registry.context import REGISTRY_ACTOR, Actor, RegistryContext
from registry.datasets import DatasetAccess, DatasetAccessError, scan_dataset
from registry.lifecycle import Action
from registry.schema import (
    ApprovalRow,
    DatasetRow,
    FilingRow,
    SigningKeyRow,
    ValidationRunRow,
)
from registry.validation.evaluators import DEFAULT_TASK_TYPE
from zhijian import identity
from zhijian.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    invalid_field,
)
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

FILING_PREFIX = "filings/"
UPDATABLE = ("parties", "purpose", "classification", "technical_description", "datasets",
             "validation_plan", "oversight", "change_control", "code_revision")


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def filing_id_of(name: str, field: str = "name") -> str:
    filing_id = name.removeprefix(FILING_PREFIX)
    if not name.startswith(FILING_PREFIX) or not records.ID_PATTERN.match(filing_id):
        raise invalid_field(field, f"must be 'filings/{{id}}', got {name!r}",
                            reason="INVALID_RESOURCE_NAME")
    return filing_id


@dataclass
class LoadedFiling:
    row: FilingRow
    filing: pb.Filing


def load(session: Session, name: str, *, lock: bool, field: str = "name") -> LoadedFiling:
    filing_id = filing_id_of(name, field)
    query = select(FilingRow).where(FilingRow.id == filing_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise NotFound(f"no filing {name}", reason="FILING_NOT_FOUND", metadata={"name": name})
    return LoadedFiling(row, records.from_json(pb.Filing, row.body))


def render(loaded: LoadedFiling, ctx: RegistryContext) -> pb.Filing:
    """The filing as callers see it, with fields that depend on the clock."""
    filing = pb.Filing()
    filing.CopyFrom(loaded.filing)
    filing.etag = str(loaded.row.revision)
    if loaded.row.revalidate_time is not None:
        filing.revalidation_due = (loaded.row.revalidate_time - ctx.settings
                                   .revalidation_warning_s) <= ctx.clock()
    return filing


def _save(ctx: RegistryContext, loaded: LoadedFiling) -> None:
    row, filing = loaded.row, loaded.filing
    now = ctx.clock()
    filing.update_time.CopyFrom(timestamp(now))
    row.state = filing.state
    row.update_time = now
    row.evidence_sha256 = filing.evidence_sha256
    row.risk_tier = filing.classification.risk_tier
    row.required_approvals = filing.required_approvals
    row.revalidate_time = (filing.revalidate_time.ToNanoseconds() / 1e9
                           if filing.HasField("revalidate_time") else None)
    row.revision += 1
    row.body = records.to_json(filing)


def _check_etag(loaded: LoadedFiling, etag: str) -> None:
    if etag and etag != str(loaded.row.revision):
        raise Aborted(f"{loaded.filing.name} changed since etag {etag}", reason="ETAG_MISMATCH")


def transition(ctx: RegistryContext, session: Session, loaded: LoadedFiling,
               actor: Actor | str, action: Action, *, reason: str = "",
               details: dict[str, object] | None = None, approvals_complete: bool = True,
               expired: bool = False) -> None:
    """Move the filing (or refuse), record the act on the ledger, note serving changes."""
    before = loaded.filing.state
    try:
        after = lifecycle.next_state(before, action, approvals_complete=approvals_complete,
                                     expired=expired)
    except lifecycle.IllegalTransition as error:
        raise FailedPrecondition(
            f"{loaded.filing.name}: {error}", reason="ILLEGAL_FILING_TRANSITION",
            metadata={"filing": loaded.filing.name, "state": lifecycle.state_name(before),
                      "action": action.value}) from None
    subject = actor if isinstance(actor, str) else actor.subject
    event = ctx.record(session, actor, f"filing.{action.value}", loaded.filing.name, {
        "from": lifecycle.state_name(before), "to": lifecycle.state_name(after),
        "reason": reason, "filing_number": loaded.filing.filing_number,
        "model": loaded.filing.identity.model, "version": loaded.filing.identity.version,
        **(details or {})})
    if after != before:
        loaded.filing.state_history.append(pb.StateChange(
            from_state=before, to_state=after, actor=subject,  # type: ignore[arg-type]
            change_time=timestamp(ctx.clock()), reason=reason, audit_event=event))
    loaded.filing.state = after  # type: ignore[assignment]
    _save(ctx, loaded)
    # A completed renewal keeps the state but moves the revalidation date, which serving
    # processes check locally: they must hear of it too.
    renewed = action is Action.RENEW and approvals_complete
    if after != before or renewed:
        ctx.serving_changed(session, ctx.deployments_using(session, loaded.row.id))


# --- create, update, submit ------------------------------------------------------------


def _next_filing_number(session: Session, now: float) -> str:
    year = dt.datetime.fromtimestamp(now, dt.UTC).year
    prefix = f"ZJ-{year}-"
    count = session.scalar(select(func.count()).select_from(FilingRow)
                           .where(FilingRow.filing_number.like(prefix + "%"))) or 0
    return f"{prefix}{count + 1:04d}"


def create(ctx: RegistryContext, actor: Actor, request: pb.CreateFilingRequest) -> pb.Filing:
    filing = pb.Filing()
    filing.CopyFrom(request.filing)
    violations = records.identity_violations(filing)
    if violations:
        raise InvalidArgument(f"{violations[0].field}: {violations[0].description}",
                              reason=violations[0].reason, violations=violations)
    filing_id = request.filing_id or f"f-{uuid.uuid4().hex[:12]}"
    if not records.ID_PATTERN.match(filing_id):
        raise invalid_field("filing_id", "must be 4-63 characters of [a-z0-9-], starting "
                            "with a letter", reason="INVALID_FILING_ID")
    model, version = filing.identity.model, filing.identity.version
    # The version must exist in MLflow; what it is comes from MLflow, not the caller.
    info = ctx.store.describe_version(model, version)
    with ctx.write() as session:
        if session.get(FilingRow, filing_id) is not None:
            raise AlreadyExists(f"filing {filing_id} exists", reason="FILING_EXISTS")
        existing = session.scalar(select(FilingRow.id).where(FilingRow.model == model,
                                                             FilingRow.version == version))
        if existing:
            raise AlreadyExists(f"{model} version {version} already has filing "
                                f"filings/{existing}", reason="FILING_EXISTS",
                                metadata={"filing": f"filings/{existing}"})
        now = ctx.clock()
        for output_only in ("state", "state_history", "latest_validation_run", "approvals",
                            "required_approvals", "evidence_sha256", "create_time",
                            "update_time", "submit_time", "approve_time", "revalidate_time",
                            "etag", "revalidation_due"):
            filing.ClearField(output_only)
        filing.parties.ClearField("validators")
        filing.parties.ClearField("approvers")
        filing.name = FILING_PREFIX + filing_id
        filing.filing_number = _next_filing_number(session, now)
        filing.state = pb.FILING_STATE_DRAFT
        filing.parties.submitter = actor.subject
        filing.identity.mlflow_run_id = info.run_id
        filing.identity.model_uri = info.model_uri
        if not filing.technical_description.signature_json:
            filing.technical_description.signature_json = info.signature_json
        filing.create_time.CopyFrom(timestamp(now))
        filing.update_time.CopyFrom(timestamp(now))
        tier = records.effective_risk_tier(filing.classification)
        filing.classification.risk_tier = tier  # type: ignore[assignment]
        filing.required_approvals = records.required_approvals(tier)
        row = FilingRow(id=filing_id, filing_number=filing.filing_number, model=model,
                        version=version, state=filing.state, filing_type=filing.filing_type,
                        risk_tier=tier, submitter=actor.subject,
                        required_approvals=filing.required_approvals, evidence_sha256="",
                        create_time=now, update_time=now, revalidate_time=None,
                        approval_round=0, revalidation_warned=False, revision=0,
                        body="{}")
        session.add(row)
        loaded = LoadedFiling(row, filing)
        event = ctx.record(session, actor, "filing.create", filing.name, {
            "filing_number": filing.filing_number, "model": model, "version": version})
        filing.state_history.append(pb.StateChange(
            from_state=pb.FILING_STATE_UNSPECIFIED, to_state=pb.FILING_STATE_DRAFT,
            actor=actor.subject, change_time=timestamp(now), audit_event=event))
        _save(ctx, loaded)
        return render(loaded, ctx)


def _only_submitter(loaded: LoadedFiling, actor: Actor, act: str) -> None:
    if actor.subject != loaded.filing.parties.submitter:
        raise PermissionDenied(f"only the submitter {loaded.filing.parties.submitter} may "
                               f"{act} {loaded.filing.name}", reason="NOT_THE_SUBMITTER")


def update(ctx: RegistryContext, actor: Actor, request: pb.UpdateFilingRequest) -> pb.Filing:
    paths = list(request.update_mask.paths)
    if not paths:
        raise invalid_field("update_mask", "must name the fields to update",
                            reason="UPDATE_MASK_REQUIRED")
    if paths == ["*"]:
        paths = list(UPDATABLE)
    bad = [p for p in paths if p not in UPDATABLE]
    if bad:
        raise invalid_field("update_mask", f"cannot update {', '.join(bad)}; updatable: "
                            + ", ".join(UPDATABLE), reason="FIELD_NOT_UPDATABLE")
    with ctx.write() as session:
        loaded = load(session, request.filing.name, lock=True, field="filing.name")
        _only_submitter(loaded, actor, "update")
        if loaded.filing.state != pb.FILING_STATE_DRAFT:
            raise FailedPrecondition(
                f"{loaded.filing.name} is {lifecycle.state_name(loaded.filing.state)}: "
                "submitted evidence is frozen; a change needs a new version and filing",
                reason="FILING_FROZEN", metadata={"filing": loaded.filing.name})
        for path in paths:
            if path == "code_revision":
                loaded.filing.code_revision = request.filing.code_revision
                continue
            loaded.filing.ClearField(path)
            source = getattr(request.filing, path)
            target = getattr(loaded.filing, path)
            if path == "datasets":
                target.extend(source)
            else:
                target.CopyFrom(source)
        loaded.filing.parties.submitter = actor.subject
        loaded.filing.parties.ClearField("validators")
        loaded.filing.parties.ClearField("approvers")
        tier = records.effective_risk_tier(loaded.filing.classification)
        loaded.filing.classification.risk_tier = tier  # type: ignore[assignment]
        loaded.filing.required_approvals = records.required_approvals(tier)
        transition(ctx, session, loaded, actor, Action.UPDATE,
                   details={"fields": sorted(paths)})
        return render(loaded, ctx)


def _submittable(loaded: LoadedFiling, actor: Actor, etag: str) -> None:
    violations = records.submission_violations(loaded.filing)
    if violations:
        raise FailedPrecondition(
            f"{loaded.filing.name} is incomplete: {len(violations)} mandatory field(s) "
            f"missing, first {violations[0].field} {violations[0].description}",
            reason="FILING_INCOMPLETE", violations=violations,
            metadata={"filing": loaded.filing.name})
    _check_etag(loaded, etag)
    _only_submitter(loaded, actor, "submit")
    lifecycle_check(loaded, Action.SUBMIT)


def submission_datasets(ctx: RegistryContext, actor: Actor, request: pb.SubmitFilingRequest
                        ) -> list[tuple[str, str]]:
    """(dataset, URI) of each dataset the filing uses, as submission re-hashes them —
    after the checks that need no file, so that a caller who may not submit the filing
    cannot make the registry read anything."""
    with ctx.db.read() as session:
        loaded = load(session, request.name, lock=False)
        _submittable(loaded, actor, request.etag)
        files = []
        for i, use in enumerate(loaded.filing.datasets):
            row = session.get(DatasetRow, use.dataset.removeprefix("datasets/"))
            if row is None:
                raise FailedPrecondition(f"datasets[{i}]: {use.dataset} is not registered",
                                         reason="DATASET_NOT_FOUND",
                                         metadata={"dataset": use.dataset})
            files.append((use.dataset, records.from_json(pb.Dataset, row.body).uri))
        return files


def hash_datasets(files: Iterable[tuple[str, str]], access: DatasetAccess) -> dict[str, str]:
    """SHA-256 of each dataset file as it is now. Blocking; the servicer runs it on the
    dataset-read threads, never inside a transaction."""
    digests = {}
    for dataset, uri in files:
        try:
            digests[dataset] = scan_dataset(uri, access, check_records=False).sha256
        except DatasetAccessError as error:
            raise FailedPrecondition(f"{dataset}: {uri} {error.message}", reason=error.reason,
                                     metadata={"dataset": dataset}) from None
    return digests


def _snapshot_datasets(session: Session, filing: pb.Filing, digests: Mapping[str, str]
                       ) -> None:
    for i, use in enumerate(filing.datasets):
        row = session.get(DatasetRow, use.dataset.removeprefix("datasets/"))
        if row is None:
            raise FailedPrecondition(f"datasets[{i}]: {use.dataset} is not registered",
                                     reason="DATASET_NOT_FOUND",
                                     metadata={"dataset": use.dataset})
        dataset = records.from_json(pb.Dataset, row.body)
        sha256 = digests.get(use.dataset)
        if sha256 is None:  # the filing's datasets changed after they were hashed
            raise FailedPrecondition(f"{filing.name} changed during submission; retry",
                                     reason="FILING_CHANGED")
        if sha256 != row.sha256:
            raise FailedPrecondition(f"{use.dataset} changed since it was registered "
                                     f"(sha256 {sha256[:12]}… vs {row.sha256[:12]}…)",
                                     reason="DATASET_CHANGED",
                                     metadata={"dataset": use.dataset})
        if dataset.data_level > filing.classification.max_data_level:
            raise FailedPrecondition(
                f"datasets[{i}]: {use.dataset} holds {types_pb.DataLevel.Name(dataset.data_level)}"
                " data, above the version's classification.max_data_level",
                reason="DATASET_ABOVE_MODEL_DATA_LEVEL", metadata={"dataset": use.dataset})
        # The evaluator reads the test records in its own schema; "" is the default type
        # on both sides (datasets and plans from before task types were named).
        planned = filing.validation_plan.task_type or DEFAULT_TASK_TYPE
        if use.purpose == pb.DATASET_PURPOSE_TEST \
                and (dataset.task_type or DEFAULT_TASK_TYPE) != planned:
            raise FailedPrecondition(
                f"datasets[{i}]: {use.dataset} holds {dataset.task_type or DEFAULT_TASK_TYPE}"
                f" records, but the validation plan measures {planned}",
                reason="DATASET_TASK_TYPE_MISMATCH", metadata={"dataset": use.dataset})
        use.snapshot.CopyFrom(dataset)


def submit(ctx: RegistryContext, actor: Actor, request: pb.SubmitFilingRequest,
           dataset_digests: Mapping[str, str] | None = None) -> pb.Filing:
    """``dataset_digests``: ``hash_datasets`` of ``submission_datasets``, which the
    servicer reads on its dataset-read threads; without them they are read here."""
    if dataset_digests is None:
        dataset_digests = hash_datasets(submission_datasets(ctx, actor, request),
                                        ctx.settings.dataset_access)
    with ctx.db.read() as session:
        peek = load(session, request.name, lock=False)
    _submittable(peek, actor, request.etag)
    # Hash the artifacts before the transaction: MLflow may be slow or down, and a write
    # transaction must not wait on it (nothing is stored if this fails). The dataset
    # files were hashed before it for the same reason.
    stored = ctx.store.stored_files(peek.filing.identity.model, peek.filing.identity.version)
    digests = stored.digests
    with ctx.write() as session:
        loaded = load(session, request.name, lock=True)
        _check_etag(loaded, request.etag)
        _only_submitter(loaded, actor, "submit")
        if loaded.row.revision != peek.row.revision:
            raise FailedPrecondition(f"{request.name} changed during submission; retry",
                                     reason="FILING_CHANGED")
        lifecycle_check(loaded, Action.SUBMIT)
        filing = loaded.filing
        del filing.identity.artifacts[:]
        filing.identity.artifacts.extend(
            pb.Artifact(path=d.path, sha256=d.sha256, size_bytes=d.size_bytes)
            for d in digests)
        if not filing.technical_description.dependencies:
            filing.technical_description.dependencies.extend(
                pb.Dependency(name=name, version=version)
                for name, version in stored.dependencies)
        _snapshot_datasets(session, filing, dataset_digests)
        filing.evidence_sha256 = records.evidence_sha256(filing)
        filing.submit_time.CopyFrom(timestamp(ctx.clock()))
        transition(ctx, session, loaded, actor, Action.SUBMIT, details={
            "evidence_sha256": filing.evidence_sha256,
            "artifacts": len(digests), "risk_tier": pb.RiskTier.Name(
                filing.classification.risk_tier)})
        return render(loaded, ctx)


def lifecycle_check(loaded: LoadedFiling, action: Action) -> None:
    if not lifecycle.allowed(loaded.filing.state, action):
        raise FailedPrecondition(
            f"cannot {action.value} {loaded.filing.name}: it is "
            f"{lifecycle.state_name(loaded.filing.state)}", reason="ILLEGAL_FILING_TRANSITION",
            metadata={"filing": loaded.filing.name,
                      "state": lifecycle.state_name(loaded.filing.state),
                      "action": action.value})


# --- approvals -------------------------------------------------------------------------


def _verify_signature(session: Session, actor: Actor, key_id: str, statement: bytes,
                      signature: bytes) -> None:
    key = session.get(SigningKeyRow, key_id) if key_id else None
    if key is None or key.subject != actor.subject:
        raise PermissionDenied(f"{key_id or '(none)'} is not an enrolled signing key of "
                               f"{actor.subject}", reason="SIGNING_KEY_NOT_ENROLLED",
                               metadata={"key_id": key_id})
    if key.state != pb.SIGNING_KEY_STATE_ACTIVE:
        raise PermissionDenied(f"signing key {key_id} of {actor.subject} was retired",
                               reason="SIGNING_KEY_RETIRED", metadata={"key_id": key_id})
    if not identity.verify_signature(key.public_key, statement, signature):
        raise PermissionDenied("the signature does not verify against the approver's "
                               "enrolled key", reason="APPROVAL_SIGNATURE_INVALID",
                               metadata={"key_id": key_id})


def _passed_run(session: Session, loaded: LoadedFiling, name: str, sha256: str,
                *, newer_than: float | None) -> ValidationRunRow:
    prefix = loaded.filing.name + "/validationRuns/"
    run_id = name.removeprefix(prefix)
    run = session.get(ValidationRunRow, run_id) if name.startswith(prefix) else None
    if run is None or run.filing_id != loaded.row.id:
        raise FailedPrecondition(f"{name or '(none)'} is not a validation run of "
                                 f"{loaded.filing.name}", reason="VALIDATION_RUN_NOT_FOUND")
    if run.state != pb.VALIDATION_RUN_STATE_SUCCEEDED or not run.passed:
        raise FailedPrecondition(f"{name} did not pass; approval needs a passed validation",
                                 reason="VALIDATION_NOT_PASSED")
    if run.record_sha256 != sha256:
        raise FailedPrecondition(f"{name} has record hash {run.record_sha256[:12]}…, not the "
                                 f"{sha256[:12] or '(none)'}… the approver saw",
                                 reason="VALIDATION_RUN_HASH_MISMATCH")
    if newer_than is not None and run.create_time <= newer_than:
        raise FailedPrecondition(f"{name} is older than the last approval; renewal needs a "
                                 "new validation run", reason="VALIDATION_RUN_STALE")
    return run


def _record_approval(ctx: RegistryContext, session: Session, loaded: LoadedFiling,
                     actor: Actor, approval_round: int, approval: pb.Approval) -> int:
    """Insert one signed approval record; returns how many distinct approvals the round
    now has. The unique (filing, round, approver) constraint makes a second approval by
    the same person fail even when two arrive at once."""
    row = ApprovalRow(filing_id=loaded.row.id, approval_round=approval_round,
                      approver=actor.subject, decision=approval.decision,
                      validation_run=approval.validation_run,
                      validation_run_sha256=approval.validation_run_sha256,
                      key_id=approval.key_id, signature=approval.signature,
                      approve_time=ctx.clock(), body=records.to_json(approval))
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"{actor.subject} already decided on {loaded.filing.name}",
                            reason="APPROVAL_ALREADY_RECORDED") from None
    loaded.filing.approvals.append(approval)
    if actor.subject not in loaded.filing.parties.approvers:
        loaded.filing.parties.approvers.append(actor.subject)
    # Only approvals of this same validation run count together: an approver who signed
    # for an older run did not see the evidence the others approve.
    return session.scalar(select(func.count(func.distinct(ApprovalRow.approver))).where(
        ApprovalRow.filing_id == loaded.row.id, ApprovalRow.approval_round == approval_round,
        ApprovalRow.validation_run == approval.validation_run,
        ApprovalRow.decision != pb.APPROVAL_DECISION_REJECT)) or 0


def _mlflow_reachable(ctx: RegistryContext, name: str) -> None:
    """Fail fast, before the write lock is taken, if MLflow (which the act will write
    to) is down: holding the lock through MLflow's timeouts would stall every other act,
    the kill switch included."""
    with ctx.db.read() as session:
        model = load(session, name, lock=False).filing.identity.model
    ctx.store.ping(model)


def approval_tags(filing: pb.Filing) -> dict[str, str]:
    """The zhijian.* tags an approved version carries in MLflow (written only here)."""
    approved = [a for a in filing.approvals if a.decision != pb.APPROVAL_DECISION_REJECT]
    return {"zhijian.filing_id": filing.name.removeprefix(FILING_PREFIX),
            "zhijian.filing_number": filing.filing_number,
            "zhijian.evidence_sha256": filing.evidence_sha256,
            "zhijian.validation_run_sha256": approved[-1].validation_run_sha256
            if approved else "",
            "zhijian.revalidate_time": filing.revalidate_time.ToJsonString()}


def _approval_complete(ctx: RegistryContext, loaded: LoadedFiling, run: ValidationRunRow) -> None:
    """The last required approval (or renewal) landed: the approval runs until the
    run's revalidation date, and MLflow's tags say so."""
    run_body = records.from_json(pb.ValidationRun, run.body)
    loaded.filing.approve_time.CopyFrom(timestamp(ctx.clock()))
    loaded.filing.revalidate_time.CopyFrom(run_body.next_revalidation_time)
    loaded.filing.latest_validation_run = run_body.name
    # MLflow inside the transaction: if it fails, the whole act rolls back.
    ctx.store.set_version_tags(loaded.filing.identity.model, loaded.filing.identity.version,
                               approval_tags(loaded.filing))


def approve(ctx: RegistryContext, actor: Actor, request: pb.ApproveFilingRequest) -> pb.Filing:
    _mlflow_reachable(ctx, request.name)
    with ctx.write() as session:
        loaded = load(session, request.name, lock=True)
        _check_etag(loaded, request.etag)
        lifecycle_check(loaded, Action.APPROVE)
        check_independent(loaded.filing, actor.subject, "approve")
        run = _passed_run(session, loaded, request.validation_run,
                          request.validation_run_sha256, newer_than=None)
        statement = identity.approval_statement(
            filing=loaded.filing.name, evidence_sha256=loaded.filing.evidence_sha256,
            validation_run_sha256=run.record_sha256, decision="approve",
            conditions=list(request.conditions))
        _verify_signature(session, actor, request.key_id, statement, request.signature)
        approval = pb.Approval(
            approver=actor.subject, decision=pb.APPROVAL_DECISION_APPROVE,
            conditions=request.conditions, validation_run=request.validation_run,
            validation_run_sha256=run.record_sha256, approve_time=timestamp(ctx.clock()),
            signature=request.signature, key_id=request.key_id)
        count = _record_approval(ctx, session, loaded, actor, loaded.row.approval_round,
                                 approval)
        complete = count >= loaded.filing.required_approvals
        if complete:
            _approval_complete(ctx, loaded, run)
        transition(ctx, session, loaded, actor, Action.APPROVE, approvals_complete=complete,
                   details={"approvals": count, "required": loaded.filing.required_approvals,
                            "validation_run_sha256": run.record_sha256,
                            "key_id": request.key_id,
                            "signature": request.signature.hex()})
        return render(loaded, ctx)


def reject(ctx: RegistryContext, actor: Actor, request: pb.RejectFilingRequest) -> pb.Filing:
    if not request.reason.strip():
        raise invalid_field("reason", "a rejection needs a reason", reason="REASON_REQUIRED")
    with ctx.write() as session:
        loaded = load(session, request.name, lock=True)
        _check_etag(loaded, request.etag)
        lifecycle_check(loaded, Action.REJECT)
        check_independent(loaded.filing, actor.subject, "reject")
        statement = identity.rejection_statement(
            filing=loaded.filing.name, evidence_sha256=loaded.filing.evidence_sha256,
            reason=request.reason)
        _verify_signature(session, actor, request.key_id, statement, request.signature)
        approval = pb.Approval(approver=actor.subject, decision=pb.APPROVAL_DECISION_REJECT,
                               reason=request.reason, approve_time=timestamp(ctx.clock()),
                               signature=request.signature, key_id=request.key_id)
        _record_approval(ctx, session, loaded, actor, loaded.row.approval_round, approval)
        transition(ctx, session, loaded, actor, Action.REJECT, reason=request.reason,
                   details={"key_id": request.key_id, "signature": request.signature.hex()})
        return render(loaded, ctx)


def renew(ctx: RegistryContext, actor: Actor, request: pb.RenewFilingRequest) -> pb.Filing:
    _mlflow_reachable(ctx, request.name)
    with ctx.write() as session:
        loaded = load(session, request.name, lock=True)
        lifecycle_check(loaded, Action.RENEW)
        check_independent(loaded.filing, actor.subject, "approve")
        last_approval = loaded.filing.approve_time.ToNanoseconds() / 1e9
        run = _passed_run(session, loaded, request.validation_run,
                          request.validation_run_sha256, newer_than=last_approval)
        statement = identity.approval_statement(
            filing=loaded.filing.name, evidence_sha256=loaded.filing.evidence_sha256,
            validation_run_sha256=run.record_sha256, decision="renew", conditions=[])
        _verify_signature(session, actor, request.key_id, statement, request.signature)
        approval = pb.Approval(
            approver=actor.subject, decision=pb.APPROVAL_DECISION_RENEW,
            validation_run=request.validation_run, validation_run_sha256=run.record_sha256,
            approve_time=timestamp(ctx.clock()), signature=request.signature,
            key_id=request.key_id)
        renewal_round = loaded.row.approval_round + 1
        count = _record_approval(ctx, session, loaded, actor, renewal_round, approval)
        complete = count >= loaded.filing.required_approvals
        if complete:
            loaded.row.approval_round = renewal_round
            loaded.row.revalidation_warned = False
            _approval_complete(ctx, loaded, run)
        transition(ctx, session, loaded, actor, Action.RENEW, approvals_complete=complete,
                   details={"approvals": count, "required": loaded.filing.required_approvals,
                            "validation_run_sha256": run.record_sha256,
                            "key_id": request.key_id})
        return render(loaded, ctx)


# --- kill switch and retirement ----------------------------------------------------------


def _simple(ctx: RegistryContext, actor: Actor, name: str, action: Action,
            reason: str) -> pb.Filing:
    if not reason.strip():
        raise invalid_field("reason", f"{action.value} needs a reason", reason="REASON_REQUIRED")
    with ctx.write() as session:
        loaded = load(session, name, lock=True)
        expired = (loaded.row.revalidate_time is not None
                   and loaded.row.revalidate_time <= ctx.clock())
        transition(ctx, session, loaded, actor, action, reason=reason, expired=expired)
        return render(loaded, ctx)


def suspend(ctx: RegistryContext, actor: Actor, request: pb.SuspendFilingRequest) -> pb.Filing:
    return _simple(ctx, actor, request.name, Action.SUSPEND, request.reason)


def reinstate(ctx: RegistryContext, actor: Actor,
              request: pb.ReinstateFilingRequest) -> pb.Filing:
    return _simple(ctx, actor, request.name, Action.REINSTATE, request.reason)


def retire(ctx: RegistryContext, actor: Actor, request: pb.RetireFilingRequest) -> pb.Filing:
    return _simple(ctx, actor, request.name, Action.RETIRE, request.reason)


def expire_due(ctx: RegistryContext) -> list[str]:
    """APPROVED filings whose revalidation date passed become EXPIRED (and stop serving);
    filings within the warning lead time get one warning each on the ledger."""
    now = ctx.clock()
    changed: list[str] = []
    with ctx.db.read() as session:
        due = list(session.scalars(select(FilingRow.id).where(
            FilingRow.state == pb.FILING_STATE_APPROVED, FilingRow.revalidate_time <= now)))
        warn = list(session.scalars(select(FilingRow.id).where(
            FilingRow.state == pb.FILING_STATE_APPROVED,
            FilingRow.revalidation_warned.is_(False),
            FilingRow.revalidate_time <= now + ctx.settings.revalidation_warning_s)))
    for filing_id in due:
        with ctx.write() as session:
            loaded = load(session, FILING_PREFIX + filing_id, lock=True)
            if loaded.filing.state != pb.FILING_STATE_APPROVED or (
                    loaded.row.revalidate_time or now + 1) > now:
                continue
            transition(ctx, session, loaded, REGISTRY_ACTOR, Action.EXPIRE,
                       reason="revalidation date passed")
            changed.append(loaded.filing.name)
    for filing_id in warn:
        with ctx.write() as session:
            loaded = load(session, FILING_PREFIX + filing_id, lock=True)
            if loaded.row.revalidation_warned:
                continue
            loaded.row.revalidation_warned = True
            ctx.record(session, REGISTRY_ACTOR, "filing.revalidation_due", loaded.filing.name,
                       {"revalidate_time": loaded.filing.revalidate_time.ToJsonString(),
                        "filing_number": loaded.filing.filing_number,
                        "message": "revalidate and renew before this date or the version "
                                   "stops serving"})
    return changed
