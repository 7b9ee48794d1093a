"""``zhijian bench NAME [options]``: runs ``python -m bench NAME``. The benchmarks live
beside ``load/``, outside the platform's packages, and reach into the components they
measure; the CLI only starts them."""

from __future__ import annotations

import argparse
import subprocess
import sys

from zhijian.cli.output import Output


def cmd_bench(args: argparse.Namespace, out: Output) -> int:
    options = list(args.options)
    if args.json and "--json" not in options:
        options.append("--json")
    try:
        return subprocess.run([sys.executable, "-m", "bench", args.name, *options]).returncode
    except KeyboardInterrupt:
        return 130
