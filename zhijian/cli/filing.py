"""``zhijian filing list | show | create | submit | validate | approve | reject | suspend |
reinstate | renew | retire``: filings through their governance lifecycle.

No identity, no action: every action acts as a named local identity (``--as NAME`` or
``$ZHIJIAN_AS``), resolved before anything is dialled. The registry, not the CLI, decides
what that identity may do; the CLI prepares requests, signs approvers' decisions with
their own key, and renders the answers.

The first part of this module is the plumbing the ``deploy`` and ``audit`` groups share
(running an action as an identity, pagination, exit codes). gRPC, asyncio and the
generated code are imported inside handlers: building the parser must stay cheap for
every other command.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zhijian.cli.output import Output

if TYPE_CHECKING:
    import grpc
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from google.protobuf.message import Message

    from zhijian.identity import LocalIdentity
    from zhijian.registry.v1 import registry_service_pb2 as pb
    from zhijian.registry.v1.registry_service_pb2_grpc import RegistryServiceStub

Handler = Callable[[argparse.Namespace, Output], int]

EXIT_OK = 0
EXIT_REFUSED = 1  # the registry refused, or the act did not reach its goal
EXIT_USAGE = 2  # local usage or identity problems; nothing was sent

FILING_PREFIX = "filings/"
LIST_PAGE_SIZE = 500  # the registry's maximum: fewer round trips when paging through all
POLL_INTERVAL_S = 1.0
DEFAULT_WAIT_S = 900.0  # the registry's default validation timeout

# Registry refusals whose fix is a local step the registry cannot know about.
HINTS = {
    "SIGNING_KEY_NOT_ENROLLED": "enrol the signing key with `zhijian identity enrol NAME`",
    "SIGNING_KEY_RETIRED": "this identity's key was replaced; use the identity holding the "
                           "new key, or re-enrol with `zhijian identity enrol NAME`",
}


# ---------------------------------------------------------------------------------------
# Plumbing shared by the governance command groups
# ---------------------------------------------------------------------------------------

class CommandError(Exception):
    """A problem the CLI finds itself, with the exit code it stands for."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Outcome:
    """What an action prints: ``data`` with ``--json``, else ``text``; and its exit code."""

    data: Any
    text: str
    code: int = EXIT_OK


class Registry:
    """The registry as the acting identity sees it, for the length of one command."""

    def __init__(self, stub: RegistryServiceStub, identity: LocalIdentity,
                 timeout: float) -> None:
        self.stub = stub
        self.identity = identity
        self.timeout = timeout

    async def call(self, method: Callable[..., Awaitable[Any]], request: Message) -> Any:
        from zhijian.cli.session import call_metadata

        # call_metadata makes a fresh request id per call, so retries stay distinguishable.
        return await method(request, metadata=call_metadata(self.identity),
                            timeout=self.timeout)

    async def pages(self, method: Callable[..., Awaitable[Any]], request: Any,
                    field: str) -> AsyncIterator[Any]:
        """Every item of an AIP-158 list, fetched page by page as the caller consumes them."""
        seen: set[str] = set()
        while True:
            response = await self.call(method, request)
            for item in getattr(response, field):
                yield item
            token: str = response.next_page_token
            if not token:
                return
            if token in seen:  # a registry bug must not turn into an endless loop
                raise CommandError("the registry returned the same page token twice",
                                   EXIT_REFUSED)
            seen.add(token)
            request.page_token = token


Act = Callable[[Registry], Awaitable[Outcome]]


def add_action_args(parser: argparse.ArgumentParser) -> None:
    """``--as``, ``--registry`` and ``--json``, which every governance action takes."""
    from zhijian.cli.session import add_identity_args

    add_identity_args(parser)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def command(handler: Handler) -> Handler:
    """Every failure becomes a readable message and its exit code."""
    @functools.wraps(handler)
    def wrapper(args: argparse.Namespace, out: Output) -> int:
        import grpc

        from zhijian.identity import IdentityError

        try:
            return handler(args, out)
        except IdentityError as error:
            out.error(str(error))
            return EXIT_USAGE
        except CommandError as error:
            out.error(str(error))
            return error.code
        except grpc.aio.AioRpcError as error:
            _report_rpc_error(out, error, args)
            return EXIT_REFUSED
    return wrapper


def _report_rpc_error(out: Output, error: grpc.aio.AioRpcError,
                      args: argparse.Namespace) -> None:
    from zhijian.cli.session import gateway_target, is_unreachable, rpc_error_message
    from zhijian.errors import parse_error

    if is_unreachable(error):
        out.error(f"the gateway at {gateway_target(args)} is not reachable; is the platform "
                  "running (`zhijian up`, `zhijian status`)?")
        return
    details = parse_error(error)
    message = rpc_error_message(error)
    hint = HINTS.get(details.reason)
    if hint:
        message += f"\n  hint: {hint}"
    extra = {"code": details.code.name, "reason": details.reason} if out.as_json else {}
    out.error(message, **extra)


def run(args: argparse.Namespace, out: Output, act: Act) -> int:
    """Run ``act`` as the identity of ``--as`` against the registry of ``--registry``.

    The identity is resolved (and a revoked or expired one refused) before any channel
    is opened: no identity, no action."""
    import asyncio

    from zhijian.cli.session import acting_identity

    identity = acting_identity(args)
    outcome = asyncio.run(_session(args, identity, act))
    out.result(outcome.data, outcome.text)
    return outcome.code


async def _session(args: argparse.Namespace, identity: LocalIdentity, act: Act) -> Outcome:
    from zhijian.cli.session import default_timeout, registry_stub

    async with registry_stub(args, identity) as stub:
        return await act(Registry(stub, identity, default_timeout()))


def message_dict(message: Message, *, with_defaults: bool = False) -> dict[str, Any]:
    """A message as ``--json`` prints it; ``with_defaults`` keeps ``false`` and ``0``
    fields where their absence would be misread (e.g. ``ok`` of a ledger check)."""
    from google.protobuf import json_format

    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=with_defaults)


def equals(field: str, value: str) -> str:
    """One AIP-160 equality clause. The registry's filter grammar has no escapes, so a
    value with a double quote cannot be expressed and is refused here."""
    if '"' in value:
        raise CommandError(f"{field} values cannot contain a double quote")
    return f'{field} = "{value}"'


def filing_name(text: str) -> str:
    """``filings/abc`` or the bare id ``abc``."""
    text = text.strip()
    if not text.removeprefix(FILING_PREFIX):
        raise CommandError("name a filing: filings/ID or ID")
    return text if text.startswith(FILING_PREFIX) else FILING_PREFIX + text


def run_name(filing: str, text: str) -> str:
    """A validation run of ``filing``: its full name or the bare run id."""
    prefix = f"{filing}/validationRuns/"
    if "/" not in text:
        return prefix + text
    if not text.startswith(prefix) or not text.removeprefix(prefix):
        raise CommandError(f"{text} is not a validation run of {filing}")
    return text


# ---------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------

def add_filing_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``filing`` and its actions; each action sets ``args.handler``."""
    filing = subparsers.add_parser("filing", help="filings through their governance "
                                   "lifecycle (acting as --as NAME)")
    actions = filing.add_subparsers(dest="filing_command", required=True, metavar="ACTION")

    listing = add_action(actions, "list", cmd_filing_list, "list filings (every page)")
    listing.add_argument("--state", help="e.g. approved, validated (FILING_STATE_… accepted)")
    listing.add_argument("--model", help="registered model name")
    listing.add_argument("--filter", help='AIP-160 filter ANDed with the above, e.g. '
                         '\'revalidate_time < "2026-01-01T00:00:00Z"\'')
    listing.add_argument("--due", action="store_true",
                         help="only filings whose revalidation is due")

    show = add_action(actions, "show", cmd_filing_show, "a filing with its latest validation "
                      "run and report")
    show.add_argument("name", help="filings/ID or ID")

    create = add_action(actions, "create", cmd_filing_create, "create a DRAFT filing from a "
                        "Filing in JSON")
    create.add_argument("--file", required=True, metavar="FILE.json")
    create.add_argument("--filing-id", help="4-63 characters of [a-z0-9-] (default: assigned)")

    submit = add_action(actions, "submit", cmd_filing_submit, "DRAFT -> SUBMITTED: freeze the "
                        "evidence")
    submit.add_argument("name")

    validate = add_action(actions, "validate", cmd_filing_validate, "start an independent "
                          "validation run")
    validate.add_argument("name")
    validate.add_argument("--limitation", action="append", dest="limitations", default=[],
                          metavar="TEXT", help="known limitation to record (repeatable)")
    validate.add_argument("--wait", action="store_true", help="wait for the verdict; exit 1 "
                          "unless the run passed")
    validate.add_argument("--timeout", type=float, default=DEFAULT_WAIT_S, metavar="S",
                          help=f"how long --wait waits (default {DEFAULT_WAIT_S:g})")

    approve = add_action(actions, "approve", cmd_filing_approve, "sign an approval of a "
                         "VALIDATED filing")
    approve.add_argument("name")
    approve.add_argument("--run", help="validation run relied on (default: the newest "
                         "passed one)")
    approve.add_argument("--condition", action="append", dest="conditions", default=[],
                         metavar="TEXT", help="condition attached to the approval (repeatable)")

    reject = add_action(actions, "reject", cmd_filing_reject, "sign the rejection of a "
                        "VALIDATED filing (final)")
    reject.add_argument("name")
    reject.add_argument("--reason", required=True)

    renew = add_action(actions, "renew", cmd_filing_renew, "sign the renewal of an APPROVED or "
                       "EXPIRED filing after revalidation")
    renew.add_argument("name")
    renew.add_argument("--run", help="validation run relied on (default: the newest passed)")

    for verb, handler, summary in (
            ("suspend", cmd_filing_suspend, "APPROVED -> SUSPENDED (kill switch)"),
            ("reinstate", cmd_filing_reinstate, "SUSPENDED -> APPROVED"),
            ("retire", cmd_filing_retire, "withdraw from use for good (records kept)")):
        simple = add_action(actions, verb, handler, summary)
        simple.add_argument("name")
        simple.add_argument("--reason", required=True)
    return filing


def add_action(actions: Any, name: str, handler: Handler, summary: str) -> argparse.ArgumentParser:
    """One action of a command group, acting as an identity (filing, deploy, audit)."""
    parser: argparse.ArgumentParser = actions.add_parser(name, help=summary)
    add_action_args(parser)
    parser.set_defaults(handler=handler)
    return parser


# ---------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------

def state_clause(text: str) -> str:
    from zhijian.registry.v1 import registry_service_pb2 as pb

    name = text.strip().upper()
    name = name if name.startswith("FILING_STATE_") else "FILING_STATE_" + name
    states = [v.name for v in pb.FilingState.DESCRIPTOR.values
              if not v.name.endswith("_UNSPECIFIED")]
    if name not in states:
        known = ", ".join(s.removeprefix("FILING_STATE_").lower() for s in states)
        raise CommandError(f"unknown filing state {text!r}; states: {known}")
    return f"state = {name}"


def list_filter(args: argparse.Namespace) -> str:
    clauses = []
    if args.state:
        clauses.append(state_clause(args.state))
    if args.model:
        clauses.append(equals("identity.model", args.model))
    if args.filter and args.filter.strip():
        clauses.append(args.filter.strip())
    return " AND ".join(clauses)


@command
def cmd_filing_list(args: argparse.Namespace, out: Output) -> int:
    from zhijian.cli.render import render_filing_table
    from zhijian.registry.v1 import registry_service_pb2 as pb

    request = pb.ListFilingsRequest(filter=list_filter(args), page_size=LIST_PAGE_SIZE,
                                    order_by="revalidate_time" if args.due else "")

    async def act(registry: Registry) -> Outcome:
        filings = [f async for f in registry.pages(registry.stub.ListFilings, request,
                                                   "filings")]
        if args.due:
            # The registry computes revalidation_due per filing but cannot filter on it.
            filings = [f for f in filings if f.revalidation_due]
        return Outcome({"filings": [message_dict(f) for f in filings]},
                       render_filing_table(filings))
    return run(args, out, act)


@command
def cmd_filing_show(args: argparse.Namespace, out: Output) -> int:
    from zhijian.cli.render import render_filing_show
    from zhijian.registry.v1 import registry_service_pb2 as pb

    name = filing_name(args.name)

    async def act(registry: Registry) -> Outcome:
        filing = await registry.call(registry.stub.GetFiling, pb.GetFilingRequest(name=name))
        runs = await registry.call(registry.stub.ListValidationRuns,
                                   pb.ListValidationRunsRequest(parent=name))
        reviews = await registry.call(registry.stub.ListReviewStats,
                                      pb.ListReviewStatsRequest(filing=name))
        data = {"filing": message_dict(filing),
                "validation_runs": [message_dict(r) for r in runs.validation_runs],
                "review_stats": [message_dict(s) for s in reviews.stats]}
        return Outcome(data, render_filing_show(filing, runs.validation_runs, reviews.stats))
    return run(args, out, act)


# ---------------------------------------------------------------------------------------
# Developers: create and submit
# ---------------------------------------------------------------------------------------

def read_filing(path: Path) -> pb.Filing:
    from google.protobuf import json_format

    from zhijian.registry.v1 import registry_service_pb2 as pb

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        # Unknown fields are errors: a misspelt field would otherwise vanish silently
        # from what gets filed.
        return json_format.Parse(text, pb.Filing())
    except json_format.ParseError as error:
        raise CommandError(f"{path} is not a Filing in JSON: {error}") from None


@command
def cmd_filing_create(args: argparse.Namespace, out: Output) -> int:
    import uuid

    from zhijian.cli.render import filing_headline, filing_id
    from zhijian.registry.v1 import registry_service_pb2 as pb

    request = pb.CreateFilingRequest(filing=read_filing(Path(args.file)),
                                     filing_id=args.filing_id or "",
                                     request_id=str(uuid.uuid4()))

    async def act(registry: Registry) -> Outcome:
        filing = await registry.call(registry.stub.CreateFiling, request)
        return Outcome(message_dict(filing), "\n".join([
            f"created {filing_headline(filing)}",
            f"  submit it with `zhijian filing submit {filing_id(filing.name)}`"]))
    return run(args, out, act)


@command
def cmd_filing_submit(args: argparse.Namespace, out: Output) -> int:
    from zhijian.cli.render import filing_headline, filing_id, short_hash
    from zhijian.registry.v1 import registry_service_pb2 as pb

    request = pb.SubmitFilingRequest(name=filing_name(args.name))

    async def act(registry: Registry) -> Outcome:
        filing = await registry.call(registry.stub.SubmitFiling, request)
        return Outcome(message_dict(filing), "\n".join([
            f"submitted {filing_headline(filing)}",
            f"  evidence frozen: sha256 {short_hash(filing.evidence_sha256)} over "
            f"{len(filing.identity.artifacts)} artifact(s) and {len(filing.datasets)} "
            "dataset(s)",
            "  next: an independent validator runs `zhijian filing validate "
            f"{filing_id(filing.name)} --wait`"]))
    return run(args, out, act)


# ---------------------------------------------------------------------------------------
# Validators: validate
# ---------------------------------------------------------------------------------------

async def wait_for_run(registry: Registry, run: pb.ValidationRun,
                       timeout_s: float) -> pb.ValidationRun:
    """Poll until the run leaves RUNNING or ``timeout_s`` passes (then it is returned
    still RUNNING)."""
    import asyncio

    from zhijian.registry.v1 import registry_service_pb2 as pb

    deadline = asyncio.get_running_loop().time() + timeout_s
    while run.state == pb.VALIDATION_RUN_STATE_RUNNING:
        if asyncio.get_running_loop().time() >= deadline:
            return run
        await asyncio.sleep(POLL_INTERVAL_S)
        run = await registry.call(registry.stub.GetValidationRun,
                                  pb.GetValidationRunRequest(name=run.name))
    return run


@command
def cmd_filing_validate(args: argparse.Namespace, out: Output) -> int:
    from zhijian.cli.render import filing_id, run_verdict
    from zhijian.registry.v1 import registry_service_pb2 as pb

    if args.timeout <= 0:
        raise CommandError("--timeout must be positive")
    name = filing_name(args.name)
    request = pb.ValidateFilingRequest(name=name, limitations=args.limitations)

    async def act(registry: Registry) -> Outcome:
        started = await registry.call(registry.stub.ValidateFiling, request)
        if not args.wait:
            return Outcome({"validation_run": message_dict(started)}, "\n".join([
                f"started {started.name}: {run_verdict(started)}",
                f"  follow it with `zhijian filing show {filing_id(name)}`, or pass --wait"]))
        out.progress(f"waiting for {started.name} (up to {args.timeout:g} s)…")
        finished = await wait_for_run(registry, started, args.timeout)
        filing = await registry.call(registry.stub.GetFiling, pb.GetFilingRequest(name=name))
        return validation_outcome(finished, filing, args.timeout)
    return run(args, out, act)


def validation_outcome(run: pb.ValidationRun, filing: pb.Filing,
                       timeout_s: float) -> Outcome:
    from zhijian.cli.render import filing_headline, render_validation_run
    from zhijian.registry.v1 import registry_service_pb2 as pb

    data = {"validation_run": message_dict(run), "filing": message_dict(filing)}
    if run.state == pb.VALIDATION_RUN_STATE_RUNNING:
        return Outcome(data, f"{run.name} is still RUNNING after {timeout_s:g} s; follow it "
                       "with `zhijian filing show`", EXIT_REFUSED)
    passed = run.state == pb.VALIDATION_RUN_STATE_SUCCEEDED and run.passed
    text = "\n".join([render_validation_run(run, filing.validation_plan), "",
                      f"filing now: {filing_headline(filing)}"])
    return Outcome(data, text, EXIT_OK if passed else EXIT_REFUSED)


# ---------------------------------------------------------------------------------------
# Approvers: approve, reject, renew (signed)
# ---------------------------------------------------------------------------------------

def signing_key(identity: LocalIdentity) -> tuple[Ed25519PrivateKey, str]:
    """The approver's own key and its id; an identity without one fails here, locally."""
    from zhijian.identity import key_id_of

    key = identity.signing_key()
    return key, identity.signing_key_id or key_id_of(key.public_key())


def build_statement(build: Callable[[], bytes], filing: pb.Filing) -> bytes:
    from zhijian.cli.render import filing_state

    try:
        return build()
    except ValueError as error:  # e.g. no evidence hash yet: nothing sound to sign
        raise CommandError(f"nothing to sign for {filing.name} (state "
                           f"{filing_state(filing.state)}): {error}", EXIT_REFUSED) from None


async def chosen_run(registry: Registry, filing: str, run_arg: str | None) -> pb.ValidationRun:
    """The run named by ``--run``, else the newest passed one (runs list newest first).
    A named run that did not pass is left for the registry to refuse, with its reason."""
    from zhijian.cli.render import run_verdict
    from zhijian.registry.v1 import registry_service_pb2 as pb

    if run_arg:
        named = await registry.call(registry.stub.GetValidationRun,
                                    pb.GetValidationRunRequest(name=run_name(filing, run_arg)))
        if not named.record_sha256:  # unfinished or failed: it has no results to sign
            raise CommandError(f"{named.name} is {run_verdict(named)}; a decision relies on "
                               "a passed validation run", EXIT_REFUSED)
        return named
    runs = registry.pages(registry.stub.ListValidationRuns,
                          pb.ListValidationRunsRequest(parent=filing), "validation_runs")
    async for candidate in runs:
        if candidate.state == pb.VALIDATION_RUN_STATE_SUCCEEDED and candidate.passed:
            return candidate
    raise CommandError(f"{filing} has no passed validation run to rely on; a validator runs "
                       "`zhijian filing validate` first", EXIT_REFUSED)


@dataclass(frozen=True)
class SignedApproval:
    run: pb.ValidationRun
    signature: bytes
    key_id: str


async def sign_approval(registry: Registry, name: str, run_arg: str | None, decision: str,
                        conditions: list[str]) -> SignedApproval:
    """Sign the statement the registry verifies: this filing's frozen evidence and the
    exact run record the approver relies on."""
    from zhijian.identity import approval_statement, sign
    from zhijian.registry.v1 import registry_service_pb2 as pb

    key, key_id = signing_key(registry.identity)
    filing = await registry.call(registry.stub.GetFiling, pb.GetFilingRequest(name=name))
    relied_on = await chosen_run(registry, name, run_arg)
    statement = build_statement(lambda: approval_statement(
        filing=name, evidence_sha256=filing.evidence_sha256,
        validation_run_sha256=relied_on.record_sha256, decision=decision,
        conditions=conditions), filing)
    return SignedApproval(relied_on, sign(key, statement), key_id)


def approval_outcome(verb: str, filing: pb.Filing, signed: SignedApproval,
                     subject: str) -> Outcome:
    from zhijian.cli.render import approval_progress, filing_headline, short_hash

    progress = approval_progress(filing)
    data = {"filing": message_dict(filing), "validation_run": signed.run.name,
            "validation_run_sha256": signed.run.record_sha256, "key_id": signed.key_id,
            "approval_progress": progress}
    return Outcome(data, "\n".join([
        f"{verb} signed by {subject} (key {short_hash(signed.key_id)}) relying on "
        f"{signed.run.name} (record sha256 {short_hash(signed.run.record_sha256)})",
        f"  {filing_headline(filing)}", f"  {progress}"]))


@command
def cmd_filing_approve(args: argparse.Namespace, out: Output) -> int:
    from zhijian.registry.v1 import registry_service_pb2 as pb

    name = filing_name(args.name)
    conditions = list(args.conditions)

    async def act(registry: Registry) -> Outcome:
        signed = await sign_approval(registry, name, args.run, "approve", conditions)
        filing = await registry.call(registry.stub.ApproveFiling, pb.ApproveFilingRequest(
            name=name, validation_run=signed.run.name,
            validation_run_sha256=signed.run.record_sha256, conditions=conditions,
            signature=signed.signature, key_id=signed.key_id))
        return approval_outcome("approval", filing, signed, registry.identity.subject)
    return run(args, out, act)


@command
def cmd_filing_renew(args: argparse.Namespace, out: Output) -> int:
    from zhijian.registry.v1 import registry_service_pb2 as pb

    name = filing_name(args.name)

    async def act(registry: Registry) -> Outcome:
        signed = await sign_approval(registry, name, args.run, "renew", [])
        filing = await registry.call(registry.stub.RenewFiling, pb.RenewFilingRequest(
            name=name, validation_run=signed.run.name,
            validation_run_sha256=signed.run.record_sha256, signature=signed.signature,
            key_id=signed.key_id))
        return approval_outcome("renewal", filing, signed, registry.identity.subject)
    return run(args, out, act)


@command
def cmd_filing_reject(args: argparse.Namespace, out: Output) -> int:
    from zhijian.cli.render import filing_headline
    from zhijian.identity import rejection_statement, sign
    from zhijian.registry.v1 import registry_service_pb2 as pb

    name = filing_name(args.name)

    async def act(registry: Registry) -> Outcome:
        key, key_id = signing_key(registry.identity)
        filing = await registry.call(registry.stub.GetFiling, pb.GetFilingRequest(name=name))
        statement = build_statement(lambda: rejection_statement(
            filing=name, evidence_sha256=filing.evidence_sha256, reason=args.reason), filing)
        rejected = await registry.call(registry.stub.RejectFiling, pb.RejectFilingRequest(
            name=name, reason=args.reason, signature=sign(key, statement), key_id=key_id))
        return Outcome(message_dict(rejected),
                       f"rejected {filing_headline(rejected)}: {args.reason}")
    return run(args, out, act)


# ---------------------------------------------------------------------------------------
# Kill switch and retirement
# ---------------------------------------------------------------------------------------

def _reasoned(args: argparse.Namespace, out: Output, method: str, request_type: str,
              verb: str) -> int:
    """Suspend, reinstate and retire differ only in the method they call."""
    from zhijian.cli.render import filing_headline
    from zhijian.registry.v1 import registry_service_pb2 as pb

    request = getattr(pb, request_type)(name=filing_name(args.name), reason=args.reason)

    async def act(registry: Registry) -> Outcome:
        filing = await registry.call(getattr(registry.stub, method), request)
        return Outcome(message_dict(filing), f"{verb} {filing_headline(filing)}: "
                       f"{args.reason}")
    return run(args, out, act)


@command
def cmd_filing_suspend(args: argparse.Namespace, out: Output) -> int:
    return _reasoned(args, out, "SuspendFiling", "SuspendFilingRequest", "suspended")


@command
def cmd_filing_reinstate(args: argparse.Namespace, out: Output) -> int:
    # A filing whose approval lapsed while suspended comes back EXPIRED; the headline
    # shows the state the registry chose.
    return _reasoned(args, out, "ReinstateFiling", "ReinstateFilingRequest", "reinstated")


@command
def cmd_filing_retire(args: argparse.Namespace, out: Output) -> int:
    return _reasoned(args, out, "RetireFiling", "RetireFilingRequest", "retired")
