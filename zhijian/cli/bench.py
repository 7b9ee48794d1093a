"""``zhijian bench classify | suspension``: against the running platform (``make run``)."""

from __future__ import annotations

import argparse

from zhijian.cli.output import Output
from zhijian.cli.stack import DEFAULT_DOMAIN, StackPorts, platform_env
from zhijian.config import HomeLayout, zhijian_home
from zhijian.supervisor import read_state


def cmd_bench_classify(args: argparse.Namespace, out: Output) -> int:
    from services.classify.bench import run_benchmark

    layout = HomeLayout(zhijian_home())
    if read_state(layout.state_file) is None:
        out.error("the platform is not running; start it with `make run` first")
        return 1
    ports = StackPorts.from_env()
    report = run_benchmark(
        classify_target=f"127.0.0.1:{ports.classify_grpc}",
        model_server_url=f"http://127.0.0.1:{ports.classify_model_server}",
        tracking_uri=platform_env(layout, ports)["MLFLOW_TRACKING_URI"],
        requests=args.requests, concurrency=args.concurrency, seconds=args.seconds,
        progress=out.progress)
    out.result(report.to_dict(), report.format_table())
    return 0


def cmd_bench_suspension(args: argparse.Namespace, out: Output) -> int:
    import asyncio

    from registry.bench_suspension import run
    from zhijian.cli.session import call_metadata
    from zhijian.identity import IdentitySettings, LocalIdentity

    layout = HomeLayout(zhijian_home())
    if read_state(layout.state_file) is None:
        out.error("the platform is not running; start it with `make run` first")
        return 1
    ports = StackPorts.from_env()
    identity = LocalIdentity.load(IdentitySettings.from_env().identities_dir, args.as_identity)
    report = asyncio.run(run(
        classify_target=f"127.0.0.1:{ports.classify_grpc}",
        registry_target=ports.gateway_target(DEFAULT_DOMAIN),
        metadata=call_metadata(identity), model="zhijian-classify", cycles=args.cycles,
        concurrency=args.concurrency, progress=out.progress))
    out.result(report.to_dict(), report.format())
    return 0
