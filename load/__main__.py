"""The one command of the load test: Locust headless against the running platform's
gateways, its CSV and HTML reports, then the report check.

    python -m load [--users 12] [--run-time 30s] [--report-dir load/report]

Exit status: 0 when the run passed; otherwise Locust's or the check's non-zero status
(a user class made fewer than --min-requests requests, a request ended in a status its
scenario did not expect, user code raised, or the platform could not be reached).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

from load.check_report import check
from load.profiles import (
    DEFAULT_MAX_REQUESTS,
    DEFAULT_MIN_REQUESTS,
    DEFAULT_REPORT_DIR,
    DEFAULT_USER_RATE,
    REPO,
    REPORT_PREFIX,
    USER_CLASSES,
)

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
# Locust's exit status for bad options; the locustfile uses it too when it cannot start.
USAGE_ERROR = 2


def locust_command(args: argparse.Namespace) -> list[str]:
    prefix = args.report_dir / REPORT_PREFIX
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
        "--run-time", args.run_time, "--csv", str(prefix), "--html", f"{prefix}.html",
        "--only-summary", "--min-requests-per-class", str(args.min_requests),
        "--max-requests-per-class", str(args.max_requests), "--user-rate", str(args.user_rate),
    ]
    if args.host:
        command += ["--host", args.host]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load", description=__doc__.splitlines()[0]
                                     if __doc__ else None)
    parser.add_argument("--users", type=int, default=12,
                        help="simulated users, spread evenly over the user classes")
    parser.add_argument("--spawn-rate", type=float, default=12.0, help="users started per second")
    parser.add_argument("--run-time", default="30s", help="e.g. 30s, 2m")
    parser.add_argument("--report-dir", type=Path, default=DEFAULT_REPORT_DIR)
    parser.add_argument("--min-requests", type=int, default=DEFAULT_MIN_REQUESTS,
                        help="fewest requests each user class must make")
    parser.add_argument("--max-requests", type=int, default=DEFAULT_MAX_REQUESTS,
                        help="a user class stops after this many requests")
    parser.add_argument("--user-rate", type=float, default=DEFAULT_USER_RATE,
                        help="task runs per second of each simulated user")
    parser.add_argument("--host", default="", help="loopback address of the gateways "
                        "(default 127.0.0.1; anything else is refused)")
    args = parser.parse_args(argv)
    if args.users < len(USER_CLASSES):
        parser.error(f"--users must be at least {len(USER_CLASSES)}: one per user class")

    args.report_dir.mkdir(parents=True, exist_ok=True)
    prefix = args.report_dir / REPORT_PREFIX
    # A report left by an earlier run must not pass for this one.
    for stale in args.report_dir.glob(f"{REPORT_PREFIX}*"):
        stale.unlink()
    command = locust_command(args)
    print("+", shlex.join(command), flush=True)
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                       os.environ.get("PYTHONPATH")]))}
    code = subprocess.run(command, cwd=REPO, env=env, check=False).returncode
    stats_csv = Path(f"{prefix}_stats.csv")
    if code == USAGE_ERROR or not stats_csv.exists():
        # Stopped before any user ran (bad option, non-loopback host, platform not up):
        # Locust has said why, and an empty report has nothing to add.
        print(f"FAIL: Locust exited with {code} before the run", file=sys.stderr)
        return code or USAGE_ERROR
    print(f"+ {sys.executable} -m load.check_report {stats_csv} --min-requests "
          f"{args.min_requests}", flush=True)
    found = check(stats_csv, min_requests=args.min_requests)
    for problem in found:
        print(f"FAIL: {problem}", file=sys.stderr)
    if code != 0:
        print(f"FAIL: Locust exited with {code}", file=sys.stderr)
        return code
    if found:
        return 1
    print(f"PASS: reports in {args.report_dir} ({prefix.name}_stats.csv, "
          f"{prefix.name}.html)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
