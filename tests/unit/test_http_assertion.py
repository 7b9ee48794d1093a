"""The model servers' assertion middleware, in front of a small Starlette app served by
uvicorn on a loopback port (the whole BentoML model server is the integration tests'),
with the model server's own open paths and a real gateway key pair."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from zhijian import identity
from zhijian import metadata as md
from zhijian.assertion import (
    AssertionSigner,
    AssertionVerifier,
    assertion_key_path,
    assertion_metadata,
    provision_domain_keys,
)
from zhijian.http_assertion import CALLER_KEY, AssertionMiddleware
from zhijian.supervisor import free_port

CLASSIFY = "zhijian.classify.v1.ClassifyService"


def open_paths() -> frozenset[str]:
    from zhijian.model_server import OPEN_PATHS

    return frozenset(OPEN_PATHS)


async def predict(request: Request) -> JSONResponse:
    caller = request.scope["state"][CALLER_KEY]
    return JSONResponse({"subject": caller.subject, "request_id": caller.request_id})


async def plain(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@pytest.fixture()
def gateway(tmp_path: Path) -> AssertionSigner:
    """The internet gateway's signer, beside the other domains' published keys."""
    provision_domain_keys(tmp_path / "keys")
    return AssertionSigner.load(tmp_path / "keys", domain="internet",
                                issuer="svc:gateway-internet")


@pytest.fixture()
def base_url(tmp_path: Path, gateway: AssertionSigner) -> Iterator[str]:
    app = Starlette(
        routes=[Route("/predict", predict, methods=["POST"]),
                *(Route(path, plain, methods=["GET", "POST"])
                  for path in ("/readyz", "/livez", "/healthz", "/metrics", "/info",
                               "/docs.json"))],
        middleware=[Middleware(AssertionMiddleware,
                               verifier=AssertionVerifier.from_keys_dir(tmp_path / "keys"),
                               audiences=[CLASSIFY],
                               open_paths=open_paths())])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def post(base_url: str, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(base_url + path, json={"items": []}, headers=headers or {},
                      timeout=5, trust_env=False)


def test_the_model_server_installs_the_middleware_and_keeps_probes_open() -> None:
    from services.classify.model_server import ClassifyModelServer

    service: Any = ClassifyModelServer  # a bentoml.Service; mypy ignores class decorators
    assert any(cls is AssertionMiddleware for cls, _ in service.middlewares)
    assert open_paths() == {"/healthz", "/livez", "/readyz", "/metrics", "/info"}


def test_a_request_with_a_valid_assertion_reaches_the_handler(base_url, gateway) -> None:
    headers = dict(assertion_metadata(gateway, subject="svc:classify", roles=("service",),
                                      audience=CLASSIFY))
    answer = post(base_url, "/predict", headers)
    assert answer.status_code == 200
    assert answer.json() == {"subject": "svc:classify", "request_id": headers[md.REQUEST_ID]}


def test_no_assertion_is_401_assertion_missing(base_url) -> None:
    answer = post(base_url, "/predict", {md.REQUEST_ID: "r-1"})
    assert answer.status_code == 401
    assert answer.json()["error"]["reason"] == "ASSERTION_MISSING"
    assert "gateway" in answer.json()["error"]["message"]
    # Every route that is not a probe: the API docs too.
    assert post(base_url, "/docs.json").status_code == 401


@pytest.mark.parametrize("problem", ["other request", "no request id", "expired",
                                     "unknown key", "another service", "garbage"])
def test_a_bad_assertion_is_401_assertion_invalid(base_url, gateway, problem) -> None:
    headers = dict(assertion_metadata(gateway, subject="svc:classify", roles=("service",),
                                      audience=CLASSIFY))
    if problem == "other request":
        headers[md.REQUEST_ID] = "another-request"
    elif problem == "no request id":
        del headers[md.REQUEST_ID]
    elif problem == "expired":
        headers[md.ASSERTION] = gateway.mint(
            subject="svc:classify", roles=("service",), clearance="L4", domain="internet",
            request_id=headers[md.REQUEST_ID], now=time.time() - 120, audience=CLASSIFY)
    elif problem == "unknown key":
        impostor = AssertionSigner(Ed25519PrivateKey.generate(), issuer="svc:gateway-internet",
                                   domain="internet")
        headers = dict(assertion_metadata(impostor, subject="svc:classify", roles=("service",),
                                          audience=CLASSIFY))
    elif problem == "another service":
        headers = dict(assertion_metadata(gateway, subject="svc:classify", roles=("service",),
                                          audience="zhijian.registry.v1.RegistryService"))
    else:
        headers[md.ASSERTION] = "not.an-assertion"
    answer = post(base_url, "/predict", headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["reason"] == "ASSERTION_INVALID"
    assert headers.get(md.ASSERTION, "") not in answer.text


def test_an_internet_key_claiming_the_intranet_is_401_domain_mismatch(
        base_url, tmp_path) -> None:
    internet_key = identity.load_private_key(assertion_key_path(tmp_path / "keys", "internet"))
    compromised = AssertionSigner(internet_key, issuer="svc:gateway-intranet",
                                  domain="intranet")
    headers = dict(assertion_metadata(compromised, subject="svc:classify", roles=("service",),
                                      audience=CLASSIFY))
    answer = post(base_url, "/predict", headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["reason"] == "ASSERTION_DOMAIN_MISMATCH"


def test_probes_metrics_and_info_answer_without_an_assertion(base_url) -> None:
    for path in ("/readyz", "/livez", "/healthz", "/metrics", "/info"):
        assert httpx.get(base_url + path, timeout=5, trust_env=False).status_code == 200, path
