"""Check a Locust CSV report of the load test: every user class made enough requests and
nothing ended in a status its scenario did not expect.

    python -m load.check_report load/report/zhijian_stats.csv [--min-requests 200]

Reads ``<prefix>_stats.csv`` and, beside it, ``<prefix>_failures.csv`` and
``<prefix>_exceptions.csv``; exits 1 with the reasons when the run does not pass. The
locustfile applies the same rule (load/profiles.py) in-process when Locust quits; this
is the check a CI job or a person can run on a report after the fact.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from load.profiles import DEFAULT_MIN_REQUESTS, USER_CLASSES, Tally, problems, tally

STATS_SUFFIX = "_stats.csv"


@dataclass(frozen=True)
class Report:
    totals: dict[str, Tally]
    failures: list[tuple[str, str, int]]  # (request name, error, occurrences)
    exceptions: list[str]  # messages of exceptions raised in user code


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_report(stats_csv: Path) -> Report:
    if not stats_csv.name.endswith(STATS_SUFFIX):
        raise ValueError(f"{stats_csv} is not a Locust *{STATS_SUFFIX} file")
    prefix = str(stats_csv)[: -len(STATS_SUFFIX)]
    rows = [row for row in _rows(stats_csv) if row["Name"] != "Aggregated"]
    totals = tally((row["Name"], int(row["Request Count"]), int(row["Failure Count"]))
                   for row in rows)
    failures_csv = Path(prefix + "_failures.csv")
    failures = [(row["Name"], row["Error"], int(row["Occurrences"]))
                for row in _rows(failures_csv)] if failures_csv.exists() else []
    exceptions_csv = Path(prefix + "_exceptions.csv")
    exceptions = [row["Message"] for row in _rows(exceptions_csv)] \
        if exceptions_csv.exists() else []
    return Report(totals, failures, exceptions)


def check(stats_csv: Path, *, min_requests: int = DEFAULT_MIN_REQUESTS,
          classes: Sequence[str] = USER_CLASSES) -> list[str]:
    """Reasons the report fails (empty: it passes); prints the per-class summary."""
    report = read_report(stats_csv)
    print(f"{'user class':<24}{'requests':>10}{'unexpected':>12}")
    for name in sorted(set(classes) | set(report.totals)):
        seen = report.totals.get(name, Tally())
        print(f"{name:<24}{seen.requests:>10}{seen.failures:>12}")
    found = problems(report.totals, classes, min_requests)
    found += [f"{name}: {count} x {error}" for name, error, count in report.failures]
    found += [f"exception in user code: {message}" for message in report.exceptions]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load.check_report",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stats_csv", type=Path, help="the <prefix>_stats.csv Locust wrote")
    parser.add_argument("--min-requests", type=int, default=DEFAULT_MIN_REQUESTS,
                        help="fewest requests each user class must have made")
    parser.add_argument("--classes", nargs="+", default=list(USER_CLASSES),
                        help="the user classes that ran (default: all of load/profiles.py)")
    args = parser.parse_args(argv)
    try:
        found = check(args.stats_csv, min_requests=args.min_requests, classes=args.classes)
    except (OSError, ValueError, KeyError) as error:
        print(f"cannot read the report: {error}", file=sys.stderr)
        return 2
    for problem in found:
        print(f"FAIL: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"PASS: every user class made at least {args.min_requests} requests, "
          "none ended in an unexpected status")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
