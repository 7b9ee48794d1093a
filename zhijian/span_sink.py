"""The embedded span sink: an OTLP/gRPC trace receiver that appends spans to a JSONL file.

Every process of the embedded platform (BentoML included) exports OTLP here, so one
file holds whole traces and ``zhijian trace show`` can print them without Jaeger.
In production the same exporters point at an OpenTelemetry Collector instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from zhijian.telemetry import setup_json_logging

log = logging.getLogger("zhijian.span_sink")


def _value(value: common_pb2.AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind) if kind else None


def span_records(request: trace_service_pb2.ExportTraceServiceRequest) -> list[dict[str, Any]]:
    """Flatten an OTLP export into one plain record per span."""
    records = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                records.append({
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "kind": trace_pb2.Span.SpanKind.Name(span.kind),
                    "service": resource.get("service.name", "unknown"),
                    "start_ns": span.start_time_unix_nano,
                    "end_ns": span.end_time_unix_nano,
                    "status": trace_pb2.Status.StatusCode.Name(span.status.code),
                    "attributes": {kv.key: _value(kv.value) for kv in span.attributes},
                })
    return records


class SpanFileWriter(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")

    async def Export(self, request: trace_service_pb2.ExportTraceServiceRequest,
                     context: grpc.aio.ServicerContext,
                     ) -> trace_service_pb2.ExportTraceServiceResponse:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in span_records(request))
        # One write per export keeps a batch's lines together across concurrent exporters.
        self._file.write(lines)
        self._file.flush()
        return trace_service_pb2.ExportTraceServiceResponse()

    def close(self) -> None:
        self._file.close()


async def run_sink(address: str, path: Path) -> None:
    server = grpc.aio.server()
    writer = SpanFileWriter(path)
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(writer, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen on {address}")
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    log.info("span sink on %s writing %s", address, path)
    await stopping.wait()
    # Exporters flush on their own shutdown; the grace lets their last batch land.
    await server.stop(3)
    writer.close()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="zhijian span sink (OTLP/gRPC receiver)")
    parser.add_argument("--address", required=True)
    parser.add_argument("--file", required=True, type=Path)
    args = parser.parse_args()
    setup_json_logging("INFO")
    asyncio.run(run_sink(args.address, args.file))


if __name__ == "__main__":
    main()
