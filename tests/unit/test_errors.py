import grpc
from google.rpc import error_details_pb2

from zhijian.errors import (
    FieldViolation,
    InvalidArgument,
    Unavailable,
    internal_status,
    invalid_field,
)


def unpack(status, kind):
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            return message
    return None


def test_invalid_argument_carries_reason_and_field_violations():
    error = InvalidArgument("bad", reason="TEXT_EMPTY", violations=[
        FieldViolation("text", "must not be empty", "TEXT_EMPTY"),
        FieldViolation("tasks[0]", "unknown task 9", "UNKNOWN_TASK")])
    status = error.to_status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info = unpack(status, error_details_pb2.ErrorInfo)
    assert info.reason == "TEXT_EMPTY" and info.domain == "zhijian.platform"
    bad = unpack(status, error_details_pb2.BadRequest)
    assert [v.field for v in bad.field_violations] == ["text", "tasks[0]"]
    assert bad.field_violations[1].reason == "UNKNOWN_TASK"


def test_errors_without_violations_have_no_bad_request():
    status = Unavailable("down", reason="MODEL_SERVER_UNAVAILABLE").to_status()
    assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
    assert unpack(status, error_details_pb2.BadRequest) is None
    assert unpack(status, error_details_pb2.ErrorInfo).reason == "MODEL_SERVER_UNAVAILABLE"


def test_invalid_field_names_the_field_in_message_and_details():
    error = invalid_field("requests", "holds 300 requests; the limit is 256",
                          reason="BATCH_TOO_LARGE")
    assert error.message.startswith("requests:")
    assert error.violations[0].field == "requests"


def test_internal_status_hides_the_cause_but_gives_a_reference():
    status = internal_status("req-123")
    assert status.code == grpc.StatusCode.INTERNAL
    assert "req-123" in status.details
    assert "Traceback" not in status.details
    keys = [k for k, _ in status.trailing_metadata]
    assert "grpc-status-details-bin" in keys


def test_an_error_echoing_oversized_input_still_fits_in_grpc_headers() -> None:
    # Found by the fuzz: 300 violations of a 10,000-character name outgrew gRPC's 16 KiB
    # header limit, and the caller got a transport error instead of this one.
    from zhijian.errors import FieldViolation, InvalidArgument

    huge = "x" * 10_000
    error = InvalidArgument(f"name {huge} is invalid", reason="INVALID_RESOURCE_NAME",
                            metadata={"name": huge},
                            violations=[FieldViolation(f"requests[{i}].name", huge, "BAD")
                                        for i in range(300)])
    status = error.to_grpc_status()
    size = len(status.details) + sum(len(k) + len(v) for k, v in status.trailing_metadata)
    assert size < 12_000
    parsed = error.to_status()
    assert "300 violations" in parsed.message and "more)" in parsed.message
    assert len(parsed.details) == 2
