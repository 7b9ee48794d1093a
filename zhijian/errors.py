"""Domain errors and their mapping to canonical gRPC status with ``google.rpc`` details.

Handlers raise these; the server bootstrap turns them into a status whose details carry
an ``ErrorInfo`` with a stable reason and, for bad input, ``BadRequest`` field
violations. Anything else becomes ``INTERNAL`` with no stack trace for the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from zhijian.metadata import ERROR_DOMAIN

# gRPC carries a status in headers, which peers cap at 16 KiB in all; an error that
# echoes a caller's oversized input must still fit, or the caller gets a transport error
# instead of ours. What is cut is said to be cut.
MAX_MESSAGE_CHARS = 1000
MAX_DETAIL_CHARS = 200
MAX_VIOLATIONS_SENT = 20


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more)"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str
    reason: str = ""


class ZhijianError(Exception):
    """Base of every error meant for a caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    default_reason = "INTERNAL"

    def __init__(self, message: str, *, reason: str | None = None,
                 metadata: Mapping[str, str] | None = None,
                 violations: Iterable[FieldViolation] = (),
                 retry_delay_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})
        self.violations = tuple(violations)
        # When set, a google.rpc.RetryInfo tells the caller how long to back off.
        self.retry_delay_s = retry_delay_s

    def to_status(self) -> status_pb2.Status:
        details = [_pack(error_details_pb2.ErrorInfo(
            reason=self.reason, domain=ERROR_DOMAIN,
            metadata={_cut(k, MAX_DETAIL_CHARS): _cut(v, MAX_DETAIL_CHARS)
                      for k, v in self.metadata.items()}))]
        if self.violations:
            details.append(_pack(error_details_pb2.BadRequest(field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=_cut(v.field, MAX_DETAIL_CHARS),
                    description=_cut(v.description, MAX_DETAIL_CHARS), reason=v.reason)
                for v in self.violations[:MAX_VIOLATIONS_SENT]
            ])))
        if self.retry_delay_s is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(max(0, round(self.retry_delay_s * 1e9)))
            details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
        message = _cut(self.message, MAX_MESSAGE_CHARS)
        if len(self.violations) > MAX_VIOLATIONS_SENT:
            message += (f" ({len(self.violations)} violations; the first "
                        f"{MAX_VIOLATIONS_SENT} are in the details)")
        return status_pb2.Status(code=self.code.value[0], message=message, details=details)

    def to_grpc_status(self) -> grpc.Status:
        return rpc_status.to_status(self.to_status())


class InvalidArgument(ZhijianError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    default_reason = "INVALID_ARGUMENT"


class NotFound(ZhijianError):
    code = grpc.StatusCode.NOT_FOUND
    default_reason = "NOT_FOUND"


class AlreadyExists(ZhijianError):
    code = grpc.StatusCode.ALREADY_EXISTS
    default_reason = "ALREADY_EXISTS"


class FailedPrecondition(ZhijianError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    default_reason = "FAILED_PRECONDITION"


class Unauthenticated(ZhijianError):
    """No valid credentials; reasons CREDENTIALS_MISSING / _INVALID / _EXPIRED / _REVOKED."""

    code = grpc.StatusCode.UNAUTHENTICATED
    default_reason = "UNAUTHENTICATED"


class PermissionDenied(ZhijianError):
    code = grpc.StatusCode.PERMISSION_DENIED
    default_reason = "PERMISSION_DENIED"


class Unavailable(ZhijianError):
    code = grpc.StatusCode.UNAVAILABLE
    default_reason = "UNAVAILABLE"


class DeadlineExceeded(ZhijianError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    default_reason = "DEADLINE_EXCEEDED"


class ResourceExhausted(ZhijianError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "RESOURCE_EXHAUSTED"


class Aborted(ZhijianError):
    """A concurrency conflict (e.g. an etag that no longer matches): re-read and retry."""

    code = grpc.StatusCode.ABORTED
    default_reason = "ABORTED"


def invalid_field(field: str, description: str, *, reason: str) -> InvalidArgument:
    """The common case: one field of the request is wrong."""
    return InvalidArgument(f"{field}: {description}", reason=reason,
                           violations=[FieldViolation(field, description, reason)])


def internal_status(request_id: str) -> grpc.Status:
    """What a caller sees for an unexpected failure: a reference, not a stack trace."""
    error = ZhijianError(f"internal error (request id {request_id})",
                         metadata={"request_id": request_id})
    return error.to_grpc_status()


@dataclass(frozen=True)
class ErrorDetails:
    """The parsed details of a failed call, as a client sees them."""

    code: grpc.StatusCode
    message: str
    reason: str
    metadata: dict[str, str]
    violations: tuple[FieldViolation, ...]
    retry_delay_s: float | None = None  # from google.rpc.RetryInfo, if the server sent one


def parse_error(error: grpc.aio.AioRpcError | grpc.RpcError) -> ErrorDetails:
    """Read the ``google.rpc.Status`` details a zhijian server attached to an error."""
    code = error.code()
    message = error.details() or ""
    reason, metadata, violations = "", {}, []
    retry_delay_s: float | None = None
    status = rpc_status.from_call(error) if not isinstance(error, grpc.aio.AioRpcError) else \
        _status_from_trailers(error)
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = [FieldViolation(v.field, v.description, v.reason)
                              for v in bad.field_violations]
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_delay_s = retry.retry_delay.ToNanoseconds() / 1e9
    return ErrorDetails(code, message, reason, metadata, tuple(violations), retry_delay_s)


def _status_from_trailers(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def _pack(message: error_details_pb2.ErrorInfo | error_details_pb2.BadRequest
          | error_details_pb2.RetryInfo) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed

