"""Approvers' signing keys and token revocations.

A revocation is held in memory as well as in the database, so that it takes effect on
the very next call without a query per call."""

from __future__ import annotations

import threading

from sqlalchemy import select, update

from registry.context import Actor, RegistryContext
from registry.filings import timestamp
from registry.schema import RevocationRow, SigningKeyRow
from zhijian import identity
from zhijian.errors import InvalidArgument, PermissionDenied, invalid_field
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.request_validation import control_character_violation

ED25519_PUBLIC_KEY_BYTES = 32


class RevocationList:
    def __init__(self) -> None:
        self._revoked: set[str] = set()
        self._lock = threading.Lock()

    def load(self, ctx: RegistryContext) -> None:
        with ctx.db.read() as session:
            revoked = set(session.scalars(select(RevocationRow.jti)))
        with self._lock:
            self._revoked |= revoked

    def add(self, jti: str) -> None:
        with self._lock:
            self._revoked.add(jti)

    def __contains__(self, jti: object) -> bool:
        return jti in self._revoked


def _key_message(row: SigningKeyRow) -> pb.SigningKey:
    return pb.SigningKey(name=f"identities/{row.subject}/signingKeys/{row.key_id}",
                         subject=row.subject, key_id=row.key_id, public_key=row.public_key,
                         state=row.state, create_time=timestamp(row.create_time))  # type: ignore[arg-type]


def enroll(ctx: RegistryContext, actor: Actor,
           request: pb.EnrollSigningKeyRequest) -> pb.SigningKey:
    if len(request.public_key) != ED25519_PUBLIC_KEY_BYTES:
        raise invalid_field("public_key", "must be a raw 32-byte Ed25519 public key",
                            reason="INVALID_PUBLIC_KEY")
    key_id = identity.key_id_of(request.public_key)
    statement = identity.enrollment_statement(subject=actor.subject, key_id=key_id)
    if not identity.verify_signature(request.public_key, statement, request.proof):
        raise PermissionDenied("the proof does not verify: sign the enrolment statement "
                               "with the private key being enrolled",
                               reason="ENROLLMENT_PROOF_INVALID")
    with ctx.write() as session:
        existing = session.get(SigningKeyRow, key_id)
        if existing is not None:
            if existing.subject != actor.subject:
                raise PermissionDenied("this key is enrolled by another identity",
                                       reason="SIGNING_KEY_TAKEN")
            if existing.state == pb.SIGNING_KEY_STATE_ACTIVE:
                return _key_message(existing)
        session.execute(update(SigningKeyRow).where(
            SigningKeyRow.subject == actor.subject,
            SigningKeyRow.state == pb.SIGNING_KEY_STATE_ACTIVE,
        ).values(state=pb.SIGNING_KEY_STATE_RETIRED))
        if existing is not None:
            existing.state = pb.SIGNING_KEY_STATE_ACTIVE
            row = existing
        else:
            row = SigningKeyRow(key_id=key_id, subject=actor.subject,
                                public_key=request.public_key,
                                state=pb.SIGNING_KEY_STATE_ACTIVE, create_time=ctx.clock())
            session.add(row)
        ctx.record(session, actor, "identity.enroll_key", f"identities/{actor.subject}",
                   {"key_id": key_id, "public_key": request.public_key.hex()})
        session.flush()
        return _key_message(row)


def active_key_id(ctx: RegistryContext, subject: str) -> str:
    with ctx.db.read() as session:
        return session.scalar(select(SigningKeyRow.key_id).where(
            SigningKeyRow.subject == subject,
            SigningKeyRow.state == pb.SIGNING_KEY_STATE_ACTIVE)) or ""


def _revocation_message(row: RevocationRow) -> pb.Revocation:
    return pb.Revocation(jti=row.jti, subject=row.subject, actor=row.actor, reason=row.reason,
                         revoke_time=timestamp(row.revoke_time), audit_event=row.audit_event)


def revoke(ctx: RegistryContext, revocations: RevocationList, actor: Actor,
           request: pb.RevokeTokenRequest) -> pb.Revocation:
    jti = request.jti.strip()
    if not jti or len(jti) > 64:
        raise invalid_field("jti", "must be the token id to revoke", reason="JTI_REQUIRED")
    # No token carries such an id and PostgreSQL cannot even look a NUL up: the caller's
    # mistake, refused here as well as by the kernel's validator, since revoke() has
    # callers that do not come through gRPC.
    violation = control_character_violation("jti", jti)
    if violation is not None:
        raise InvalidArgument(f"jti: {violation.description}", reason=violation.reason,
                              violations=[violation])
    if not request.reason.strip():
        raise invalid_field("reason", "a revocation needs a reason", reason="REASON_REQUIRED")
    with ctx.write() as session:
        existing = session.get(RevocationRow, jti)
        if existing is not None:
            return _revocation_message(existing)
        event = ctx.record(session, actor, "identity.revoke", f"tokens/{jti}",
                           {"jti": jti, "subject": request.subject, "reason": request.reason})
        row = RevocationRow(jti=jti, subject=request.subject, actor=actor.subject,
                            reason=request.reason, revoke_time=ctx.clock(), audit_event=event)
        session.add(row)
        session.flush()
        message = _revocation_message(row)
    revocations.add(jti)
    return message


def list_revocations(ctx: RegistryContext, offset: int, limit: int) -> list[pb.Revocation]:
    with ctx.db.read() as session:
        rows = session.scalars(select(RevocationRow).order_by(RevocationRow.revoke_time,
                                                              RevocationRow.jti)
                               .offset(offset).limit(limit))
        return [_revocation_message(row) for row in rows]
