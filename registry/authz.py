"""Who may call what on the registry, checked by the registry itself (not only by a
gateway), and separation of duties on a filing.

Roles come from the caller's token only. Reads are open to every platform role except
business systems, which have no business with governance records.
"""

from __future__ import annotations

from collections.abc import Iterable

from zhijian.errors import PermissionDenied
from zhijian.registry.v1 import registry_service_pb2 as pb

READERS = frozenset({"model_developer", "validator", "platform_admin", "reviewer", "sre",
                     "auditor", "service"})
ADMIN = frozenset({"platform_admin"})

METHOD_ROLES: dict[str, frozenset[str]] = {
    "CreateFiling": frozenset({"model_developer"}),
    "UpdateFiling": frozenset({"model_developer"}),
    "SubmitFiling": frozenset({"model_developer"}),
    "RegisterDataset": frozenset({"model_developer", "validator"}),
    "ValidateFiling": frozenset({"validator"}),
    "ApproveFiling": ADMIN,
    "RejectFiling": ADMIN,
    # The kill switch: admins, and SREs who run the platform.
    "SuspendFiling": frozenset({"platform_admin", "sre"}),
    "ReinstateFiling": ADMIN,
    "RenewFiling": ADMIN,
    "RetireFiling": ADMIN,
    "CreateDeployment": ADMIN,
    "UpdateDeployment": ADMIN,
    "PromoteDeployment": ADMIN,
    "SetDeploymentCanary": ADMIN,
    "RollbackDeployment": ADMIN,
    "SuspendDeployment": frozenset({"platform_admin", "sre"}),
    "ResumeDeployment": ADMIN,
    "AppendCallRecords": frozenset({"service"}),
    "AppendReviewRecords": frozenset({"service"}),
    "VerifyLedger": frozenset({"auditor", "platform_admin"}),
    "PruneLedger": ADMIN,
    "RevokeToken": ADMIN,
    "IssueCredential": ADMIN,
    "ApproveCredentialIssuance": ADMIN,
    # Who may hold which credential: for the gateways that admit them, auditors, admins.
    "ListCredentials": frozenset({"auditor", "platform_admin", "service"}),
    # Any authenticated identity may enrol its own key and ask who it is.
    "EnrollSigningKey": frozenset({"model_developer", "validator", "platform_admin",
                                   "reviewer", "business_system", "sre", "auditor",
                                   "service"}),
    "GetCallerIdentity": frozenset({"model_developer", "validator", "platform_admin",
                                    "reviewer", "business_system", "sre", "auditor",
                                    "service"}),
}
READ_METHODS = ("GetFiling", "ListFilings", "GetValidationRun", "ListValidationRuns",
                "GetDataset", "ListDatasets", "GetDeployment", "ListDeployments",
                "WatchDeployments", "ListAuditEvents", "ListRevocations", "ListReviewStats")
for _method in READ_METHODS:
    METHOD_ROLES[_method] = READERS
assert set(METHOD_ROLES) == {m.name for m in
                             pb.DESCRIPTOR.services_by_name["RegistryService"].methods}


def authorize(method: str, roles: Iterable[str]) -> None:
    allowed = METHOD_ROLES.get(method, frozenset())
    if not allowed.intersection(roles):
        raise PermissionDenied(f"{method} needs one of the roles {', '.join(sorted(allowed))}",
                               reason="ROLE_NOT_PERMITTED", metadata={"method": method})


def involved_parties(filing: pb.Filing) -> set[str]:
    """Who built and filed the version: never its validator or approver."""
    return {filing.parties.submitter, *filing.parties.developers}


def check_independent(filing: pb.Filing, actor: str, act: str) -> None:
    if actor in involved_parties(filing):
        raise PermissionDenied(
            f"{actor} submitted or developed {filing.name} and so cannot {act} it",
            reason="FILING_SEPARATION_OF_DUTIES", metadata={"filing": filing.name,
                                                             "actor": actor})
    if act == "approve" and actor in filing.parties.validators:
        raise PermissionDenied(f"{actor} validated {filing.name} and so cannot approve it",
                               reason="FILING_SEPARATION_OF_DUTIES",
                               metadata={"filing": filing.name, "actor": actor})
