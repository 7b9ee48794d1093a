"""Channels to zhijian services, traced and with the same size limits as the servers."""

from __future__ import annotations

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024


# gRPC's own reconnect back-off grows to two minutes; a platform peer that restarts in
# seconds (the registry, say) must be reached again within a second or two of coming back,
# or whoever depends on it declares its state stale.
RECONNECT_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def open_channel(target: str, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 traced: bool = True) -> grpc.aio.Channel:
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        *RECONNECT_OPTIONS,
    ]
    interceptors = aio_client_interceptors() if traced else None
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
