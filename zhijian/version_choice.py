"""Which model version may serve a call, as the registry's latest state says: a pure
decision, so that every refusal can be tested without a registry.

Services call :func:`select_version` (through ``DeploymentWatcher.select``) before any
model call, with the caller's network domain: one service process serves the callers of
every gateway, so the domain is a property of each call (asserted by the gateway), not of
the process. Model servers use :func:`loadable_anywhere` (what to keep in memory) and
:func:`servable_anywhere` (what may answer right now), the union over every domain: the
service that chose a call's version checked it against that call's domain.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from zhijian import metadata as md
from zhijian.artifacts import ArtifactDigest
from zhijian.domains import NETWORK_DOMAINS, domain_name
from zhijian.errors import (
    FailedPrecondition,
    PermissionDenied,
    ZhijianError,
)
from zhijian.registry.v1 import registry_service_pb2 as registry_pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

Deployment = registry_pb.Deployment
DeployedVersion = registry_pb.DeployedVersion

# Stable ErrorInfo reasons of a refused selection.
MODEL_NOT_DEPLOYED: Final = "MODEL_NOT_DEPLOYED"
MODEL_SUSPENDED: Final = "MODEL_SUSPENDED"
MODEL_EXPIRED: Final = "MODEL_EXPIRED"
MODEL_NOT_APPROVED: Final = "MODEL_NOT_APPROVED"
MODEL_NOT_AUTHORIZED_FOR_DOMAIN: Final = "MODEL_NOT_AUTHORIZED_FOR_DOMAIN"
SERVING_STATE_UNKNOWN: Final = "SERVING_STATE_UNKNOWN"

# Refusals that are about the filing's state: the ones `fallback_to_last_approved` covers
# (the proto: "if the production version is suspended or expired, serve previous"). A
# version not authorized for this domain is not a failure to paper over with an older one.
_STATE_REASONS: Final = frozenset({MODEL_SUSPENDED, MODEL_EXPIRED, MODEL_NOT_APPROVED})


def network_domain_value(name: str) -> int:
    """The ``NetworkDomain`` enum value of ``internet``, ``extranet`` or ``intranet``."""
    try:
        return NETWORK_DOMAINS[name]
    except KeyError:
        raise PermissionDenied(f"unknown network domain {name[:20]!r}",
                               reason=MODEL_NOT_AUTHORIZED_FOR_DOMAIN) from None


def network_domain_name(domain: int) -> str:
    return domain_name(domain)


@dataclass(frozen=True)
class Selected:
    """The version chosen for a call and what the caller must name and respect."""

    model: str
    version: str
    filing_id: str
    filing_number: str
    max_data_level: types_pb.DataLevel
    artifacts: tuple[ArtifactDigest, ...]
    slot: types_pb.ServingSlot

    def model_ref(self) -> types_pb.ModelRef:
        return types_pb.ModelRef(model=self.model, version=self.version,
                                 filing_id=self.filing_id, filing_number=self.filing_number,
                                 slot=self.slot)

    def trailers(self) -> dict[str, str]:
        return {md.MODEL_VERSION: f"{self.model}/{self.version}", md.FILING_ID: self.filing_id}


def filing_id(version: DeployedVersion) -> str:
    """The id in ``filings/{id}`` (what ModelRef and the trailers carry)."""
    return version.filing.rsplit("/", 1)[-1]


def artifact_digests(version: DeployedVersion) -> tuple[ArtifactDigest, ...]:
    return tuple(ArtifactDigest(a.path, a.sha256, a.size_bytes) for a in version.artifacts)


def artifacts_sha256(artifacts: Iterable[ArtifactDigest]) -> str:
    """One digest over a version's pinned files (path and hash of each), for display."""
    digest = hashlib.sha256()
    for artifact in sorted(artifacts, key=lambda a: a.path):
        digest.update(f"{artifact.path}\0{artifact.sha256}\n".encode())
    return digest.hexdigest()


def model_name(deployment: Deployment) -> str:
    return deployment.model or deployment.name.rsplit("/", 1)[-1]


def _present(deployment: Deployment, slot: str) -> DeployedVersion | None:
    if not deployment.HasField(slot):
        return None
    version: DeployedVersion = getattr(deployment, slot)
    return version if version.version else None


def _error_metadata(deployment: Deployment, version: DeployedVersion | None) -> dict[str, str]:
    found = {"model": model_name(deployment)}
    if version is not None:
        found.update(version=version.version, filing=filing_id(version))
    return found


def _describe(deployment: Deployment, version: DeployedVersion) -> str:
    filing = version.filing_number or filing_id(version)
    return f"{model_name(deployment)} version {version.version} (filing {filing})"


def describe(deployment: Deployment | None) -> str:
    """One line for logs: state and what sits in each slot."""
    if deployment is None:
        return "not deployed"
    parts = [registry_pb.DeploymentState.Name(deployment.state).removeprefix(
        "DEPLOYMENT_STATE_").lower()]
    for slot in ("production", "canary", "previous"):
        version = _present(deployment, slot)
        if version is not None:
            state = registry_pb.FilingState.Name(version.filing_state).removeprefix(
                "FILING_STATE_").lower()
            weight = f" at {deployment.canary_weight_percent}%" if slot == "canary" else ""
            parts.append(f"{slot} {version.version} ({version.filing_number or version.filing},"
                         f" {state}){weight}")
    return ", ".join(parts)


def version_refusal(deployment: Deployment, version: DeployedVersion, *, network_domain: int,
                    now: float) -> ZhijianError | None:
    """Why ``version`` may not serve in ``network_domain`` at ``now``, or None.

    The revalidation date is checked here as well as through the filing state, so that an
    approval lapses on time even if the registry's EXPIRED push never arrives.
    """
    meta = _error_metadata(deployment, version)
    what = _describe(deployment, version)
    state = version.filing_state
    if state == registry_pb.FILING_STATE_SUSPENDED:
        return FailedPrecondition(f"{what} is suspended", reason=MODEL_SUSPENDED, metadata=meta)
    if state == registry_pb.FILING_STATE_EXPIRED or _expired(version, now):
        return FailedPrecondition(f"{what} is past its revalidation date",
                                  reason=MODEL_EXPIRED, metadata=meta)
    if state != registry_pb.FILING_STATE_APPROVED:
        return FailedPrecondition(
            f"{what} is not approved (filing state {registry_pb.FilingState.Name(state)})",
            reason=MODEL_NOT_APPROVED, metadata=meta)
    if network_domain not in version.network_domains or \
            network_domain not in deployment.network_domains:
        return PermissionDenied(f"{what} is not authorized for the "
                                f"{network_domain_name(network_domain)} network domain",
                                reason=MODEL_NOT_AUTHORIZED_FOR_DOMAIN, metadata=meta)
    return None


def _expired(version: DeployedVersion, now: float) -> bool:
    if not version.HasField("revalidate_time"):
        return False  # no date to check locally; the filing state is authoritative
    revalidate = version.revalidate_time.seconds + version.revalidate_time.nanos / 1e9
    return revalidate <= now


def canary_roll(routing_key: str | None) -> int:
    """0-99: a call goes to the canary if this is below the canary weight. Deterministic
    per routing key, so a retried request lands on the same version."""
    if routing_key is None:
        return random.randrange(100)
    return int.from_bytes(hashlib.sha256(routing_key.encode()).digest()[:8], "big") % 100


def _selected(deployment: Deployment, version: DeployedVersion,
              slot: types_pb.ServingSlot) -> Selected:
    return Selected(model=model_name(deployment), version=version.version,
                    filing_id=filing_id(version), filing_number=version.filing_number,
                    max_data_level=version.max_data_level, artifacts=artifact_digests(version),
                    slot=slot)


def _production_or_fallback(deployment: Deployment, *, network_domain: int,
                            now: float) -> Selected:
    production = _present(deployment, "production")
    if production is None:
        raise FailedPrecondition(f"{model_name(deployment)} has no production version",
                                 reason=MODEL_NOT_DEPLOYED,
                                 metadata=_error_metadata(deployment, None))
    refusal = version_refusal(deployment, production, network_domain=network_domain, now=now)
    if refusal is None:
        return _selected(deployment, production, types_pb.SERVING_SLOT_PRODUCTION)
    previous = _present(deployment, "previous")
    if deployment.fallback_to_last_approved and previous is not None \
            and refusal.reason in _STATE_REASONS \
            and version_refusal(deployment, previous, network_domain=network_domain,
                                now=now) is None:
        return _selected(deployment, previous, types_pb.SERVING_SLOT_FALLBACK)
    raise refusal


def select_version(deployment: Deployment | None, *, network_domain: int, now: float,
                   routing_key: str | None = None) -> Selected:
    """The version that serves a call, or the refusal as a canonical error."""
    if deployment is None:
        raise FailedPrecondition("the model is not deployed", reason=MODEL_NOT_DEPLOYED)
    if deployment.state == registry_pb.DEPLOYMENT_STATE_SUSPENDED:
        reason = f": {deployment.suspend_reason}" if deployment.suspend_reason else ""
        raise FailedPrecondition(f"the deployment of {model_name(deployment)} is suspended"
                                 + reason, reason=MODEL_SUSPENDED,
                                 metadata=_error_metadata(deployment,
                                                          _present(deployment, "production")))
    canary = _present(deployment, "canary")
    if canary is not None and canary_roll(routing_key) < deployment.canary_weight_percent \
            and version_refusal(deployment, canary, network_domain=network_domain,
                                now=now) is None:
        return _selected(deployment, canary, types_pb.SERVING_SLOT_CANARY)
    # A canary that may not serve takes none of the traffic: production answers instead.
    return _production_or_fallback(deployment, network_domain=network_domain, now=now)


def servable_versions(deployment: Deployment | None, *, network_domain: int,
                      now: float) -> dict[str, DeployedVersion]:
    """Every version :func:`select_version` could return now, by version: what a model
    server may answer with (it is the last line of defence, whatever a caller asks)."""
    if deployment is None or deployment.state == registry_pb.DEPLOYMENT_STATE_SUSPENDED:
        return {}
    found: dict[str, DeployedVersion] = {}
    try:
        chosen = _production_or_fallback(deployment, network_domain=network_domain, now=now)
        found[chosen.version] = _slot_version(deployment, chosen.slot)
    except ZhijianError:
        pass
    canary = _present(deployment, "canary")
    if canary is not None and deployment.canary_weight_percent > 0 and version_refusal(
            deployment, canary, network_domain=network_domain, now=now) is None:
        found[canary.version] = canary
    return found


def _slot_version(deployment: Deployment, slot: types_pb.ServingSlot) -> DeployedVersion:
    return deployment.previous if slot == types_pb.SERVING_SLOT_FALLBACK else \
        deployment.production


def loadable_versions(deployment: Deployment | None, *, network_domain: int,
                      now: float) -> dict[str, DeployedVersion]:
    """Versions a model server should hold in memory: production, canary (whatever its
    weight, so ramping it up is instant) and, with fallback on, previous, each only if its
    filing is approved, unexpired and authorized for the domain. A suspended deployment
    keeps its versions loaded so that resuming it is instant; it serves none of them."""
    if deployment is None:
        return {}
    slots = ["production", "canary"] + (["previous"] if deployment.fallback_to_last_approved
                                        else [])
    found: dict[str, DeployedVersion] = {}
    for slot in slots:
        version = _present(deployment, slot)
        if version is not None and version_refusal(
                deployment, version, network_domain=network_domain, now=now) is None:
            found.setdefault(version.version, version)
    return found


def servable_anywhere(deployment: Deployment | None, *,
                      now: float) -> dict[str, DeployedVersion]:
    """:func:`servable_versions` of every network domain together: what a model server
    shared by all of them may answer with."""
    found: dict[str, DeployedVersion] = {}
    for domain in NETWORK_DOMAINS.values():
        found.update(servable_versions(deployment, network_domain=domain, now=now))
    return found


def loadable_anywhere(deployment: Deployment | None, *,
                      now: float) -> dict[str, DeployedVersion]:
    """:func:`loadable_versions` of every network domain together."""
    found: dict[str, DeployedVersion] = {}
    for domain in NETWORK_DOMAINS.values():
        found.update(loadable_versions(deployment, network_domain=domain, now=now))
    return found
