"""The gateway authorization matrix and the behaviour of the decision around it.

The expected table below is written out by hand and is deliberately independent of
gateway/policy/policy.csv: the policy is what we ship, this table is what we mean. The
method set is read from the proto descriptors, so a new RPC fails the matrix until
someone decides here who may call it from where.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest

from gateway import authz
from gateway.authz import Authorizer, Decision, PolicyError
from registry.authz import METHOD_ROLES
from zhijian.classify.v1 import classify_service_pb2
from zhijian.extract.v1 import extract_service_pb2
from zhijian.orchestrator.v1 import orchestrator_service_pb2
from zhijian.registry.v1 import registry_service_pb2
from zhijian.risk.v1 import risk_service_pb2

ROLES = ("business_system", "reviewer", "model_developer", "validator", "platform_admin",
         "sre", "auditor", "service")
DOMAINS = ("internet", "extranet", "intranet")
LEVELS = (1, 2, 3, 4)  # DataLevel L1..L4
# Written out here, not imported, so a change to the gateway's ceilings fails this test.
DOMAIN_CEILING = {"internet": 1, "extranet": 3, "intranet": 4}

ALL = frozenset(DOMAINS)
GOV = frozenset({"extranet", "intranet"})
INTRA = frozenset({"intranet"})
GOVERNANCE = ("model_developer", "validator", "platform_admin", "reviewer", "sre", "auditor")

C = "/zhijian.classify.v1.ClassifyService/"
E = "/zhijian.extract.v1.ExtractService/"
R = "/zhijian.risk.v1.RiskService/"
OR = "/zhijian.orchestrator.v1.OrchestratorService/"
G = "/zhijian.registry.v1.RegistryService/"


def _readers(*, extra: dict[str, frozenset[str]] | None = None) -> dict[str, frozenset[str]]:
    """Registry reads: governance roles from government networks, platform components
    from the intranet."""
    table = {role: GOV for role in GOVERNANCE} | {"service": INTRA}
    return table | (extra or {})


def _intranet(*roles: str) -> dict[str, frozenset[str]]:
    return {role: INTRA for role in roles}


INFERENCE = {"business_system": ALL}
REVIEW = {"reviewer": GOV}
CASE_READ = {"business_system": ALL, "reviewer": GOV}

# method -> {role: domains where it is allowed}; anything absent is denied.
EXPECTED: dict[str, dict[str, frozenset[str]]] = {
    C + "Classify": INFERENCE,
    C + "ClassifyBatch": INFERENCE,
    C + "ReviewResult": REVIEW,
    E + "ExtractFields": INFERENCE,
    E + "FindDuplicates": INFERENCE,
    E + "GradeReport": INFERENCE,
    E + "ReviewResult": REVIEW,
    R + "ScoreRisk": INFERENCE,
    R + "ComputeSignals": INFERENCE,
    R + "ListWarnings": {"business_system": GOV, "reviewer": GOV},
    R + "ReviewResult": REVIEW,
    OR + "CreateCase": INFERENCE,
    OR + "GetCase": CASE_READ,
    OR + "ListCases": CASE_READ,
    OR + "WatchCase": CASE_READ,
    OR + "CancelCase": INFERENCE,
    OR + "ReviewCase": REVIEW,
    # Registry reads
    G + "GetFiling": _readers(),
    G + "ListFilings": _readers(),
    G + "GetValidationRun": _readers(),
    G + "ListValidationRuns": _readers(),
    G + "GetDataset": _readers(),
    G + "ListDatasets": _readers(),
    G + "GetDeployment": _readers(),
    G + "ListDeployments": _readers(),
    G + "WatchDeployments": _readers(),
    G + "ListRevocations": _readers(),
    G + "ListReviewStats": _readers(),
    G + "GetCallerIdentity": _readers(extra={"business_system": GOV}),
    # The audit trail: intranet only
    G + "ListAuditEvents": _intranet(*GOVERNANCE, "service"),
    G + "VerifyLedger": _intranet("auditor", "platform_admin"),
    # Registry writes: intranet only
    G + "CreateFiling": _intranet("model_developer"),
    G + "UpdateFiling": _intranet("model_developer"),
    G + "SubmitFiling": _intranet("model_developer"),
    G + "RegisterDataset": _intranet("model_developer", "validator"),
    G + "ValidateFiling": _intranet("validator"),
    G + "ApproveFiling": _intranet("platform_admin"),
    G + "RejectFiling": _intranet("platform_admin"),
    G + "SuspendFiling": _intranet("platform_admin", "sre"),
    G + "ReinstateFiling": _intranet("platform_admin"),
    G + "RenewFiling": _intranet("platform_admin"),
    G + "RetireFiling": _intranet("platform_admin"),
    G + "CreateDeployment": _intranet("platform_admin"),
    G + "UpdateDeployment": _intranet("platform_admin"),
    G + "PromoteDeployment": _intranet("platform_admin"),
    G + "SetDeploymentCanary": _intranet("platform_admin"),
    G + "RollbackDeployment": _intranet("platform_admin"),
    G + "SuspendDeployment": _intranet("platform_admin", "sre"),
    G + "ResumeDeployment": _intranet("platform_admin"),
    G + "AppendCallRecords": _intranet("service"),
    G + "AppendReviewRecords": _intranet("service"),
    G + "PruneLedger": _intranet("platform_admin"),
    G + "RevokeToken": _intranet("platform_admin"),
    G + "IssueCredential": _intranet("platform_admin"),
    G + "ApproveCredentialIssuance": _intranet("platform_admin"),
    # Who holds which credential: intranet only, for auditors, admins and the gateways.
    G + "ListCredentials": _intranet("auditor", "platform_admin", "service"),
    G + "EnrollSigningKey": _intranet(*ROLES),
}

SERVICES = (
    (classify_service_pb2, "ClassifyService"),
    (extract_service_pb2, "ExtractService"),
    (risk_service_pb2, "RiskService"),
    (orchestrator_service_pb2, "OrchestratorService"),
    (registry_service_pb2, "RegistryService"),
)


def proto_methods() -> list[str]:
    """Full gRPC method names of the five services, straight from the descriptors."""
    names = []
    for module, service_name in SERVICES:
        service = module.DESCRIPTOR.services_by_name[service_name]
        names += [f"/{service.full_name}/{method.name}" for method in service.methods]
    return names


def expected_decision(role: str, domain: str, method: str, clearance: int,
                      level: int) -> Decision:
    if domain not in EXPECTED[method].get(role, frozenset()):
        return Decision(False, "ROLE_NOT_PERMITTED")
    if level > min(DOMAIN_CEILING[domain], clearance):
        return Decision(False, "DATA_LEVEL_EXCEEDS_CEILING")
    return Decision(True, "")


@pytest.fixture(scope="module")
def shipped() -> Authorizer:
    return Authorizer.from_files()


@pytest.fixture
def policy_copy(tmp_path: Path) -> tuple[Path, Path]:
    model = tmp_path / "model.conf"
    policy = tmp_path / "policy.csv"
    shutil.copy(authz.DEFAULT_MODEL, model)
    shutil.copy(authz.DEFAULT_POLICY, policy)
    return model, policy


# --- the matrix -------------------------------------------------------------------------

def test_expected_table_covers_exactly_the_proto_methods() -> None:
    methods = set(proto_methods())
    assert len(methods) == 57
    missing = sorted(methods - set(EXPECTED))
    stale = sorted(set(EXPECTED) - methods)
    assert not missing, f"RPCs with no row in EXPECTED: {missing}"
    assert not stale, f"rows in EXPECTED for RPCs that no longer exist: {stale}"


def test_authorization_matrix(shipped: Authorizer) -> None:
    mismatches = []
    cells = itertools.product(ROLES, DOMAINS, sorted(EXPECTED), LEVELS, LEVELS)
    for role, domain, method, clearance, level in cells:
        got = shipped.decide(frozenset({role}), clearance, domain, method, level)
        want = expected_decision(role, domain, method, clearance, level)
        if got != want:
            mismatches.append(f"{role:16} {domain:9} {method} clearance=L{clearance} "
                              f"level=L{level}: got {got}, want {want}")
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)


def test_internet_sees_nothing_of_the_registry(shipped: Authorizer) -> None:
    registry = [m for m in proto_methods() if m.startswith(G)]
    opened = [(role, m) for role in ROLES for m in registry
              if shipped.allowed({role}, "internet", m)]
    assert opened == []


def test_gateway_never_allows_what_the_registry_refuses(shipped: Authorizer) -> None:
    # The gateway is a first gate; letting through a role the registry refuses would only
    # move the refusal, but it would mean the two tables disagree about intent.
    extra = [(role, method) for method in METHOD_ROLES for role in ROLES for domain in DOMAINS
             if shipped.allowed({role}, domain, G + method)
             and role not in METHOD_ROLES[method]]
    assert extra == []


# --- deny overrides allow -----------------------------------------------------------------

def test_a_denied_role_overrides_an_allowed_one(shipped: Authorizer) -> None:
    method = C + "Classify"
    assert shipped.allowed({"business_system"}, "extranet", method)
    # `service` is refused everything outside the intranet; holding it as well refuses
    # the call although business_system alone would be allowed.
    assert not shipped.allowed({"business_system", "service"}, "extranet", method)
    assert shipped.decide({"business_system", "service"}, 4, "extranet", method, 1) == \
        Decision(False, "ROLE_NOT_PERMITTED")
    # On the intranet nothing denies, so the allowed role carries the call.
    assert shipped.allowed({"business_system", "service"}, "intranet", method)


def test_deny_line_overrides_a_wildcard_allow(shipped: Authorizer) -> None:
    # List* allows auditors registry listings from the extranet; the explicit deny keeps
    # the audit trail on the intranet.
    assert shipped.allowed({"auditor"}, "extranet", G + "ListFilings")
    assert not shipped.allowed({"auditor"}, "extranet", G + "ListAuditEvents")
    assert shipped.allowed({"auditor"}, "intranet", G + "ListAuditEvents")


def test_a_second_role_adds_permissions_when_nothing_denies(shipped: Authorizer) -> None:
    roles = {"business_system", "reviewer"}
    assert shipped.allowed(roles, "extranet", C + "ReviewResult")
    assert shipped.allowed(roles, "internet", C + "Classify")
    assert not shipped.allowed(roles, "internet", C + "ReviewResult")


def test_extranet_write_deny_holds_against_an_explicit_allow(
        policy_copy: tuple[Path, Path]) -> None:
    model, policy = policy_copy
    with policy.open("a") as handle:
        handle.write(f"p, platform_admin, extranet, {G}ApproveFiling, allow\n")
    authorizer = Authorizer.from_files(model, policy)
    assert not authorizer.allowed({"platform_admin"}, "extranet", G + "ApproveFiling")


# --- hot reload and cache ---------------------------------------------------------------

def test_reload_flips_the_decision_and_drops_the_cache(
        policy_copy: tuple[Path, Path]) -> None:
    model, policy = policy_copy
    authorizer = Authorizer.from_files(model, policy)
    roles, method = frozenset({"business_system"}), C + "Classify"
    assert authorizer.decide(roles, 1, "internet", method, 1).allowed
    assert authorizer.cache_size() == 1
    assert authorizer.reload_if_changed() is False  # unchanged content: cache kept
    assert authorizer.cache_size() == 1

    with policy.open("a") as handle:
        handle.write(f"p, business_system, internet, {method}, deny\n")
    assert authorizer.reload_if_changed() is True
    assert authorizer.cache_size() == 0
    assert authorizer.decide(roles, 1, "internet", method, 1) == \
        Decision(False, "ROLE_NOT_PERMITTED")


def test_malformed_policy_keeps_the_previous_one(policy_copy: tuple[Path, Path]) -> None:
    model, policy = policy_copy
    authorizer = Authorizer.from_files(model, policy)
    before = authorizer.digest
    with policy.open("a") as handle:
        handle.write(f"p, business_system, internet, {C}Classify, dney\n")
    with pytest.raises(PolicyError, match="dney"):
        authorizer.reload_if_changed()
    assert authorizer.digest == before
    assert authorizer.allowed({"business_system"}, "internet", C + "Classify")


@pytest.mark.parametrize("line", [
    "p, reviewer, darknet, /x.S/M, allow",
    "p, reviewer, intranet, x.S/M, allow",
    "p, reviewer, intranet, /x.S/M",
    "p, reviewer, intranet, /x.S/M, allow\np, reviewer, intranet, /x.S/M, allow",
])
def test_policy_lines_are_validated(line: str) -> None:
    with pytest.raises(PolicyError):
        authz.parse_policy(line)


def test_watcher_reloads_without_restart(policy_copy: tuple[Path, Path]) -> None:
    model, policy = policy_copy
    authorizer = Authorizer.from_files(model, policy)
    method = C + "Classify"
    assert authorizer.allowed({"business_system"}, "internet", method)
    watcher = authorizer.watch(interval_s=0.01)
    try:
        with policy.open("a") as handle:
            handle.write(f"p, business_system, internet, {method}, deny\n")
        for _ in range(500):
            if not authorizer.allowed({"business_system"}, "internet", method):
                break
            watcher.join(0.01)
        assert not authorizer.allowed({"business_system"}, "internet", method)
    finally:
        watcher.stop()


# --- domains, methods and levels ---------------------------------------------------------

@pytest.mark.parametrize("domain", ["", "Internet", "dmz", "intranet "])
def test_unknown_domain_is_denied(shipped: Authorizer, domain: str) -> None:
    assert shipped.decide({"platform_admin", "business_system"}, 4, domain, C + "Classify",
                          1) == Decision(False, "ROLE_NOT_PERMITTED")
    with pytest.raises(ValueError, match="domain"):
        authz.ceiling(domain, 4)


@pytest.mark.parametrize("method", [
    G + "GetFiling/../ApproveFiling", G + "Get Filing", "GetFiling", C + "Classify?x=1", ""])
def test_malformed_method_names_are_denied(shipped: Authorizer, method: str) -> None:
    assert not shipped.allowed(set(ROLES) - {"service"}, "intranet", method)


def test_no_roles_means_no_access(shipped: Authorizer) -> None:
    assert not shipped.allowed(set(), "intranet", C + "Classify")


@pytest.mark.parametrize(("domain", "clearance", "want"), [
    ("intranet", 2, 2), ("intranet", 4, 4), ("extranet", 4, 3), ("extranet", 1, 1),
    ("internet", 4, 1), ("internet", 1, 1),
])
def test_ceiling_is_min_of_domain_and_clearance(domain: str, clearance: int,
                                                want: int) -> None:
    assert authz.ceiling(domain, clearance) == want


def test_clearance_below_the_domain_ceiling_caps_the_level(shipped: Authorizer) -> None:
    roles, method = {"business_system"}, C + "Classify"
    # The intranet would take L4, an L2-cleared caller may still send only up to L2.
    assert shipped.decide(roles, 2, "intranet", method, 2) == Decision(True, "")
    assert shipped.decide(roles, 2, "intranet", method, 3) == \
        Decision(False, "DATA_LEVEL_EXCEEDS_CEILING")
    assert shipped.decide(roles, 4, "intranet", method, 3) == Decision(True, "")


def test_an_undeclared_level_counts_as_public(shipped: Authorizer) -> None:
    assert shipped.decide({"business_system"}, 1, "internet", C + "Classify", 0).allowed


@pytest.mark.parametrize(("clearance", "level"), [(0, 1), (5, 1), (4, 5), (4, -1)])
def test_levels_out_of_range_are_rejected(shipped: Authorizer, clearance: int,
                                          level: int) -> None:
    with pytest.raises(ValueError):
        shipped.decide({"business_system"}, clearance, "intranet", C + "Classify", level)


def test_role_refusal_comes_before_the_level_check(shipped: Authorizer) -> None:
    # A caller without the role must not learn how the levels are set.
    assert shipped.decide({"auditor"}, 1, "internet", C + "Classify", 4) == \
        Decision(False, "ROLE_NOT_PERMITTED")
