"""What a complete filing is, how its risk tier follows from its classification, and the
hashes that freeze evidence. Pure functions over the protobuf messages."""

from __future__ import annotations

import hashlib
import re
from typing import TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message

from registry.validation.evaluators import UnknownTaskType, evaluator_for
from zhijian.errors import FieldViolation
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{2,62}\Z")  # \Z: "$" lets a final newline in
SUBJECT_PATTERN = re.compile(r"^(user|svc):[a-z0-9][a-z0-9._-]{0,62}\Z")


def to_json(message: Message) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None,
                                     sort_keys=True)


M = TypeVar("M", bound=Message)


def from_json(message_class: type[M], text: str) -> M:
    return json_format.Parse(text, message_class(), ignore_unknown_fields=False)


def message_sha256(message: Message) -> str:
    """Hash of a message's deterministic binary form: the same content, the same hash."""
    return hashlib.sha256(message.SerializeToString(deterministic=True)).hexdigest()


def evidence_sha256(filing: pb.Filing) -> str:
    """The evidence frozen at submission: identity (with artifact hashes), datasets as
    snapshotted, validation plan and classification."""
    frozen = pb.Filing(identity=filing.identity, datasets=filing.datasets,
                       validation_plan=filing.validation_plan,
                       classification=filing.classification)
    return message_sha256(frozen)


def run_record_sha256(run: pb.ValidationRun) -> str:
    """Hash approvals link to: the run's results, without the hash field itself."""
    copy = pb.ValidationRun()
    copy.CopyFrom(run)
    copy.ClearField("record_sha256")
    return message_sha256(copy)


_SCORE = {pb.IMPACT_LEVEL_LOW: 1, pb.IMPACT_LEVEL_MEDIUM: 2, pb.IMPACT_LEVEL_HIGH: 3}


def risk_tier(influence: int, consequence: int) -> int:
    """Model risk = model influence × decision consequence (FDA 2025 draft on AI
    credibility): 6-9 high, 3-4 medium, 1-2 low."""
    score = _SCORE.get(influence, 0) * _SCORE.get(consequence, 0)  # type: ignore[call-overload]
    if score >= 6:
        return pb.RISK_TIER_HIGH
    if score >= 3:
        return pb.RISK_TIER_MEDIUM
    return pb.RISK_TIER_LOW


def effective_risk_tier(classification: pb.Classification) -> int:
    """The computed tier, or the declared one if higher: a submitter may only raise it."""
    computed = risk_tier(classification.model_influence, classification.decision_consequence)
    return max(computed, classification.risk_tier)


def required_approvals(tier: int) -> int:
    return 2 if tier == pb.RISK_TIER_HIGH else 1


def _need(violations: list[FieldViolation], ok: bool, field: str, description: str) -> None:
    if not ok:
        violations.append(FieldViolation(field, description, "FILING_FIELD_REQUIRED"))


def identity_violations(filing: pb.Filing) -> list[FieldViolation]:
    """What CreateFiling needs before anything else: which model version it is about."""
    violations: list[FieldViolation] = []
    _need(violations, bool(filing.identity.model.strip()), "identity.model", "is required")
    _need(violations, filing.identity.version.strip().isdigit(), "identity.version",
          "must name a registered version (a number)")
    _need(violations, filing.filing_type != pb.FILING_TYPE_UNSPECIFIED, "filing_type",
          "is required")
    return violations


def submission_violations(filing: pb.Filing) -> list[FieldViolation]:
    """Every mandatory field of the ten groups of GOVERNANCE.md; checked at submission."""
    v: list[FieldViolation] = identity_violations(filing)
    parties, purpose = filing.parties, filing.purpose
    _need(v, bool(parties.provider_organization.strip()), "parties.provider_organization",
          "is required")
    for field in ("business_owner", "security_officer"):
        value = getattr(parties, field)
        _need(v, bool(SUBJECT_PATTERN.match(value)), f"parties.{field}",
              "must be a named identity such as user:li.si")
    _need(v, len(parties.developers) > 0, "parties.developers", "must name the developers")
    for i, developer in enumerate(parties.developers):
        _need(v, bool(SUBJECT_PATTERN.match(developer)), f"parties.developers[{i}]",
              "must be a named identity such as user:li.si")
    for field in ("intended_use", "context_of_use", "business_scenario", "algorithm_type",
                  "task"):
        _need(v, bool(getattr(purpose, field).strip()), f"purpose.{field}", "is required")
    _need(v, purpose.role == pb.MODEL_ROLE_ASSISTIVE, "purpose.role",
          "must be ASSISTIVE: only assistive models may be filed")
    _need(v, len(purpose.prohibited_decisions) > 0, "purpose.prohibited_decisions",
          "must list the decisions the model must not make")
    _need(v, len(purpose.users) > 0, "purpose.users", "must name the intended users")
    c = filing.classification
    _need(v, c.model_influence != pb.IMPACT_LEVEL_UNSPECIFIED,
          "classification.model_influence", "is required")
    _need(v, c.decision_consequence != pb.IMPACT_LEVEL_UNSPECIFIED,
          "classification.decision_consequence", "is required")
    _need(v, bool(c.rationale.strip()), "classification.rationale", "is required")
    _need(v, c.max_data_level != types_pb.DATA_LEVEL_UNSPECIFIED,
          "classification.max_data_level", "is required")
    _need(v, len(c.network_domains) > 0, "classification.network_domains",
          "must name at least one network domain")
    t = filing.technical_description
    for field in ("mechanism", "architecture"):
        _need(v, bool(getattr(t, field).strip()), f"technical_description.{field}",
              "is required")
    _need(v, len(filing.datasets) > 0, "datasets", "must list the datasets")
    purposes = {d.purpose for d in filing.datasets}
    _need(v, pb.DATASET_PURPOSE_TRAINING in purposes, "datasets",
          "must include the training data")
    _need(v, pb.DATASET_PURPOSE_TEST in purposes, "datasets",
          "must include a held-out test dataset")
    for i, use in enumerate(filing.datasets):
        _need(v, use.dataset.startswith("datasets/"), f"datasets[{i}].dataset",
              "must name a registered dataset (datasets/…)")
        _need(v, use.purpose != pb.DATASET_PURPOSE_UNSPECIFIED, f"datasets[{i}].purpose",
              "is required")
    v.extend(plan_violations(filing.validation_plan))
    o = filing.oversight
    _need(v, len(o.review_points) > 0, "oversight.review_points",
          "must name the mandatory human review points")
    _need(v, len(o.stop_authorities) > 0, "oversight.stop_authorities",
          "must name who may stop the model")
    _need(v, bool(o.output_label.strip()), "oversight.output_label",
          "must give the label that marks output as AI output")
    return v


def plan_violations(plan: pb.ValidationPlan) -> list[FieldViolation]:
    """What is wrong with a plan, by the evaluator of its task type: the metrics and
    perturbations it may name are those the evaluator declares."""
    v: list[FieldViolation] = []
    try:
        evaluator = evaluator_for(plan.task_type)
    except UnknownTaskType as error:
        v.append(FieldViolation("validation_plan.task_type", str(error), "UNKNOWN_TASK_TYPE"))
        return v
    metrics = ", ".join(sorted(evaluator.metrics))
    _need(v, len(plan.metrics) > 0, "validation_plan.metrics",
          "must declare metrics and thresholds before validation")
    for i, metric in enumerate(plan.metrics):
        prefix = f"validation_plan.metrics[{i}]"
        _need(v, metric.metric in evaluator.metrics, f"{prefix}.metric",
              f"must be one of {metrics} (the {evaluator.task_type} evaluator's metrics)")
        _need(v, bool(metric.target.strip()), f"{prefix}.target", "is required")
        _need(v, metric.comparison != pb.COMPARISON_UNSPECIFIED, f"{prefix}.comparison",
              "is required")
        _need(v, 0.0 <= metric.threshold <= 1.0, f"{prefix}.threshold", "must be within 0-1")
    budget = plan.latency_budget_p95
    _need(v, budget.seconds > 0 or budget.nanos > 0, "validation_plan.latency_budget_p95",
          "is required")
    _need(v, plan.revalidation_interval.seconds > 0, "validation_plan.revalidation_interval",
          "is required")
    _need(v, 0.0 <= plan.confidence_level < 1.0, "validation_plan.confidence_level",
          "must be below 1 (0 means 0.95)")
    if plan.HasField("robustness"):
        r = plan.robustness
        _need(v, len(r.perturbations) > 0, "validation_plan.robustness.perturbations",
              "must name at least one perturbation")
        known = ", ".join(evaluator.perturbations) or "none"
        v.extend(FieldViolation(f"validation_plan.robustness.perturbations[{i}]",
                                f"unknown perturbation {name!r}; the {evaluator.task_type} "
                                f"evaluator knows: {known}", "UNKNOWN_PERTURBATION")
                 for i, name in enumerate(r.perturbations)
                 if name not in evaluator.perturbations)
        _need(v, bool(r.target.strip()), "validation_plan.robustness.target", "is required")
        _need(v, 0.0 < r.min_stability <= 1.0, "validation_plan.robustness.min_stability",
              "must be within (0, 1]")
    return v
