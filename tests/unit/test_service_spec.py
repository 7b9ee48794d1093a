"""Service specs: discovery through entry points, the ZHIJIAN_SERVICES selection, and the
access lists that become the gateways' default policy."""

from __future__ import annotations

import pytest

from zhijian.config import ConfigError
from zhijian.service_spec import (
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
    spec = _spec(Access(("Find", "FindMany"), ("business_system",)),
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


@pytest.mark.parametrize(("access", "services", "message"), [
    (Access(("Find",), ("r",), ("moon",)), ("pkg.v1.A",), "not among"),
    (Access(("Find",), ("r",), ()), ("pkg.v1.A",), "not among"),
    (Access(("/pkg.v1.A/Find",), ("r",)), ("pkg.v1.A",), "short RPC names"),
    (Access(("Find",), ("r",)), ("pkg.v1.A", "pkg.v1.B"), "must name its gRPC service"),
    (Access(("Find",), ("r",), service="pkg.v1.C"), ("pkg.v1.A",), "does not serve"),
])
def test_a_malformed_access_list_is_a_configuration_error(
        access: Access, services: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _spec(access, services=services)
