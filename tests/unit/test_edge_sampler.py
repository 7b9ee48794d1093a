"""The gateway traces every call, whatever sampling flag the caller sends."""

from __future__ import annotations

from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind

from zhijian.telemetry import edge_sampler

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def server_span(provider: TracerProvider, flags: str) -> Span:
    parent = propagate.extract({"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-{flags}"})
    return provider.get_tracer("test").start_span("call", context=parent, kind=SpanKind.SERVER)


def test_a_caller_cannot_switch_tracing_off_but_keeps_its_trace_id() -> None:
    span = server_span(TracerProvider(sampler=edge_sampler()), "00")
    assert span.is_recording()
    context = span.get_span_context()
    assert context.trace_flags.sampled
    assert format(context.trace_id, "032x") == CALLER_TRACE


def test_without_the_edge_sampler_the_flag_would_switch_it_off() -> None:
    # What the gateway would do with the SDK's default sampler: the reason for the above.
    assert not server_span(TracerProvider(), "00").is_recording()
