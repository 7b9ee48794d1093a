"""``zhijian``: bring the embedded platform up, inspect it, call it, train and evaluate.

Every command takes ``--json``; progress of slow work goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from zhijian.cli.output import Output
from zhijian.cli.session import add_identity_args
from zhijian.config import ConfigError, contain_environment, zhijian_home
from zhijian.service_spec import CommandGroups, add_service_commands


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="zhijian", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="start the embedded platform in the foreground")
    _add_json(up)

    status = commands.add_parser("status", help="health of every component (and, with --as, "
                                 "of every deployment); exit 1 down, 3 a deployment "
                                 "suspended or expired, 4 degraded")
    add_identity_args(status)
    _add_json(status)

    down = commands.add_parser("down", help="stop the platform under $ZHIJIAN_HOME, also one "
                               "whose `zhijian up` was killed")
    down.add_argument("--grace", type=float, default=10.0,
                      help="seconds between SIGTERM and SIGKILL (default 10)")
    _add_json(down)

    train = commands.add_parser("train", help="train and register a model version")
    train_models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    evaluate = commands.add_parser("eval", help="evaluate a model on real data")
    eval_models = evaluate.add_subparsers(dest="model", required=True, metavar="MODEL")
    add_service_commands(CommandGroups(commands, train_models, eval_models))

    trace = commands.add_parser("trace", help="read traces from the local span sink")
    trace_commands = trace.add_subparsers(dest="trace_command", required=True, metavar="ACTION")
    show = trace_commands.add_parser("show", help="print a trace as a span tree with timings")
    show.add_argument("trace_id")
    show.add_argument("--wait", type=float, default=5.0,
                      help="seconds to wait for spans still being exported")
    _add_json(show)

    bench = commands.add_parser(
        "bench", help="benchmarks that print ratios from one run (python -m bench NAME "
        "--help lists each one's options)")
    bench.add_argument("name", metavar="NAME",
                       help="classify, suspension, gateway, dlp or authz (`python -m bench`)")
    bench.add_argument("options", nargs=argparse.REMAINDER,
                       help="passed to the benchmark")
    bench.set_defaults(json=False)  # `--json` after NAME goes to the benchmark

    from zhijian.cli.audit import add_audit_commands
    from zhijian.cli.deploy import add_deploy_commands
    from zhijian.cli.filing import add_filing_commands
    from zhijian.cli.identity import add_identity_commands

    add_identity_commands(commands)
    add_filing_commands(commands)
    add_deploy_commands(commands)
    add_audit_commands(commands)
    return parser


def _handler(args: argparse.Namespace) -> Callable[[argparse.Namespace, Output], int]:
    # Imported per command: `zhijian status` should not pay for scikit-learn and MLflow.
    if args.command == "up":
        from zhijian.cli.up import cmd_up
        return cmd_up
    if args.command == "status":
        from zhijian.cli.status import cmd_status
        return cmd_status
    if args.command == "down":
        from zhijian.cli.down import cmd_down
        return cmd_down
    if args.command == "trace":
        from zhijian.cli.trace import cmd_trace_show
        return cmd_trace_show
    if hasattr(args, "handler"):  # commands that register their own handlers (services')
        handler: Callable[[argparse.Namespace, Output], int] = args.handler
        return handler
    from zhijian.cli.bench import cmd_bench
    return cmd_bench


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(args.json)
    contain_environment(zhijian_home())
    try:
        return _handler(args)(args, out)
    except ConfigError as error:
        out.error(f"configuration: {error}")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
