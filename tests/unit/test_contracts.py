"""The v1 API contracts: generated code is current, buf lint passes, and the descriptors keep
the platform's promises (every model result is labelled AI output and names its model, and
every service accepts a human review of its results)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from google.api import field_behavior_pb2, resource_pb2
from google.protobuf import descriptor as d

from zhijian.classify.v1 import classify_service_pb2, classify_service_pb2_grpc
from zhijian.extract.v1 import extract_service_pb2, extract_service_pb2_grpc
from zhijian.orchestrator.v1 import orchestrator_service_pb2, orchestrator_service_pb2_grpc
from zhijian.registry.v1 import registry_service_pb2, registry_service_pb2_grpc
from zhijian.risk.v1 import risk_service_pb2, risk_service_pb2_grpc
from zhijian.types.v1 import ai_result_pb2

ROOT = Path(__file__).resolve().parents[2]

# service package -> (pb2 module, pb2_grpc module, service name, review RPC)
SERVICES: dict[str, tuple[ModuleType, ModuleType, str, str]] = {
    "classify": (
        classify_service_pb2,
        classify_service_pb2_grpc,
        "ClassifyService",
        "ReviewResult",
    ),
    "extract": (extract_service_pb2, extract_service_pb2_grpc, "ExtractService", "ReviewResult"),
    "risk": (risk_service_pb2, risk_service_pb2_grpc, "RiskService", "ReviewResult"),
    "orchestrator": (
        orchestrator_service_pb2,
        orchestrator_service_pb2_grpc,
        "OrchestratorService",
        "ReviewCase",
    ),
    "registry": (registry_service_pb2, registry_service_pb2_grpc, "RegistryService", ""),
}
MODEL_SERVICES = ("classify", "extract", "risk", "orchestrator")
AI_RESULT = ai_result_pb2.AiResult.DESCRIPTOR.full_name
HUMAN_REVIEW = ai_result_pb2.HumanReview.DESCRIPTOR.full_name


def service(name: str) -> d.ServiceDescriptor:
    pb2, _, service_name, _ = SERVICES[name]
    return pb2.DESCRIPTOR.services_by_name[service_name]


def behaviors(field: Any) -> set[int]:
    return set(field.GetOptions().Extensions[field_behavior_pb2.field_behavior])


def message_type(field: Any) -> Any:
    """The message type of a message field (descriptor stubs type it as Optional)."""
    assert field.message_type is not None, field.full_name
    return field.message_type


def carries_ai_result(message: d.Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    """True if the message has an AiResult field, or is a batch/list/stream wrapper whose
    repeated (or single) message fields all carry one."""
    if message.full_name in seen:
        return False
    seen = seen | {message.full_name}
    message_fields = [f for f in message.fields if f.type == d.FieldDescriptor.TYPE_MESSAGE]
    if any(message_type(f).full_name == AI_RESULT for f in message_fields):
        return True
    wrapped = [f for f in message_fields if message_type(f).full_name.startswith("zhijian.")]
    return bool(wrapped) and all(carries_ai_result(message_type(f), seen) for f in wrapped)


# --- generated code and lint -------------------------------------------------------------


def test_generated_code_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/gen_proto.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_buf_lint_passes() -> None:
    if not (ROOT / "node_modules" / ".bin" / "buf").exists():
        pytest.skip("buf not installed: run `npm ci` in the repository root to lint the protos")
    if shutil.which("npx") is None:
        pytest.skip("npx (Node.js) not on PATH; buf lint needs it")
    proc = subprocess.run(
        ["sh", "scripts/lint_proto.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert proc.returncode == 0, f"buf lint failed:\n{proc.stdout}{proc.stderr}"


# --- descriptors ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_package_is_versioned_per_service(name: str) -> None:
    pb2, grpc_mod, service_name, _ = SERVICES[name]
    assert pb2.DESCRIPTOR.package == f"zhijian.{name}.v1"
    assert pb2.DESCRIPTOR.name == f"zhijian/{name}/v1/{name}_service.proto"
    assert hasattr(grpc_mod, f"{service_name}Stub")
    assert hasattr(grpc_mod, f"add_{service_name}Servicer_to_server")
    assert ai_result_pb2.DESCRIPTOR.package == "zhijian.types.v1"


@pytest.mark.parametrize("name", MODEL_SERVICES)
def test_every_model_service_accepts_a_human_review(name: str) -> None:
    review_rpc = SERVICES[name][3]
    method = service(name).methods_by_name.get(review_rpc)
    assert method is not None, f"{name} has no {review_rpc} RPC"
    request = method.input_type
    for field in ("name", "decision", "reviewer", "reason"):
        assert field in request.fields_by_name, f"{request.full_name} lacks {field}"
    assert request.fields_by_name["decision"].enum_type is ai_result_pb2.ReviewDecision.DESCRIPTOR
    for field in ("name", "decision"):
        assert field_behavior_pb2.REQUIRED in behaviors(request.fields_by_name[field])
    # The reviewer is the authenticated caller: the field may only confirm it, so no
    # client is made to write a name the service then has to distrust.
    assert field_behavior_pb2.OPTIONAL in behaviors(request.fields_by_name["reviewer"])
    # ReviewResult returns the review record; ReviewCase returns the case holding it.
    output = method.output_type
    assert output.full_name == HUMAN_REVIEW or any(
        f.message_type is not None and f.message_type.full_name == HUMAN_REVIEW
        for f in output.fields
    )


@pytest.mark.parametrize("name", MODEL_SERVICES)
def test_every_model_response_carries_ai_result_metadata(name: str) -> None:
    review_rpc = SERVICES[name][3]
    for method in service(name).methods:
        if method.name == review_rpc:
            continue
        assert carries_ai_result(method.output_type), (
            f"{method.full_name} returns {method.output_type.full_name} without AiResult"
        )


def test_ai_result_names_model_version_and_filing() -> None:
    ai = ai_result_pb2.AiResult.DESCRIPTOR
    for field in ("result_id", "ai_generated", "disclaimer", "model", "create_time", "trace_id"):
        assert field in ai.fields_by_name
    assert ai.fields_by_name["ai_generated"].type == d.FieldDescriptor.TYPE_BOOL
    model = ai_result_pb2.ModelRef.DESCRIPTOR
    assert {"model", "version", "filing_id"} <= set(model.fields_by_name)
    review = ai_result_pb2.HumanReview.DESCRIPTOR
    assert {
        "result",
        "decision",
        "reviewer",
        "reason",
        "modified_value",
        "review_time",
        "model",
    } <= set(review.fields_by_name)
    assert ai_result_pb2.ReviewDecision.keys() == [
        "REVIEW_DECISION_UNSPECIFIED",
        "REVIEW_DECISION_ACCEPT",
        "REVIEW_DECISION_MODIFY",
        "REVIEW_DECISION_REJECT",
    ]
    assert ai_result_pb2.DataLevel.keys() == [
        "DATA_LEVEL_UNSPECIFIED",
        "DATA_LEVEL_L1_PUBLIC",
        "DATA_LEVEL_L2_GENERAL",
        "DATA_LEVEL_L3_IMPORTANT",
        "DATA_LEVEL_L4_CORE",
    ]
    assert ai_result_pb2.NetworkDomain.keys() == [
        "NETWORK_DOMAIN_UNSPECIFIED",
        "NETWORK_DOMAIN_INTERNET",
        "NETWORK_DOMAIN_EXTRANET",
        "NETWORK_DOMAIN_INTRANET",
    ]


def test_classify_contract_shape() -> None:
    """The names services/classify codes against."""
    c = classify_service_pb2
    methods = {
        m.name: (m.input_type.name, m.output_type.full_name) for m in service("classify").methods
    }
    assert methods == {
        "Classify": ("ClassifyRequest", "zhijian.classify.v1.ClassifyResponse"),
        "ClassifyBatch": ("ClassifyBatchRequest", "zhijian.classify.v1.ClassifyBatchResponse"),
        "ReviewResult": ("ReviewResultRequest", HUMAN_REVIEW),
    }
    assert c.Task.keys() == [
        "TASK_UNSPECIFIED",
        "TASK_PRODUCT_CATEGORY",
        "TASK_DEVICE_CLASS",
        "TASK_REVIEW_ROUTE",
    ]
    request = c.ClassifyRequest.DESCRIPTOR.fields_by_name
    assert list(request) == ["text", "tasks", "language_hint", "data_level", "display_language"]
    assert field_behavior_pb2.REQUIRED in behaviors(request["text"])
    assert list(c.ClassifyResponse.DESCRIPTOR.fields_by_name) == ["result", "results"]
    assert list(c.TaskResult.DESCRIPTOR.fields_by_name) == [
        "task",
        "label",
        "display_name",
        "probabilities",
        "terms",
    ]
    assert list(c.LabelProbability.DESCRIPTOR.fields_by_name) == [
        "label",
        "display_name",
        "probability",
    ]
    assert (
        c.LabelProbability.DESCRIPTOR.fields_by_name["probability"].type
        == d.FieldDescriptor.TYPE_DOUBLE
    )
    assert list(c.ClassifyBatchRequest.DESCRIPTOR.fields_by_name) == ["requests"]
    assert list(c.ClassifyBatchResponse.DESCRIPTOR.fields_by_name) == ["responses"]
    assert list(c.ReviewResultRequest.DESCRIPTOR.fields_by_name) == [
        "name",
        "decision",
        "reviewer",
        "reason",
        "modified_labels",
    ]


def test_list_methods_paginate() -> None:
    """AIP-158: every List RPC takes page_size/page_token and returns next_page_token."""
    lists = [m for name in SERVICES for m in service(name).methods if m.name.startswith("List")]
    assert len(lists) >= 6
    for method in lists:
        assert {"page_size", "page_token"} <= set(method.input_type.fields_by_name), (
            method.full_name
        )
        assert "next_page_token" in method.output_type.fields_by_name, method.full_name


def test_long_running_work_streams() -> None:
    watch_case = service("orchestrator").methods_by_name["WatchCase"]
    watch_deployments = service("registry").methods_by_name["WatchDeployments"]
    for method in (watch_case, watch_deployments):
        assert method.server_streaming and not method.client_streaming


def test_registry_lifecycle_and_methods() -> None:
    r = registry_service_pb2
    assert r.FilingState.keys() == [
        "FILING_STATE_UNSPECIFIED",
        "FILING_STATE_DRAFT",
        "FILING_STATE_SUBMITTED",
        "FILING_STATE_VALIDATED",
        "FILING_STATE_VALIDATION_FAILED",
        "FILING_STATE_APPROVED",
        "FILING_STATE_REJECTED",
        "FILING_STATE_SUSPENDED",
        "FILING_STATE_EXPIRED",
        "FILING_STATE_RETIRED",
    ]
    methods = set(service("registry").methods_by_name)
    assert {
        "CreateFiling",
        "GetFiling",
        "ListFilings",
        "UpdateFiling",
        "SubmitFiling",
        "ValidateFiling",
        "RegisterDataset",
        "GetDataset",
        "ListDatasets",
        "ApproveFiling",
        "RejectFiling",
        "SuspendFiling",
        "ReinstateFiling",
        "RenewFiling",
        "RetireFiling",
        "GetDeployment",
        "ListDeployments",
        "UpdateDeployment",
        "PromoteDeployment",
        "SetDeploymentCanary",
        "RollbackDeployment",
        "SuspendDeployment",
        "WatchDeployments",
        "ListAuditEvents",
        "AppendCallRecords",
        "PruneLedger",
        "EnrollSigningKey",
        "RevokeToken",
        "VerifyLedger",
        "ResumeDeployment",
    } <= methods
    filing = r.Filing.DESCRIPTOR
    assert filing.GetOptions().Extensions[resource_pb2.resource].pattern == ["filings/{filing}"]
    update = r.UpdateFilingRequest.DESCRIPTOR.fields_by_name["update_mask"]
    assert message_type(update).full_name == "google.protobuf.FieldMask"


def test_orchestrator_case_states() -> None:
    o = orchestrator_service_pb2
    assert o.CaseState.keys() == [
        "CASE_STATE_UNSPECIFIED",
        "CASE_STATE_CREATED",
        "CASE_STATE_RUNNING",
        "CASE_STATE_AWAITING_REVIEW",
        "CASE_STATE_ACCEPTED",
        "CASE_STATE_MODIFIED",
        "CASE_STATE_REJECTED",
        "CASE_STATE_FAILED",
        "CASE_STATE_CANCELLED",
    ]
    case = o.Case.DESCRIPTOR
    assert case.GetOptions().Extensions[resource_pb2.resource].pattern == ["cases/{case}"]
    assert {"state", "steps", "result", "review"} <= set(case.fields_by_name)


def test_messages_round_trip() -> None:
    c = classify_service_pb2
    response = c.ClassifyResponse(
        result=ai_result_pb2.AiResult(
            result_id="r1",
            ai_generated=True,
            disclaimer="AI draft — requires human review",
            model=ai_result_pb2.ModelRef(
                model="classify-product-category", version="3", filing_id="f1"
            ),
        ),
        results=[
            c.TaskResult(
                task=c.TASK_PRODUCT_CATEGORY,
                label="device",
                display_name="医疗器械",
                probabilities=[
                    c.LabelProbability(label="device", display_name="医疗器械", probability=0.9)
                ],
                terms=["导管"],
            )
        ],
    )
    assert c.ClassifyResponse.FromString(response.SerializeToString()) == response
