"""Deployments: which approved version of a model serves in production, which is canary
at what weight, in which network domains — and the kill switch for the whole model.

Changing a deployment never moves a filing backwards; it only chooses among APPROVED
versions. Promotion and canary changes also set the protected MLflow aliases, first, so
that an MLflow outage fails the change before anything is stored.
"""

from __future__ import annotations

import json
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry import lifecycle, records, seals
from registry.context import Actor, RegistryContext
from registry.filings import FILING_PREFIX, LoadedFiling, load, timestamp
from registry.schema import DeploymentRow, FilingRow
from zhijian.domains import DOMAIN_VALUES
from zhijian.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    invalid_field,
)
from zhijian.registry.v1 import registry_service_pb2 as pb

PREFIX = "deployments/"
# What a deployment id (the registered model name) may be. Narrower than MLflow's own
# rule, so that no name the caller makes up reaches MLflow to be refused there (which
# would read as MLflow failing, not as the caller's mistake).
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


def _deployment_id(name: str, field: str = "name") -> str:
    deployment_id = name.removeprefix(PREFIX)
    if not name.startswith(PREFIX) or not MODEL_NAME.fullmatch(deployment_id):
        raise invalid_field(field, f"must be 'deployments/{{model}}' with a registered model "
                            f"name (letters, digits, '.', '_', '-'), got {name[:200]!r}",
                            reason="INVALID_RESOURCE_NAME")
    return deployment_id


def _load(session: Session, name: str, *, lock: bool, field: str = "name") -> DeploymentRow:
    query = select(DeploymentRow).where(DeploymentRow.id == _deployment_id(name, field))
    if lock:
        query = query.with_for_update()
    row = session.scalars(query).one_or_none()
    if row is None:
        raise NotFound(f"no deployment {name}", reason="DEPLOYMENT_NOT_FOUND",
                       metadata={"name": name})
    return row


def _domains(values: list[int], field: str) -> list[int]:
    if not values:
        raise invalid_field(field, "must name at least one network domain",
                            reason="NETWORK_DOMAINS_REQUIRED")
    unknown = [v for v in values if v not in DOMAIN_VALUES]
    if unknown:
        raise invalid_field(field, f"unknown network domain(s) {unknown}",
                            reason="UNKNOWN_NETWORK_DOMAIN")
    return sorted(set(values))


def deployed_version(session: Session, filing_id: str | None) -> pb.DeployedVersion | None:
    if not filing_id:
        return None
    row = session.get(FilingRow, filing_id)
    if row is None:
        return None
    filing = records.from_json(pb.Filing, row.body)
    version = pb.DeployedVersion(
        filing=filing.name, version=filing.identity.version,
        model_uri=filing.identity.model_uri, filing_state=filing.state,
        max_data_level=filing.classification.max_data_level,
        network_domains=filing.classification.network_domains,
        artifacts=filing.identity.artifacts, filing_number=filing.filing_number)
    if filing.HasField("revalidate_time"):
        version.revalidate_time.CopyFrom(filing.revalidate_time)
    return version


def render(ctx: RegistryContext, session: Session, row: DeploymentRow) -> pb.Deployment:
    """The deployment as services and model servers read it. One held by the registry
    (its serving state does not match the ledger, registry/seals.py) reads as SUSPENDED
    with the reason, whatever its row says: every consumer then stops serving it."""
    deployment = pb.Deployment(
        name=PREFIX + row.id, model=row.id, display_name=row.display_name, state=row.state,  # type: ignore[arg-type]
        canary_weight_percent=row.canary_weight,
        network_domains=json.loads(row.network_domains),
        fallback_to_last_approved=row.fallback_to_last_approved,
        suspend_reason=row.suspend_reason, revision=row.revision,
        create_time=timestamp(row.create_time), update_time=timestamp(row.update_time),
        etag=str(row.revision))
    for slot, filing_id in (("production", row.production_filing),
                            ("canary", row.canary_filing),
                            ("previous", row.previous_filing)):
        version = deployed_version(session, filing_id)
        if version is not None:
            getattr(deployment, slot).CopyFrom(version)
    held = ctx.holds.reason(row.id)
    if held is not None:
        deployment.state = pb.DEPLOYMENT_STATE_SUSPENDED
        deployment.suspend_reason = held
    return deployment


def _servable_filing(ctx: RegistryContext, session: Session, row: DeploymentRow,
                     name: str, field: str) -> LoadedFiling:
    loaded = load(session, name, lock=False, field=field)
    filing = loaded.filing
    if filing.identity.model != row.id:
        raise invalid_field(field, f"{name} files {filing.identity.model}, not {row.id}",
                            reason="FILING_OF_ANOTHER_MODEL")
    if filing.state != pb.FILING_STATE_APPROVED:
        raise FailedPrecondition(
            f"{name} is {lifecycle.state_name(filing.state)}; only an APPROVED version can "
            "be deployed", reason="MODEL_NOT_APPROVED",
            metadata={"filing": name, "state": lifecycle.state_name(filing.state)})
    if loaded.row.revalidate_time is not None and loaded.row.revalidate_time <= ctx.clock():
        raise FailedPrecondition(f"{name} passed its revalidation date", reason="MODEL_EXPIRED",
                                 metadata={"filing": name})
    allowed = set(filing.classification.network_domains) & set(json.loads(row.network_domains))
    if not allowed:
        raise FailedPrecondition(f"{name} is not authorized for any network domain of "
                                 f"{PREFIX}{row.id}",
                                 reason="FILING_NOT_AUTHORIZED_FOR_DOMAIN",
                                 metadata={"filing": name})
    return loaded


def _changed(ctx: RegistryContext, session: Session, actor: Actor, row: DeploymentRow,
             action: str, details: dict[str, object]) -> pb.Deployment:
    row.update_time = ctx.clock()
    ctx.record(session, actor, f"deployment.{action}", PREFIX + row.id, details)
    ctx.serving_changed(session, [row.id])
    session.flush()
    return render(ctx, session, row)


def _check_etag(row: DeploymentRow, etag: str) -> None:
    from zhijian.errors import Aborted

    if etag and etag != str(row.revision):
        raise Aborted(f"{PREFIX}{row.id} changed since etag {etag}", reason="ETAG_MISMATCH")


def _mlflow_reachable(ctx: RegistryContext, name: str) -> None:
    """Fail fast, before the write lock is taken, if MLflow (which the act will write to)
    is down. The deployment is looked up first: acting on one that does not exist is
    DEPLOYMENT_NOT_FOUND, whatever MLflow knows about a model of that name."""
    with ctx.db.read() as session:
        model = _load(session, name, lock=False).id
    ctx.store.ping(model)


def create(ctx: RegistryContext, actor: Actor,
           request: pb.CreateDeploymentRequest) -> pb.Deployment:
    model = request.deployment_id.strip()
    if not MODEL_NAME.fullmatch(model):
        raise invalid_field("deployment_id", "must be the registered model name (letters, "
                            "digits, '.', '_', '-')", reason="DEPLOYMENT_ID_INVALID")
    ctx.store.ping(model)
    domains = _domains(list(request.deployment.network_domains), "deployment.network_domains")
    with ctx.write() as session:
        if session.get(DeploymentRow, model) is not None:
            raise AlreadyExists(f"{PREFIX}{model} exists", reason="DEPLOYMENT_EXISTS")
        now = ctx.clock()
        row = DeploymentRow(id=model, state=pb.DEPLOYMENT_STATE_ACTIVE,
                            network_domains=json.dumps(domains), canary_weight=0,
                            fallback_to_last_approved=request.deployment
                            .fallback_to_last_approved,
                            display_name=request.deployment.display_name or model,
                            suspend_reason="", revision=0, create_time=now, update_time=now)
        session.add(row)
        session.flush()
        return _changed(ctx, session, actor, row, "create", {"network_domains": domains})


def get(ctx: RegistryContext, name: str) -> pb.Deployment:
    with ctx.db.read() as session:
        return render(ctx, session, _load(session, name, lock=False))


def list_all(ctx: RegistryContext, model: str | None = None) -> list[pb.Deployment]:
    with ctx.db.read() as session:
        query = select(DeploymentRow).order_by(DeploymentRow.id)
        if model:
            query = query.where(DeploymentRow.id == model)
        return [render(ctx, session, row) for row in session.scalars(query)]


def update(ctx: RegistryContext, actor: Actor,
           request: pb.UpdateDeploymentRequest) -> pb.Deployment:
    paths = list(request.update_mask.paths)
    allowed = {"network_domains", "display_name", "fallback_to_last_approved"}
    if not paths or set(paths) - allowed:
        raise invalid_field("update_mask", f"must name fields among {', '.join(sorted(allowed))}",
                            reason="FIELD_NOT_UPDATABLE")
    with ctx.write() as session:
        row = _load(session, request.deployment.name, lock=True, field="deployment.name")
        _check_etag(row, request.deployment.etag)
        if "network_domains" in paths:
            row.network_domains = json.dumps(_domains(
                list(request.deployment.network_domains), "deployment.network_domains"))
        if "display_name" in paths:
            row.display_name = request.deployment.display_name
        if "fallback_to_last_approved" in paths:
            row.fallback_to_last_approved = request.deployment.fallback_to_last_approved
        return _changed(ctx, session, actor, row, "update", {"fields": sorted(paths)})


def promote(ctx: RegistryContext, actor: Actor,
            request: pb.PromoteDeploymentRequest) -> pb.Deployment:
    _mlflow_reachable(ctx, request.name)
    with ctx.write() as session:
        row = _load(session, request.name, lock=True)
        _check_etag(row, request.etag)
        name = request.filing or (FILING_PREFIX + row.canary_filing if row.canary_filing
                                  else "")
        if not name:
            raise invalid_field("filing", "name the filing to promote (there is no canary)",
                                reason="FILING_REQUIRED")
        loaded = _servable_filing(ctx, session, row, name, "filing")
        if row.production_filing == loaded.row.id:
            raise FailedPrecondition(f"{name} is already in production",
                                     reason="ALREADY_IN_PRODUCTION")
        ctx.store.set_alias(row.id, "production", loaded.filing.identity.version)
        if row.canary_filing == loaded.row.id:
            ctx.store.set_alias(row.id, "canary", None)
            row.canary_filing, row.canary_weight = None, 0
        row.previous_filing, row.production_filing = row.production_filing, loaded.row.id
        return _changed(ctx, session, actor, row, "promote", {
            "filing": name, "version": loaded.filing.identity.version,
            "previous": FILING_PREFIX + row.previous_filing if row.previous_filing else "",
            "reason": request.reason})


def set_canary(ctx: RegistryContext, actor: Actor,
               request: pb.SetDeploymentCanaryRequest) -> pb.Deployment:
    weight = request.weight_percent
    if not 0 <= weight <= 100:
        raise invalid_field("weight_percent", "must be within 0-100",
                            reason="CANARY_WEIGHT_OUT_OF_RANGE")
    clearing = not request.filing
    if clearing and weight != 0:
        raise invalid_field("filing", "a canary weight needs the canary's filing",
                            reason="FILING_REQUIRED")
    if not clearing and weight == 0:
        raise invalid_field("weight_percent", "a canary needs a weight of 1-100 (0 with no "
                            "filing clears it)", reason="CANARY_WEIGHT_OUT_OF_RANGE")
    _mlflow_reachable(ctx, request.name)
    with ctx.write() as session:
        row = _load(session, request.name, lock=True)
        _check_etag(row, request.etag)
        if clearing:
            ctx.store.set_alias(row.id, "canary", None)
            row.canary_filing, row.canary_weight = None, 0
            return _changed(ctx, session, actor, row, "set_canary",
                            {"filing": "", "weight_percent": 0, "reason": request.reason})
        loaded = _servable_filing(ctx, session, row, request.filing, "filing")
        if row.production_filing == loaded.row.id:
            raise FailedPrecondition(f"{request.filing} is the production version",
                                     reason="ALREADY_IN_PRODUCTION")
        ctx.store.set_alias(row.id, "canary", loaded.filing.identity.version)
        row.canary_filing, row.canary_weight = loaded.row.id, weight
        return _changed(ctx, session, actor, row, "set_canary", {
            "filing": request.filing, "version": loaded.filing.identity.version,
            "weight_percent": weight, "reason": request.reason})


def rollback(ctx: RegistryContext, actor: Actor,
             request: pb.RollbackDeploymentRequest) -> pb.Deployment:
    if not request.reason.strip():
        raise invalid_field("reason", "a rollback needs a reason", reason="REASON_REQUIRED")
    _mlflow_reachable(ctx, request.name)
    with ctx.write() as session:
        row = _load(session, request.name, lock=True)
        _check_etag(row, request.etag)
        if not row.previous_filing:
            raise FailedPrecondition(f"{request.name} has no previous version to roll back to",
                                     reason="NO_ROLLBACK_TARGET")
        loaded = _servable_filing(ctx, session, row, FILING_PREFIX + row.previous_filing,
                                  "previous")
        ctx.store.set_alias(row.id, "production", loaded.filing.identity.version)
        ctx.store.set_alias(row.id, "canary", None)
        row.production_filing, row.previous_filing = row.previous_filing, row.production_filing
        row.canary_filing, row.canary_weight = None, 0
        return _changed(ctx, session, actor, row, "rollback", {
            "filing": loaded.filing.name, "version": loaded.filing.identity.version,
            "reason": request.reason})


def suspend(ctx: RegistryContext, actor: Actor,
            request: pb.SuspendDeploymentRequest) -> pb.Deployment:
    if not request.reason.strip():
        raise invalid_field("reason", "a suspension needs a reason", reason="REASON_REQUIRED")
    with ctx.write() as session:
        row = _load(session, request.name, lock=True)
        if row.state == pb.DEPLOYMENT_STATE_SUSPENDED:
            raise FailedPrecondition(f"{request.name} is already suspended",
                                     reason="DEPLOYMENT_ALREADY_SUSPENDED")
        row.state, row.suspend_reason = pb.DEPLOYMENT_STATE_SUSPENDED, request.reason
        return _changed(ctx, session, actor, row, "suspend", {"reason": request.reason})


def resume(ctx: RegistryContext, actor: Actor,
           request: pb.ResumeDeploymentRequest) -> pb.Deployment:
    if not request.reason.strip():
        raise invalid_field("reason", "resuming needs a reason", reason="REASON_REQUIRED")
    with ctx.write() as session:
        row = _load(session, request.name, lock=True)
        held = ctx.holds.reason(row.id)
        if held is not None:
            raise FailedPrecondition(f"{request.name} cannot resume: it is {held}",
                                     reason=seals.REASON, metadata={"name": request.name})
        if row.state != pb.DEPLOYMENT_STATE_SUSPENDED:
            raise FailedPrecondition(f"{request.name} is not suspended",
                                     reason="DEPLOYMENT_NOT_SUSPENDED")
        row.state, row.suspend_reason = pb.DEPLOYMENT_STATE_ACTIVE, ""
        return _changed(ctx, session, actor, row, "resume", {"reason": request.reason})


def expected_aliases(ctx: RegistryContext) -> dict[str, dict[str, str]]:
    """model -> alias -> version, as the registry's own records say."""
    result: dict[str, dict[str, str]] = {}
    with ctx.db.read() as session:
        for row in session.scalars(select(DeploymentRow)):
            aliases: dict[str, str] = {}
            for alias, filing_id in (("production", row.production_filing),
                                     ("canary", row.canary_filing)):
                filing = session.get(FilingRow, filing_id) if filing_id else None
                if filing is not None:
                    aliases[alias] = filing.version
            result[row.id] = aliases
    return result

