"""Service specs: discovery through entry points, the ZHIJIAN_SERVICES selection, and the
access lists that become the gateways' default policy."""

from __future__ import annotations

import dataclasses

import pytest

from zhijian.config import ConfigError
from zhijian.service_spec import (
    EVERY_DOMAIN,
    GOVERNMENT_NETWORKS,
    SELECTION_SETTING,
    Access,
    ServiceSpec,
    discover,
    policy_rows,
)


def _spec(*access: Access, services: tuple[str, ...] = ("pkg.v1.DemoService",)) -> ServiceSpec:
    return ServiceSpec(name="demo", grpc_services=services, module="demo",
                       default_grpc_port=1, default_metrics_port=2, access=access)


def test_installed_services_are_found_and_selectable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SELECTION_SETTING, raising=False)
    names = [spec.name for spec in discover()]
    assert "classify" in names and names == sorted(names)
    monkeypatch.setenv(SELECTION_SETTING, " classify ,")
    assert [spec.name for spec in discover()] == ["classify"]
    monkeypatch.setenv(SELECTION_SETTING, "classify,nonesuch")
    with pytest.raises(ConfigError, match="nonesuch, which is not installed"):
        discover()


def test_access_lists_expand_to_allow_rows() -> None:
    spec = _spec(Access(("Find", "FindMany"), ("business_system",), EVERY_DOMAIN),
                 Access(("Review",), ("reviewer", "auditor"), GOVERNMENT_NETWORKS))
    rows = spec.policy_rows()
    assert len(rows) == 2 * 3 + 2 * 2
    assert ["business_system", "internet", "/pkg.v1.DemoService/FindMany", "allow"] in rows
    assert ["auditor", "intranet", "/pkg.v1.DemoService/Review", "allow"] in rows
    assert not any(row[0] == "reviewer" and row[1] == "internet" for row in rows)
    # Two specs granting the same row yield it once.
    assert policy_rows([spec, spec]) == rows


def test_classify_declares_its_callers() -> None:
    classify = next(spec for spec in discover() if spec.name == "classify")
    rows = classify.policy_rows()
    assert ["reviewer", "extranet", "/zhijian.classify.v1.ClassifyService/ReviewResult",
            "allow"] in rows
    assert not [row for row in rows if row[0] == "reviewer" and row[1] == "internet"]


ALL = EVERY_DOMAIN
R = ("reviewer",)


@pytest.mark.parametrize(("access", "services", "message"), [
    (Access(("Find",), R, ("moon",)), ("pkg.v1.A",), "not among"),
    (Access(("Find",), R, ()), ("pkg.v1.A",), "not among"),
    (Access(("/pkg.v1.A/Find",), R, ALL), ("pkg.v1.A",), "short RPC names"),
    (Access(("*",), R, ALL), ("pkg.v1.A",), "short RPC names"),
    (Access(("Find",), R, ALL), ("pkg.v1.A", "pkg.v1.B"), "must name its gRPC service"),
    (Access(("Find",), R, ALL, service="pkg.v1.C"), ("pkg.v1.A",), "does not serve"),
    # A spec cannot reach beyond its own contract: not the registry, not every service,
    # not a role the platform keeps for its components, not a typo'd tuple.
    (Access(("ApproveFiling",), ("business_system",), ALL),
     ("zhijian.registry.v1.RegistryService",), "not the platform's own"),
    (Access(("X",), R, ALL), ("*",), "is not a gRPC service"),
    (Access(("X",), R, ALL), ("pkg.v1.Risk/*",), "is not a gRPC service"),
    (Access(("Find",), ("*",), ALL), ("pkg.v1.A",), "roles"),
    (Access(("Find",), ("service",), ALL), ("pkg.v1.A",), "roles"),
    (Access(("Find",), (), ALL), ("pkg.v1.A",), "roles"),
    (Access("Find", R, ALL), ("pkg.v1.A",), "must be a tuple"),  # type: ignore[arg-type]
    (Access(("Find",), "reviewer", ALL), ("pkg.v1.A",), "must be a tuple"),  # type: ignore[arg-type]
])
def test_a_malformed_access_list_is_a_configuration_error(
        access: Access, services: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _spec(access, services=services)


def test_the_gateway_leaves_out_an_access_list_naming_methods_the_contract_lacks(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from gateway import authz

    classify = next(spec for spec in discover() if spec.name == "classify")
    typo = dataclasses.replace(classify, access=(
        Access(("Clasify",), ("business_system",), EVERY_DOMAIN),))
    monkeypatch.setattr(authz.service_spec, "discover", lambda: (typo,))
    assert authz.installed_service_rows() == []
    assert "Clasify" in caplog.text
    monkeypatch.setattr(authz.service_spec, "discover", lambda: (classify,))
    assert authz.installed_service_rows() == classify.policy_rows()
