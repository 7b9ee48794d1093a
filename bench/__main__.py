"""``python -m bench classify | suspension | gateway | dlp | authz [options]`` (also
``zhijian bench``).

``classify`` and ``suspension`` measure the platform that ``zhijian up`` runs; ``gateway``
starts its own throwaway servers; ``dlp`` and ``authz`` time the data-level detectors
and the gateway's authorization decisions in process."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from zhijian.cli.output import Output
from zhijian.cli.stack import DEFAULT_DOMAIN, StackPorts, platform_env
from zhijian.config import HomeLayout, zhijian_home
from zhijian.service_spec import find, ports_of
from zhijian.supervisor import read_state


def _running(out: Output) -> HomeLayout | None:
    layout = HomeLayout(zhijian_home())
    if read_state(layout.state_file) is None:
        out.error("the platform is not running; start it with `make run` first")
        return None
    return layout


def bench_classify(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench classify",
                                     description="in-process vs BentoML vs gRPC")
    parser.add_argument("--requests", type=int, default=400,
                        help="requests per arm at concurrency 1")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="duration of each throughput arm")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    out = Output(args.json)
    layout = _running(out)
    if layout is None:
        return 1
    from bench.classify import run_benchmark

    ports = ports_of(find("classify"))
    report = run_benchmark(
        classify_target=f"127.0.0.1:{ports.grpc}",
        model_server_url=f"http://127.0.0.1:{ports.model_server}",
        tracking_uri=platform_env(layout, StackPorts.from_env())["MLFLOW_TRACKING_URI"],
        requests=args.requests, concurrency=args.concurrency, seconds=args.seconds,
        progress=out.progress)
    out.result(report.to_dict(), report.format_table())
    return 0


def bench_suspension(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench suspension",
                                     description="kill-switch latency: suspend → last "
                                                 "accepted call, under load")
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--as", dest="as_identity", default="admin",
                        help="identity that suspends and resumes (default admin)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    args = parser.parse_args(argv)
    out = Output(args.json)
    if _running(out) is None:
        return 1
    from bench.suspension import run
    from zhijian.cli.session import call_metadata
    from zhijian.identity import IdentitySettings, LocalIdentity

    identity = LocalIdentity.load(IdentitySettings.from_env().identities_dir, args.as_identity)
    classify = find("classify")
    report = asyncio.run(run(
        classify_target=f"127.0.0.1:{ports_of(classify).grpc}",
        registry_target=StackPorts.from_env().gateway_target(DEFAULT_DOMAIN),
        metadata=call_metadata(identity), model=classify.seed.model_name if classify.seed
        else classify.name, cycles=args.cycles, concurrency=args.concurrency,
        progress=out.progress))
    out.result(report.to_dict(), report.format())
    return 0


def bench_gateway(argv: Sequence[str]) -> int:
    from bench.gateway import main

    return main(list(argv))


def bench_dlp(argv: Sequence[str]) -> int:
    from bench.dlp import main

    return main(list(argv))


def bench_authz(argv: Sequence[str]) -> int:
    from bench.authz import main

    return main(list(argv))


BENCHMARKS = {"classify": bench_classify, "suspension": bench_suspension,
              "gateway": bench_gateway, "dlp": bench_dlp, "authz": bench_authz}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in BENCHMARKS:
        print(f"usage: python -m bench {{{','.join(BENCHMARKS)}}} [options]\n{__doc__}",
              file=sys.stderr)
        return 2
    return BENCHMARKS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
