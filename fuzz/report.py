"""The run's tallies as text for the terminal and as a JSON report."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fuzz.engine import MethodTally, ServiceTally
from fuzz.harness import Run


def _percentile(samples: Sequence[float], share: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _method_json(tally: MethodTally) -> dict[str, Any]:
    codes: dict[str, dict[str, int]] = {}
    for (code, reason), count in tally.reasons.most_common():
        codes.setdefault(code, {})[reason or "-"] = count
    return {
        "calls": tally.calls, "as_authorized_caller": tally.authorized,
        "exercised": tally.exercised, "codes": dict(tally.codes.most_common()),
        "reasons": codes,
        "latency_ms": {"p50": round(1000 * _percentile(tally.latencies, 0.5), 2),
                       "p99": round(1000 * _percentile(tally.latencies, 0.99), 2),
                       "max": round(1000 * max(tally.latencies, default=0.0), 2),
                       "mean": round(1000 * statistics.fmean(tally.latencies), 2)
                       if tally.latencies else 0.0}}


def _service_json(tally: ServiceTally) -> dict[str, Any]:
    seconds = tally.seconds
    return {"calls": tally.calls, "seconds": round(seconds, 1),
            "calls_per_second": round(tally.calls / seconds, 1) if seconds else 0.0,
            "codes": _sum_codes(tally),
            "methods": {name: _method_json(m) for name, m in sorted(tally.methods.items())},
            "kinds": {kind: dict(codes.most_common()) for kind, codes in
                      sorted(tally.kinds.items())}}


def _sum_codes(tally: ServiceTally) -> dict[str, int]:
    total: dict[str, int] = {}
    for method in tally.methods.values():
        for code, count in method.codes.items():
            total[code] = total.get(code, 0) + count
    return dict(sorted(total.items(), key=lambda item: -item[1]))


def to_json(run: Run) -> dict[str, Any]:
    results = run.results
    findings = []
    if results is not None:
        for finding in sorted(results.findings.values(), key=lambda f: -f.count):
            findings.append({
                "service": finding.service, "method": finding.method, "code": finding.code,
                "reason": finding.reason, "kinds": dict(finding.kinds), "count": finding.count,
                "shapes": dict(finding.shapes.most_common(30)), "examples": finding.examples,
                "minimized": finding.minimized,
                "tracebacks": {e["request_id"]: run.tracebacks.get(e["request_id"], [])
                               for e in finding.examples if e["request_id"] in run.tracebacks}})
    total = sum(t.calls for t in results.services.values()) if results else 0
    sending = results.seconds if results else 0.0
    verdict = run.verdict()
    return {
        "passed": not verdict, "verdict": verdict, "seed": run.seed,
        "started": run.started, "seconds_with_setup": round(run.seconds, 1),
        "seconds_sending": round(sending, 1),
        "platform": {"home": str(run.target.home), "throwaway": run.target.throwaway},
        "calls_per_service_target": run.calls_per_service, "calls": total,
        "calls_per_second": round(total / sending, 1) if sending else 0.0,
        "stopped_early": results.stopped_early if results else "",
        "services": {name: _service_json(t) for name, t in
                     (results.services.items() if results else ())},
        "not_deployed": run.not_deployed, "skipped_methods": run.skipped,
        "client_errors": dict(results.client_errors) if results else {},
        "oversized_error_trailers": {f"{service}/{method}": count for (service, method), count
                                     in results.oversized_trailers.most_common()}
        if results else {},
        "findings": findings,
        "samples": [{"service": service, "method": method, "code": code, "reason": reason,
                     "examples": examples} for (service, method, code, reason), examples in
                    sorted(results.samples.items())] if results else [],
        "processes": {"before": run.before.to_json() if run.before else None,
                      "after": run.after.to_json() if run.after else None,
                      "problems": run.process_problems},
        "health": run.health,
    }


def write_json(run: Run, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(run), indent=2, ensure_ascii=False) + "\n")


def _codes_line(tally: MethodTally, reasons_per_code: int = 3) -> str:
    parts = []
    for code, count in tally.codes.most_common():
        reasons = [(reason, n) for (c, reason), n in tally.reasons.most_common()
                   if c == code and reason]
        shown = ", ".join(f"{reason} {n}" for reason, n in reasons[:reasons_per_code])
        more = f", +{len(reasons) - reasons_per_code}" if len(reasons) > reasons_per_code else ""
        parts.append(f"{code} {count}" + (f" [{shown}{more}]" if shown else ""))
    return "; ".join(parts)


def text(run: Run) -> str:
    lines: list[str] = []
    results = run.results
    if results is not None:
        total = sum(t.calls for t in results.services.values())
        rate = total / results.seconds if results.seconds else 0.0
        lines.append(f"{total} calls sent in {results.seconds:.0f}s ({rate:.0f} calls/s; "
                     f"{run.seconds:.0f}s with setup and checks), seed {run.seed}")
        for name, tally in results.services.items():
            seconds = tally.seconds
            lines.append("")
            lines.append(f"{name}: {tally.calls} calls in {seconds:.0f}s "
                         f"({tally.calls / seconds if seconds else 0:.0f} calls/s)")
            lines.append("  codes: " + ", ".join(f"{c} {n}" for c, n in _sum_codes(tally).items()))
            for method, counted in sorted(tally.methods.items()):
                p99 = 1000 * _percentile(counted.latencies, 0.99)
                lines.append(f"  {method:<22} {counted.calls:>6} calls, {counted.exercised:>6} "
                             f"exercised, p99 {p99:6.0f} ms: {_codes_line(counted)}")
            lines.append("  by kind: " + "; ".join(
                f"{kind} {sum(codes.values())}" for kind, codes in sorted(tally.kinds.items())))
        if results.client_errors:
            lines.append("")
            lines.append("calls gRPC would not send (not counted against the platform):")
            lines += [f"  {n:>6}  {error}" for error, n in results.client_errors.most_common(5)]
        if results.oversized_trailers:
            lines.append("")
            lines.append("warning: answers whose error details outgrew gRPC's header limit "
                         "(the caller got RESOURCE_EXHAUSTED, not the service's error):")
            lines += [f"  {n:>6}  {service.rsplit('.', 1)[-1]}/{method}" for (service, method), n
                      in results.oversized_trailers.most_common()]
        if results.findings:
            lines.append("")
            lines.append("FINDINGS (INTERNAL / UNKNOWN / undecodable responses):")
            for finding in sorted(results.findings.values(), key=lambda f: -f.count):
                example = finding.minimized or finding.examples[0]
                lines.append(f"  {finding.code:<8} {finding.service.rsplit('.', 1)[-1]}/"
                             f"{finding.method} x{finding.count} (reason "
                             f"{finding.reason or '-'}; {len(finding.shapes)} shapes)")
                lines.append(f"           e.g. {example['detail'][:150]} as {example['caller']}")
                if example.get("request_text"):
                    shown = example["request_text"].replace("\n", " ")[:200]
                    lines.append(f"           request: {shown}")
    if run.skipped and any(run.skipped.values()):
        lines.append("")
        for service, methods in run.skipped.items():
            for method, why in methods.items():
                lines.append(f"skipped {service.rsplit('.', 1)[-1]}/{method}: {why}")
    if run.not_deployed:
        lines.append(f"specs of services this platform does not route: "
                     f"{', '.join(run.not_deployed)}")
    lines.append("")
    lines.append("processes: " + ("no process died or restarted" if not run.process_problems
                                  else "; ".join(run.process_problems)))
    verdict = run.verdict()
    lines.append("")
    if verdict:
        lines.append(f"FAIL ({len(verdict)} reasons):")
        lines += [f"  - {reason}" for reason in verdict]
    else:
        lines.append("PASS: no INTERNAL or UNKNOWN status, no process died or restarted, "
                     "the platform still serves")
    return "\n".join(lines)
