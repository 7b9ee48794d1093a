"""Codes a caller's mistake gets from the registry, through a real RegistryService on a
loopback port (the kernel's handlers, the registry's request checks, its servicer) over
the governance harness's database (SQLite and PostgreSQL) and MLflow store. These are the
wrong codes an outside fuzz of the gateway found: INTERNAL for a NUL in a token id,
UNAVAILABLE / MLFLOW_UNAVAILABLE for a deployment name MLflow refuses, and
MODEL_VERSION_NOT_FOUND for a deployment that does not exist."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest

from governance.harness import ADMIN, MODEL, Harness
from registry import credentials, deployments, filings, identities
from registry.identities import RevocationList
from registry.request_checks import registry_service
from registry.servicer import RegistryServicer
from registry.validation_jobs import ValidationJobs
from zhijian import identity
from zhijian.assertion import AssertionSigner, AssertionVerifier, assertion_metadata
from zhijian.errors import ErrorDetails, ZhijianError, parse_error
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.registry.v1 import registry_service_pb2_grpc as pb_grpc
from zhijian.server import generic_handler
from zhijian.types.v1 import ai_result_pb2 as types_pb

AUDIENCE = "zhijian.registry.v1.RegistryService"


class AdmitAll(credentials.RecordedCredentials):
    """Every credential id counts as recorded: these tests are about request checks
    (recording is tested in test_credentials.py)."""

    def admits(self, principal: object, *, asserted: bool) -> bool:
        return True


def serve_and_call(harness: Harness, keys_dir: Path, calls: list[tuple[str, Any]]
                   ) -> list[Any]:
    """Each (method, request) as user:admin through a gateway; an error comes back as
    its parsed details."""
    identity.IssuerKey.load_or_create(keys_dir)  # the registry verifies tokens too
    gateway = AssertionSigner.load_or_create(keys_dir, issuer="svc:gateway-intranet")
    revocations = RevocationList()
    revocations.load(harness.ctx)
    verifier = identity.TokenVerifier(
        identity.load_public_keys(keys_dir / identity.ISSUER_JWKS), issuer_name="zhijian",
        audience="zhijian", is_revoked=revocations.__contains__)
    servicer = RegistryServicer(harness.ctx, verifier, revocations,
                                ValidationJobs(harness.ctx),
                                assertions=AssertionVerifier.from_keys_dir(keys_dir),
                                recorded=AdmitAll())

    async def run() -> list[Any]:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((generic_handler(registry_service(servicer), 30.0),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        answers: list[Any] = []
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = pb_grpc.RegistryServiceStub(channel)
                for method, request in calls:
                    request_id = uuid.uuid4().hex
                    metadata = assertion_metadata(
                        gateway, subject=ADMIN.subject, roles=tuple(ADMIN.roles),
                        request_id=request_id, clearance="L3", domain="intranet",
                        audience=AUDIENCE)
                    try:
                        answers.append(await getattr(stub, method)(
                            request, metadata=metadata, timeout=30))
                    except grpc.aio.AioRpcError as error:
                        answers.append(parse_error(error))
        finally:
            await server.stop(None)
        return answers

    return asyncio.run(run())


def refusal(answer: Any) -> tuple[str, str, list[str]]:
    assert isinstance(answer, ErrorDetails), f"expected a refusal, got {answer!r}"
    return answer.code.name, answer.reason, [v.field for v in answer.violations]


def create_deployment(h: Harness, model: str = MODEL) -> None:
    deployments.create(h.ctx, ADMIN, pb.CreateDeploymentRequest(
        deployment_id=model, deployment=pb.Deployment(
            network_domains=[types_pb.NETWORK_DOMAIN_INTRANET])))


def deployment_acts(name: str) -> list[tuple[str, Any]]:
    """Every RegistryService method that acts on one deployment by name."""
    return [
        ("GetDeployment", pb.GetDeploymentRequest(name=name)),
        ("RollbackDeployment", pb.RollbackDeploymentRequest(name=name, reason="regression")),
        ("PromoteDeployment", pb.PromoteDeploymentRequest(name=name, filing="filings/f-1")),
        ("SetDeploymentCanary", pb.SetDeploymentCanaryRequest(
            name=name, filing="filings/f-1", weight_percent=10)),
        ("SuspendDeployment", pb.SuspendDeploymentRequest(name=name, reason="incident 7")),
        ("ResumeDeployment", pb.ResumeDeploymentRequest(name=name, reason="fixed")),
        ("UpdateDeployment", pb.UpdateDeploymentRequest(
            deployment=pb.Deployment(name=name, display_name="x"),
            update_mask={"paths": ["display_name"]})),
    ]


def test_a_control_character_in_a_token_id_is_invalid_argument(harness: Harness,
                                                              tmp_path: Path) -> None:
    answers = serve_and_call(harness, tmp_path / "keys", [
        ("RevokeToken", pb.RevokeTokenRequest(jti="a\x00b", reason="left the unit")),
        ("RevokeToken", pb.RevokeTokenRequest(jti="jti-7\n", reason="left the unit")),
        # PostgreSQL cannot hold a NUL in the reason either.
        ("RevokeToken", pb.RevokeTokenRequest(jti="jti-7", reason="left\x00")),
        ("RevokeToken", pb.RevokeTokenRequest(jti="jti-7", reason="left the unit\n(HR 12)")),
    ])
    assert refusal(answers[0]) == ("INVALID_ARGUMENT", "CONTROL_CHARACTER_IN_IDENTIFIER",
                                   ["jti"])
    assert refusal(answers[1]) == ("INVALID_ARGUMENT", "CONTROL_CHARACTER_IN_IDENTIFIER",
                                   ["jti"])
    assert refusal(answers[2]) == ("INVALID_ARGUMENT", "NUL_CHARACTER_IN_TEXT", ["reason"])
    assert isinstance(answers[3], pb.Revocation) and answers[3].jti == "jti-7"
    # The handler refuses it too, whoever calls it, and stores nothing.
    head = harness.governance_head()
    with pytest.raises(ZhijianError) as refused:
        identities.revoke(harness.ctx, RevocationList(), ADMIN,
                          pb.RevokeTokenRequest(jti="a\x00b", reason="left"))
    assert (refused.value.code.name, refused.value.reason) == (
        "INVALID_ARGUMENT", "CONTROL_CHARACTER_IN_IDENTIFIER")
    assert harness.governance_head() == head


def test_a_deployment_name_mlflow_would_refuse_is_invalid_argument(harness: Harness,
                                                                   tmp_path: Path) -> None:
    create_deployment(harness)
    answers = serve_and_call(harness, tmp_path / "keys", deployment_acts("deployments/a:b"))
    for (method, _), answer in zip(deployment_acts(""), answers, strict=True):
        code, reason, fields = refusal(answer)
        assert (code, reason) == ("INVALID_ARGUMENT", "INVALID_RESOURCE_NAME"), method
        assert fields in (["name"], ["deployment.name"]), method
    # The handlers refuse it themselves, before MLflow could.
    with pytest.raises(ZhijianError) as refused:
        deployments.rollback(harness.ctx, ADMIN, pb.RollbackDeploymentRequest(
            name="deployments/a:b", reason="regression"))
    assert (refused.value.code.name, refused.value.reason) == ("INVALID_ARGUMENT",
                                                               "INVALID_RESOURCE_NAME")
    # A model name reaching MLflow some other way is still the caller's mistake.
    draft = pb.Filing(filing_type=pb.FILING_TYPE_NEW,
                      identity=pb.ModelIdentity(model="a:b", version="1"))
    with pytest.raises(ZhijianError) as mlflow_refused:
        filings.create(harness.ctx, ADMIN, pb.CreateFilingRequest(filing=draft))
    assert (mlflow_refused.value.code.name, mlflow_refused.value.reason) == (
        "INVALID_ARGUMENT", "MLFLOW_INVALID_PARAMETER")


def test_acting_on_a_deployment_that_does_not_exist_is_deployment_not_found(
        harness: Harness, tmp_path: Path) -> None:
    create_deployment(harness)  # another deployment exists; MLflow has no model "absent"
    answers = serve_and_call(harness, tmp_path / "keys", deployment_acts("deployments/absent"))
    for (method, _), answer in zip(deployment_acts(""), answers, strict=True):
        assert refusal(answer)[:2] == ("NOT_FOUND", "DEPLOYMENT_NOT_FOUND"), method
        assert answer.metadata == {"name": "deployments/absent"}, method


def test_a_deployment_whose_model_mlflow_lost_is_failed_precondition(
        harness: Harness, tmp_path: Path) -> None:
    lost = f"lost-{uuid.uuid4().hex[:8]}"
    harness.mlflow.client.create_registered_model(lost)
    create_deployment(harness, lost)
    harness.mlflow.client.delete_registered_model(lost)
    answers = serve_and_call(harness, tmp_path / "keys", [
        ("RollbackDeployment", pb.RollbackDeploymentRequest(name=f"deployments/{lost}",
                                                            reason="regression")),
        ("GetDeployment", pb.GetDeploymentRequest(name=f"deployments/{lost}"))])
    assert refusal(answers[0])[:2] == ("FAILED_PRECONDITION", "MODEL_NOT_REGISTERED")
    assert answers[0].metadata == {"model": lost}
    assert isinstance(answers[1], pb.Deployment)  # the registry's own record still reads
