"""The kernel's request validator over the real descriptors of the project's protos, and
through the kernel's own unary and server-streaming handlers on a loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.api import resource_pb2
from google.protobuf import descriptor as d
from google.protobuf import struct_pb2

from registry.request_checks import CHECKED_BY_HANDLER as REGISTRY_CHECKS
from registry.request_checks import registry_service
from services.classify.request_checks import CHECKED_BY_HANDLER as CLASSIFY_CHECKS
from services.classify.request_checks import classify_service
from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.errors import FieldViolation, InvalidArgument, parse_error
from zhijian.extract.v1 import extract_service_pb2 as epb
from zhijian.orchestrator.v1 import orchestrator_service_pb2 as opb
from zhijian.orchestrator.v1 import orchestrator_service_pb2_grpc as opb_grpc
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.request_validation import (
    CONTROL_CHARACTER_IN_IDENTIFIER,
    FIELD_REQUIRED,
    INVALID_RESOURCE_NAME,
    MAX_DEPTH,
    MAX_VIOLATIONS,
    NUL_CHARACTER_IN_TEXT,
    REQUEST_TOO_DEEP,
    RequestValidator,
    request_validator,
    resource_patterns,
)
from zhijian.risk.v1 import risk_service_pb2 as rkpb
from zhijian.server import Service, generic_handler
from zhijian.types.v1 import ai_result_pb2 as types_pb

REGISTRY = pb.DESCRIPTOR.services_by_name["RegistryService"]
CLASSIFY = cpb.DESCRIPTOR.services_by_name["ClassifyService"]
EXTRACT = epb.DESCRIPTOR.services_by_name["ExtractService"]
ORCHESTRATOR = opb.DESCRIPTOR.services_by_name["OrchestratorService"]
ALL_SERVICES = (REGISTRY, CLASSIFY, EXTRACT, ORCHESTRATOR,
                rkpb.DESCRIPTOR.services_by_name["RiskService"])


def validator(service: d.ServiceDescriptor, method: str, *, checks: Any = (),
              refuse_nul: bool = False) -> RequestValidator:
    built = request_validator(service.methods_by_name[method], checked_by_handler=checks,
                              refuse_nul_in_text=refuse_nul)
    assert isinstance(built, RequestValidator), f"{method} should check something"
    return built


def found(v: RequestValidator, request: Any) -> list[tuple[str, str]]:
    return [(x.field, x.reason) for x in v.violations(request)]


def valid_record(**fields: Any) -> pb.CallRecord:
    record = pb.CallRecord(record_id="r1", caller="user:a", method="/x.Y/Z",
                           network_domain=types_pb.NETWORK_DOMAIN_INTRANET,
                           decision=pb.CALL_DECISION_ALLOWED, **fields)
    record.latency.FromMilliseconds(3)
    record.start_time.GetCurrentTime()
    return record


# --- identifiers -------------------------------------------------------------------------

@pytest.mark.parametrize(("bad", "shown"), [
    ("a\x00b", "U+0000"), ("tok\n", "U+000A"), ("\x1b[2J", "U+001B"), ("a\x7fb", "U+007F"),
    ("a\x85b", "U+0085"), ("evil\u202etxt", "U+202E"), ("\u2066id", "U+2066")])
def test_control_characters_in_a_token_id_are_refused(bad: str, shown: str) -> None:
    revoke = validator(REGISTRY, "RevokeToken")
    with pytest.raises(InvalidArgument) as refused:
        revoke(pb.RevokeTokenRequest(jti=bad, reason="left"))
    assert refused.value.reason == CONTROL_CHARACTER_IN_IDENTIFIER
    assert [(v.field, v.reason) for v in refused.value.violations] == [
        ("jti", CONTROL_CHARACTER_IN_IDENTIFIER)]
    assert shown in refused.value.message


@pytest.mark.parametrize(("service", "method", "request_", "path"), [
    # a resource_reference
    (REGISTRY, "GetFiling", pb.GetFilingRequest(name="filings/ab\x00c"), "name"),
    # a *_id field
    (REGISTRY, "CreateFiling", pb.CreateFilingRequest(filing=pb.Filing(), filing_id="f\x00"),
     "filing_id"),
    # the IDENTIFIER field of a resource carried by the request
    (REGISTRY, "UpdateDeployment", pb.UpdateDeploymentRequest(
        deployment=pb.Deployment(name="deployments/m\r"), update_mask={"paths": ["x"]}),
     "deployment.name"),
    # a reference inside a repeated message inside a resource
    (REGISTRY, "CreateFiling", pb.CreateFilingRequest(filing=pb.Filing(datasets=[
        pb.DatasetUse(dataset="datasets/ok-1"), pb.DatasetUse(dataset="datasets/\t")])),
     "filing.datasets[1].dataset"),
    # ids of a nested record
    (REGISTRY, "AppendCallRecords", pb.AppendCallRecordsRequest(
        records=[valid_record(), valid_record(trace_id="ab\x00")]), "records[1].trace_id"),
    # a field named id
    (REGISTRY, "CreateFiling", pb.CreateFilingRequest(filing=pb.Filing(), request_id="\x00"),
     "request_id"),
])
def test_every_kind_of_identifier_is_checked(service: d.ServiceDescriptor, method: str,
                                             request_: Any, path: str) -> None:
    assert (path, CONTROL_CHARACTER_IN_IDENTIFIER) in found(validator(service, method),
                                                             request_)


def test_free_text_keeps_its_newlines_and_tabs() -> None:
    text = "第一行\n第二行\tcolumn\r\n\x0c"
    assert found(validator(REGISTRY, "SuspendDeployment"), pb.SuspendDeploymentRequest(
        name="deployments/m", reason=text)) == []
    assert found(validator(REGISTRY, "RevokeToken"), pb.RevokeTokenRequest(
        jti="j-1", subject="user:a\nb", reason=text)) == []
    # The text to classify is free text even where the kernel checks it for presence.
    assert found(validator(CLASSIFY, "Classify"), cpb.ClassifyRequest(text="a\x00\x1bb")) == []


def test_nul_is_refused_in_every_text_field_only_where_the_service_asks() -> None:
    strict = validator(REGISTRY, "RevokeToken", refuse_nul=True)
    assert found(strict, pb.RevokeTokenRequest(jti="j", reason="x\x00y")) == [
        ("reason", NUL_CHARACTER_IN_TEXT)]
    assert found(strict, pb.RevokeTokenRequest(jti="j", subject="\x00", reason="x")) == [
        ("subject", NUL_CHARACTER_IN_TEXT)]
    assert found(strict, pb.RevokeTokenRequest(jti="j", reason="line\nline\t")) == []
    # An identifier's NUL keeps the identifier's reason.
    assert found(strict, pb.RevokeTokenRequest(jti="\x00", reason="x")) == [
        ("jti", CONTROL_CHARACTER_IN_IDENTIFIER)]


# --- resource names ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["deployments/a:b", "deployments/a/b", "deployments/",
                                  "deployments/..", "deployments/.", "deployment/m",
                                  "a:b", "deployments/a b", "deployments/ä",
                                  "deployments/m%2F", "deployments/m?x=1",
                                  "filings/abcd"])
def test_a_deployment_name_must_match_its_pattern(name: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validator(REGISTRY, "RollbackDeployment")(pb.RollbackDeploymentRequest(
            name=name, reason="regression"))
    assert refused.value.reason == INVALID_RESOURCE_NAME
    assert refused.value.violations[0].field == "name"
    assert "registry.zhijian.internal/Deployment" in refused.value.violations[0].description


@pytest.mark.parametrize("name", ["deployments/zhijian-classify", "deployments/Tiny.v2_a~1",
                                  "deployments/..a", "deployments/-"])
def test_names_of_unreserved_characters_pass(name: str) -> None:
    assert found(validator(REGISTRY, "RollbackDeployment"), pb.RollbackDeploymentRequest(
        name=name, reason="regression")) == []


def test_patterns_come_from_messages_and_file_level_definitions() -> None:
    runs = validator(REGISTRY, "GetValidationRun")
    assert found(runs, pb.GetValidationRunRequest(name="filings/f-1/validationRuns/r-1")) == []
    assert found(runs, pb.GetValidationRunRequest(name="filings/f-1/validationRuns")) == [
        ("name", INVALID_RESOURCE_NAME)]
    assert found(runs, pb.GetValidationRunRequest(name="filings/f/validationRuns/r/x")) == [
        ("name", INVALID_RESOURCE_NAME)]
    # Ledger is a file-level resource_definition; the handler's own check is not asked.
    ledgers = validator(REGISTRY, "VerifyLedger")
    assert found(ledgers, pb.VerifyLedgerRequest(name="ledgers/governance")) == []
    assert found(ledgers, pb.VerifyLedgerRequest(name="ledgers/a/b")) == [
        ("name", INVALID_RESOURCE_NAME)]
    # The AIP-159 wildcard is a valid segment.
    assert found(validator(REGISTRY, "ListValidationRuns"),
                 pb.ListValidationRunsRequest(parent="filings/-")) == []
    # Another package's definitions are its own.
    review = validator(CLASSIFY, "ReviewResult")
    assert ("name", INVALID_RESOURCE_NAME) in found(review, cpb.ReviewResultRequest(
        name="cases/1", decision=types_pb.REVIEW_DECISION_ACCEPT))


def test_every_resource_reference_of_the_protos_has_a_pattern() -> None:
    """A reference to a type nobody defines would be checked for nothing."""
    missing = []
    for service in ALL_SERVICES:
        known = resource_patterns(service.file)
        pending = [m.input_type for m in service.methods]
        seen: set[str] = set()
        while pending:
            message = pending.pop()
            if message.full_name in seen:
                continue
            seen.add(message.full_name)
            for field in message.fields:
                options = field.GetOptions()
                if options.HasExtension(resource_pb2.resource_reference):
                    kind = options.Extensions[resource_pb2.resource_reference].type
                    if kind not in known:
                        missing.append(f"{field.full_name} -> {kind}")
                if field.message_type is not None:
                    pending.append(field.message_type)
    assert missing == []


# --- required fields ---------------------------------------------------------------------

def test_required_fields_of_the_request_are_reported_together_in_field_order() -> None:
    with pytest.raises(InvalidArgument) as refused:
        validator(REGISTRY, "ApproveFiling")(pb.ApproveFilingRequest())
    assert [(v.field, v.reason) for v in refused.value.violations] == [
        ("name", FIELD_REQUIRED), ("validation_run", FIELD_REQUIRED),
        ("validation_run_sha256", FIELD_REQUIRED), ("signature", FIELD_REQUIRED),
        ("key_id", FIELD_REQUIRED)]
    assert refused.value.reason == FIELD_REQUIRED
    assert refused.value.message == "name: is required (and 4 more)"


def test_required_fields_of_nested_messages_are_checked_where_present() -> None:
    append = validator(REGISTRY, "AppendCallRecords")
    bare = pb.CallRecord(record_id="r", caller="c", method="m")
    assert found(append, pb.AppendCallRecordsRequest(records=[valid_record(), bare])) == [
        ("records[1].network_domain", FIELD_REQUIRED), ("records[1].decision", FIELD_REQUIRED),
        ("records[1].latency", FIELD_REQUIRED), ("records[1].start_time", FIELD_REQUIRED)]
    assert found(append, pb.AppendCallRecordsRequest()) == [("records", FIELD_REQUIRED)]
    # google.rpc.Code's zero is OK, a real value; a zero int32 cannot be told from unset.
    assert found(append, pb.AppendCallRecordsRequest(records=[valid_record()])) == []
    assert found(validator(REGISTRY, "SetDeploymentCanary"), pb.SetDeploymentCanaryRequest(
        name="deployments/m", weight_percent=0)) == []


def test_an_unspecified_enum_is_missing() -> None:
    review = validator(CLASSIFY, "ReviewResult")
    assert ("decision", FIELD_REQUIRED) in found(review, cpb.ReviewResultRequest(
        name="results/abc"))
    assert found(review, cpb.ReviewResultRequest(
        name="results/abc", decision=types_pb.REVIEW_DECISION_ACCEPT)) == []


def test_required_inside_a_resource_is_left_to_the_resource_lifecycle() -> None:
    """A DRAFT filing may be incomplete (SubmitFiling checks it, FILING_INCOMPLETE), and
    parts of it come from MLflow; only the request's own REQUIRED fields apply."""
    create = validator(REGISTRY, "CreateFiling")
    assert found(create, pb.CreateFilingRequest(filing=pb.Filing(
        identity=pb.ModelIdentity(model="m", version="1")))) == []
    assert found(create, pb.CreateFilingRequest()) == [("filing", FIELD_REQUIRED)]


def test_output_only_fields_are_ignored() -> None:
    update = validator(REGISTRY, "UpdateFiling")
    filing = pb.Filing(name="filings/abcd", latest_validation_run="not\x00a name",
                       etag="\x00", approvals=[pb.Approval(validation_run="\x00")])
    filing.datasets.add(dataset="datasets/d-1").snapshot.name = "\x00"
    assert found(update, pb.UpdateFilingRequest(filing=filing,
                                                update_mask={"paths": ["datasets"]})) == []


# --- what handlers check themselves ------------------------------------------------------

def test_fields_a_handler_checks_keep_only_the_character_check() -> None:
    rollback = validator(REGISTRY, "RollbackDeployment",
                         checks=REGISTRY_CHECKS["RollbackDeployment"])
    assert found(rollback, pb.RollbackDeploymentRequest(name="deployments/m")) == []
    review = validator(CLASSIFY, "ReviewResult", checks=CLASSIFY_CHECKS["ReviewResult"])
    assert found(review, cpb.ReviewResultRequest(name="cases/1")) == []
    assert found(review, cpb.ReviewResultRequest(name="results/a\x00")) == [
        ("name", CONTROL_CHARACTER_IN_IDENTIFIER)]
    revoke = validator(REGISTRY, "RevokeToken", checks=REGISTRY_CHECKS["RevokeToken"])
    assert found(revoke, pb.RevokeTokenRequest()) == []
    assert found(revoke, pb.RevokeTokenRequest(jti="\x00")) == [
        ("jti", CONTROL_CHARACTER_IN_IDENTIFIER)]


def test_a_method_with_nothing_left_to_check_costs_nothing() -> None:
    assert request_validator(CLASSIFY.methods_by_name["Classify"],
                             checked_by_handler=CLASSIFY_CHECKS["Classify"]) is None
    assert request_validator(REGISTRY.methods_by_name["ListFilings"]) is None
    # WatchDeployments checks nothing but the range of its heartbeat interval.
    watch = request_validator(REGISTRY.methods_by_name["WatchDeployments"])
    assert isinstance(watch, RequestValidator)
    assert watch.violations(pb.WatchDeploymentsRequest(filter="x\x00")) == []
    bad = pb.WatchDeploymentsRequest()
    bad.heartbeat_interval.nanos = -1_000_000_000
    assert [v.reason for v in watch.violations(bad)] == ["INVALID_DURATION"]


def test_handler_checks_must_name_real_fields_and_methods() -> None:
    with pytest.raises(ValueError, match=r"records\.calller"):
        request_validator(REGISTRY.methods_by_name["AppendCallRecords"],
                          checked_by_handler={"records.calller"})
    with pytest.raises(ValueError, match="RollbackDeploymnet"):
        generic_handler(Service(REGISTRY, object(),
                                checked_by_handler={"RollbackDeploymnet": {"reason"}}), 1.0)
    # The services as they are served build.
    servicer: Any = type("Servicer", (), {m.name: None for m in REGISTRY.methods})()
    generic_handler(registry_service(servicer), 1.0)
    servicer = type("Servicer", (), {m.name: None for m in CLASSIFY.methods})()
    generic_handler(classify_service(servicer), 1.0)


# --- bounds ------------------------------------------------------------------------------

def test_violations_are_capped() -> None:
    append = validator(REGISTRY, "AppendCallRecords")
    request = pb.AppendCallRecordsRequest(records=[pb.CallRecord(record_id=f"\x00{i}")
                                                   for i in range(1000)])
    with pytest.raises(InvalidArgument) as refused:
        append(request)
    assert len(refused.value.violations) == MAX_VIOLATIONS
    assert refused.value.message.endswith(f"(and {MAX_VIOLATIONS - 1} more)")


def nested_struct(levels: int, leaf: str) -> struct_pb2.Struct:
    top = struct_pb2.Struct()
    current = top
    for _ in range(levels):
        current = current.fields["k"].struct_value
    current.fields["leaf"].string_value = leaf
    return top


def test_recursion_into_recursive_types_is_bounded() -> None:
    """Struct is the one recursive type a request can carry (extract's modified_value);
    with NUL refused in text there is something to look for inside it."""
    review = validator(EXTRACT, "ReviewResult", refuse_nul=True)
    ok = epb.ReviewResultRequest(name="results/a", decision=types_pb.REVIEW_DECISION_MODIFY)
    ok.modified_value.CopyFrom(nested_struct(3, "fine"))
    assert found(review, ok) == []
    bad = epb.ReviewResultRequest(name="results/a", decision=types_pb.REVIEW_DECISION_MODIFY)
    bad.modified_value.CopyFrom(nested_struct(1, "x\x00"))
    assert found(review, bad) == [("modified_value.fields['k'].struct_value.fields['leaf']"
                                   ".string_value", NUL_CHARACTER_IN_TEXT)]
    deep = epb.ReviewResultRequest(name="results/a", decision=types_pb.REVIEW_DECISION_MODIFY)
    deep.modified_value.CopyFrom(nested_struct(MAX_DEPTH, "fine"))
    violations = review.violations(deep)
    assert [v.reason for v in violations] == [REQUEST_TOO_DEEP]
    # Without NUL refusal nothing in a Struct is checked, so it is not walked at all.
    assert found(validator(EXTRACT, "ReviewResult"), deep) == []


# --- through the kernel's handlers -------------------------------------------------------

class Cases:
    """An orchestrator whose handlers only note that they ran (the others are never
    called)."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        for method in ORCHESTRATOR.methods:
            if not hasattr(self, method.name):
                setattr(self, method.name, None)

    async def GetCase(self, request: opb.GetCaseRequest, call: Any) -> opb.Case:
        self.ran.append("GetCase")
        return opb.Case(name=request.name)

    async def WatchCase(self, request: opb.WatchCaseRequest, call: Any
                        ) -> AsyncIterator[opb.WatchCaseResponse]:
        self.ran.append("WatchCase")
        yield opb.WatchCaseResponse(case=opb.Case(name=request.name))


def call_cases(requests: list[tuple[str, Any]]) -> tuple[list[Any], list[str]]:
    cases = Cases()

    async def run() -> list[Any]:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((generic_handler(Service(ORCHESTRATOR, cases), 5.0),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        results: list[Any] = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = opb_grpc.OrchestratorServiceStub(channel)
                for method, request in requests:
                    try:
                        if method == "GetCase":
                            results.append(await stub.GetCase(request, timeout=5))
                        else:
                            results.append([c async for c in stub.WatchCase(request,
                                                                            timeout=5)])
                    except grpc.aio.AioRpcError as error:
                        results.append(parse_error(error))
        finally:
            await server.stop(None)
        return results

    return asyncio.run(run()), cases.ran


def test_the_kernel_refuses_bad_requests_before_unary_and_streaming_handlers() -> None:
    results, ran = call_cases([
        ("GetCase", opb.GetCaseRequest(name="cases/a:b")),
        ("WatchCase", opb.WatchCaseRequest(name="cases/a\x00")),
        ("WatchCase", opb.WatchCaseRequest()),
        ("GetCase", opb.GetCaseRequest(name="cases/c-1")),
        ("WatchCase", opb.WatchCaseRequest(name="cases/c-2")),
    ])
    refusals = [(r.code, r.reason, r.violations) for r in results[:3]]
    assert refusals == [
        (grpc.StatusCode.INVALID_ARGUMENT, INVALID_RESOURCE_NAME, (FieldViolation(
            "name", "'cases/a:b' is not a resource name of orchestrator.zhijian.internal/Case",
            INVALID_RESOURCE_NAME),)),
        (grpc.StatusCode.INVALID_ARGUMENT, CONTROL_CHARACTER_IN_IDENTIFIER, (FieldViolation(
            "name", "holds the control character U+0000; identifiers must be printable",
            CONTROL_CHARACTER_IN_IDENTIFIER),)),
        (grpc.StatusCode.INVALID_ARGUMENT, FIELD_REQUIRED, (FieldViolation(
            "name", "is required", FIELD_REQUIRED),)),
    ]
    assert results[3].name == "cases/c-1" and [c.case.name for c in results[4]] == ["cases/c-2"]
    assert ran == ["GetCase", "WatchCase"]  # only the valid requests reached a handler


def _registry_method(name: str) -> d.MethodDescriptor:
    return pb.DESCRIPTOR.services_by_name["RegistryService"].methods_by_name[name]


@pytest.mark.parametrize(("seconds", "nanos", "valid"), [
    (1_796_307_538, 0, True), (0, 999_999_999, True), (-62_135_596_800, 0, True),
    (253_402_300_799, 999_999_999, True),
    (1_796_307_538, -1, False), (1_796_307_538, 2_147_483_647, False),
    (253_402_300_800, 0, False), (-62_135_596_801, 0, False),
])
def test_timestamps_out_of_their_range_are_refused(seconds: int, nanos: int,
                                                   valid: bool) -> None:
    # Found by the fuzz: such a record decoded, then failed as INTERNAL when it was
    # printed to the ledger.
    validator = request_validator(_registry_method("RegisterDataset"))
    assert isinstance(validator, RequestValidator)
    request = pb.RegisterDatasetRequest()
    request.dataset.collection_start_time.seconds = seconds
    request.dataset.collection_start_time.nanos = nanos
    found = {(v.field, v.reason) for v in validator.violations(request)}
    assert (("dataset.collection_start_time", "INVALID_TIMESTAMP") in found) is not valid


@pytest.mark.parametrize(("seconds", "nanos", "valid"), [
    (0, 1_500_000, True), (-3, -5, True), (315_576_000_000, 0, True),
    (0, 1_000_000_000, False), (0, -1_000_000_000, False), (1, -1, False),
    (315_576_000_001, 0, False),
])
def test_durations_out_of_their_range_are_refused(seconds: int, nanos: int,
                                                  valid: bool) -> None:
    validator = request_validator(_registry_method("AppendCallRecords"))
    assert isinstance(validator, RequestValidator)
    request = pb.AppendCallRecordsRequest()
    record = request.records.add(record_id="r1", caller="user:a", method="/a.B/C")
    record.latency.seconds, record.latency.nanos = seconds, nanos
    found = {(v.field, v.reason) for v in validator.violations(request)}
    assert (("records[0].latency", "INVALID_DURATION") in found) is not valid
