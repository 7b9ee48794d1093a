"""ModelServerClient against small real HTTP servers on loopback: every failure of the
model server becomes a canonical error within the time given, never a hang."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from aiohttp import web

from services.classify.model_client import ModelServerClient
from zhijian.errors import DeadlineExceeded, Unavailable, ZhijianError
from zhijian.supervisor import free_port


async def serve(handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/predict", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def call(handler, texts: list[str], timeout_s: float = 2.0):
    async for url in serve(handler):
        client = ModelServerClient(url)
        try:
            return await client.predict(texts, timeout_s)
        finally:
            await client.close()
    raise AssertionError("unreachable")


def test_predictions_come_back_in_order_and_carry_trace_context():
    from opentelemetry import trace

    from zhijian.telemetry import setup_tracing

    setup_tracing("test", None)
    seen: dict[str, str] = {}

    async def echo(request: web.Request) -> web.Response:
        seen.update(request.headers)
        body = await request.json()
        return web.json_response([{"text": t} for t in body["texts"]])

    with trace.get_tracer("test").start_as_current_span("caller") as caller:
        result = asyncio.run(call(echo, ["a", "乙"]))
        trace_id = format(caller.get_span_context().trace_id, "032x")
    assert result == [{"text": "a"}, {"text": "乙"}]
    assert seen["traceparent"].startswith(f"00-{trace_id}-")


@pytest.mark.parametrize(("status", "code", "reason"), [
    (503, grpc.StatusCode.UNAVAILABLE, "MODEL_SERVER_UNAVAILABLE"),
    (500, grpc.StatusCode.INTERNAL, "MODEL_SERVER_ERROR"),
])
def test_http_errors_map_to_canonical_codes(status, code, reason):
    async def failing(request: web.Request) -> web.Response:
        return web.Response(status=status, text="boom")

    with pytest.raises(ZhijianError) as failure:
        asyncio.run(call(failing, ["x"]))
    assert failure.value.code == code and failure.value.reason == reason


def test_a_wrong_number_of_predictions_is_an_error_not_a_misattribution():
    async def short(request: web.Request) -> web.Response:
        return web.json_response([{"label": "device"}])

    with pytest.raises(ZhijianError, match="malformed"):
        asyncio.run(call(short, ["a", "b"]))


def test_a_hanging_server_is_unavailable_within_the_timeout():
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response([])

    started = time.monotonic()
    with pytest.raises(Unavailable) as failure:
        asyncio.run(call(hang, ["x"], timeout_s=0.5))
    assert failure.value.reason == "MODEL_SERVER_TIMEOUT"
    assert time.monotonic() - started < 3.0


def test_nothing_listening_is_unavailable_at_once():
    async def scenario() -> None:
        client = ModelServerClient(f"http://127.0.0.1:{free_port()}")
        try:
            await client.predict(["x"], 5.0)
        finally:
            await client.close()

    started = time.monotonic()
    with pytest.raises(Unavailable) as failure:
        asyncio.run(scenario())
    assert failure.value.reason == "MODEL_SERVER_UNAVAILABLE"
    assert time.monotonic() - started < 2.0


def test_no_time_left_fails_before_calling():
    async def scenario() -> None:
        client = ModelServerClient("http://127.0.0.1:9")
        try:
            await client.predict(["x"], 0.0)
        finally:
            await client.close()

    with pytest.raises(DeadlineExceeded):
        asyncio.run(scenario())


def test_concurrent_calls_share_requests_and_each_gets_its_own_answers():
    requests: list[int] = []

    async def slow_echo(request: web.Request) -> web.Response:
        body = await request.json()
        requests.append(len(body["texts"]))
        await asyncio.sleep(0.05)
        return web.json_response([{"text": t} for t in body["texts"]])

    async def scenario() -> list[list[dict]]:
        async for url in serve(slow_echo):
            client = ModelServerClient(url, max_in_flight=2)
            try:
                return list(await asyncio.gather(
                    *(client.predict([f"t{i}", f"u{i}"], 5.0) for i in range(20))))
            finally:
                await client.close()
        raise AssertionError("unreachable")

    answers = asyncio.run(scenario())
    assert answers == [[{"text": f"t{i}"}, {"text": f"u{i}"}] for i in range(20)]
    assert sum(requests) == 40
    assert len(requests) < 20  # coalesced while the first requests were out
    assert requests[0] == 2  # the first call went out alone, without waiting


def test_a_caller_with_a_short_deadline_gives_up_alone():
    async def slow(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(0.6)
        return web.json_response([{"text": t} for t in body["texts"]])

    async def scenario() -> tuple[object, object]:
        async for url in serve(slow):
            client = ModelServerClient(url, max_in_flight=1)
            try:
                results = await asyncio.gather(client.predict(["patient"], 5.0),
                                               client.predict(["hurried"], 0.2),
                                               return_exceptions=True)
                return results[0], results[1]
            finally:
                await client.close()
        raise AssertionError("unreachable")

    patient, hurried = asyncio.run(scenario())
    assert patient == [{"text": "patient"}]
    assert isinstance(hurried, Unavailable) and hurried.reason == "MODEL_SERVER_TIMEOUT"
