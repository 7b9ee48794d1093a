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

    classify = commands.add_parser("classify", help="classify a product text")
    classify.add_argument("text")
    classify.add_argument("--task", action="append", dest="tasks",
                          choices=["product_category", "device_class", "review_route"],
                          help="task to run (repeatable; default all)")
    classify.add_argument("--lang", choices=["zh", "en"], default="zh",
                          help="language of display names")
    classify.add_argument("--level", choices=["L1", "L2", "L3", "L4"],
                          help="declared data level of the text (x-zhijian-data-level); "
                               "the service also detects it from the content")
    classify.add_argument("--timeout", type=float, default=10.0, help="deadline in seconds")
    add_identity_args(classify)
    _add_json(classify)

    train = commands.add_parser("train", help="train and register a model version")
    train_models = train.add_subparsers(dest="model", required=True, metavar="MODEL")
    train_classify = train_models.add_parser("classify", help="train zhijian-classify")
    train_classify.add_argument("--data", help="labelled JSONL corpus (default: the seed "
                                "corpus); format in services/classify/corpus/README.md")
    _add_json(train_classify)

    evaluate = commands.add_parser("eval", help="evaluate a model on real data")
    eval_models = evaluate.add_subparsers(dest="model", required=True, metavar="MODEL")
    eval_classify = eval_models.add_parser("classify", help="real-data evaluation of the "
                                           "classify model beside a plain baseline")
    eval_classify.add_argument("--datasets", help="datasets folder (default ../shared/datasets)")
    _add_json(eval_classify)

    trace = commands.add_parser("trace", help="read traces from the local span sink")
    trace_commands = trace.add_subparsers(dest="trace_command", required=True, metavar="ACTION")
    show = trace_commands.add_parser("show", help="print a trace as a span tree with timings")
    show.add_argument("trace_id")
    show.add_argument("--wait", type=float, default=5.0,
                      help="seconds to wait for spans still being exported")
    _add_json(show)

    bench = commands.add_parser("bench", help="benchmarks that print ratios from one run")
    bench_models = bench.add_subparsers(dest="model", required=True, metavar="MODEL")
    bench_classify = bench_models.add_parser("classify", help="in-process vs BentoML vs gRPC")
    bench_classify.add_argument("--requests", type=int, default=400,
                                help="requests per arm at concurrency 1")
    bench_classify.add_argument("--seconds", type=float, default=8.0,
                                help="duration of each throughput arm")
    bench_classify.add_argument("--concurrency", type=int, default=32)
    _add_json(bench_classify)
    bench_suspension = bench_models.add_parser(
        "suspension", help="kill-switch latency: suspend → last accepted call, under load")
    bench_suspension.add_argument("--cycles", type=int, default=50)
    bench_suspension.add_argument("--concurrency", type=int, default=8)
    bench_suspension.add_argument("--as", dest="as_identity", default="admin",
                                  help="identity that suspends and resumes (default admin)")
    _add_json(bench_suspension)

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
    if args.command == "classify":
        from zhijian.cli.classify import cmd_classify
        return cmd_classify
    if args.command == "train":
        from zhijian.cli.classify import cmd_train_classify
        return cmd_train_classify
    if args.command == "eval":
        from zhijian.cli.classify import cmd_eval_classify
        return cmd_eval_classify
    if args.command == "trace":
        from zhijian.cli.trace import cmd_trace_show
        return cmd_trace_show
    if hasattr(args, "handler"):  # command groups that register their own handlers
        handler: Callable[[argparse.Namespace, Output], int] = args.handler
        return handler
    if args.model == "suspension":
        from zhijian.cli.bench import cmd_bench_suspension
        return cmd_bench_suspension
    from zhijian.cli.bench import cmd_bench_classify
    return cmd_bench_classify


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
