"""RegistryService over gRPC: authenticate the caller (a gateway's assertion, or the
token of a platform component: registry/callers.py), check its role for the method, then
run the governance act (blocking database and MLflow work runs in worker threads, never
on the event loop)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from google.protobuf import json_format
from sqlalchemy.exc import IntegrityError

from registry import (
    catalog,
    credentials,
    deployments,
    filings,
    identities,
    listing,
    reviews,
    validation_jobs,
    watch,
)
from registry.authz import authorize
from registry.callers import CallerAuthenticator
from registry.context import CALLS, GOVERNANCE, Actor, RegistryContext
from registry.dataset_reads import DatasetReads
from registry.identities import RevocationList
from registry.ledger import EventInput
from zhijian import identity
from zhijian.assertion import AssertionVerifier
from zhijian.domains import NETWORK_DOMAINS
from zhijian.errors import Aborted, FailedPrecondition, invalid_field
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.server import Call
from zhijian.telemetry import current_trace_id

T = TypeVar("T")
LEDGERS = {"ledgers/governance": GOVERNANCE, "ledgers/calls": CALLS}
MAX_CALL_RECORDS = 1000
MAX_OFFSET = 1 << 40


def page_token(offset: int, query: str) -> str:
    raw = json.dumps({"o": offset, "q": hashlib.sha256(query.encode()).hexdigest()[:16]})
    return base64.urlsafe_b64encode(raw.encode()).decode()


def page_offset(token: str, query: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(data["o"])
        same = data["q"] == hashlib.sha256(query.encode()).hexdigest()[:16]
    except (ValueError, KeyError, TypeError, OverflowError):
        raise invalid_field("page_token", "is not a token this API issued",
                            reason="INVALID_PAGE_TOKEN") from None
    if not same or not 0 <= offset <= MAX_OFFSET:
        raise invalid_field("page_token", "belongs to another query", reason="INVALID_PAGE_TOKEN")
    return offset


def page_size(requested: int, default: int, maximum: int) -> int:
    if requested < 0:
        raise invalid_field("page_size", "must not be negative", reason="INVALID_PAGE_SIZE")
    return min(requested or default, maximum)


def ledger_of(name: str, field: str = "name") -> str:
    try:
        return LEDGERS[name]
    except KeyError:
        raise invalid_field(field, f"must be one of {', '.join(LEDGERS)}",
                            reason="UNKNOWN_LEDGER") from None


class RegistryServicer:
    def __init__(self, ctx: RegistryContext, verifier: identity.TokenVerifier,
                 revocations: RevocationList, jobs: validation_jobs.ValidationJobs, *,
                 assertions: AssertionVerifier,
                 recorded: credentials.RecordedCredentials,
                 mint: credentials.Mint | None = None,
                 dataset_reads: DatasetReads | None = None) -> None:
        self._ctx = ctx
        self._revocations = revocations
        self._recorded = recorded
        self._mint = mint
        self._callers = CallerAuthenticator(verifier, assertions,
                                            is_revoked=revocations.__contains__,
                                            is_recorded=recorded.admits)
        self._jobs = jobs
        self._dataset_reads = dataset_reads

    @property
    def _reads(self) -> DatasetReads:
        # Made on first use: construction touches neither the context nor any thread.
        if self._dataset_reads is None:
            self._dataset_reads = DatasetReads(self._ctx.settings.dataset_read_workers)
        return self._dataset_reads

    def _actor(self, method: str, call: Call) -> tuple[Actor, identity.Principal]:
        actor, principal, _ = self._caller(method, call)
        return actor, principal

    def _caller(self, method: str, call: Call
                ) -> tuple[Actor, identity.Principal, str | None]:
        """The actor, its principal and the network domain a gateway asserted (if any)."""
        caller = self._callers.authenticate(call.metadata)
        principal = caller.principal
        authorize(method, principal.roles)
        return Actor(principal.subject, principal.roles, current_trace_id(),
                     principal.jti), principal, caller.network_domain

    async def _run(self, method: str, call: Call,
                   fn: Callable[[Actor], T]) -> T:
        actor, _ = self._actor(method, call)
        return await self._in_thread(method, actor, fn)

    async def _page(self, method: str, call: Call, query: str, request: Any,
                    sizes: tuple[int, int], fetch: Callable[[int, int], list[T]]
                    ) -> tuple[list[T], str]:
        """One page of an offset-paged list: fetch(offset, limit) reads one more than the
        page to know whether another follows."""
        size = page_size(request.page_size, *sizes)
        offset = page_offset(request.page_token, query)
        found = await self._run(method, call, lambda a: fetch(offset, size + 1))
        more = len(found) > size
        return found[:size], page_token(offset + size, query) if more else ""

    async def _in_thread(self, method: str, actor: Actor, fn: Callable[[Actor], T]) -> T:
        try:
            return await asyncio.to_thread(fn, actor)
        except IntegrityError:
            # Two writers raced past a check the database then enforced (a unique id):
            # the caller's act did not happen and can be retried.
            raise Aborted(f"{method} conflicted with a concurrent change; nothing was "
                          "changed, retry", reason="CONCURRENT_CHANGE") from None

    # --- filings -------------------------------------------------------------------

    async def CreateFiling(self, request: pb.CreateFilingRequest, call: Call) -> pb.Filing:
        return await self._run("CreateFiling", call,
                               lambda a: filings.create(self._ctx, a, request))

    async def GetFiling(self, request: pb.GetFilingRequest, call: Call) -> pb.Filing:
        return await self._run("GetFiling", call, lambda a: listing.get_filing(self._ctx,
                                                                                request.name))

    async def ListFilings(self, request: pb.ListFilingsRequest,
                          call: Call) -> pb.ListFilingsResponse:
        size = page_size(request.page_size, 50, 500)
        query = f"{request.filter}|{request.order_by}"
        offset = page_offset(request.page_token, query)
        found = await self._run("ListFilings", call, lambda a: listing.list_filings(
            self._ctx, request.filter, request.order_by, offset, size + 1))
        more = len(found) > size
        return pb.ListFilingsResponse(filings=found[:size], next_page_token=page_token(
            offset + size, query) if more else "")

    async def UpdateFiling(self, request: pb.UpdateFilingRequest, call: Call) -> pb.Filing:
        return await self._run("UpdateFiling", call,
                               lambda a: filings.update(self._ctx, a, request))

    async def SubmitFiling(self, request: pb.SubmitFilingRequest, call: Call) -> pb.Filing:
        actor, _ = self._actor("SubmitFiling", call)
        files = await self._in_thread("SubmitFiling", actor, lambda a: filings
                                      .submission_datasets(self._ctx, a, request))
        access = self._ctx.settings.dataset_access
        digests = await self._reads.run(lambda: filings.hash_datasets(files, access))
        return await self._in_thread("SubmitFiling", actor, lambda a: filings.submit(
            self._ctx, a, request, digests))

    async def ValidateFiling(self, request: pb.ValidateFilingRequest,
                             call: Call) -> pb.ValidationRun:
        run = await self._run("ValidateFiling", call,
                              lambda a: validation_jobs.start(self._ctx, a, request))
        self._jobs.launch(run.name)
        return run

    async def GetValidationRun(self, request: pb.GetValidationRunRequest,
                               call: Call) -> pb.ValidationRun:
        return await self._run("GetValidationRun", call,
                               lambda a: listing.get_run(self._ctx, request.name))

    async def ListValidationRuns(self, request: pb.ListValidationRunsRequest,
                                 call: Call) -> pb.ListValidationRunsResponse:
        size = page_size(request.page_size, 50, 500)
        offset = page_offset(request.page_token, request.parent)
        runs = await self._run("ListValidationRuns", call, lambda a: listing.list_runs(
            self._ctx, request.parent, offset, size + 1))
        more = len(runs) > size
        return pb.ListValidationRunsResponse(validation_runs=runs[:size], next_page_token=(
            page_token(offset + size, request.parent) if more else ""))

    async def ApproveFiling(self, request: pb.ApproveFilingRequest, call: Call) -> pb.Filing:
        return await self._run("ApproveFiling", call,
                               lambda a: filings.approve(self._ctx, a, request))

    async def RejectFiling(self, request: pb.RejectFilingRequest, call: Call) -> pb.Filing:
        return await self._run("RejectFiling", call,
                               lambda a: filings.reject(self._ctx, a, request))

    async def SuspendFiling(self, request: pb.SuspendFilingRequest, call: Call) -> pb.Filing:
        return await self._run("SuspendFiling", call,
                               lambda a: filings.suspend(self._ctx, a, request))

    async def ReinstateFiling(self, request: pb.ReinstateFilingRequest,
                              call: Call) -> pb.Filing:
        return await self._run("ReinstateFiling", call,
                               lambda a: filings.reinstate(self._ctx, a, request))

    async def RenewFiling(self, request: pb.RenewFilingRequest, call: Call) -> pb.Filing:
        return await self._run("RenewFiling", call,
                               lambda a: filings.renew(self._ctx, a, request))

    async def RetireFiling(self, request: pb.RetireFilingRequest, call: Call) -> pb.Filing:
        return await self._run("RetireFiling", call,
                               lambda a: filings.retire(self._ctx, a, request))

    # --- datasets ------------------------------------------------------------------

    async def RegisterDataset(self, request: pb.RegisterDatasetRequest,
                              call: Call) -> pb.Dataset:
        # Authorized before anything is read; a URI outside the roots is refused by
        # prepare() without a file system call, the read itself has threads of its own.
        actor, _ = self._actor("RegisterDataset", call)
        access = self._ctx.settings.dataset_access
        dataset_id, dataset = catalog.prepare(request, access)
        scan = await self._reads.run(lambda: catalog.inspect(dataset, access))
        return await self._in_thread("RegisterDataset", actor, lambda a: catalog.store(
            self._ctx, a, dataset_id, dataset, scan))

    async def GetDataset(self, request: pb.GetDatasetRequest, call: Call) -> pb.Dataset:
        return await self._run("GetDataset", call, lambda a: catalog.get(self._ctx,
                                                                          request.name))

    async def ListDatasets(self, request: pb.ListDatasetsRequest,
                           call: Call) -> pb.ListDatasetsResponse:
        found, next_token = await self._page(
            "ListDatasets", call, "datasets", request, (50, 500),
            lambda offset, limit: catalog.list_page(self._ctx, offset, limit))
        return pb.ListDatasetsResponse(datasets=found, next_page_token=next_token)

    # --- deployments ---------------------------------------------------------------

    async def CreateDeployment(self, request: pb.CreateDeploymentRequest,
                               call: Call) -> pb.Deployment:
        return await self._run("CreateDeployment", call,
                               lambda a: deployments.create(self._ctx, a, request))

    async def GetDeployment(self, request: pb.GetDeploymentRequest,
                            call: Call) -> pb.Deployment:
        return await self._run("GetDeployment", call,
                               lambda a: deployments.get(self._ctx, request.name))

    async def ListDeployments(self, request: pb.ListDeploymentsRequest,
                              call: Call) -> pb.ListDeploymentsResponse:
        model = watch.parse_filter(request.filter)
        size = page_size(request.page_size, 50, 500)
        offset = page_offset(request.page_token, request.filter)
        found = await self._run("ListDeployments", call,
                                lambda a: deployments.list_all(self._ctx, model))
        page = found[offset:offset + size]
        more = len(found) > offset + size
        return pb.ListDeploymentsResponse(deployments=page, next_page_token=(
            page_token(offset + size, request.filter) if more else ""))

    async def UpdateDeployment(self, request: pb.UpdateDeploymentRequest,
                               call: Call) -> pb.Deployment:
        return await self._run("UpdateDeployment", call,
                               lambda a: deployments.update(self._ctx, a, request))

    async def PromoteDeployment(self, request: pb.PromoteDeploymentRequest,
                                call: Call) -> pb.Deployment:
        return await self._run("PromoteDeployment", call,
                               lambda a: deployments.promote(self._ctx, a, request))

    async def SetDeploymentCanary(self, request: pb.SetDeploymentCanaryRequest,
                                  call: Call) -> pb.Deployment:
        return await self._run("SetDeploymentCanary", call,
                               lambda a: deployments.set_canary(self._ctx, a, request))

    async def RollbackDeployment(self, request: pb.RollbackDeploymentRequest,
                                 call: Call) -> pb.Deployment:
        return await self._run("RollbackDeployment", call,
                               lambda a: deployments.rollback(self._ctx, a, request))

    async def SuspendDeployment(self, request: pb.SuspendDeploymentRequest,
                                call: Call) -> pb.Deployment:
        return await self._run("SuspendDeployment", call,
                               lambda a: deployments.suspend(self._ctx, a, request))

    async def ResumeDeployment(self, request: pb.ResumeDeploymentRequest,
                               call: Call) -> pb.Deployment:
        return await self._run("ResumeDeployment", call,
                               lambda a: deployments.resume(self._ctx, a, request))

    async def WatchDeployments(self, request: pb.WatchDeploymentsRequest,
                               call: Call) -> AsyncIterator[pb.WatchDeploymentsResponse]:
        self._actor("WatchDeployments", call)
        async for message in watch.watch(self._ctx, request):
            yield message

    # --- ledgers -------------------------------------------------------------------

    async def ListAuditEvents(self, request: pb.ListAuditEventsRequest,
                              call: Call) -> pb.ListAuditEventsResponse:
        ledger = ledger_of(request.parent, "parent")
        size = page_size(request.page_size, 100, 1000)
        criteria = listing.parse_event_filter(request.filter)
        after = page_offset(request.page_token, f"{request.parent}|{request.filter}")
        events = await self._run("ListAuditEvents", call, lambda a: listing.list_events(
            self._ctx, ledger, criteria, after, size + 1))
        more = len(events) > size
        page = events[:size]
        token = page_token(page[-1].sequence, f"{request.parent}|{request.filter}") \
            if more and page else ""
        return pb.ListAuditEventsResponse(audit_events=page, next_page_token=token)

    async def VerifyLedger(self, request: pb.VerifyLedgerRequest,
                           call: Call) -> pb.VerifyLedgerResponse:
        ledger = ledger_of(request.name)
        return await self._run("VerifyLedger", call,
                               lambda a: listing.verify(self._ctx, ledger))

    async def PruneLedger(self, request: pb.PruneLedgerRequest,
                          call: Call) -> pb.PruneLedgerResponse:
        ledger = ledger_of(request.name)
        result = await self._run("PruneLedger", call,
                                 lambda a: self._ctx.ledger.prune(ledger))
        return pb.PruneLedgerResponse(dropped_segments=result.dropped_segments,
                                      dropped_events=result.dropped_events)

    async def AppendCallRecords(self, request: pb.AppendCallRecordsRequest,
                                call: Call) -> pb.AppendCallRecordsResponse:
        actor, _ = self._actor("AppendCallRecords", call)
        records = list(request.records)
        if not records:
            raise invalid_field("records", "must hold at least one record",
                                reason="BATCH_EMPTY")
        if len(records) > MAX_CALL_RECORDS:
            raise invalid_field("records", f"holds {len(records)}; the limit is "
                                f"{MAX_CALL_RECORDS}", reason="BATCH_TOO_LARGE")
        events = []
        for i, record in enumerate(records):
            if not record.record_id or len(record.record_id) > 64:
                raise invalid_field(f"records[{i}].record_id", "must be a unique id of at "
                                    "most 64 characters", reason="RECORD_ID_REQUIRED")
            if not record.method or not record.caller:
                raise invalid_field(f"records[{i}]", "must name the caller and the method",
                                    reason="CALL_RECORD_INCOMPLETE")
            if len(record.trace_id) > 32 or len(record.method) > 200 or len(record.caller) > 200:
                raise invalid_field(f"records[{i}]", "trace_id is at most 32 hex characters, "
                                    "method and caller at most 200", reason="CALL_RECORD_INVALID")
            record.recorder = actor.subject
            events.append(EventInput(
                actor=actor.subject, action="call", target=record.method,
                details=json_format.MessageToDict(record, preserving_proto_field_name=True),
                trace_id=record.trace_id, record_id=record.record_id))

        def append(_actor: Actor) -> Any:
            with self._ctx.db.transaction() as session:
                return self._ctx.ledger.append(session, CALLS, events)

        result = await asyncio.to_thread(append, actor)
        last = result.appended[-1].sequence if result.appended else 0
        return pb.AppendCallRecordsResponse(appended_count=len(result.appended),
                                            duplicate_count=len(result.duplicates),
                                            last_sequence=last)

    async def AppendReviewRecords(self, request: pb.AppendReviewRecordsRequest,
                                  call: Call) -> pb.AppendReviewRecordsResponse:
        return await self._run("AppendReviewRecords", call,
                               lambda a: reviews.append(self._ctx, a, request))

    async def ListReviewStats(self, request: pb.ListReviewStatsRequest,
                              call: Call) -> pb.ListReviewStatsResponse:
        found, next_token = await self._page(
            "ListReviewStats", call, f"reviewstats:{request.model}:{request.filing}", request,
            (50, 500), lambda offset, limit: reviews.stats_page(self._ctx, request, offset,
                                                                limit))
        return pb.ListReviewStatsResponse(stats=found, next_page_token=next_token)

    # --- identities ----------------------------------------------------------------

    async def EnrollSigningKey(self, request: pb.EnrollSigningKeyRequest,
                               call: Call) -> pb.SigningKey:
        return await self._run("EnrollSigningKey", call,
                               lambda a: identities.enroll(self._ctx, a, request))

    async def RevokeToken(self, request: pb.RevokeTokenRequest, call: Call) -> pb.Revocation:
        return await self._run("RevokeToken", call, lambda a: identities.revoke(
            self._ctx, self._revocations, a, request))

    async def ListRevocations(self, request: pb.ListRevocationsRequest,
                              call: Call) -> pb.ListRevocationsResponse:
        found, next_token = await self._page(
            "ListRevocations", call, "revocations", request, (500, 5000),
            lambda offset, limit: identities.list_revocations(self._ctx, offset, limit))
        return pb.ListRevocationsResponse(revocations=found, next_page_token=next_token)

    @property
    def _minter(self) -> credentials.Mint:
        if self._mint is None:
            raise FailedPrecondition("this registry holds no issuer key: it cannot issue "
                                     "credentials", reason="ISSUER_KEY_UNAVAILABLE")
        return self._mint

    async def IssueCredential(self, request: pb.IssueCredentialRequest,
                              call: Call) -> pb.CredentialIssuance:
        return await self._run("IssueCredential", call, lambda a: credentials.issue(
            self._ctx, self._minter, self._recorded, a, request))

    async def ApproveCredentialIssuance(self, request: pb.ApproveCredentialIssuanceRequest,
                                        call: Call) -> pb.CredentialIssuance:
        return await self._run("ApproveCredentialIssuance", call, lambda a: credentials.approve(
            self._ctx, self._minter, self._recorded, a, request))

    async def ListCredentials(self, request: pb.ListCredentialsRequest,
                              call: Call) -> pb.ListCredentialsResponse:
        found, next_token = await self._page(
            "ListCredentials", call, "credentials", request, (500, 5000),
            lambda offset, limit: credentials.list_credentials(self._recorded, offset, limit))
        return pb.ListCredentialsResponse(credentials=found, next_page_token=next_token)

    async def GetCallerIdentity(self, request: pb.GetCallerIdentityRequest,
                                call: Call) -> pb.CallerIdentity:
        actor, principal, asserted_domain = self._caller("GetCallerIdentity", call)
        key_id = await asyncio.to_thread(identities.active_key_id, self._ctx, actor.subject)
        # Behind a gateway, the domain it serves; a component calling directly is on the
        # registry's own network.
        domain = (NETWORK_DOMAINS[asserted_domain] if asserted_domain is not None
                  else self._ctx.settings.network_domain)
        reply = pb.CallerIdentity(subject=principal.subject, roles=sorted(principal.roles),
                                  clearance=principal.level, jti=principal.jti,  # type: ignore[arg-type]
                                  network_domain=domain,  # type: ignore[arg-type]
                                  signing_key_id=key_id)
        reply.expire_time.FromDatetime(principal.expires_at)
        return reply
