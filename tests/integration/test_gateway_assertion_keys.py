"""Issue 10 on the running platform: each gateway process `zhijian up` started holds its
own domain's assertion key only, and with the internet gateway's key nothing past the
gateways (classify, its BentoML model server, the registry) takes an intranet caller."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import httpx
import psutil
import pytest

from zhijian import identity
from zhijian.assertion import AssertionSigner, assertion_metadata
from zhijian.classify.v1 import classify_service_pb2 as cpb
from zhijian.classify.v1 import classify_service_pb2_grpc as cgrpc
from zhijian.errors import parse_error
from zhijian.registry.v1 import registry_service_pb2 as rpb
from zhijian.registry.v1 import registry_service_pb2_grpc as rgrpc

pytestmark = pytest.mark.integration

DOMAINS = ("internet", "extranet", "intranet")
CLASSIFY = "zhijian.classify.v1.ClassifyService"
REGISTRY = "zhijian.registry.v1.RegistryService"


def test_each_gateway_process_is_given_its_own_domains_key_only(platform: Any) -> None:
    keys = (platform.home / "keys").resolve()
    assert sorted(path.name for path in keys.glob("assertion*.pem")) == [
        f"assertion-{domain}.pem" for domain in sorted(DOMAINS)]
    for domain in DOMAINS:
        environ = psutil.Process(platform.component_pid(f"gateway-{domain}")).environ()
        assert Path(environ["ZHIJIAN_GATEWAY_ASSERTION_KEY"]).resolve() == \
            keys / f"assertion-{domain}.pem"
        others = [f"assertion-{other}" for other in DOMAINS if other != domain]
        assert not [name for name, value in environ.items()
                    if any(other in value for other in others)], domain


def test_the_internet_gateways_key_cannot_vouch_for_an_intranet_caller(platform: Any) -> None:
    internet_key = identity.load_private_key(platform.home / "keys" / "assertion-internet.pem")
    # What a compromised internet gateway can sign: anything, with its own key.
    compromised = AssertionSigner(internet_key, issuer="svc:gateway-intranet",
                                  domain="intranet")

    def forged(audience: str) -> tuple[tuple[str, str], ...]:
        return assertion_metadata(compromised, subject="user:zhang.san",
                                  roles=("platform_admin", "business_system"),
                                  clearance="L4", audience=audience)

    with grpc.insecure_channel(platform.classify_target) as channel, \
            pytest.raises(grpc.RpcError) as classify:
        cgrpc.ClassifyServiceStub(channel).Classify(
            cpb.ClassifyRequest(text="医用外科口罩"), timeout=10, metadata=forged(CLASSIFY))
    parsed = parse_error(classify.value)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAUTHENTICATED,
                                            "ASSERTION_DOMAIN_MISMATCH")

    answer = httpx.post(platform.model_server_url + "/predict", timeout=10, trust_env=False,
                        headers=dict(forged(CLASSIFY)),
                        json={"items": [{"text": "医用外科口罩", "version": "1"}]})
    assert answer.status_code == 401
    assert answer.json()["error"]["reason"] == "ASSERTION_DOMAIN_MISMATCH"

    with grpc.insecure_channel(platform.registry_target) as channel, \
            pytest.raises(grpc.RpcError) as registry:
        rgrpc.RegistryServiceStub(channel).ListFilings(rpb.ListFilingsRequest(), timeout=10,
                                                       metadata=forged(REGISTRY))
    parsed = parse_error(registry.value)
    assert (parsed.code, parsed.reason) == (grpc.StatusCode.UNAUTHENTICATED,
                                            "ASSERTION_DOMAIN_MISMATCH")

    # The same key still vouches for its own domain's callers: past the assertion, the
    # service refuses for the reason the internet has (the seed model is not filed for it).
    with grpc.insecure_channel(platform.classify_target) as channel, \
            pytest.raises(grpc.RpcError) as internet:
        cgrpc.ClassifyServiceStub(channel).Classify(
            cpb.ClassifyRequest(text="医用外科口罩"), timeout=10,
            metadata=platform.minted("user:review-system", ("business_system",),
                                     domain="internet", clearance="L1"))
    assert parse_error(internet.value).reason == "MODEL_NOT_AUTHORIZED_FOR_DOMAIN"
