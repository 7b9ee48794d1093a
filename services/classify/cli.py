"""``zhijian classify | train classify | eval classify``: the classify service's commands,
added to the platform's CLI through its spec."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from opentelemetry import trace

from services.classify.service import MODEL_NAME
from zhijian import metadata as md
from zhijian.cli.output import Output
from zhijian.cli.session import add_identity_args
from zhijian.cli.stack import StackPorts, platform_env
from zhijian.client import open_channel
from zhijian.config import HomeLayout, zhijian_home
from zhijian.errors import parse_error
from zhijian.service_spec import CommandGroups, json_flag
from zhijian.telemetry import current_trace_id, setup_tracing, shutdown_tracing


def add_commands(groups: CommandGroups) -> None:
    classify = groups.commands.add_parser("classify", help="classify a product text")
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
    json_flag(classify)
    classify.set_defaults(handler=cmd_classify)

    train = groups.train.add_parser("classify", help=f"train {MODEL_NAME}")
    train.add_argument("--data", help="labelled JSONL corpus (default: the seed "
                       "corpus); format in services/classify/corpus/README.md")
    json_flag(train)
    train.set_defaults(handler=cmd_train_classify)

    evaluate = groups.evaluate.add_parser("classify", help="real-data evaluation of the "
                                          "classify model beside a plain baseline")
    evaluate.add_argument("--datasets", help="datasets folder (default ../shared/datasets)")
    json_flag(evaluate)
    evaluate.set_defaults(handler=cmd_eval_classify)


def _platform_env() -> dict[str, str]:
    return platform_env(HomeLayout(zhijian_home()), StackPorts.from_env())


async def _call_classify(target: str, request: Any, timeout: float,
                         metadata: tuple[tuple[str, str], ...]
                         ) -> tuple[Any, dict[str, str], str]:
    from zhijian.classify.v1 import classify_service_pb2_grpc

    tracer = trace.get_tracer("zhijian.cli")
    async with open_channel(target) as channel:
        stub = classify_service_pb2_grpc.ClassifyServiceStub(channel)
        with tracer.start_as_current_span("zhijian classify", kind=trace.SpanKind.INTERNAL):
            trace_id = current_trace_id()
            call = stub.Classify(request, timeout=timeout, metadata=metadata)
            response = await call
            trailers = {k: v for k, v in (await call.trailing_metadata() or ())
                        if isinstance(v, str)}
    return response, trailers, trace_id


def format_response(text: str, response: Any, trace_id: str) -> str:
    from zhijian.classify.v1 import classify_service_pb2 as pb

    lines = [text]
    for result in response.results:
        task = pb.Task.Name(result.task).removeprefix("TASK_").lower()
        top = result.probabilities[0].probability if result.probabilities else 0.0
        lines.append(f"  {task:<17} {result.label:<15} {result.display_name}  ({top:.2f})")
        lines.append("      " + " · ".join(f"{p.label} {p.probability:.2f}"
                                          for p in result.probabilities[:4]))
        if result.terms:
            lines.append("      terms: " + ", ".join(result.terms))
    meta = response.result
    filing = f" · filing {meta.model.filing_number}" if meta.model.filing_number else ""
    lines.append(f"model {meta.model.model} version {meta.model.version}{filing} · "
                 f"result {meta.result_id}")
    lines.append(meta.disclaimer)
    lines.append(f"trace {trace_id}  (zhijian trace show {trace_id})")
    return "\n".join(lines)


def cmd_classify(args: argparse.Namespace, out: Output) -> int:
    """Classify through the gateway of ``--domain``, acting as ``--as``."""
    from zhijian.classify.v1 import classify_service_pb2 as pb
    from zhijian.cli.session import acting_identity, call_metadata, gateway_target
    from zhijian.identity import IdentityError

    env = _platform_env()
    try:
        identity = acting_identity(args)
    except IdentityError as error:
        out.error(f"{error} (business systems act as `--as business` in the demo)")
        return 2
    target = gateway_target(args)
    metadata = call_metadata(identity)
    if args.level:
        metadata += ((md.DATA_LEVEL, args.level),)
    setup_tracing("zhijian-cli", os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
                  or env["OTEL_EXPORTER_OTLP_ENDPOINT"])
    tasks = [f"TASK_{task.upper()}" for task in args.tasks or ()]  # enum value names
    request = pb.ClassifyRequest(text=args.text, display_language=args.lang, tasks=tasks)
    try:
        response, trailers, trace_id = asyncio.run(_call_classify(target, request, args.timeout,
                                                                  metadata))
    except grpc.aio.AioRpcError as error:
        details = parse_error(error)
        if details.code == grpc.StatusCode.UNAVAILABLE and not details.reason:
            out.error(f"the gateway at {target} is not reachable; is the platform "
                      "running (`make run`, `zhijian status`)?", code=details.code.name,
                      reason="SERVICE_UNREACHABLE")
            return 1
        extra = ({"field_violations": [f"{v.field}: {v.description}"
                                       for v in details.violations]}
                 if details.violations else {})
        out.error(details.message, code=details.code.name, reason=details.reason, **extra)
        return 1
    finally:
        shutdown_tracing()  # flushes the CLI's spans to the sink before exit
    data = json_format.MessageToDict(response, preserving_proto_field_name=True)
    data["trace_id"], data["trailers"] = trace_id, trailers
    out.result(data, format_response(args.text, response, trace_id))
    return 0


def cmd_train_classify(args: argparse.Namespace, out: Output) -> int:
    from services.classify.training import (
        SEED_CORPUS,
        SEED_PROVENANCE,
        CorpusError,
        load_corpus,
        train_and_register,
    )

    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or _platform_env()["MLFLOW_TRACKING_URI"]
    try:
        corpus = (load_corpus(Path(args.data)) if args.data
                  else load_corpus(SEED_CORPUS, SEED_PROVENANCE))
    except CorpusError as error:
        out.error(str(error))
        return 2
    out.progress(f"training on {len(corpus)} records from {corpus.path} "
                 f"(sha256 {corpus.sha256[:12]}…), logging to {tracking_uri}")
    try:
        result = train_and_register(corpus, tracking_uri=tracking_uri, progress=out.progress)
    except Exception as error:  # MLflow's own errors: unreachable server, bad store
        if "Connection" in type(error).__name__ or "connect" in str(error).lower():
            out.error(f"MLflow at {tracking_uri} is not reachable; start the platform with "
                      "`make run` (or set MLFLOW_TRACKING_URI)")
            return 1
        raise
    out.result(result.to_dict(),
               f"registered {result.model_name} version {result.version} "
               f"(run {result.run_id}, {result.seconds:.1f}s)\n"
               + "\n".join(f"  {k}: {v:.3f}" for k, v in result.metrics.items())
               + "\nit serves once filed, validated, approved and promoted: "
               "zhijian filing create --file FILING.json --as developer, then "
               "filing submit / validate / approve and deploy promote")
    return 0


def cmd_eval_classify(args: argparse.Namespace, out: Output) -> int:
    from services.classify.datasets import shared_datasets_dir
    from services.classify.evaluation import evaluate

    datasets = Path(args.datasets) if args.datasets else shared_datasets_dir()
    if datasets is None or not datasets.is_dir():
        out.result({"skipped": True, "reason": "datasets folder not found"},
                   "skipped: the real datasets (../shared/datasets, or --datasets DIR, or "
                   "ZHIJIAN_DATASETS) are not on this machine")
        return 0
    report = evaluate(datasets, progress=out.progress)
    out.result(report.to_dict(), report.format_table())
    return 0
