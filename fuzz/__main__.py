"""``python -m fuzz``: fuzz every service the gateways route, on a throwaway platform.

    python -m fuzz [--calls-per-service 100000] [--max-minutes 60] [--concurrency 32]
                   [--services registry,classify] [--seed S] [--report PATH]
                   [--attach] [--keep-home]

Starts ``zhijian up`` in a temporary ZHIJIAN_HOME on free loopback ports, runs, stops
it and removes the home. ``--attach`` fuzzes the platform already running under
$ZHIJIAN_HOME instead (methods that store records are then skipped, destructive ones
see only names that do not exist). Exit status 0 when the run passed: no INTERNAL or
UNKNOWN status, no undecodable response, no platform process died or restarted, every
service got its calls, every method was exercised, the platform still serves.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from fuzz import report
from fuzz.harness import fuzz
from fuzz.platform import ThrowawayPlatform, attached
from zhijian.config import zhijian_home

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REPORT = REPO / "fuzz" / "report" / "fuzz-report.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls-per-service", type=int, default=100_000)
    parser.add_argument("--max-minutes", type=float, default=60.0,
                        help="stop sending after this long, whatever the count")
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight")
    parser.add_argument("--services", default="",
                        help="comma-separated short names (registry,classify); default all")
    parser.add_argument("--seed", default="", help="default: the current time")
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--attach", action="store_true",
                        help="fuzz the platform running under $ZHIJIAN_HOME")
    parser.add_argument("--keep-home", action="store_true",
                        help="keep the throwaway platform's home (logs, ledgers) afterwards")
    args = parser.parse_args(argv)
    if args.calls_per_service < 1 or args.concurrency < 1 or args.max_minutes <= 0:
        parser.error("--calls-per-service, --concurrency and --max-minutes must be positive")
    seed = args.seed or str(int(time.time()))
    services = [s.strip() for s in args.services.split(",") if s.strip()] or None

    def progress(message: str) -> None:
        print(message, flush=True)

    platform = attached(zhijian_home(), os.environ) if args.attach else \
        ThrowawayPlatform(keep_home=args.keep_home, progress=progress)
    with platform as target:
        run = asyncio.run(fuzz(target, calls_per_service=args.calls_per_service,
                               max_seconds=args.max_minutes * 60, concurrency=args.concurrency,
                               seed=seed, services=services, progress=progress))
        report.write_json(run, args.report)
    if isinstance(platform, ThrowawayPlatform):
        if platform.leftovers:
            run.process_problems.append(f"processes left after stopping the platform: "
                                        f"{platform.leftovers}")
            report.write_json(run, args.report)
        if args.keep_home:
            print(f"platform home kept: {platform.home}")
    print()
    print(report.text(run))
    print(f"\nreport: {args.report}")
    return 0 if run.passed else 1


if __name__ == "__main__":
    sys.exit(main())
