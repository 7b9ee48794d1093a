"""ModelServerClient against small real HTTP servers on loopback: every failure of the
model server becomes a canonical error within the time given, never a hang."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from aiohttp import web

from zhijian.errors import DeadlineExceeded, FailedPrecondition, Unavailable, ZhijianError
from zhijian.model_client import Forwarded, ModelServerClient
from zhijian.supervisor import free_port

CALLER = Forwarded(assertion="assertion-of-the-call", request_id="request-1")


def forwarded(n: int) -> Forwarded:
    return Forwarded(assertion=f"assertion-{n}", request_id=f"request-{n}")


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


def texts_of(body: dict) -> list[str]:
    return [item["text"] for item in body["items"]]


def items(texts: list[str]) -> list[dict[str, str]]:
    """Classify's item shape; the client itself is agnostic of it."""
    return [{"text": text} for text in texts]


async def echo_items(request: web.Request) -> web.Response:
    body = await request.json()
    return web.json_response([{"text": i["text"], "version": i["version"]}
                              for i in body["items"]])


async def call(handler, texts: list[str], timeout_s: float = 2.0, version: str = "7"):
    async for url in serve(handler):
        client = ModelServerClient(url)
        try:
            return await client.predict(items(texts), version, timeout_s, CALLER)
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
        return await echo_items(request)

    with trace.get_tracer("test").start_as_current_span("caller") as caller:
        result = asyncio.run(call(echo, ["a", "乙"], version="7"))
        trace_id = format(caller.get_span_context().trace_id, "032x")
    assert result == [{"text": "a", "version": "7"}, {"text": "乙", "version": "7"}]
    assert seen["traceparent"].startswith(f"00-{trace_id}-")
    # The caller's assertion travels with it: the model server answers nothing without.
    assert seen["x-zhijian-assertion"] == "assertion-of-the-call"
    assert seen["x-zhijian-request-id"] == "request-1"


def test_a_refused_assertion_is_a_platform_error_not_a_model_answer():
    async def refusing(request: web.Request) -> web.Response:
        return web.json_response({"error": {"reason": "ASSERTION_INVALID"}}, status=401)

    with pytest.raises(ZhijianError) as failure:
        asyncio.run(call(refusing, ["x"]))
    assert failure.value.code == grpc.StatusCode.INTERNAL
    assert failure.value.reason == "MODEL_SERVER_REFUSED_ASSERTION"


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
            await client.predict(items(["x"]), "7", 5.0, CALLER)
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
            await client.predict(items(["x"]), "7", 0.0, CALLER)
        finally:
            await client.close()

    with pytest.raises(DeadlineExceeded):
        asyncio.run(scenario())


def test_concurrent_calls_share_requests_and_each_gets_its_own_answers():
    requests: list[int] = []
    carried: list[tuple[str, str, list[str]]] = []

    async def slow_echo(request: web.Request) -> web.Response:
        body = await request.json()
        requests.append(len(body["items"]))
        carried.append((request.headers["x-zhijian-assertion"],
                        request.headers["x-zhijian-request-id"], texts_of(body)))
        await asyncio.sleep(0.05)
        return web.json_response([{"text": t} for t in texts_of(body)])

    async def scenario() -> list[list[dict]]:
        async for url in serve(slow_echo):
            client = ModelServerClient(url, max_in_flight=2)
            try:
                return list(await asyncio.gather(
                    *(client.predict(items([f"t{i}", f"u{i}"]), "7", 5.0, forwarded(i))
                      for i in range(20))))
            finally:
                await client.close()
        raise AssertionError("unreachable")

    answers = asyncio.run(scenario())
    assert answers == [[{"text": f"t{i}"}, {"text": f"u{i}"}] for i in range(20)]
    assert sum(requests) == 40
    assert len(requests) < 20  # coalesced while the first requests were out
    assert requests[0] == 2  # the first call went out alone, without waiting
    # Each request carries the assertion, bound to its request id, of one of its own calls.
    for assertion, request_id, texts in carried:
        n = int(assertion.removeprefix("assertion-"))
        assert request_id == f"request-{n}" and f"t{n}" in texts


def test_a_caller_with_a_short_deadline_gives_up_alone():
    async def slow(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(0.6)
        return web.json_response([{"text": t} for t in texts_of(body)])

    async def scenario() -> tuple[object, object]:
        async for url in serve(slow):
            client = ModelServerClient(url, max_in_flight=1)
            try:
                results = await asyncio.gather(
                    client.predict(items(["patient"]), "7", 5.0, CALLER),
                    client.predict(items(["hurried"]), "7", 0.2, CALLER), return_exceptions=True)
                return results[0], results[1]
            finally:
                await client.close()
        raise AssertionError("unreachable")

    patient, hurried = asyncio.run(scenario())
    assert patient == [{"text": "patient"}]
    assert isinstance(hurried, Unavailable) and hurried.reason == "MODEL_SERVER_TIMEOUT"


def test_coalescing_never_mixes_versions_in_one_request():
    requests: list[set[str]] = []

    async def slow_echo(request: web.Request) -> web.Response:
        body = await request.json()
        requests.append({item["version"] for item in body["items"]})
        await asyncio.sleep(0.05)
        return web.json_response([{"text": i["text"], "version": i["version"]}
                                  for i in body["items"]])

    async def scenario() -> list[list[dict]]:
        async for url in serve(slow_echo):
            client = ModelServerClient(url, max_in_flight=1)
            try:
                return list(await asyncio.gather(
                    *(client.predict(items([f"t{i}"]), "7" if i % 3 else "8", 5.0, CALLER)
                      for i in range(30))))
            finally:
                await client.close()
        raise AssertionError("unreachable")

    answers = asyncio.run(scenario())
    assert answers == [[{"text": f"t{i}", "version": "7" if i % 3 else "8"}]
                       for i in range(30)]
    assert all(len(versions) == 1 for versions in requests)
    assert len(requests) < 30  # still coalesced, per version


@pytest.mark.parametrize(("code", "error_class", "reason"), [
    ("MODEL_NOT_SERVABLE", FailedPrecondition, "MODEL_NOT_SERVABLE"),
    ("MODEL_LOADING", Unavailable, "MODEL_LOADING"),
    ("SERVING_STATE_UNKNOWN", Unavailable, "SERVING_STATE_UNKNOWN"),
])
def test_a_per_item_refusal_fails_the_call_with_its_reason(code, error_class, reason):
    async def refusing(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response([{"error": code, "version": i["version"], "detail": "no"}
                                  for i in body["items"]])

    with pytest.raises(error_class) as failure:
        asyncio.run(call(refusing, ["a", "b"], version="9"))
    assert failure.value.reason == reason
    assert failure.value.metadata == {"version": "9"}


def test_a_refusal_reaches_only_the_callers_whose_items_were_refused():
    async def half(request: web.Request) -> web.Response:
        body = await request.json()
        await asyncio.sleep(0.05)
        return web.json_response([
            {"error": "MODEL_NOT_SERVABLE", "version": i["version"]} if i["text"] == "bad"
            else {"text": i["text"]} for i in body["items"]])

    async def scenario() -> list[object]:
        async for url in serve(half):
            client = ModelServerClient(url, max_in_flight=1)
            try:
                return list(await asyncio.gather(
                    client.predict(items(["first"]), "7", 5.0, CALLER),
                    client.predict(items(["good"]), "7", 5.0, CALLER),
                    client.predict(items(["bad"]), "7", 5.0, CALLER), return_exceptions=True))
            finally:
                await client.close()
        raise AssertionError("unreachable")

    first, good, bad = asyncio.run(scenario())
    assert first == [{"text": "first"}] and good == [{"text": "good"}]
    assert isinstance(bad, FailedPrecondition) and bad.reason == "MODEL_NOT_SERVABLE"


def test_a_large_call_goes_in_slices_one_after_another_and_keeps_its_order():
    seen: list[list[str]] = []
    in_flight = 0
    most_in_flight = 0

    async def recording(request: web.Request) -> web.Response:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        body = await request.json()
        seen.append(texts_of(body))
        await asyncio.sleep(0.01)
        in_flight -= 1
        return web.json_response([{"text": i["text"]} for i in body["items"]])

    texts = [f"{i:04d}" + "x" * 3996 for i in range(10)]  # 4,000 characters each
    predictions = asyncio.run(call(recording, texts))
    assert [p["text"] for p in predictions] == texts
    # 16,000 characters a slice by default: four texts, then four, then two.
    assert [len(part) for part in seen] == [4, 4, 2]
    assert most_in_flight == 1  # never two slices of one call at once
    assert [text for part in seen for text in part] == texts


def test_a_small_call_is_one_request():
    seen: list[int] = []

    async def counting(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(len(body["items"]))
        return web.json_response([{"text": i["text"]} for i in body["items"]])

    asyncio.run(call(counting, ["电子血压计"] * 64))
    assert seen == [64]


class Restarting:
    """A port that accepts connections but answers nothing: BentoML restarting, its socket
    bound by the arbiter, its workers still loading the model."""

    def __init__(self, port: int | None = None) -> None:
        import socket

        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port or 0))
        self.socket.listen(128)  # the kernel completes handshakes; nobody accepts
        self.port = self.socket.getsockname()[1]

    def close(self) -> None:
        self.socket.close()


async def timed_failure(client: ModelServerClient, timeout_s: float) -> tuple[Unavailable, float]:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Unavailable) as failure:
        await client.predict(items(["x"]), "7", timeout_s, CALLER)
    return failure.value, loop.time() - started


def test_a_restarting_server_that_accepts_but_never_answers_fails_fast():
    async def scenario() -> None:
        restarting = Restarting()
        client = ModelServerClient(f"http://127.0.0.1:{restarting.port}")
        try:
            first, elapsed = await timed_failure(client, 8.0)
            assert first.reason == "MODEL_SERVER_UNAVAILABLE", first
            assert elapsed < 3.0, f"hung {elapsed:.1f}s of an 8 s deadline"
            # Known to be down: one short probe, not another wait.
            again, elapsed = await timed_failure(client, 8.0)
            assert again.reason == "MODEL_SERVER_UNAVAILABLE" and elapsed < 2.0
        finally:
            await client.close()
            restarting.close()

    asyncio.run(scenario())


def test_after_a_crash_calls_fail_fast_until_the_restarted_server_answers():
    async def scenario() -> None:
        app = web.Application()
        app.router.add_post("/predict", echo_items)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        client = ModelServerClient(f"http://127.0.0.1:{port}")
        try:
            assert await client.predict(items(["a"]), "7", 5.0, CALLER)  # a pooled connection now
            await runner.cleanup()  # the crash
            restarting = Restarting(port)
            failures = [await timed_failure(client, 8.0) for _ in range(3)]
            assert all(f.reason == "MODEL_SERVER_UNAVAILABLE" for f, _ in failures), failures
            assert max(elapsed for _, elapsed in failures) < 3.0, failures
            restarting.close()
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()  # loaded, serving again
            assert await client.predict(items(["b"]), "7", 5.0, CALLER) == [
                {"text": "b", "version": "7"}]
        finally:
            await client.close()
            await runner.cleanup()

    asyncio.run(scenario())


def test_a_slow_server_that_answers_its_probe_is_waited_for():
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2.0)  # longer than probe_after_s: the probe answers, so wait
        return await echo_items(request)

    assert asyncio.run(call(slow, ["x"], timeout_s=5.0)) == [{"text": "x", "version": "7"}]
