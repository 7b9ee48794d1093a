"""Terminal rendering of registry records: filings, validation runs, deployments, audit
events and ledger verification.

Pure functions from messages to text, so that what an admin reads before signing is
unit-tested without a registry. Hashes are shortened to a prefix that is enough to
compare by eye; the full values are in every command's ``--json`` output.
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

from google.protobuf import duration_pb2, json_format, struct_pb2, timestamp_pb2
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

HASH_CHARS = 12
DUE_MARKER = "⚠ revalidation due"
NONE = "-"
SHOWN_ARTIFACTS = 3
DETAILS_CHARS = 100
SIGNATURE_CHARS = 160
DEFAULT_CONFIDENCE = 0.95


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------

def short_hash(value: str, chars: int = HASH_CHARS) -> str:
    if not value:
        return NONE
    return value if len(value) <= chars else value[:chars] + "…"


def _looks_like_digest(value: str) -> bool:
    # SHA-256s (64) and Ed25519 signatures (128) in hex; shorter hex strings such as
    # MLflow run ids stay whole because admins search for them.
    return len(value) >= 64 and all(c in "0123456789abcdef" for c in value)


def is_set(stamp: timestamp_pb2.Timestamp) -> bool:
    return stamp.seconds != 0 or stamp.nanos != 0


def when(stamp: timestamp_pb2.Timestamp) -> str:
    return f"{stamp.ToDatetime(tzinfo=UTC):%Y-%m-%d %H:%M} UTC" if is_set(stamp) else NONE


def day(stamp: timestamp_pb2.Timestamp) -> str:
    return f"{stamp.ToDatetime(tzinfo=UTC):%Y-%m-%d}" if is_set(stamp) else NONE


def millis(duration: duration_pb2.Duration) -> str:
    return f"{duration.ToNanoseconds() / 1e6:.1f} ms"


def days(duration: duration_pb2.Duration) -> str:
    return f"{duration.ToNanoseconds() / 1e9 / 86400:g} days"


def _label(enum: EnumTypeWrapper, value: int, prefix: str) -> str:
    try:
        name = enum.Name(value)
    except ValueError:  # a newer registry may send values this CLI does not know yet
        return str(value)
    return NONE if name.endswith("_UNSPECIFIED") else name.removeprefix(prefix)


def filing_state(value: int) -> str:
    return _label(pb.FilingState, value, "FILING_STATE_")


def risk_tier(value: int) -> str:
    return _label(pb.RiskTier, value, "RISK_TIER_")


def data_level(value: int) -> str:
    """``DATA_LEVEL_L3_IMPORTANT`` -> ``L3 (important)``."""
    label = _label(types_pb.DataLevel, value, "DATA_LEVEL_")
    code, _, meaning = label.partition("_")
    return f"{code} ({meaning.lower()})" if meaning else label


def domains(values: Iterable[int]) -> str:
    names = [_label(types_pb.NetworkDomain, v, "NETWORK_DOMAIN_").lower() for v in values]
    return ", ".join(names) or NONE


def _or_none(value: object) -> str:
    return NONE if value in ("", None) else str(value)


def _number(value: float) -> str:
    return f"{value:.3f}"


# ---------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------

def display_width(text: str) -> int:
    """Columns a terminal uses: CJK characters (filing texts are often Chinese) take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [list(header), *(list(row) for row in rows)]
    widths = [max(display_width(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(_pad(cell, width) for cell, width in zip(line, widths, strict=True))
                     .rstrip() for line in lines)


def _indent(text: str, prefix: str = "  ") -> list[str]:
    return [prefix + line if line else line for line in text.splitlines()]


def _section(title: str, lines: Sequence[str]) -> list[str]:
    return ["", title, *_indent("\n".join(lines or [NONE]))]


def _field(label: str, value: object) -> str:
    return f"{label}: {_or_none(value)}"


def _items(label: str, values: Sequence[str]) -> list[str]:
    if not values:
        return [f"{label}: {NONE}"]
    return [f"{label}:", *(f"  - {value}" for value in values)]


# ---------------------------------------------------------------------------------------
# Filings
# ---------------------------------------------------------------------------------------

def filing_id(name: str) -> str:
    return name.removeprefix("filings/")


def _model_version(identity: pb.ModelIdentity) -> str:
    return f"{identity.model} v{identity.version}" if identity.model else NONE


def filing_headline(filing: pb.Filing) -> str:
    """One line naming a filing and its state, for the result of an action."""
    line = (f"{filing.name} {filing.filing_number or ''} {_model_version(filing.identity)}: "
            f"{filing_state(filing.state)}")
    return f"{line}  {DUE_MARKER}" if filing.revalidation_due else line


def render_filing_table(filings: Sequence[pb.Filing]) -> str:
    if not filings:
        return "no filings match"
    rows = [(filing_id(f.name), f.filing_number, _model_version(f.identity),
             filing_state(f.state), risk_tier(f.classification.risk_tier),
             _or_none(f.parties.submitter), day(f.revalidate_time),
             DUE_MARKER if f.revalidation_due else "") for f in filings]
    header = ("FILING", "NUMBER", "MODEL/VERSION", "STATE", "RISK", "SUBMITTER",
              "REVALIDATE", "")
    return table(header, rows)


def _distinct_approvers(approvals: Iterable[pb.Approval]) -> int:
    return len({approval.approver for approval in approvals})


def _pending_renewals(filing: pb.Filing) -> list[pb.Approval]:
    # A completed renewal moves approve_time to (or past) its last signature, so renewal
    # signatures newer than approve_time belong to a round still collecting approvals.
    since = filing.approve_time.ToNanoseconds()
    return [a for a in filing.approvals if a.decision == pb.APPROVAL_DECISION_RENEW
            and a.approve_time.ToNanoseconds() > since]


def approval_progress(filing: pb.Filing) -> str:
    """Where the filing stands on its approvals: ``1 of 2 approvals`` while it still waits
    for a second approver of a high-risk filing."""
    required = filing.required_approvals or 1
    pending = _pending_renewals(filing)
    if pending:
        return (f"renewal: {_distinct_approvers(pending)} of {required} approvals; the "
                f"revalidation date stays {day(filing.revalidate_time)} until complete")
    if filing.state == pb.FILING_STATE_VALIDATED:
        count = _distinct_approvers(a for a in filing.approvals
                                    if a.decision == pb.APPROVAL_DECISION_APPROVE)
        return f"{count} of {required} approvals" + (
            "; another approver must sign" if 0 < count < required else "")
    if filing.state == pb.FILING_STATE_APPROVED:
        return (f"approved ({required} of {required} approvals), revalidate by "
                f"{day(filing.revalidate_time)}")
    return filing_state(filing.state)


def _header(filing: pb.Filing) -> list[str]:
    due = f"  {DUE_MARKER}" if filing.revalidation_due else ""
    return [
        f"Filing {filing.filing_number or NONE}  ({filing.name})",
        f"  type {_label(pb.FilingType, filing.filing_type, 'FILING_TYPE_')} · state "
        f"{filing_state(filing.state)} · risk tier {risk_tier(filing.classification.risk_tier)}"
        f" · {approval_progress(filing)}",
        f"  created {when(filing.create_time)} · submitted {when(filing.submit_time)} · "
        f"approved {when(filing.approve_time)}",
        f"  revalidate by {day(filing.revalidate_time)}{due}",
        f"  evidence sha256 {short_hash(filing.evidence_sha256)} · etag "
        f"{_or_none(filing.etag)}",
    ]


def _artifact_lines(artifacts: Sequence[pb.Artifact]) -> list[str]:
    lines = [f"artifacts: {len(artifacts)} file(s)"]
    lines += [f"  {a.path}  sha256 {short_hash(a.sha256)}  {a.size_bytes:,} bytes"
              for a in artifacts[:SHOWN_ARTIFACTS]]
    if len(artifacts) > SHOWN_ARTIFACTS:
        lines.append(f"  … and {len(artifacts) - SHOWN_ARTIFACTS} more (--json lists all)")
    return lines


def _identity_section(filing: pb.Filing) -> list[str]:
    identity = filing.identity
    return _section("1. Identity", [
        _field("model", identity.model), _field("version", identity.version),
        _field("model uri", identity.model_uri), _field("mlflow run", identity.mlflow_run_id),
        _field("code revision", filing.code_revision),
        _field("supersedes", identity.supersedes), *_artifact_lines(identity.artifacts)])


def _parties_section(parties: pb.Parties) -> list[str]:
    return _section("2. Responsible parties", [
        _field("provider organization", parties.provider_organization),
        _field("submitter", parties.submitter),
        _field("business owner", parties.business_owner),
        _field("security officer", parties.security_officer),
        _field("developers", ", ".join(parties.developers)),
        _field("validators", ", ".join(parties.validators)),
        _field("approvers", ", ".join(parties.approvers))])


def _purpose_section(purpose: pb.Purpose) -> list[str]:
    return _section("3. Purpose and functional boundary", [
        _field("intended use", purpose.intended_use),
        _field("context of use", purpose.context_of_use),
        _field("role", _label(pb.ModelRole, purpose.role, "MODEL_ROLE_")),
        _field("task", purpose.task), _field("business scenario", purpose.business_scenario),
        _field("algorithm type", purpose.algorithm_type),
        _field("users", ", ".join(purpose.users)),
        *_items("prohibited decisions", purpose.prohibited_decisions),
        *_items("out of scope", purpose.out_of_scope_uses)])


def _classification_section(classification: pb.Classification) -> list[str]:
    return _section("4. Risk and data classification", [
        _field("risk tier", risk_tier(classification.risk_tier)),
        _field("model influence", _label(pb.ImpactLevel, classification.model_influence,
                                         "IMPACT_LEVEL_")),
        _field("decision consequence", _label(pb.ImpactLevel,
                                              classification.decision_consequence,
                                              "IMPACT_LEVEL_")),
        _field("rationale", classification.rationale),
        _field("max data level", data_level(classification.max_data_level)),
        _field("network domains", domains(classification.network_domains))])


def _compact_signature(text: str) -> str:
    # Malformed JSON is shown as given: it is evidence either way.
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= SIGNATURE_CHARS else text[:SIGNATURE_CHARS] + "…"


def _technical_section(technical: pb.TechnicalDescription) -> list[str]:
    return _section("5. Technical description", [
        _field("mechanism", technical.mechanism),
        _field("architecture", technical.architecture),
        _field("signature", _compact_signature(technical.signature_json)
               if technical.signature_json else ""),
        _field("dependencies", ", ".join(f"{d.name}=={d.version}"
                                         for d in technical.dependencies)),
        *_items("guardrails", technical.guardrails)])


def _dataset_lines(use: pb.DatasetUse) -> list[str]:
    snapshot = use.snapshot
    purpose = _label(pb.DatasetPurpose, use.purpose, "DATASET_PURPOSE_")
    head = f"{purpose}  {use.dataset}"
    if not snapshot.sha256:  # a DRAFT filing: the snapshot is taken at submission
        return [f"{head}  (not frozen until submission)"]
    return [f'{head}  "{snapshot.display_name}"  sha256 {short_hash(snapshot.sha256)}  '
            f"{snapshot.record_count:,} records  {data_level(snapshot.data_level)}",
            f"  source: {_or_none(snapshot.source)} · legal basis: "
            f"{_or_none(snapshot.legal_basis)}"]


def _datasets_section(datasets: Sequence[pb.DatasetUse]) -> list[str]:
    return _section("6. Datasets", [line for use in datasets for line in _dataset_lines(use)])


_COMPARISONS: dict[int, str] = {pb.COMPARISON_GREATER_OR_EQUAL: ">=",
                                pb.COMPARISON_LESS_OR_EQUAL: "<="}


def comparison(value: int) -> str:
    return _COMPARISONS.get(value, "?")


def threshold_text(threshold: pb.MetricThreshold) -> str:
    bound = " (confidence bound)" if threshold.use_confidence_bound else ""
    return f"{comparison(threshold.comparison)} {_number(threshold.threshold)}{bound}"


def _threshold_line(threshold: pb.MetricThreshold) -> str:
    subgroup = threshold.subgroup or "all records"
    return f"{threshold.metric} on {threshold.target} ({subgroup}) {threshold_text(threshold)}"


def _plan_section(filing: pb.Filing) -> list[str]:
    plan = filing.validation_plan
    lines = ["thresholds:", *(f"  - {_threshold_line(m)}" for m in plan.metrics)]
    if not plan.metrics:
        lines = [f"thresholds: {NONE}"]
    lines.append(_field("report subgroups", ", ".join(plan.subgroups)))
    if plan.HasField("robustness"):
        robustness = plan.robustness
        lines.append(f"robustness: {', '.join(robustness.perturbations)} on "
                     f"{robustness.target}, stability >= {_number(robustness.min_stability)}")
    lines += [
        _field("latency budget p95", millis(plan.latency_budget_p95)),
        _field("confidence level", f"{plan.confidence_level or DEFAULT_CONFIDENCE:g}"),
        _field("revalidation interval", days(plan.revalidation_interval)),
        _field("latest passed run", filing.latest_validation_run)]
    return _section("7. Validation plan", lines)


def _oversight_section(oversight: pb.Oversight) -> list[str]:
    return _section("8. Human oversight", [
        *_items("review points", oversight.review_points),
        _field("stop authorities", ", ".join(oversight.stop_authorities)),
        _field("output label", oversight.output_label)])


def _change_control_section(change: pb.ChangeControl) -> list[str]:
    log = [f"{day(entry.change_time)}  "
           f"{_label(pb.ChangeClass, entry.change_class, 'CHANGE_CLASS_')}  "
           f"{entry.description}  (classified by {_or_none(entry.approver)})"
           for entry in change.change_log]
    return _section("9. Change control", [
        *_items("pre-authorized changes", change.pre_authorized_changes),
        *_items("change log", log)])


def _approval_lines(approval: pb.Approval) -> list[str]:
    decision = _label(pb.ApprovalDecision, approval.decision, "APPROVAL_DECISION_")
    lines = [f"{when(approval.approve_time)}  {decision}  by {approval.approver}  key "
             f"{short_hash(approval.key_id)}"]
    if approval.validation_run:
        lines.append(f"  run {approval.validation_run} (sha256 "
                     f"{short_hash(approval.validation_run_sha256)})")
    lines += [f"  condition: {condition}" for condition in approval.conditions]
    if approval.reason:
        lines.append(f"  reason: {approval.reason}")
    return lines


def _approvals_section(filing: pb.Filing) -> list[str]:
    lines = [line for approval in filing.approvals for line in _approval_lines(approval)]
    return _section(f"10. Approvals ({approval_progress(filing)})", lines)


def _from_state(value: int) -> str:
    return "created" if value == pb.FILING_STATE_UNSPECIFIED else filing_state(value)


def _history_section(history: Sequence[pb.StateChange]) -> list[str]:
    rows = [(when(change.change_time),
             f"{_from_state(change.from_state)} → {filing_state(change.to_state)}",
             change.actor, change.reason) for change in history]
    return _section("State history", table(("TIME", "CHANGE", "ACTOR", "REASON"), rows)
                    .splitlines() if rows else [])


def render_filing(filing: pb.Filing) -> str:
    """Every group of the filing record, then its state history."""
    lines = [*_header(filing), *_identity_section(filing), *_parties_section(filing.parties),
             *_purpose_section(filing.purpose),
             *_classification_section(filing.classification),
             *_technical_section(filing.technical_description),
             *_datasets_section(filing.datasets), *_plan_section(filing),
             *_oversight_section(filing.oversight),
             *_change_control_section(filing.change_control), *_approvals_section(filing),
             *_history_section(filing.state_history)]
    return "\n".join(lines)


def render_review_stats(stats: Sequence[pb.ReviewStats]) -> list[str]:
    """How reviewers treated the version's drafts: nearly all accepted may mean nobody
    reviews (automation bias)."""
    if not stats:
        return ["Human reviews: none recorded yet"]
    lines = ["Human reviews"]
    for s in stats:
        lines.append(f"  version {s.model.version}: {s.total} reviewed; accepted {s.accepted} "
                     f"({s.accept_rate:.0%}), modified {s.modified} ({s.modify_rate:.0%}), "
                     f"rejected {s.rejected} ({s.reject_rate:.0%}); last "
                     f"{when(s.last_review_time)}")
    return lines


def render_filing_show(filing: pb.Filing, runs: Sequence[pb.ValidationRun],
                       review_stats: Sequence[pb.ReviewStats] = ()) -> str:
    """``filing show``: the filing, its human-review counts, then its newest validation
    run (runs come newest first, as ListValidationRuns returns them)."""
    parts = [render_filing(filing), "", *render_review_stats(review_stats), ""]
    if not runs:
        parts.append("Latest validation run: none yet")
    else:
        latest = runs[0]
        earlier = f" ({len(runs) - 1} earlier on this page)" if len(runs) > 1 else ""
        parts += [f"Latest validation run{earlier}",
                  *_indent(render_validation_run(latest, filing.validation_plan,
                                                 report=False))]
        if latest.state == pb.VALIDATION_RUN_STATE_SUCCEEDED:
            parts += render_report(latest)
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------
# Validation runs
# ---------------------------------------------------------------------------------------

def run_verdict(run: pb.ValidationRun) -> str:
    if run.state == pb.VALIDATION_RUN_STATE_RUNNING:
        return f"RUNNING since {when(run.create_time)}"
    if run.state == pb.VALIDATION_RUN_STATE_FAILED:
        return f"FAILED: the runner could not evaluate ({_or_none(run.error)})"
    conclusion = _label(pb.ValidationConclusion, run.conclusion, "VALIDATION_CONCLUSION_")
    return f"{'PASSED' if run.passed else 'NOT PASSED'} ({conclusion})"


def _thresholds(plan: pb.ValidationPlan | None) -> dict[tuple[str, str, str], str]:
    if plan is None:
        return {}
    return {(m.metric, m.target, m.subgroup): threshold_text(m) for m in plan.metrics}


def _metric_result_cell(result: pb.MetricResult) -> str:
    if not result.planned:
        return "report only"
    return "pass" if result.passed else "FAIL"


def _metrics_table(run: pb.ValidationRun, plan: pb.ValidationPlan | None) -> list[str]:
    if not run.metric_results:
        return []
    thresholds = _thresholds(plan)
    level = (plan.confidence_level if plan is not None else 0) or DEFAULT_CONFIDENCE
    rows = [(r.metric, r.target, r.subgroup or "all", _number(r.value),
             f"[{_number(r.ci_lower)}, {_number(r.ci_upper)}]", f"{r.sample_size:,}",
             thresholds.get((r.metric, r.target, r.subgroup), NONE),
             _metric_result_cell(r)) for r in run.metric_results]
    header = ("METRIC", "TARGET", "SUBGROUP", "VALUE", f"{level:.0%} CI", "N", "THRESHOLD",
              "RESULT")
    return ["", "Metrics", *_indent(table(header, rows))]


def _robustness_lines(run: pb.ValidationRun, plan: pb.ValidationPlan | None) -> list[str]:
    if not run.robustness_results:
        return []
    rows = [(check.check, _number(check.value), f"{check.sample_size:,}",
             "pass" if check.passed else "FAIL") for check in run.robustness_results]
    minimum = (f" (minimum {_number(plan.robustness.min_stability)})"
               if plan is not None and plan.HasField("robustness") else "")
    return ["", f"Robustness: overall prediction stability "
            f"{_number(run.prediction_stability)}{minimum}",
            *_indent(table(("PERTURBATION", "STABILITY", "N", "RESULT"), rows))]


def _latency_line(run: pb.ValidationRun, plan: pb.ValidationPlan | None) -> str:
    line = f"Latency: p50 {millis(run.latency_p50)}, p95 {millis(run.latency_p95)}"
    if plan is None or not plan.HasField("latency_budget_p95"):
        return line
    within = run.latency_p95.ToNanoseconds() <= plan.latency_budget_p95.ToNanoseconds()
    return (f"{line} vs budget {millis(plan.latency_budget_p95)}: "
            f"{'within budget' if within else 'OVER BUDGET'}")


def _overlap_line(run: pb.ValidationRun) -> str:
    count = run.train_test_overlap_records
    return (f"Train/test overlap: {count:,} test record(s) also in training, validation or "
            f"fine-tuning data: {'ok' if count == 0 else 'FAIL'}")


def render_report(run: pb.ValidationRun) -> list[str]:
    """The run's Markdown report under a heading, never indented or reflowed: it is
    evidence and must read exactly as it was recorded."""
    source = f"{_or_none(run.report_uri)}, sha256 {short_hash(run.report_sha256)}"
    if not run.report_markdown:
        return ["", f"Validation report: none attached ({source})"]
    return ["", f"Validation report ({source})", "", run.report_markdown.rstrip("\n")]


def render_validation_run(run: pb.ValidationRun, plan: pb.ValidationPlan | None = None,
                          *, report: bool = True) -> str:
    """A run with its verdict, the measurements against the plan's thresholds (when the
    filing's plan is given), and (with ``report``) its Markdown report."""
    lines = [
        f"{run.name}: {run_verdict(run)}",
        f"validator {_or_none(run.validator)} · started {when(run.create_time)} · "
        f"completed {when(run.complete_time)}",
        f"record sha256 {short_hash(run.record_sha256)} · evidence sha256 "
        f"{short_hash(run.evidence_sha256)} · test dataset sha256 "
        f"{short_hash(run.test_dataset_sha256)}",
        f"next revalidation {day(run.next_revalidation_time)} · mlflow run "
        f"{_or_none(run.mlflow_run_id)}"]
    if run.state != pb.VALIDATION_RUN_STATE_SUCCEEDED:
        return "\n".join([*lines, *_items("limitations", run.limitations)])
    lines += [*_metrics_table(run, plan), *_robustness_lines(run, plan), "",
              _latency_line(run, plan), _overlap_line(run), "",
              *_items("Failures", run.failures), *_items("Limitations", run.limitations),
              *(render_report(run) if report else [])]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Deployments
# ---------------------------------------------------------------------------------------

def _slot_line(label: str, version: pb.DeployedVersion, extra: str = "") -> str:
    if not version.filing:
        return f"{label}: {NONE}"
    state = filing_state(version.filing_state)
    warning = "" if version.filing_state == pb.FILING_STATE_APPROVED else \
        "  ⚠ not APPROVED: does not serve"
    return (f"{label}: version {_or_none(version.version)}  {version.filing_number or NONE} "
            f"({version.filing})  {state}  revalidate by {day(version.revalidate_time)}  "
            f"domains {domains(version.network_domains)}  up to "
            f"{data_level(version.max_data_level)}{extra}{warning}")


def render_deployment(deployment: pb.Deployment) -> str:
    state = _label(pb.DeploymentState, deployment.state, "DEPLOYMENT_STATE_")
    lines = [f"{deployment.name}  {state}",
             f"  network domains {domains(deployment.network_domains)} · fallback to last "
             f"approved {'yes' if deployment.fallback_to_last_approved else 'no'} · revision "
             f"{deployment.revision} · updated {when(deployment.update_time)}"]
    if deployment.state == pb.DEPLOYMENT_STATE_SUSPENDED:
        lines.append(f"  ⚠ suspended: {_or_none(deployment.suspend_reason)}")
    lines += [
        "  " + _slot_line("production", deployment.production),
        "  " + _slot_line("canary", deployment.canary,
                          f"  weight {deployment.canary_weight_percent}%"),
        "  " + _slot_line("previous", deployment.previous)]
    return "\n".join(lines)


def render_deployments(deployments: Sequence[pb.Deployment]) -> str:
    if not deployments:
        return "no deployments"
    return "\n\n".join(render_deployment(d) for d in deployments)


# ---------------------------------------------------------------------------------------
# Audit ledgers
# ---------------------------------------------------------------------------------------

def _detail_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # Struct holds every number as a double
    if isinstance(value, str):
        return short_hash(value) if _looks_like_digest(value) else value
    if isinstance(value, list):
        return "[" + ", ".join(_detail_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_detail_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def short_details(details: struct_pb2.Struct, limit: int = DETAILS_CHARS) -> str:
    """Event details on one line: a state change as ``FROM→TO`` first, empty values
    left out, digests shortened, cut at ``limit`` characters."""
    data: dict[str, Any] = json_format.MessageToDict(details)
    parts = []
    if "from" in data and "to" in data:
        parts.append(f"{data.pop('from')}→{data.pop('to')}")
    parts += [f"{key}={_detail_value(value)}" for key, value in sorted(data.items())
              if value not in ("", None, [], {})]
    text = " ".join(parts)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def render_audit_event(event: pb.AuditEvent) -> str:
    return "  ".join([f"{event.sequence:>6}", when(event.create_time), event.actor or NONE,
                      event.action, event.target or NONE, short_details(event.details)]
                     ).rstrip()


def render_audit_events(events: Sequence[pb.AuditEvent], ledger: str) -> str:
    if not events:
        return f"no events in {ledger} match"
    return "\n".join(render_audit_event(event) for event in events)


def problem_line(problem: pb.LedgerProblem) -> str:
    kind = _label(pb.LedgerProblemKind, problem.kind, "LEDGER_PROBLEM_KIND_")
    where = f" at entry {problem.sequence}" if problem.sequence else ""
    # A serving-state mismatch is about a row, not a place in the chain.
    segment = ("" if problem.kind == pb.LEDGER_PROBLEM_KIND_SERVING_STATE_MISMATCH
               else f" (segment {problem.segment})")
    return f"{kind}{where}{segment}: {_or_none(problem.detail)}"


def render_verification(report: pb.VerifyLedgerResponse, ledger: str) -> str:
    counts = (f"{report.entries_checked:,} entries, {report.segments_checked:,} segment "
              f"checkpoints, {report.tombstones:,} retention tombstones; head sha256 "
              f"{short_hash(report.head_sha256)}; verified {when(report.verify_time)}")
    if report.ok:
        return f"{ledger}: ok — {counts}"
    return "\n".join([f"{ledger}: NOT OK — {len(report.problems)} problem(s) in {counts}",
                      *(f"  {problem_line(p)}" for p in report.problems)])
