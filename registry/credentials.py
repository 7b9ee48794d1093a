"""Credentials on the record.

A token signed with the issuer key, or a certificate signed with the platform CA, proves
only that someone held a key file. The platform admits a credential only if the registry
recorded its issue as a governance act — ``identity.issue`` (issuer, subject, roles,
clearance, token id or certificate fingerprint, expiry), or the one ``identity.bootstrap``
act of the platform's first start — so a credential minted from a key file alone is
refused by the registry and by every gateway.

The registry mints them itself (it holds the issuer and CA keys): ``IssueCredential`` by a
platform admin. An identity with the ``platform_admin`` or ``validator`` role is first
recorded as a pending issuance (``identity.issue_requested``) and issued only when a second
admin approves it, so one admin can neither make a second admin nor a validator alone.

The set of recorded ids is read from the ledger (checking each entry's own hash), not
from a table beside it: inserting a record means forging a ledger entry, which
``zhijian audit verify`` finds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from registry.ledger import event_name
from registry.schema import LedgerEventRow
from zhijian import certs, identity
from zhijian.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    invalid_field,
)
from zhijian.registry.v1 import registry_service_pb2 as pb

if TYPE_CHECKING:
    from registry.context import Actor, RegistryContext

log = logging.getLogger("zhijian.registry.credentials")

GOVERNANCE = "governance"
ISSUE_ACTION = "identity.issue"
REQUEST_ACTION = "identity.issue_requested"
BOOTSTRAP_ACTION = "identity.bootstrap"
RECORDING_ACTIONS = (ISSUE_ACTION, BOOTSTRAP_ACTION)
BOOTSTRAP_ACTOR = "svc:zhijian-up"
ISSUANCE_PREFIX = "credentialIssuances/"
PRIVILEGED_ROLES = frozenset({"platform_admin", "validator"})
MAX_TTL_S = 400 * 86400
TOKEN, CERTIFICATE = "token", "certificate"
_KINDS = {TOKEN: pb.CREDENTIAL_KIND_TOKEN, CERTIFICATE: pb.CREDENTIAL_KIND_CERTIFICATE}


def record_of(credential_id: str, kind: str, subject: str, roles: Iterable[str],
              clearance: str, expire_time: float) -> dict[str, Any]:
    """A credential as the ledger records it."""
    return {"id": credential_id, "kind": kind, "subject": subject, "roles": list(roles),
            "clearance": clearance, "expire_time": float(expire_time)}


# --- the recorded set --------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    record: dict[str, Any]
    issuer: str
    approver: str
    issue_time: str
    audit_event: str


class RecordedCredentials:
    """Every credential id the governance ledger records, read incrementally."""

    def __init__(self) -> None:
        self._records: dict[str, Recorded] = {}
        self._after = 0  # last sequence read
        self._lock = threading.Lock()

    def load(self, ctx: RegistryContext) -> None:
        with self._lock:
            after = self._after
        with ctx.db.read() as session:
            rows = session.execute(select(LedgerEventRow.__table__).where(
                LedgerEventRow.ledger == GOVERNANCE, LedgerEventRow.sequence > after,
                LedgerEventRow.action.in_(RECORDING_ACTIONS))
                .order_by(LedgerEventRow.sequence)).all()
            forged = {row.sequence: problem for row in rows
                      if (problem := ctx.ledger.entry_problem(session, row))}
        found: dict[str, Recorded] = {}
        newest = after
        for row in rows:
            newest = max(newest, row.sequence)
            if row.sequence in forged:
                log.error("ledger event %d (%s) is not genuine (%s): its credentials are "
                          "not admitted", row.sequence, row.action, forged[row.sequence])
                continue
            details = json.loads(row.details)
            records = details.get("credentials") if row.action == BOOTSTRAP_ACTION else \
                [details.get("credential")]
            for record in records or []:
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    found[record["id"]] = Recorded(
                        record, str(details.get("requester") or row.actor),
                        str(details.get("approver", "")), row.create_time,
                        event_name(GOVERNANCE, row.sequence))
        with self._lock:
            self._records.update(found)
            self._after = max(self._after, newest)

    def __contains__(self, credential_id: object) -> bool:
        return isinstance(credential_id, str) and credential_id in self._records

    def admits(self, principal: identity.Principal, *, asserted: bool) -> bool:
        """Was this credential recorded, as presented? A token must match its record in
        subject, roles, clearance and (no later) expiry; an assertion, which carries the
        gateway's ceiling and its own lifetime, in subject and roles. Answered from
        memory (reloaded every refresh and after this registry issues): a lookup on a
        miss would put a database query on the event loop for every forged token."""
        found = self._records.get(principal.jti)
        if found is None:
            return False
        record = found.record
        try:
            expected = identity.CredentialRecord(
                str(record["subject"]), frozenset(map(str, record["roles"])),
                str(record["clearance"]), float(record["expire_time"]))
        except (KeyError, TypeError, ValueError):
            return False
        if asserted:
            return expected.admits(principal.subject, principal.roles)
        return expected.admits(principal.subject, principal.roles, principal.clearance,
                               principal.expires_at.timestamp())

    def listed(self) -> list[Recorded]:
        with self._lock:
            return list(self._records.values())


# --- minting -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Minted:
    record: dict[str, Any]
    token: str = ""
    certificate_pem: str = ""


class Mint:
    """The registry's signing keys: the token issuer key and the platform client CA."""

    def __init__(self, keys_dir: Path, settings: identity.IdentitySettings) -> None:
        self._keys_dir = keys_dir
        self._settings = settings

    @property
    def default_ttl_s(self) -> int:
        return self._settings.ttl_s

    def token(self, subject: str, roles: list[str], clearance: str, ttl_s: int) -> Minted:
        issued = identity.issue_token(identity.IssuerKey.load(self._keys_dir), subject=subject,
                                      roles=roles, clearance=clearance, ttl_s=ttl_s,
                                      issuer_name=self._settings.issuer_name,
                                      audience=self._settings.audience)
        return Minted(record_of(issued.jti, TOKEN, subject, roles, clearance,
                                issued.expires_at.timestamp()), token=issued.token)

    def certificate(self, subject: str, roles: list[str], clearance: str, ttl_s: int,
                    public_key: ec.EllipticCurvePublicKey) -> Minted:
        days = max(1, ttl_s // 86400)
        issued = certs.issue_client_certificate(certs.load_or_create_ca(self._keys_dir),
                                                subject=subject, roles=roles,
                                                clearance=clearance, days=days,
                                                public_key=public_key)
        read = certs.read_client_certificate(issued.cert_pem)
        return Minted(record_of(issued.fingerprint, CERTIFICATE, subject, roles, clearance,
                                read.not_after), certificate_pem=issued.cert_pem.decode())


# --- acts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    subject: str
    roles: list[str]
    clearance: str
    ttl_s: int
    public_key_pem: str
    reason: str

    def as_details(self) -> dict[str, Any]:
        return {"subject": self.subject, "roles": self.roles, "clearance": self.clearance,
                "ttl_s": self.ttl_s, "public_key_pem": self.public_key_pem,
                "reason": self.reason}

    @classmethod
    def from_details(cls, details: Mapping[str, Any]) -> Asked:
        return cls(str(details["subject"]), [str(r) for r in details["roles"]],
                   str(details["clearance"]), int(details["ttl_s"]),
                   str(details.get("public_key_pem", "")), str(details.get("reason", "")))


def _checked(request: pb.IssueCredentialRequest, default_ttl_s: int) -> Asked:
    try:
        roles = list(identity.check_roles(request.roles))
    except identity.IdentityError as error:
        raise invalid_field("roles", str(error), reason="INVALID_ROLES") from None
    try:
        identity.check_subject(request.subject, roles)
    except identity.IdentityError as error:
        raise invalid_field("subject", str(error), reason="INVALID_SUBJECT") from None
    try:
        identity.clearance_to_level(request.clearance)
    except identity.IdentityError as error:
        raise invalid_field("clearance", str(error), reason="INVALID_CLEARANCE") from None
    ttl_s = int(request.ttl.ToSeconds()) if request.HasField("ttl") else default_ttl_s
    if not 0 < ttl_s <= MAX_TTL_S:
        raise invalid_field("ttl", f"must be between 1 s and {MAX_TTL_S // 86400} days",
                            reason="INVALID_TTL")
    if request.certificate_public_key_pem:
        _public_key(request.certificate_public_key_pem)
    return Asked(request.subject, roles, request.clearance, ttl_s,
                 request.certificate_public_key_pem, request.reason)


def _public_key(pem: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise invalid_field("certificate_public_key_pem", "must be the PEM of an EC P-256 "
                            "public key", reason="INVALID_PUBLIC_KEY")
    return key


def _mint(mint: Mint, asked: Asked) -> Minted:
    if asked.public_key_pem:
        return mint.certificate(asked.subject, asked.roles, asked.clearance, asked.ttl_s,
                                _public_key(asked.public_key_pem))
    return mint.token(asked.subject, asked.roles, asked.clearance, asked.ttl_s)


def _credential(recorded: Recorded) -> pb.Credential:
    from registry.filings import timestamp

    record = recorded.record
    credential = pb.Credential(
        credential_id=record["id"], kind=_KINDS.get(record.get("kind", ""), 0),  # type: ignore[arg-type]
        subject=record.get("subject", ""), roles=record.get("roles", []),
        clearance=record.get("clearance", ""), issuer=recorded.issuer,
        approver=recorded.approver, audit_event=recorded.audit_event,
        expire_time=timestamp(float(record.get("expire_time", 0))))
    credential.issue_time.FromJsonString(recorded.issue_time)
    return credential


def _issued(ctx: RegistryContext, session: Any, actor: Actor, name: str, asked: Asked,
            minted: Minted, requester: str, approver: str) -> pb.CredentialIssuance:
    event = ctx.record(session, actor, ISSUE_ACTION, name, {
        "credential": minted.record, "requester": requester, "approver": approver,
        "reason": asked.reason})
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ctx.clock()))
    entry = Recorded(minted.record, requester, approver, now, event)
    return pb.CredentialIssuance(
        name=name, state=pb.ISSUANCE_STATE_ISSUED, credential=_credential(entry),
        token=minted.token, certificate_pem=minted.certificate_pem, requester=requester,
        subject=asked.subject, roles=asked.roles, clearance=asked.clearance,
        audit_event=event)


def issue(ctx: RegistryContext, mint: Mint, recorded: RecordedCredentials, actor: Actor,
          request: pb.IssueCredentialRequest) -> pb.CredentialIssuance:
    asked = _checked(request, mint.default_ttl_s)
    name = ISSUANCE_PREFIX + uuid.uuid4().hex
    with ctx.write() as session:
        if PRIVILEGED_ROLES & set(asked.roles):
            event = ctx.record(session, actor, REQUEST_ACTION, name,
                               {"requester": actor.subject, **asked.as_details()})
            return pb.CredentialIssuance(
                name=name, state=pb.ISSUANCE_STATE_PENDING_APPROVAL, requester=actor.subject,
                subject=asked.subject, roles=asked.roles, clearance=asked.clearance,
                audit_event=event)
        issuance = _issued(ctx, session, actor, name, asked, _mint(mint, asked),
                           actor.subject, "")
    recorded.load(ctx)
    return issuance


def _request_event(session: Any, name: str) -> Any | None:
    # The first: a duplicate request event can only be forged, and must not turn into an
    # INTERNAL error here.
    return session.execute(select(LedgerEventRow.__table__).where(
        LedgerEventRow.ledger == GOVERNANCE, LedgerEventRow.action == REQUEST_ACTION,
        LedgerEventRow.target == name).order_by(LedgerEventRow.sequence).limit(1)).first()


def approve(ctx: RegistryContext, mint: Mint, recorded: RecordedCredentials, actor: Actor,
            request: pb.ApproveCredentialIssuanceRequest) -> pb.CredentialIssuance:
    name = request.name
    if not name.startswith(ISSUANCE_PREFIX) or len(name) > 100:
        raise invalid_field("name", "must be 'credentialIssuances/{id}'",
                            reason="INVALID_RESOURCE_NAME")
    with ctx.write() as session:
        asked_row = _request_event(session, name)
        if asked_row is None or ctx.ledger.entry_problem(session, asked_row):
            raise NotFound(f"no pending issuance {name}", reason="ISSUANCE_NOT_FOUND",
                           metadata={"name": name})
        details = json.loads(asked_row.details)
        if details.get("requester") == actor.subject:
            raise PermissionDenied("a privileged identity needs a second admin: the one who "
                                   "asked for it cannot approve it",
                                   reason="SECOND_ADMIN_REQUIRED", metadata={"name": name})
        asked = Asked.from_details(details)
        if actor.subject == asked.subject:
            raise PermissionDenied("no one approves a credential for themselves",
                                   reason="SECOND_ADMIN_REQUIRED", metadata={"name": name})
        done = session.scalar(select(LedgerEventRow.sequence).where(
            LedgerEventRow.ledger == GOVERNANCE, LedgerEventRow.action == ISSUE_ACTION,
            LedgerEventRow.target == name))
        if done is not None:
            raise AlreadyExists(f"{name} was issued already (event {done})",
                                reason="ISSUANCE_ALREADY_ISSUED", metadata={"name": name})
        issuance = _issued(ctx, session, actor, name, asked, _mint(mint, asked),
                           str(details.get("requester", "")), actor.subject)
    recorded.load(ctx)
    return issuance


def list_credentials(recorded: RecordedCredentials, offset: int, limit: int
                     ) -> list[pb.Credential]:
    ordered = sorted(recorded.listed(), key=lambda r: (r.audit_event.rsplit("/", 1)[-1]
                                                       .zfill(20), r.record["id"]))
    return [_credential(r) for r in ordered[offset:offset + limit]]


# --- bootstrap ---------------------------------------------------------------------------


def bootstrap(ctx: RegistryContext, path: Path) -> int:
    """Record the credentials ``zhijian up`` minted before the platform's first start (a
    JSON list of records in ``path``), once: a ledger that already holds a bootstrap act
    refuses another, and the file is set aside. Returns how many were recorded."""
    if not path.is_file():
        _close_bootstrap(ctx)
        return 0
    try:
        records = json.loads(path.read_text())
        valid = isinstance(records, list) and all(
            isinstance(r, dict) and isinstance(r.get("id"), str) for r in records)
    except (OSError, ValueError):
        valid = False
    if not valid:
        _set_aside(path, "unreadable")
        raise FailedPrecondition(f"{path} is not a list of credential records",
                                 reason="BOOTSTRAP_UNREADABLE")
    with ctx.write() as session:
        earlier = session.scalar(select(LedgerEventRow.sequence).where(
            LedgerEventRow.ledger == GOVERNANCE, LedgerEventRow.action == BOOTSTRAP_ACTION)
            .limit(1))
        if earlier is not None:
            _set_aside(path, "refused")
            raise FailedPrecondition(
                f"the platform was bootstrapped already (governance event {earlier}); the "
                f"credentials in {path.name} are not recorded: issue new ones through the "
                "registry (zhijian identity issue)", reason="ALREADY_BOOTSTRAPPED")
        ctx.record(session, BOOTSTRAP_ACTOR, BOOTSTRAP_ACTION, "ledgers/governance",
                   {"credentials": records,
                    "reason": "the first start of the platform: its components and first "
                              "identities"})
    path.unlink()
    return len(records)


def _close_bootstrap(ctx: RegistryContext) -> None:
    """A start with no bootstrap file still closes the bootstrap: otherwise a file put
    there before some later restart would be recorded as the platform's first identities
    (any roles, no second admin)."""
    with ctx.write() as session:
        if session.scalar(select(LedgerEventRow.sequence).where(
                LedgerEventRow.ledger == GOVERNANCE,
                LedgerEventRow.action == BOOTSTRAP_ACTION).limit(1)) is None:
            ctx.record(session, BOOTSTRAP_ACTOR, BOOTSTRAP_ACTION, "ledgers/governance", {
                "credentials": [], "reason": "started without bootstrap credentials: the "
                                             "bootstrap is closed"})


def _set_aside(path: Path, why: str) -> None:
    try:
        path.replace(path.with_name(f"{path.name}.{why}"))
    except OSError:
        log.exception("cannot set %s aside", path)
