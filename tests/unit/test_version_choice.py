"""select_version over hand-built Deployment protos: every refusal reason, canary weights,
fallback to the last approved version, the domain intersection and local expiry."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
import pytest

from zhijian.artifacts import ArtifactDigest
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as registry_pb
from zhijian.types.v1 import ai_result_pb2 as types_pb
from zhijian.version_choice import (
    Selected,
    canary_roll,
    loadable_anywhere,
    loadable_versions,
    select_version,
    servable_anywhere,
    servable_versions,
)

NOW = 1_900_000_000.0
DAY = 86_400.0
INTERNET = types_pb.NETWORK_DOMAIN_INTERNET
EXTRANET = types_pb.NETWORK_DOMAIN_EXTRANET
INTRANET = types_pb.NETWORK_DOMAIN_INTRANET
ALL_DOMAINS = (INTERNET, EXTRANET, INTRANET)
KEYS = [f"request-{i}" for i in range(4000)]


def version(number: str, *, state: registry_pb.FilingState = registry_pb.FILING_STATE_APPROVED,
            domains: Sequence[types_pb.NetworkDomain] = ALL_DOMAINS,
            revalidate: float | None = NOW + 30 * DAY) -> registry_pb.DeployedVersion:
    deployed = registry_pb.DeployedVersion(
        filing=f"filings/f-{number}", version=number, filing_number=f"ZJ-2030-{number:0>4}",
        model_uri=f"models:/zhijian-classify/{number}", filing_state=state,
        max_data_level=types_pb.DATA_LEVEL_L3_IMPORTANT, network_domains=domains,
        artifacts=[registry_pb.Artifact(path="MLmodel", sha256="a" * 64, size_bytes=10),
                   registry_pb.Artifact(path="model/model.pkl", sha256="b" * 64,
                                        size_bytes=2000)])
    if revalidate is not None:
        deployed.revalidate_time.FromNanoseconds(int(revalidate * 1e9))
    return deployed


def deployment(production: registry_pb.DeployedVersion | None = None, *,
               canary: registry_pb.DeployedVersion | None = None, weight: int = 0,
               previous: registry_pb.DeployedVersion | None = None, fallback: bool = False,
               suspended: bool = False,
               domains: Sequence[types_pb.NetworkDomain] = ALL_DOMAINS,
               ) -> registry_pb.Deployment:
    found = registry_pb.Deployment(
        name="deployments/zhijian-classify", model="zhijian-classify",
        state=registry_pb.DEPLOYMENT_STATE_SUSPENDED if suspended
        else registry_pb.DEPLOYMENT_STATE_ACTIVE,
        suspend_reason="incident 42" if suspended else "", canary_weight_percent=weight,
        network_domains=domains, fallback_to_last_approved=fallback, revision=7)
    for slot, deployed in (("production", production), ("canary", canary),
                           ("previous", previous)):
        if deployed is not None:
            getattr(found, slot).CopyFrom(deployed)
    return found


def select(found: registry_pb.Deployment | None, *, domain: int = INTRANET, now: float = NOW,
           key: str | None = "request-1") -> Selected:
    return select_version(found, network_domain=domain, now=now, routing_key=key)


def refusal(found: registry_pb.Deployment | None, **kwargs: object) -> ZhijianError:
    with pytest.raises(ZhijianError) as failure:
        select(found, **kwargs)  # type: ignore[arg-type]
    return failure.value


def test_production_serves_and_names_its_filing():
    chosen = select(deployment(version("3")))
    assert chosen == Selected(
        model="zhijian-classify", version="3", filing_id="f-3", filing_number="ZJ-2030-0003",
        max_data_level=types_pb.DATA_LEVEL_L3_IMPORTANT,
        artifacts=(ArtifactDigest("MLmodel", "a" * 64, 10),
                   ArtifactDigest("model/model.pkl", "b" * 64, 2000)),
        slot=types_pb.SERVING_SLOT_PRODUCTION)
    assert chosen.model_ref() == types_pb.ModelRef(
        model="zhijian-classify", version="3", filing_id="f-3", filing_number="ZJ-2030-0003",
        slot=types_pb.SERVING_SLOT_PRODUCTION)
    assert chosen.trailers() == {"x-zhijian-model-version": "zhijian-classify/3",
                                 "x-zhijian-filing-id": "f-3"}


@pytest.mark.parametrize("found", [None, deployment(None)], ids=["no deployment",
                                                                 "no production"])
def test_nothing_deployed_is_a_failed_precondition(found):
    error = refusal(found)
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                          "MODEL_NOT_DEPLOYED")


def test_a_suspended_deployment_serves_nothing_not_even_a_fallback():
    found = deployment(version("3"), previous=version("2"), fallback=True, canary=version("4"),
                       weight=100, suspended=True)
    error = refusal(found)
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                          "MODEL_SUSPENDED")
    assert "incident 42" in error.message
    assert error.metadata == {"model": "zhijian-classify", "version": "3", "filing": "f-3"}
    assert servable_versions(found, network_domain=INTRANET, now=NOW) == {}


def test_a_suspended_filing_is_refused_with_its_version_and_filing():
    error = refusal(deployment(version("3", state=registry_pb.FILING_STATE_SUSPENDED)))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                          "MODEL_SUSPENDED")
    assert error.metadata == {"model": "zhijian-classify", "version": "3", "filing": "f-3"}


def test_an_expired_filing_is_refused():
    error = refusal(deployment(version("3", state=registry_pb.FILING_STATE_EXPIRED)))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "MODEL_EXPIRED")


def test_the_revalidation_date_applies_locally_without_a_push():
    found = deployment(version("3", revalidate=NOW + 60))
    assert select(found, now=NOW + 59.9).version == "3"
    for now in (NOW + 60, NOW + DAY):  # at the date itself the approval has lapsed
        error = refusal(found, now=now)
        assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                              "MODEL_EXPIRED")


def test_a_version_without_a_revalidation_date_follows_its_filing_state():
    assert select(deployment(version("3", revalidate=None)), now=NOW + 1000 * DAY).version == "3"


@pytest.mark.parametrize("state", [
    registry_pb.FILING_STATE_UNSPECIFIED, registry_pb.FILING_STATE_DRAFT,
    registry_pb.FILING_STATE_SUBMITTED, registry_pb.FILING_STATE_VALIDATED,
    registry_pb.FILING_STATE_VALIDATION_FAILED, registry_pb.FILING_STATE_REJECTED,
    registry_pb.FILING_STATE_RETIRED,
], ids=registry_pb.FilingState.Name)
def test_any_other_filing_state_is_not_approved(state):
    error = refusal(deployment(version("3", state=state)))
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                          "MODEL_NOT_APPROVED")
    assert registry_pb.FilingState.Name(state) in error.message


@pytest.mark.parametrize(("version_domains", "deployment_domains"), [
    ((INTRANET,), ALL_DOMAINS),  # the filing does not authorize the domain
    (ALL_DOMAINS, (INTRANET,)),  # the deployment does not serve in it
    ((INTRANET, INTERNET), (INTRANET, EXTRANET)),  # each has it, not both
])
def test_the_domain_must_be_in_both_the_filing_and_the_deployment(version_domains,
                                                                 deployment_domains):
    found = deployment(version("3", domains=version_domains), domains=deployment_domains)
    assert select(found, domain=INTRANET).version == "3"
    error = refusal(found, domain=EXTRANET)
    assert (error.code, error.reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                          "MODEL_NOT_AUTHORIZED_FOR_DOMAIN")
    assert "extranet" in error.message
    assert error.metadata["filing"] == "f-3"


def canary_share(found: registry_pb.Deployment) -> float:
    slots = [select(found, key=key).slot for key in KEYS]
    return slots.count(types_pb.SERVING_SLOT_CANARY) / len(slots)


def test_canary_weight_zero_and_hundred_are_absolute():
    assert canary_share(deployment(version("3"), canary=version("4"), weight=0)) == 0.0
    assert canary_share(deployment(version("3"), canary=version("4"), weight=100)) == 1.0


def test_canary_weight_fifty_splits_routing_keys_about_evenly_and_stably():
    found = deployment(version("3"), canary=version("4"), weight=50)
    assert 0.45 < canary_share(found) < 0.55
    for key in KEYS[:200]:  # the same request id always lands on the same version
        assert select(found, key=key).version == select(found, key=key).version
    chosen = select(found, key=next(k for k in KEYS if canary_roll(k) < 50))
    assert (chosen.version, chosen.slot, chosen.filing_id) == ("4", types_pb.SERVING_SLOT_CANARY,
                                                               "f-4")


def test_without_a_routing_key_the_split_is_random_but_weighted():
    found = deployment(version("3"), canary=version("4"), weight=20)
    share = sum(select(found, key=None).version == "4" for _ in range(4000)) / 4000
    assert 0.15 < share < 0.25


@pytest.mark.parametrize("canary", [
    version("4", state=registry_pb.FILING_STATE_SUSPENDED),
    version("4", revalidate=NOW - 1),
    version("4", domains=(EXTRANET,)),
], ids=["suspended", "expired", "other domain"])
def test_a_canary_that_may_not_serve_falls_back_to_production(canary):
    found = deployment(version("3"), canary=canary, weight=100)
    assert canary_share(found) == 0.0
    assert set(servable_versions(found, network_domain=INTRANET, now=NOW)) == {"3"}


@pytest.mark.parametrize("production", [
    version("3", state=registry_pb.FILING_STATE_SUSPENDED),
    version("3", state=registry_pb.FILING_STATE_EXPIRED),
    version("3", revalidate=NOW - 1),
    version("3", state=registry_pb.FILING_STATE_RETIRED),
], ids=["suspended", "expired", "lapsed", "retired"])
def test_fallback_serves_the_last_approved_version(production):
    found = deployment(production, previous=version("2"), fallback=True)
    chosen = select(found)
    assert (chosen.version, chosen.slot, chosen.filing_id) == ("2", types_pb.SERVING_SLOT_FALLBACK,
                                                               "f-2")
    assert set(servable_versions(found, network_domain=INTRANET, now=NOW)) == {"2"}


def test_without_fallback_the_previous_version_is_not_used():
    found = deployment(version("3", state=registry_pb.FILING_STATE_SUSPENDED),
                       previous=version("2"), fallback=False)
    assert refusal(found).reason == "MODEL_SUSPENDED"
    assert servable_versions(found, network_domain=INTRANET, now=NOW) == {}


def test_fallback_needs_a_previous_version_that_may_serve():
    suspended = version("3", state=registry_pb.FILING_STATE_SUSPENDED)
    for previous in (version("2", state=registry_pb.FILING_STATE_RETIRED),
                     version("2", domains=(EXTRANET,)), None):
        error = refusal(deployment(suspended, previous=previous, fallback=True))
        assert (error.reason, error.metadata["version"]) == ("MODEL_SUSPENDED", "3")


def test_fallback_does_not_cover_a_production_version_unauthorized_for_the_domain():
    found = deployment(version("3", domains=(INTRANET,)), previous=version("2"), fallback=True)
    assert refusal(found, domain=EXTRANET).reason == "MODEL_NOT_AUTHORIZED_FOR_DOMAIN"


def test_a_healthy_production_version_is_preferred_to_the_fallback():
    found = deployment(version("3"), previous=version("2"), fallback=True)
    assert select(found).slot == types_pb.SERVING_SLOT_PRODUCTION
    assert set(servable_versions(found, network_domain=INTRANET, now=NOW)) == {"3"}


def test_servable_versions_are_exactly_what_select_can_return():
    found = deployment(version("3"), canary=version("4"), weight=30, previous=version("2"),
                       fallback=True)
    chosen = {select(found, key=key).version for key in KEYS[:500]}
    assert chosen == set(servable_versions(found, network_domain=INTRANET, now=NOW)) == {"3", "4"}
    no_weight = deployment(version("3"), canary=version("4"), weight=0)
    assert set(servable_versions(no_weight, network_domain=INTRANET, now=NOW)) == {"3"}


def test_loadable_versions_preload_what_may_serve_soon_and_nothing_refused():
    found = deployment(version("3"), canary=version("4"), weight=0, previous=version("2"),
                       fallback=True)
    assert set(loadable_versions(found, network_domain=INTRANET, now=NOW)) == {"2", "3", "4"}
    # A suspended deployment keeps its versions in memory (resuming is instant)...
    suspended = deployment(version("3"), suspended=True)
    assert set(loadable_versions(suspended, network_domain=INTRANET, now=NOW)) == {"3"}
    # ...but no version whose filing, date or domain refuses it.
    refused = deployment(version("3", state=registry_pb.FILING_STATE_SUSPENDED),
                         canary=version("4", domains=(EXTRANET,)), weight=50,
                         previous=version("2", revalidate=NOW - 1), fallback=True)
    assert loadable_versions(refused, network_domain=INTRANET, now=NOW) == {}
    assert set(loadable_versions(deployment(version("3"), previous=version("2")),
                                 network_domain=INTRANET, now=NOW)) == {"3"}
    assert loadable_versions(None, network_domain=INTRANET, now=NOW) == {}


def test_a_model_server_shared_by_every_domain_serves_the_union_of_their_versions():
    # Production for the intranet only, the canary for the extranet only: the service
    # picks per call, the shared model server must hold and answer with both.
    found = deployment(version("3", domains=(INTRANET,)),
                       canary=version("4", domains=(EXTRANET,)), weight=50,
                       previous=version("2", domains=(INTERNET,)), fallback=True)
    assert set(servable_versions(found, network_domain=INTRANET, now=NOW)) == {"3"}
    assert set(servable_anywhere(found, now=NOW)) == {"3", "4"}
    assert set(loadable_anywhere(found, now=NOW)) == {"2", "3", "4"}
    # A version no domain may use is neither loaded nor served.
    nowhere = deployment(version("3", domains=(INTRANET,)), domains=(EXTRANET,))
    assert servable_anywhere(nowhere, now=NOW) == {} == loadable_anywhere(nowhere, now=NOW)
    assert servable_anywhere(deployment(version("3"), suspended=True), now=NOW) == {}
