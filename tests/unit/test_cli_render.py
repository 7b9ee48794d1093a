"""Terminal rendering of registry records (zhijian/cli/render.py) on hand-built messages:
what an admin reads before signing must show every part of the record, shorten hashes,
flag due revalidation and report ledger problems."""

from __future__ import annotations

import re
from typing import TypeVar

import pytest
from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from zhijian.cli import render
from zhijian.registry.v1 import registry_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

EVIDENCE = "e" * 64
RUN_SHA = "a1b2c3d4e5f6" + "0" * 52
ARTIFACT_SHAS = [f"{i:x}" * 64 for i in range(1, 6)]
DATASET_SHA = "d" * 64
DAY_S = 86400
T0 = 1_767_225_600  # 2026-01-01 00:00 UTC
M = TypeVar("M", bound=Message)
REPORT = "# Validation report\n\n| metric | value |\n|---|---|\n| macro_f1 | 0.861 |\n"


def stamp(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds)


def millis(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(value * 1e6))
    return duration


def approval(approver: str, decision: pb.ApprovalDecision, seconds: int,
             **fields: object) -> pb.Approval:
    return pb.Approval(approver=approver, decision=decision, approve_time=stamp(seconds),
                       key_id="kid-" + approver.removeprefix("user:") + "-0123456789",
                       **fields)  # type: ignore[arg-type]


def with_fields(message: M, fields: dict[str, object]) -> M:
    for field, value in fields.items():
        if isinstance(value, Message):
            getattr(message, field).CopyFrom(value)
        else:
            setattr(message, field, value)
    return message


def make_filing(**overrides: object) -> pb.Filing:
    filing = pb.Filing(
        name="filings/f-abc", filing_number="ZJ-2026-0007", filing_type=pb.FILING_TYPE_NEW,
        state=pb.FILING_STATE_VALIDATED, required_approvals=2, evidence_sha256=EVIDENCE,
        etag="12", code_revision="4f2e9c1", create_time=stamp(T0),
        submit_time=stamp(T0 + 3600), revalidate_time=stamp(T0 + 200 * DAY_S),
        identity=pb.ModelIdentity(
            model="classify-product-category", version="7", mlflow_run_id="run-0042",
            model_uri="models:/classify-product-category/7",
            artifacts=[pb.Artifact(path=f"model/part{i}.pkl", sha256=sha, size_bytes=1024 * i)
                       for i, sha in enumerate(ARTIFACT_SHAS)]),
        parties=pb.Parties(provider_organization="药品审评中心", submitter="user:dev",
                           business_owner="user:owner", security_officer="user:sec",
                           developers=["user:dev", "user:dev2"], validators=["user:val"],
                           approvers=["user:adm1"]),
        purpose=pb.Purpose(intended_use="suggest the product category", context_of_use="triage",
                           role=pb.MODEL_ROLE_ASSISTIVE,
                           prohibited_decisions=["final registration decisions"],
                           out_of_scope_uses=["clinical advice"], users=["reviewers"],
                           business_scenario="Class II device registration review",
                           algorithm_type="linear text classifier",
                           task="classify.product_category"),
        classification=pb.Classification(
            model_influence=pb.IMPACT_LEVEL_MEDIUM, decision_consequence=pb.IMPACT_LEVEL_HIGH,
            risk_tier=pb.RISK_TIER_HIGH, rationale="wrong routing delays review",
            max_data_level=types_pb.DATA_LEVEL_L3_IMPORTANT,
            network_domains=[types_pb.NETWORK_DOMAIN_INTRANET,
                             types_pb.NETWORK_DOMAIN_EXTRANET]),
        technical_description=pb.TechnicalDescription(
            mechanism="character n-grams into a linear model", architecture="tf-idf + LR",
            signature_json='{"inputs": [{"name": "text", "type": "string"}]}',
            dependencies=[pb.Dependency(name="scikit-learn", version="1.9.0")],
            guardrails=["abstain below 0.5 confidence"]),
        datasets=[pb.DatasetUse(
            dataset="datasets/test-2025", purpose=pb.DATASET_PURPOSE_TEST,
            snapshot=pb.Dataset(display_name="held-out 2025", sha256=DATASET_SHA,
                                record_count=1234, source="审评记录", legal_basis="mandate",
                                data_level=types_pb.DATA_LEVEL_L2_GENERAL))],
        validation_plan=pb.ValidationPlan(
            metrics=[pb.MetricThreshold(metric="macro_f1", target="product_category",
                                        comparison=pb.COMPARISON_GREATER_OR_EQUAL,
                                        threshold=0.8, use_confidence_bound=True),
                     pb.MetricThreshold(metric="accuracy", target="product_category",
                                        subgroup="language=en",
                                        comparison=pb.COMPARISON_GREATER_OR_EQUAL,
                                        threshold=0.7)],
            subgroups=["language=zh", "language=en"],
            robustness=pb.RobustnessPlan(perturbations=["width", "case"],
                                         target="product_category", min_stability=0.95),
            latency_budget_p95=millis(50), revalidation_interval=duration_pb2.Duration(
                seconds=180 * DAY_S)),
        oversight=pb.Oversight(review_points=["every suggestion before the record"],
                               stop_authorities=["platform_admin"],
                               output_label="AI 辅助建议，仅供参考"),
        change_control=pb.ChangeControl(
            pre_authorized_changes=["retrain on new data under the same plan"],
            change_log=[pb.ChangeLogEntry(description="first filing",
                                          change_class=pb.CHANGE_CLASS_MINOR,
                                          approver="user:adm1", change_time=stamp(T0))]),
        approvals=[approval("user:adm1", pb.APPROVAL_DECISION_APPROVE, T0 + 7200,
                            conditions=["review monthly"],
                            validation_run="filings/f-abc/validationRuns/r-1",
                            validation_run_sha256=RUN_SHA)],
        state_history=[
            pb.StateChange(from_state=pb.FILING_STATE_UNSPECIFIED,
                           to_state=pb.FILING_STATE_DRAFT, actor="user:dev",
                           change_time=stamp(T0)),
            pb.StateChange(from_state=pb.FILING_STATE_DRAFT, to_state=pb.FILING_STATE_SUBMITTED,
                           actor="user:dev", change_time=stamp(T0 + 3600),
                           reason="ready for validation")])
    return with_fields(filing, overrides)


def make_run(**overrides: object) -> pb.ValidationRun:
    run = pb.ValidationRun(
        name="filings/f-abc/validationRuns/r-1", validator="user:val",
        evidence_sha256=EVIDENCE, test_dataset_sha256=DATASET_SHA, record_sha256=RUN_SHA,
        state=pb.VALIDATION_RUN_STATE_SUCCEEDED, passed=False,
        conclusion=pb.VALIDATION_CONCLUSION_INADEQUATE, create_time=stamp(T0),
        complete_time=stamp(T0 + 600), next_revalidation_time=stamp(T0 + 180 * DAY_S),
        metric_results=[
            pb.MetricResult(metric="macro_f1", target="product_category", value=0.8612,
                            ci_lower=0.8401, ci_upper=0.8803, sample_size=1234, passed=True,
                            planned=True),
            pb.MetricResult(metric="accuracy", target="product_category",
                            subgroup="language=en", value=0.6512, ci_lower=0.6, ci_upper=0.7,
                            sample_size=200, passed=False, planned=True),
            pb.MetricResult(metric="accuracy", target="product_category",
                            subgroup="language=zh", value=0.9, ci_lower=0.88, ci_upper=0.92,
                            sample_size=1034, passed=True, planned=False)],
        robustness_results=[pb.CheckResult(check="width", passed=True, value=0.99,
                                           sample_size=300),
                            pb.CheckResult(check="case", passed=False, value=0.91,
                                           sample_size=120)],
        prediction_stability=0.97, latency_p50=millis(3.2), latency_p95=millis(61.5),
        train_test_overlap_records=3,
        failures=["accuracy on product_category (language=en) 0.651 < 0.700"],
        limitations=["few English records"], report_uri="mlflow-artifacts:/1/report.md",
        report_sha256="f" * 64,
        report_markdown=REPORT)
    return with_fields(run, overrides)


FULL_HASH = re.compile(r"[0-9a-f]{64}")


# --- values ----------------------------------------------------------------------------

def test_short_hash_keeps_a_prefix_and_marks_the_cut() -> None:
    assert render.short_hash("ab" * 32) == "abababababab…"
    assert render.short_hash("abc") == "abc"
    assert render.short_hash("") == "-"


def test_labels_drop_enum_prefixes_and_show_unknown_values() -> None:
    assert render.filing_state(pb.FILING_STATE_VALIDATION_FAILED) == "VALIDATION_FAILED"
    assert render.filing_state(pb.FILING_STATE_UNSPECIFIED) == "-"
    assert render.filing_state(99) == "99"
    assert render.data_level(types_pb.DATA_LEVEL_L3_IMPORTANT) == "L3 (important)"
    assert render.domains([types_pb.NETWORK_DOMAIN_INTRANET,
                           types_pb.NETWORK_DOMAIN_INTERNET]) == "intranet, internet"


def test_table_aligns_columns_by_terminal_width_of_chinese_text() -> None:
    text = render.table(("A", "B"), [("药品", "x"), ("ＡＢ", "y"), ("ab", "z")])
    lines = text.splitlines()
    # Wide (药品) and full-width (ＡＢ) characters take two columns each.
    assert lines[1] == "药品  x"
    assert lines[2] == "ＡＢ  y"
    assert lines[3] == "ab    z"


# --- filing show ------------------------------------------------------------------------

@pytest.mark.parametrize("section", [
    "1. Identity", "2. Responsible parties", "3. Purpose and functional boundary",
    "4. Risk and data classification", "5. Technical description", "6. Datasets",
    "7. Validation plan", "8. Human oversight", "9. Change control", "10. Approvals",
    "State history", "Latest validation run"])
def test_filing_show_has_every_section(section: str) -> None:
    text = render.render_filing_show(make_filing(), [make_run()])
    assert re.search(rf"^\s*{re.escape(section)}", text, re.MULTILINE), section


@pytest.mark.parametrize("content", [
    "model uri: models:/classify-product-category/7", "code revision: 4f2e9c1",
    "artifacts: 5 file(s)", "… and 2 more", "provider organization: 药品审评中心",
    "developers: user:dev, user:dev2", "prohibited decisions:", "  - final registration",
    "role: ASSISTIVE", "risk tier: HIGH", "decision consequence: HIGH",
    "max data level: L3 (important)", "network domains: intranet, extranet",
    "dependencies: scikit-learn==1.9.0", '{"inputs":[{"name":"text","type":"string"}]}',
    "TEST  datasets/test-2025", "1,234 records", "L2 (general)", "legal basis: mandate",
    "macro_f1 on product_category (all records) >= 0.800 (confidence bound)",
    "accuracy on product_category (language=en) >= 0.700",
    "robustness: width, case on product_category, stability >= 0.950",
    "latency budget p95: 50.0 ms", "revalidation interval: 180 days",
    "output label: AI 辅助建议，仅供参考", "retrain on new data under the same plan",
    "MINOR  first filing", "by user:adm1", "condition: review monthly",
    "created → DRAFT", "DRAFT → SUBMITTED", "ready for validation"])
def test_filing_show_renders_the_record_content(content: str) -> None:
    assert content in render.render_filing(make_filing())


def test_filing_show_shortens_every_hash() -> None:
    text = render.render_filing_show(make_filing(), [make_run()])
    assert not FULL_HASH.search(text)
    for digest in (EVIDENCE, ARTIFACT_SHAS[0], ARTIFACT_SHAS[2], DATASET_SHA, RUN_SHA):
        assert digest[:12] + "…" in text
    # Only the first artifacts are listed; the rest are counted.
    assert ARTIFACT_SHAS[3][:12] not in text


def test_approvals_show_approver_decision_time_and_key() -> None:
    text = render.render_filing(make_filing())
    section = text.split("10. Approvals")[1].split("State history")[0]
    assert "2026-01-01 02:00 UTC  APPROVE  by user:adm1  key kid-adm1-012…" in section
    assert "run filings/f-abc/validationRuns/r-1 (sha256 a1b2c3d4e5f6…)" in section


def test_validation_run_shows_verdict_metrics_and_report_as_is() -> None:
    filing, run = make_filing(), make_run()
    text = render.render_validation_run(run, filing.validation_plan)
    assert "r-1: NOT PASSED (INADEQUATE)" in text
    en_row = next(line for line in text.splitlines() if "language=en" in line)
    assert re.search(r"accuracy\s+product_category\s+language=en\s+0\.651\s+"
                     r"\[0\.600, 0\.700\]\s+200\s+>= 0\.700\s+FAIL", en_row)
    zh_row = next(line for line in text.splitlines() if "language=zh" in line)
    assert zh_row.rstrip().endswith("report only")
    assert "95% CI" in text
    assert re.search(r"case\s+0\.910\s+120\s+FAIL", text)
    assert "p95 61.5 ms vs budget 50.0 ms: OVER BUDGET" in text
    assert "3 test record(s) also in training" in text and "FAIL" in text
    assert "  - accuracy on product_category (language=en) 0.651 < 0.700" in text
    assert "  - few English records" in text
    assert run.report_markdown.rstrip("\n") in text  # verbatim, tables and all


def test_passing_run_within_budget() -> None:
    run = make_run(passed=True, conclusion=pb.VALIDATION_CONCLUSION_ADEQUATE,
                   train_test_overlap_records=0)
    run.latency_p95.CopyFrom(millis(20))
    text = render.render_validation_run(run, make_filing().validation_plan)
    assert "PASSED (ADEQUATE)" in text and "NOT PASSED" not in text
    assert "within budget" in text
    assert "fine-tuning data: ok" in text


def test_failed_and_running_runs_say_so_without_results() -> None:
    failed = render.render_validation_run(make_run(
        state=pb.VALIDATION_RUN_STATE_FAILED, error="ARTIFACT_HASH_MISMATCH: model.pkl"))
    assert "FAILED: the runner could not evaluate (ARTIFACT_HASH_MISMATCH: model.pkl)" in failed
    assert "Metrics" not in failed
    running = render.run_verdict(make_run(state=pb.VALIDATION_RUN_STATE_RUNNING))
    assert running == "RUNNING since 2026-01-01 00:00 UTC"


def test_filing_show_prints_the_report_verbatim_after_the_run() -> None:
    text = render.render_filing_show(make_filing(), [make_run()])
    assert "\n" + REPORT.rstrip("\n") in text  # not indented with the run's lines
    assert text.index("Limitations:") < text.index("# Validation report")


def test_filing_show_without_runs() -> None:
    assert "Latest validation run: none yet" in render.render_filing_show(make_filing(), [])


# --- approval progress ------------------------------------------------------------------

def test_high_risk_filing_with_one_approval_is_one_of_two() -> None:
    progress = render.approval_progress(make_filing())
    assert progress == "1 of 2 approvals; another approver must sign"
    assert "1 of 2 approvals" in render.render_filing(make_filing())


def test_same_approver_twice_counts_once() -> None:
    filing = make_filing()
    filing.approvals.append(approval("user:adm1", pb.APPROVAL_DECISION_APPROVE, T0 + 7300))
    assert render.approval_progress(filing).startswith("1 of 2")


def test_approved_filing_reports_completion_and_date() -> None:
    filing = make_filing(state=pb.FILING_STATE_APPROVED, approve_time=stamp(T0 + 8000))
    filing.approvals.append(approval("user:adm2", pb.APPROVAL_DECISION_APPROVE, T0 + 8000))
    assert render.approval_progress(filing) == \
        "approved (2 of 2 approvals), revalidate by 2026-07-20"


def test_renewal_in_progress_counts_only_new_renewals() -> None:
    filing = make_filing(state=pb.FILING_STATE_EXPIRED, approve_time=stamp(T0 + 8000))
    filing.approvals.append(approval("user:adm2", pb.APPROVAL_DECISION_APPROVE, T0 + 8000))
    filing.approvals.append(approval("user:adm1", pb.APPROVAL_DECISION_RENEW, T0 + 9000))
    assert render.approval_progress(filing).startswith("renewal: 1 of 2 approvals")


# --- filing list -----------------------------------------------------------------------

def test_filing_table_marks_due_revalidation() -> None:
    due = make_filing(state=pb.FILING_STATE_APPROVED, revalidation_due=True)
    fresh = make_filing(name="filings/f-def", filing_number="ZJ-2026-0008")
    lines = render.render_filing_table([due, fresh]).splitlines()
    assert lines[0].split() == ["FILING", "NUMBER", "MODEL/VERSION", "STATE", "RISK",
                                "SUBMITTER", "REVALIDATE"]
    assert re.search(r"^f-abc\s+ZJ-2026-0007\s+classify-product-category v7\s+APPROVED\s+"
                     r"HIGH\s+user:dev\s+2026-07-20\s+⚠ revalidation due$", lines[1])
    assert lines[2].startswith("f-def") and "⚠" not in lines[2]


def test_filing_headline_marks_due_revalidation() -> None:
    assert render.filing_headline(make_filing(revalidation_due=True)).endswith(
        "VALIDATED  ⚠ revalidation due")
    assert "⚠" not in render.filing_headline(make_filing())
    assert "⚠ revalidation due" in render.render_filing(make_filing(revalidation_due=True))


def test_empty_filing_table() -> None:
    assert render.render_filing_table([]) == "no filings match"


# --- deployments -----------------------------------------------------------------------

def test_deployment_shows_slots_weight_and_suspension() -> None:
    production = pb.DeployedVersion(
        filing="filings/f-abc", version="7", filing_number="ZJ-2026-0007",
        filing_state=pb.FILING_STATE_APPROVED, revalidate_time=stamp(T0 + 200 * DAY_S),
        max_data_level=types_pb.DATA_LEVEL_L3_IMPORTANT,
        network_domains=[types_pb.NETWORK_DOMAIN_INTRANET])
    canary = pb.DeployedVersion(filing="filings/f-def", version="8",
                                filing_state=pb.FILING_STATE_SUSPENDED)
    deployment = pb.Deployment(
        name="deployments/classify-product-category", state=pb.DEPLOYMENT_STATE_SUSPENDED,
        production=production, canary=canary, canary_weight_percent=10,
        network_domains=[types_pb.NETWORK_DOMAIN_INTRANET, types_pb.NETWORK_DOMAIN_EXTRANET],
        fallback_to_last_approved=True, suspend_reason="INC-42")
    text = render.render_deployment(deployment)
    assert "deployments/classify-product-category  SUSPENDED" in text
    assert "⚠ suspended: INC-42" in text
    assert ("production: version 7  ZJ-2026-0007 (filings/f-abc)  APPROVED  revalidate by "
            "2026-07-20  domains intranet  up to L3 (important)") in text
    canary_line = next(line for line in text.splitlines() if "canary:" in line)
    assert "weight 10%" in canary_line and "⚠ not APPROVED" in canary_line
    assert "previous: -" in text
    assert "network domains intranet, extranet" in text and "fallback to last approved yes" \
        in text


# --- audit -----------------------------------------------------------------------------

def test_audit_event_line_starts_with_seq_time_actor_action_target() -> None:
    details = struct_pb2.Struct()
    details.update({"from": "VALIDATED", "to": "APPROVED", "approvals": 2, "reason": ""})
    event = pb.AuditEvent(sequence=42, create_time=stamp(T0), actor="user:adm2",
                          action="filing.approve", target="filings/f-abc", details=details)
    assert render.render_audit_event(event) == (
        "    42  2026-01-01 00:00 UTC  user:adm2  filing.approve  filings/f-abc  "
        "VALIDATED→APPROVED approvals=2")  # the empty reason is left out


def test_event_details_shorten_digests_but_not_ids() -> None:
    details = struct_pb2.Struct()
    details.update({"validation_run_sha256": RUN_SHA, "signature": "ab" * 64,
                    "mlflow_run_id": "0123456789abcdef0123456789abcdef",
                    "failures": ["p95 61.5 ms over the 50 ms budget"]})
    text = render.short_details(details, limit=1000)
    assert not FULL_HASH.search(text)
    assert "validation_run_sha256=a1b2c3d4e5f6…" in text
    assert "signature=abababababab…" in text
    assert "mlflow_run_id=0123456789abcdef0123456789abcdef" in text  # ids stay whole
    assert "failures=[p95 61.5 ms over the 50 ms budget]" in text


def test_long_details_are_cut() -> None:
    details = struct_pb2.Struct()
    details.update({"message": "x" * 500})
    assert len(render.short_details(details)) == render.DETAILS_CHARS


def test_verification_ok() -> None:
    report = pb.VerifyLedgerResponse(ok=True, entries_checked=1200, segments_checked=3,
                                     tombstones=1, head_sha256="c" * 64,
                                     verify_time=stamp(T0))
    text = render.render_verification(report, "ledgers/governance")
    assert text.startswith("ledgers/governance: ok — 1,200 entries, 3 segment checkpoints, "
                           "1 retention tombstones; head sha256 cccccccccccc…")


def test_verification_lists_every_problem() -> None:
    report = pb.VerifyLedgerResponse(ok=False, entries_checked=10, problems=[
        pb.LedgerProblem(kind=pb.LEDGER_PROBLEM_KIND_ENTRY_MODIFIED, sequence=7, segment=0,
                         detail="hash mismatch"),
        pb.LedgerProblem(kind=pb.LEDGER_PROBLEM_KIND_CHECKPOINT_INVALID, sequence=0,
                         segment=2, detail="signature does not verify")])
    lines = render.render_verification(report, "ledgers/calls").splitlines()
    assert lines[0].startswith("ledgers/calls: NOT OK — 2 problem(s)")
    assert lines[1] == "  ENTRY_MODIFIED at entry 7 (segment 0): hash mismatch"
    assert lines[2] == "  CHECKPOINT_INVALID (segment 2): signature does not verify"


def test_filing_show_gives_review_counts_and_rates_per_version() -> None:
    stats = pb.ReviewStats(model=types_pb.ModelRef(model="zhijian-classify", version="3",
                                                   filing_id="f-abc"),
                           accepted=8, modified=1, rejected=1, total=10, accept_rate=0.8,
                           modify_rate=0.1, reject_rate=0.1)
    stats.last_review_time.FromSeconds(1767225600)
    text = render.render_filing_show(make_filing(), [], [stats])
    assert ("version 3: 10 reviewed; accepted 8 (80%), modified 1 (10%), rejected 1 (10%); "
            "last 2026-01-01 00:00 UTC") in text
    assert "Human reviews: none recorded yet" in render.render_filing_show(make_filing(), [])
