"""Tracing, JSON logs and metrics for every process.

The tracer provider must be global and set before any server or channel exists, or the
gRPC instrumentation silently records nothing. Spans go over OTLP to whatever
``OTEL_EXPORTER_OTLP_ENDPOINT`` names: the embedded span sink, or a collector.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, Sampler

_provider: TracerProvider | None = None


def edge_sampler() -> Sampler:
    """For the process where calls enter the platform: every call is traced, whatever
    sampling flag the caller's ``traceparent`` carries. Callers keep their trace id (so a
    business system can correlate) but cannot switch the platform's tracing off."""
    return ParentBased(root=ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON)


def setup_tracing(service_name: str, otlp_endpoint: str | None,
                  sampler: Sampler | None = None) -> TracerProvider:
    """Install the global tracer provider once per process; later calls return it."""
    global _provider
    if _provider is not None:
        return _provider
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}),
                              sampler=sampler)
    if otlp_endpoint:
        # Imported here: the exporter pulls in a second gRPC stack that clients without
        # tracing need not pay for.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True, timeout=5)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def flush_tracing(timeout_ms: int = 5000) -> None:
    if _provider is not None:
        _provider.force_flush(timeout_ms)


def shutdown_tracing() -> None:
    global _provider
    if _provider is not None:
        _provider.force_flush(5000)
        _provider.shutdown()
        _provider = None


def current_trace_id() -> str:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, carrying the trace and span of the active span."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        for key in ("request_id", "method", "code", "component"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_json_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
