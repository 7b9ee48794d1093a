"""``zhijian identity issue | enrol | revoke | list``: the named identities the CLI acts as.

The registry issues tokens, as governance acts on its ledger, to a platform admin who asks
(``--as``); the platform admits no token it did not record, so the issuer key alone mints
nothing that works. A platform_admin or validator identity needs a second admin
(``identity approve``). Approvers also get an Ed25519 signing key, enrolled with the
registry, because their decisions are signed.

Imports of the identity kernel, gRPC, asyncio and the generated code happen inside the
handlers: building the parser must stay cheap for every other command.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zhijian.cli.output import Output

if TYPE_CHECKING:
    import grpc

    from zhijian.identity import IdentitySettings, LocalIdentity

Handler = Callable[[argparse.Namespace, Output], int]

EXIT_USAGE = 2
EXIT_FAILED = 1


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_identity_commands(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``identity`` and its actions; each action sets ``args.handler``."""
    from zhijian.cli.session import add_identity_args, add_registry_arg

    identity = subparsers.add_parser("identity", help="issue, enrol, revoke and list the "
                                     "local identities commands act as (--as NAME)")
    actions = identity.add_subparsers(dest="identity_command", required=True,
                                      metavar="ACTION")

    issue = actions.add_parser("issue", help="have the registry issue (or re-issue) a token "
                               "for a local identity, acting as a platform admin (--as)")
    issue.add_argument("name", help="identity name, [a-z0-9][a-z0-9._-]{0,62}")
    issue.add_argument("--role", action="append", dest="roles", default=[], metavar="ROLE",
                       help="role to grant (repeatable): model_developer, validator, "
                            "platform_admin, reviewer, business_system, sre, auditor")
    issue.add_argument("--clearance", required=True, metavar="L1..L4",
                       help="highest data level the identity may handle")
    issue.add_argument("--subject", help="token subject (default user:NAME, or svc:NAME "
                       "with --svc)")
    issue.add_argument("--ttl", type=int, metavar="SECONDS",
                       help="token lifetime (default $ZHIJIAN_TOKEN_TTL_S, 30 days)")
    issue.add_argument("--svc", action="store_true",
                       help="a platform component: subject svc:NAME, role service")
    issue.add_argument("--no-enrol", action="store_true",
                       help="do not enrol an approver's signing key with the registry now")
    issue.add_argument("--reason", help="why, for the record")
    add_identity_args(issue)
    _add_json(issue)
    issue.set_defaults(handler=cmd_identity_issue)

    approve = actions.add_parser("approve", help="issue a pending privileged identity "
                                 "(platform_admin, validator) as a second admin")
    approve.add_argument("issuance", help="credentialIssuances/<id>, as `issue` printed it")
    approve.add_argument("--name", help="local identity name (default: the subject's name)")
    approve.add_argument("--no-enrol", action="store_true",
                         help="do not enrol an approver's signing key with the registry now")
    add_identity_args(approve)
    _add_json(approve)
    approve.set_defaults(handler=cmd_identity_approve)

    enrol = actions.add_parser("enrol", help="(re-)enrol an approver's signing key with "
                               "the registry, acting as that identity")
    enrol.add_argument("name")
    enrol.add_argument("--new-key", action="store_true",
                       help="replace the signing key first (the registry retires the old one)")
    add_registry_arg(enrol)
    _add_json(enrol)
    enrol.set_defaults(handler=cmd_identity_enrol)

    revoke = actions.add_parser("revoke", help="revoke an identity's token at the registry")
    revoke.add_argument("name", nargs="?", help="local identity whose token to revoke")
    revoke.add_argument("--jti", help="token id to revoke instead of a local identity's")
    revoke.add_argument("--reason", required=True)
    add_identity_args(revoke)
    _add_json(revoke)
    revoke.set_defaults(handler=cmd_identity_revoke)

    listing = actions.add_parser("list", help="local identities")
    _add_json(listing)
    listing.set_defaults(handler=cmd_identity_list)
    return identity


def _reports_identity_errors(handler: Handler) -> Handler:
    """Local identity problems (missing key, unknown name, bad role) are usage errors."""
    @functools.wraps(handler)
    def wrapper(args: argparse.Namespace, out: Output) -> int:
        from zhijian.identity import IdentityError

        try:
            return handler(args, out)
        except IdentityError as error:
            out.error(str(error))
            return EXIT_USAGE
    return wrapper


# ---------------------------------------------------------------------------------------
# Library functions (also used by `zhijian up` for the demo identities)
# ---------------------------------------------------------------------------------------

def issue_identity(home_keys_dir: Path, identities_dir: Path, name: str, subject: str | None,
                   roles: Sequence[str], clearance: str, ttl_s: int | None,
                   settings: IdentitySettings) -> LocalIdentity:
    """Mint a token with the issuer key and store the identity. Only for what the
    registry records as the platform's bootstrap (``zhijian up``'s first start) and for
    tests: the running platform admits a token only once the registry recorded it."""
    from zhijian.identity import IssuerKey, check_name, issue_token, user_subject

    check_name(name)
    subject = subject or user_subject(name)
    issued = issue_token(IssuerKey.load(home_keys_dir), subject=subject, roles=roles,
                         clearance=clearance, ttl_s=ttl_s or settings.ttl_s,
                         issuer_name=settings.issuer_name, audience=settings.audience)
    return store_identity(identities_dir, name, subject, roles, clearance, issued.token,
                          issued.jti, issued.expires_at)


def store_identity(identities_dir: Path, name: str, subject: str, roles: Sequence[str],
                   clearance: str, token: str, jti: str, expires_at: datetime
                   ) -> LocalIdentity:
    """Store an identity's token; an approver also gets a signing key.

    Re-issuing replaces the token but keeps the signing key, so its enrolment stands
    (unless the subject changed: the registry enrolled the key for the old subject)."""
    from zhijian.identity import (
        IdentityError,
        LocalIdentity,
        check_name,
        check_roles,
        generate_signing_key,
        key_id_of,
    )

    check_name(name)
    try:
        previous: LocalIdentity | None = LocalIdentity.load(identities_dir, name)
    except IdentityError:
        if (identities_dir / f"{name}.json").exists():
            raise  # a damaged file is reported, not silently replaced
        previous = None
    identity = LocalIdentity(
        name=name, subject=subject, roles=check_roles(roles), clearance=clearance,
        token=token, jti=jti, expires_at=expires_at, directory=identities_dir,
        signing_key_enrolled=bool(previous and previous.subject == subject
                                  and previous.signing_key_enrolled))
    if identity.signing_key_path.exists():
        identity = replace(identity, signing_key_id=key_id_of(identity.signing_key().public_key()))
    elif identity.is_approver:
        identity = identity.with_signing_key(generate_signing_key())
    return identity.save()


def bootstrap_record(identity: LocalIdentity) -> dict[str, Any]:
    """How the registry records a bootstrap credential (registry/credentials.record_of)."""
    return {"id": identity.jti, "kind": "token", "subject": identity.subject,
            "roles": list(identity.roles), "clearance": identity.clearance,
            "expire_time": identity.expires_at.timestamp()}


async def request_credential(acting: LocalIdentity, target: str, subject: str,
                             roles: Sequence[str], clearance: str, ttl_s: int | None,
                             reason: str) -> Any:
    """IssueCredential through the gateway at ``target``, acting as ``acting``."""
    from google.protobuf import duration_pb2

    from zhijian.cli.session import call_metadata, default_timeout, ensure_usable, open_registry
    from zhijian.registry.v1 import registry_service_pb2 as pb

    ensure_usable(acting)
    request = pb.IssueCredentialRequest(subject=subject, roles=list(roles), clearance=clearance,
                                        reason=reason)
    if ttl_s:
        request.ttl.CopyFrom(duration_pb2.Duration(seconds=ttl_s))
    async with open_registry(target) as stub:
        return await stub.IssueCredential(request, metadata=call_metadata(acting),
                                          timeout=default_timeout())


def store_issued(identities_dir: Path, name: str, issuance: Any) -> LocalIdentity:
    credential = issuance.credential
    return store_identity(identities_dir, name, credential.subject, list(credential.roles),
                          credential.clearance, issuance.token, credential.credential_id,
                          credential.expire_time.ToDatetime(tzinfo=UTC))


async def enrol_signing_key(identity: LocalIdentity, target: str, *,
                            timeout: float | None = None) -> LocalIdentity:
    """Enrol the identity's signing key, acting as the identity itself (the registry
    enrols keys for the caller only), and record the enrolment locally."""
    from zhijian.cli.session import call_metadata, default_timeout, ensure_usable, open_registry
    from zhijian.identity import (
        IdentityError,
        enrollment_statement,
        key_id_of,
        public_key_raw,
        sign,
    )
    from zhijian.registry.v1 import registry_service_pb2 as pb

    ensure_usable(identity)
    key = identity.signing_key()
    key_id = key_id_of(key.public_key())
    request = pb.EnrollSigningKeyRequest(
        public_key=public_key_raw(key),
        proof=sign(key, enrollment_statement(subject=identity.subject, key_id=key_id)))
    async with open_registry(target) as stub:
        enrolled = await stub.EnrollSigningKey(request, metadata=call_metadata(identity),
                                               timeout=timeout or default_timeout())
    if enrolled.key_id and enrolled.key_id != key_id:
        raise IdentityError(f"the registry enrolled key {enrolled.key_id}, not {key_id}")
    return replace(identity, signing_key_id=key_id, signing_key_enrolled=True).save()


# ---------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------

def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"


def _unreachable_message(target: str) -> str:
    return (f"the gateway at {target} is not reachable; is the platform running "
            "(`zhijian up`, `zhijian status`)?")


def _rpc_failure(error: grpc.aio.AioRpcError, target: str) -> tuple[str, bool]:
    """The message for a failed registry call, and whether the registry was unreachable."""
    from zhijian.cli.session import is_unreachable, rpc_error_message

    if is_unreachable(error):
        return _unreachable_message(target), True
    return rpc_error_message(error), False


@_reports_identity_errors
def cmd_identity_issue(args: argparse.Namespace, out: Output) -> int:
    import asyncio

    import grpc

    from zhijian.cli.session import acting_identity, gateway_target
    from zhijian.identity import (
        SERVICE_ROLE,
        IdentityError,
        IdentitySettings,
        check_name,
        svc_subject,
        user_subject,
    )
    from zhijian.registry.v1 import registry_service_pb2 as pb

    roles = list(args.roles) or ([SERVICE_ROLE] if args.svc else [])
    if not roles:
        raise IdentityError("pass at least one --role (or --svc for a platform component)")
    check_name(args.name)
    subject = args.subject or (svc_subject(args.name) if args.svc else user_subject(args.name))
    settings = IdentitySettings.from_env()
    acting = acting_identity(args)
    target = gateway_target(args)
    previous_jti = _previous_jti(settings.identities_dir, args.name)
    try:
        issuance = asyncio.run(request_credential(
            acting, target, subject, roles, args.clearance, args.ttl,
            args.reason or f"zhijian identity issue {args.name}"))
    except grpc.aio.AioRpcError as error:
        message, _ = _rpc_failure(error, target)
        out.error(f"the registry did not issue {args.name}: {message}")
        return EXIT_FAILED
    if issuance.state == pb.ISSUANCE_STATE_PENDING_APPROVAL:
        command = (f"zhijian identity approve {issuance.name} --name {args.name} "
                   "--as <another admin>")
        out.result({"issuance": issuance.name, "state": "PENDING_APPROVAL",
                    "subject": subject, "roles": roles, "approve_with": command},
                   f"{subject} gets {', '.join(roles)}: that needs a second admin. "
                   f"Pending as {issuance.name}; another platform admin issues it with\n"
                   f"  {command}")
        return 0
    identity = store_issued(settings.identities_dir, args.name, issuance)
    return _report_issued(args, out, identity, issuance, previous_jti, target)


@_reports_identity_errors
def cmd_identity_approve(args: argparse.Namespace, out: Output) -> int:
    import asyncio

    import grpc

    from zhijian.cli.session import (
        acting_identity,
        call_metadata,
        default_timeout,
        ensure_usable,
        gateway_target,
        open_registry,
    )
    from zhijian.identity import IdentitySettings
    from zhijian.registry.v1 import registry_service_pb2 as pb

    settings = IdentitySettings.from_env()
    acting = acting_identity(args)
    ensure_usable(acting)
    target = gateway_target(args)

    async def approve() -> Any:
        async with open_registry(target) as stub:
            return await stub.ApproveCredentialIssuance(
                pb.ApproveCredentialIssuanceRequest(name=args.issuance),
                metadata=call_metadata(acting), timeout=default_timeout())
    try:
        issuance = asyncio.run(approve())
    except grpc.aio.AioRpcError as error:
        message, _ = _rpc_failure(error, target)
        out.error(f"{args.issuance} was not issued: {message}")
        return EXIT_FAILED
    name = args.name or issuance.subject.partition(":")[2]
    previous_jti = _previous_jti(settings.identities_dir, name)
    identity = store_issued(settings.identities_dir, name, issuance)
    return _report_issued(args, out, identity, issuance, previous_jti, target)


def _report_issued(args: argparse.Namespace, out: Output, identity: LocalIdentity,
                   issuance: Any, previous_jti: str | None, target: str) -> int:
    import asyncio

    import grpc

    data: dict[str, Any] = {**identity.to_json(with_token=False), "path": str(identity.path),
                            "replaced_jti": previous_jti, "audit_event": issuance.audit_event}
    lines = [f"issued {identity.name} ({identity.subject}): roles {', '.join(identity.roles)}, "
             f"clearance {identity.clearance}, expires {_when(identity.expires_at)}",
             f"  recorded as {issuance.audit_event}; token in {identity.path}"]
    if previous_jti:
        lines.append(f"  the previous token {previous_jti} stays valid until it expires; "
                     f"revoke it with `zhijian identity revoke --jti {previous_jti} --reason … "
                     "--as ADMIN`")
    status = 0
    if identity.is_approver and not identity.signing_key_enrolled and \
            not getattr(args, "no_enrol", False):
        try:
            identity = asyncio.run(enrol_signing_key(identity, target))
            data["signing_key_enrolled"] = True
            lines.append(f"  signing key {identity.signing_key_id} enrolled with {target}")
        except grpc.aio.AioRpcError as error:
            message, _ = _rpc_failure(error, target)
            warning = (f"enrolling the signing key failed ({message}): identity "
                       f"{identity.name} is kept, but its signing key is not enrolled; "
                       f"retry with `zhijian identity enrol {identity.name}`")
            data["warning"] = warning
            out.progress(f"warning: {warning}")
            status = EXIT_FAILED
    elif identity.signing_key_id:
        state = "enrolled" if identity.signing_key_enrolled else \
            f"not enrolled (`zhijian identity enrol {identity.name}`)"
        lines.append(f"  signing key {identity.signing_key_id} {state}")
    out.result(data, "\n".join(lines))
    return status


def _previous_jti(identities_dir: Path, name: str) -> str | None:
    from zhijian.identity import LocalIdentity, check_name

    if not (identities_dir / f"{check_name(name)}.json").exists():
        return None
    return LocalIdentity.load(identities_dir, name).jti


@_reports_identity_errors
def cmd_identity_enrol(args: argparse.Namespace, out: Output) -> int:
    import asyncio

    import grpc

    from zhijian.cli.session import gateway_target
    from zhijian.identity import IdentitySettings, LocalIdentity, generate_signing_key

    identity = LocalIdentity.load(IdentitySettings.from_env().identities_dir, args.name)
    if args.new_key or (identity.is_approver and not identity.signing_key_path.exists()):
        identity = identity.with_signing_key(generate_signing_key()).save()
    target = gateway_target(args)
    try:
        identity = asyncio.run(enrol_signing_key(identity, target))
    except grpc.aio.AioRpcError as error:
        message, _ = _rpc_failure(error, target)
        out.error(message)
        return EXIT_FAILED
    out.result({**identity.to_json(with_token=False), "registry": target},
               f"signing key {identity.signing_key_id} of {identity.name} "
               f"({identity.subject}) enrolled with {target}")
    return 0


@_reports_identity_errors
def cmd_identity_revoke(args: argparse.Namespace, out: Output) -> int:
    import asyncio

    import grpc
    from google.protobuf import json_format

    from zhijian.cli.session import (
        acting_identity,
        call_metadata,
        default_timeout,
        gateway_target,
        registry_stub,
    )
    from zhijian.identity import IdentityError, IdentitySettings
    from zhijian.registry.v1 import registry_service_pb2 as pb

    if bool(args.name) == bool(args.jti):
        raise IdentityError("name the identity to revoke, or pass --jti JTI (not both)")
    admin = acting_identity(args)
    settings = IdentitySettings.from_env()
    local = _revocation_target(settings.identities_dir, args.name, args.jti)
    jti = local.jti if local else args.jti
    request = pb.RevokeTokenRequest(jti=jti, subject=local.subject if local else "",
                                    reason=args.reason)

    async def revoke() -> Any:
        async with registry_stub(args, admin) as stub:
            return await stub.RevokeToken(request, metadata=call_metadata(admin),
                                          timeout=default_timeout())

    try:
        revocation = asyncio.run(revoke())
    except grpc.aio.AioRpcError as error:
        out.error(_rpc_failure(error, gateway_target(args))[0])
        return EXIT_FAILED
    if local is not None:
        # The registry's list is what counts; the mark only keeps `--as` from trying.
        local = replace(local, revoked_at=datetime.now(UTC)).save()
    data = json_format.MessageToDict(revocation, preserving_proto_field_name=True)
    data["local_identity"] = local.name if local else None
    who = f"{local.name} ({local.subject})" if local else jti
    out.result(data, f"revoked token {jti} of {who}: {args.reason}")
    return 0


def _revocation_target(identities_dir: Path, name: str | None, jti: str | None
                       ) -> LocalIdentity | None:
    from zhijian.identity import LocalIdentity, list_identities

    if name:
        return LocalIdentity.load(identities_dir, name)
    return next((identity for identity in list_identities(identities_dir)
                 if identity.jti == jti), None)


@_reports_identity_errors
def cmd_identity_list(args: argparse.Namespace, out: Output) -> int:
    from zhijian.identity import IdentitySettings, list_identities

    directory = IdentitySettings.from_env().identities_dir
    identities = list_identities(directory)
    now = datetime.now(UTC)
    rows = [{**identity.to_json(with_token=False), "expired": identity.is_expired(now),
             "revoked": identity.revoked_at is not None} for identity in identities]
    out.result({"directory": str(directory), "identities": rows},
               _table(rows) if rows else f"no identities in {directory}; issue one with "
               "`zhijian identity issue NAME --role ROLE --clearance L2`")
    return 0


def _table(rows: list[dict[str, Any]]) -> str:
    header = ("NAME", "SUBJECT", "ROLES", "CLEARANCE", "EXPIRES", "SIGNING KEY", "STATUS")
    body = [(row["name"], row["subject"], ",".join(row["roles"]), row["clearance"],
             row["expires_at"], _key_cell(row), _status_cell(row)) for row in rows]
    lines = (header, *body)
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(_row(line, widths) for line in lines)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)
                     ).rstrip()


def _key_cell(row: dict[str, Any]) -> str:
    key_id = row["signing_key_id"]
    if not key_id:
        return "-"
    return key_id[:12] + ("…" if row["signing_key_enrolled"] else "… (not enrolled)")


def _status_cell(row: dict[str, Any]) -> str:
    if row["revoked"]:
        return f"revoked {row['revoked_at']}"
    return "expired" if row["expired"] else "ok"
