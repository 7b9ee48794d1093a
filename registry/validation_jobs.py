"""Validation runs: started by a validator, executed by the runner in a child process
(the model's own code runs there, not in the registry), judged by the registry against
the plan frozen at submission, and recorded with the filing's state change in one
transaction."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import uuid
from typing import Any

from google.protobuf import duration_pb2
from sqlalchemy import select

from registry import records
from registry.authz import check_independent
from registry.context import Actor, RegistryContext
from registry.filings import (
    FILING_PREFIX,
    LoadedFiling,
    lifecycle_check,
    load,
    timestamp,
    transition,
)
from registry.lifecycle import Action, allowed
from registry.schema import ValidationRunRow
from registry.validation.judge import judge
from registry.validation.spec import Measurements, Plan, metric_key
from zhijian.errors import FailedPrecondition
from zhijian.registry.v1 import registry_service_pb2 as pb

log = logging.getLogger("zhijian.registry.validation")

PURPOSES = {pb.DATASET_PURPOSE_TRAINING: "training", pb.DATASET_PURPOSE_VALIDATION: "validation",
            pb.DATASET_PURPOSE_TEST: "test", pb.DATASET_PURPOSE_FINE_TUNING: "fine_tuning",
            pb.DATASET_PURPOSE_KNOWLEDGE_BASE: "knowledge_base"}
COMPARISONS = {pb.COMPARISON_GREATER_OR_EQUAL: ">=", pb.COMPARISON_LESS_OR_EQUAL: "<="}


def plan_dict(plan: pb.ValidationPlan) -> dict[str, Any]:
    """The frozen plan in the runner's terms."""
    budget_ms = plan.latency_budget_p95.ToNanoseconds() / 1e6
    result: dict[str, Any] = {
        "metrics": [{"metric": m.metric, "target": m.target, "subgroup": m.subgroup,
                     "comparison": COMPARISONS.get(m.comparison, ">="),
                     "threshold": m.threshold, "use_confidence_bound": m.use_confidence_bound}
                    for m in plan.metrics],
        "subgroups": list(plan.subgroups), "latency_budget_p95_ms": budget_ms,
        "confidence_level": plan.confidence_level,
        "bootstrap_resamples": plan.bootstrap_resamples, "seed": 0,
        "task_type": plan.task_type}
    if plan.HasField("robustness"):
        result["robustness"] = {"perturbations": list(plan.robustness.perturbations),
                                "target": plan.robustness.target,
                                "min_stability": plan.robustness.min_stability}
    return result


def spec_dict(ctx: RegistryContext, filing: pb.Filing, run: pb.ValidationRun) -> dict[str, Any]:
    identity = filing.identity
    return {
        "filing": filing.name, "filing_number": filing.filing_number, "run_name": run.name,
        "model": identity.model, "version": identity.version, "model_uri":
            f"models:/{identity.model}/{identity.version}",
        "tracking_uri": ctx.store.tracking_uri, "validator": run.validator,
        "artifacts": [{"path": a.path, "sha256": a.sha256, "size_bytes": a.size_bytes}
                      for a in identity.artifacts],
        "datasets": [{"name": use.dataset, "purpose": PURPOSES[use.purpose],
                      "uri": use.snapshot.uri, "sha256": use.snapshot.sha256}
                     for use in filing.datasets if use.purpose in PURPOSES],
        "plan": plan_dict(filing.validation_plan), "limitations": list(run.limitations),
        "dataset_roots": list(ctx.settings.dataset_access.roots),
        "dataset_max_bytes": ctx.settings.dataset_max_bytes}


def start(ctx: RegistryContext, actor: Actor, request: pb.ValidateFilingRequest
          ) -> pb.ValidationRun:
    with ctx.write() as session:
        loaded = load(session, request.name, lock=True)
        lifecycle_check(loaded, Action.VALIDATE)
        check_independent(loaded.filing, actor.subject, "validate")
        running = session.scalar(select(ValidationRunRow.id).where(
            ValidationRunRow.filing_id == loaded.row.id,
            ValidationRunRow.state == pb.VALIDATION_RUN_STATE_RUNNING))
        if running:
            raise FailedPrecondition(f"{request.name} has a validation run in progress "
                                     f"({running})", reason="VALIDATION_IN_PROGRESS")
        now = ctx.clock()
        run_id = f"r-{uuid.uuid4().hex[:12]}"
        run = pb.ValidationRun(
            name=f"{loaded.filing.name}/validationRuns/{run_id}", validator=actor.subject,
            evidence_sha256=loaded.filing.evidence_sha256, limitations=request.limitations,
            state=pb.VALIDATION_RUN_STATE_RUNNING, create_time=timestamp(now))
        session.add(ValidationRunRow(id=run_id, filing_id=loaded.row.id, state=run.state,
                                     validator=actor.subject, passed=False, record_sha256="",
                                     create_time=now, complete_time=None,
                                     body=records.to_json(run)))
        if actor.subject not in loaded.filing.parties.validators:
            loaded.filing.parties.validators.append(actor.subject)
        transition(ctx, session, loaded, actor, Action.VALIDATE,
                   details={"validation_run": run.name})
        return run


def _run_row(session: Any, name: str, *, lock: bool) -> ValidationRunRow:
    row = session.get(ValidationRunRow, name.rsplit("/", 1)[-1], with_for_update=lock)
    if row is None:
        raise LookupError(name)
    return row


def _fill_results(run: pb.ValidationRun, filing: pb.Filing, measured: Measurements,
                  now: float) -> None:
    plan = filing.validation_plan
    verdict = judge(Plan.from_dict(plan_dict(plan)), measured)
    planned = {metric_key(m.metric, m.target, m.subgroup) for m in plan.metrics}
    del run.metric_results[:]
    for result in measured.metric_results:
        key = metric_key(result.metric, result.target, result.subgroup)
        run.metric_results.append(pb.MetricResult(
            metric=result.metric, target=result.target, subgroup=result.subgroup,
            value=result.value or 0.0, ci_lower=result.ci_lower or 0.0,
            ci_upper=result.ci_upper or 0.0, sample_size=result.sample_size,
            passed=verdict.metric_passed.get(key, True), planned=key in planned))
    minimum = plan.robustness.min_stability if plan.HasField("robustness") else 0.0
    del run.robustness_results[:]
    for check in measured.robustness:
        stable = check.stability if check.stability is not None else 1.0
        run.robustness_results.append(pb.CheckResult(
            check=check.perturbation, passed=stable >= minimum, value=stable,
            sample_size=check.changed,
            detail=f"{stable:.3f} of {check.changed} perturbed inputs kept their prediction"))
    run.prediction_stability = (measured.stability_overall
                                if measured.stability_overall is not None else 1.0)
    run.test_dataset_sha256 = measured.test_dataset_sha256
    run.latency_p50.CopyFrom(_ms(measured.latency_p50_ms))
    run.latency_p95.CopyFrom(_ms(measured.latency_p95_ms))
    run.train_test_overlap_records = measured.train_test_overlap_records
    run.passed = verdict.passed
    run.conclusion = (pb.VALIDATION_CONCLUSION_ADEQUATE if verdict.passed
                      else pb.VALIDATION_CONCLUSION_INADEQUATE)
    run.failures[:] = verdict.failures
    run.mlflow_run_id = measured.mlflow_run_id
    run.report_uri = measured.report_uri
    run.report_sha256 = measured.report_sha256
    run.report_markdown = measured.report_markdown
    run.state = pb.VALIDATION_RUN_STATE_SUCCEEDED
    run.complete_time.CopyFrom(timestamp(now))
    run.next_revalidation_time.CopyFrom(timestamp(
        now + plan.revalidation_interval.ToNanoseconds() / 1e9))


def _ms(value: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(value * 1e6))
    return duration


def complete(ctx: RegistryContext, name: str, outcome: dict[str, Any]) -> pb.ValidationRun:
    """Record the runner's outcome and move the filing, in one transaction."""
    with ctx.write() as session:
        filing_name = name.split("/validationRuns/")[0]
        loaded: LoadedFiling = load(session, filing_name, lock=True)
        row = _run_row(session, name, lock=True)
        run = records.from_json(pb.ValidationRun, row.body)
        if row.state != pb.VALIDATION_RUN_STATE_RUNNING:
            return run  # recorded already (e.g. failed by a restart): never overwritten
        now = ctx.clock()
        if not outcome.get("ok"):
            error = outcome.get("error") or {}
            run.state = pb.VALIDATION_RUN_STATE_FAILED
            run.error = f"{error.get('reason', 'RUNNER_FAILED')}: {error.get('message', '')}"
            run.complete_time.CopyFrom(timestamp(now))
            ctx.record(session, "svc:registry", "validation.error", run.name,
                       {"error": run.error, "filing_number": loaded.filing.filing_number})
        else:
            _fill_results(run, loaded.filing, Measurements.from_dict(outcome["measurements"]),
                          now)
            run.record_sha256 = records.run_record_sha256(run)
            action = Action.VALIDATION_PASSED if run.passed else Action.VALIDATION_FAILED
            details = {"validation_run": run.name, "passed": run.passed,
                       "record_sha256": run.record_sha256, "report_sha256": run.report_sha256,
                       "mlflow_run_id": run.mlflow_run_id, "failures": list(run.failures)}
            if allowed(loaded.filing.state, action):
                transition(ctx, session, loaded, run.validator, action, details=details)
            else:  # the filing moved on meanwhile (e.g. retired): keep the record only
                ctx.record(session, "svc:registry", "validation.complete", run.name, details)
        row.state, row.passed = run.state, run.passed
        row.record_sha256, row.complete_time = run.record_sha256, now
        row.body = records.to_json(run)
        return run


# What the runner's process may see of the registry's environment. The model's own code
# runs there: it gets no database URL, key paths or other credentials of the registry.
RUNNER_ENV_PREFIXES = ("PATH", "HOME", "LANG", "LC_", "TMPDIR", "PYTHON", "VIRTUAL_ENV",
                       "XDG_", "BENTOML_HOME", "DO_NOT_TRACK", "MLFLOW_HTTP_", "OTEL_")


def runner_environment(tracking_uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.startswith(RUNNER_ENV_PREFIXES)}
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    return env


class ValidationJobs:
    """Runs validation runner processes and records their outcome."""

    def __init__(self, ctx: RegistryContext) -> None:
        self._ctx = ctx
        self._tasks: set[asyncio.Task[None]] = set()

    def recover(self) -> None:
        """Runs left RUNNING by a registry that stopped are failed, not left hanging."""
        with self._ctx.db.read() as session:
            names = [(r.filing_id, r.id) for r in session.scalars(select(ValidationRunRow)
                     .where(ValidationRunRow.state == pb.VALIDATION_RUN_STATE_RUNNING))]
        for filing_id, run_id in names:
            complete(self._ctx, f"{FILING_PREFIX}{filing_id}/validationRuns/{run_id}",
                     {"ok": False, "error": {"reason": "RUNNER_INTERRUPTED", "message":
                      "the registry stopped during the run; start a new run"}})

    def launch(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _execute(self, name: str) -> None:
        try:
            outcome = await self._run_runner(name)
        except Exception as error:  # recorded on the run, never lost
            log.exception("validation runner failed for %s", name)
            outcome = {"ok": False, "error": {"reason": "RUNNER_FAILED",
                                              "message": f"{error.__class__.__name__}"}}
        try:
            await asyncio.to_thread(complete, self._ctx, name, outcome)
        except Exception as error:
            # An outcome that cannot be recorded (malformed measurements, say) must not
            # leave the run RUNNING, which would block every later run of the filing.
            log.exception("recording the outcome of %s failed", name)
            await asyncio.to_thread(complete, self._ctx, name, {
                "ok": False, "error": {"reason": "RESULT_UNUSABLE",
                                       "message": f"{error.__class__.__name__}: {error}"[:500]}})

    async def _run_runner(self, name: str) -> dict[str, Any]:
        ctx = self._ctx
        filing_name = name.split("/validationRuns/")[0]

        def prepare() -> dict[str, Any]:
            with ctx.db.read() as session:
                loaded = load(session, filing_name, lock=False)
                run = records.from_json(pb.ValidationRun, _run_row(session, name, lock=False).body)
            return spec_dict(ctx, loaded.filing, run)

        spec = await asyncio.to_thread(prepare)
        folder = ctx.settings.work_dir / "validation" / name.rsplit("/", 1)[-1]
        folder.mkdir(parents=True, exist_ok=True)
        spec_file, out_file = folder / "spec.json", folder / "result.json"
        spec_file.write_text(json.dumps(spec, ensure_ascii=False, indent=2))
        with (folder / "runner.log").open("wb") as log_file:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "registry.validation", "--spec", str(spec_file),
                "--out", str(out_file), stdout=log_file, stderr=log_file,
                env=runner_environment(ctx.store.tracking_uri))
            try:
                await asyncio.wait_for(process.wait(), ctx.settings.validation_timeout_s)
            except TimeoutError:
                process.kill()
                await process.wait()
                return {"ok": False, "error": {"reason": "RUNNER_TIMEOUT", "message":
                        f"no result within {ctx.settings.validation_timeout_s:.0f}s"}}
        if not out_file.exists():
            return {"ok": False, "error": {"reason": "RUNNER_FAILED", "message":
                    f"the runner exited with {process.returncode} and wrote no result; "
                    f"see {folder / 'runner.log'}"}}
        result: dict[str, Any] = json.loads(out_file.read_text())
        return result
