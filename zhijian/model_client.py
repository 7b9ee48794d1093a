"""HTTP client of a governed model server (``zhijian.model_server``), bounded by the
caller's deadline.

An item is a JSON object of the service's item fields; every item names the model
version that must answer it (the one the registry selected for the call), and the model
server refuses, per item, a version it may not serve.

Concurrent calls are coalesced per version: while ``max_in_flight`` requests are out,
items of new calls queue and leave together in the next request for their version (one
version per request, so a version that fails cannot fail another's callers). A lone
call goes out at once, so this adds no latency; under load it spares the model server
most of its per-request HTTP work, which costs more than predicting an item. The model
server still batches across requests (BentoML adaptive batching).

A call holding more text than ``max_chars_per_slice`` (the characters of its items'
string fields) goes to the model server in
slices, one after another: the model server's adaptive batcher sheds requests it expects
to miss its latency budget, so one caller's maximal batch (seconds of model time in one
request) would otherwise have every other caller refused while it runs. In slices, the
large call takes turns with everyone else's and each slice fits the budget.

A model server that is down, slow or broken surfaces as ``UNAVAILABLE`` within the
caller's deadline; it never hangs a call. One that is restarting fails calls fast: a
restarted BentoML binds its port at once but answers nothing until its workers have
loaded the model (seconds), so connections succeed and requests wait in the kernel's
backlog until their deadline. The client therefore treats a lost connection, or a request
unanswered for ``probe_after_s`` while a probe of ``/readyz`` gets no answer either, as an
outage: requests in flight end with ``UNAVAILABLE`` / ``MODEL_SERVER_UNAVAILABLE`` and
later calls fail as soon as one shared probe (``probe_timeout_s``, long enough for a
CPU-starved but live server to answer) finds the server still silent, until a probe is
answered. A slow but live server answers its probe, and its
calls wait for their own deadline.

Every request carries a caller's gateway assertion and its request id
(``x-zhijian-assertion``, ``x-zhijian-request-id``): the model server answers nothing
without them, so that reaching it around the gateway and the service gets nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from zhijian import metadata as md
from zhijian.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    Unavailable,
    ZhijianError,
)
from zhijian.version_choice import SERVING_STATE_UNKNOWN  # the model server lost the registry

Prediction = dict[str, Any]
Item = Mapping[str, Any]  # one item's fields, without its version

# Per-item refusals of the model server (``{"error": CODE, "version": ..., "detail": ...}``).
MODEL_NOT_SERVABLE: Final = "MODEL_NOT_SERVABLE"  # not allowed now, or its artifacts differ
MODEL_LOADING: Final = "MODEL_LOADING"  # allowed, still loading (a promotion moments ago)


def item_error(item: Any) -> ZhijianError | None:
    """The canonical error for a per-item refusal, or None for a prediction."""
    if not isinstance(item, dict) or "error" not in item:
        return None
    code, version = str(item["error"]), str(item.get("version", ""))
    detail = str(item.get("detail", "")) or code
    message = f"model server refused version {version}: {detail}"
    if code == MODEL_NOT_SERVABLE:
        return FailedPrecondition(message, reason=MODEL_NOT_SERVABLE,
                                  metadata={"version": version})
    if code in (MODEL_LOADING, SERVING_STATE_UNKNOWN):
        return Unavailable(message, reason=code, metadata={"version": version})
    return ZhijianError(message, reason="MODEL_SERVER_ERROR", metadata={"version": version})


@dataclass(frozen=True)
class Forwarded:
    """A caller's assertion as the gateway minted it, and the request id it is bound to."""

    assertion: str
    request_id: str

    def headers(self) -> dict[str, str]:
        return {md.ASSERTION: self.assertion, md.REQUEST_ID: self.request_id}


def predict_body(items: Sequence[Item], version: str) -> dict[str, Any]:
    return {"items": [{**item, "version": version} for item in items]}


def item_chars(item: Item) -> int:
    """What an item weighs when a call is sliced: the characters of its strings."""
    return sum(len(value) for value in item.values() if isinstance(value, str))


@dataclass
class _Waiting:
    items: Sequence[Item]
    version: str
    deadline: float  # loop time
    future: asyncio.Future[list[Prediction]]
    forwarded: Forwarded
    # The caller's span context: a request made for several callers carries the first
    # one's, so that trace shows the model server's own spans.
    context: otel_context.Context = field(default_factory=otel_context.get_current)


PROBE_PATH = "/readyz"  # open on the model server, and cheap: no model involved


class ModelServerClient:
    def __init__(self, base_url: str, *, pool_size: int = 64, max_in_flight: int = 4,
                 max_items_per_request: int = 64, max_chars_per_slice: int = 16_000,
                 probe_after_s: float = 1.0, probe_timeout_s: float = 1.0) -> None:
        self._base_url = base_url
        self._probe_after_s = probe_after_s
        self._probe_timeout_s = probe_timeout_s
        self._down = False  # an outage seen, no probe answered since
        self._probe: asyncio.Task[bool] | None = None  # shared by every caller that waits
        self._probe_session: aiohttp.ClientSession | None = None
        # Resolved at the next outage: every request in flight races it.
        self._next_outage: asyncio.Future[None] | None = None
        self._max_slice_chars = max_chars_per_slice
        self._pool_size = pool_size
        self._max_in_flight = max_in_flight
        self._max_items = max_items_per_request
        self._session: aiohttp.ClientSession | None = None
        self._waiting: deque[_Waiting] = deque()
        self._in_flight: set[asyncio.Task[None]] = set()  # requests made for queued calls
        self._direct = 0  # requests made inline by a call that found a free slot
        # Taken on first use, after the process set its tracer provider: a tracer taken at
        # import is a proxy that looks the real one up on every span.
        self._tracer: trace.Tracer | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size), trust_env=False)
        return self._session

    async def close(self) -> None:
        for task in list(self._in_flight):
            task.cancel()
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        for session in (self._session, self._probe_session):
            if session is not None:
                await session.close()
        self._session = self._probe_session = None

    def _unavailable(self, why: str) -> Unavailable:
        return Unavailable(f"model server at {self._base_url} {why}",
                           reason="MODEL_SERVER_UNAVAILABLE")

    def _probing(self) -> asyncio.Task[bool]:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_once())
            self._probe.add_done_callback(self._probed)
        return self._probe

    async def _probe_once(self) -> bool:
        """Whether the model server answers HTTP at all, on a connection of its own (a
        pooled one may be half-open to a process that is gone)."""
        if self._probe_session is None:
            self._probe_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1, force_close=True), trust_env=False)
        try:
            async with self._probe_session.get(
                    self._base_url + PROBE_PATH,
                    timeout=aiohttp.ClientTimeout(total=self._probe_timeout_s)) as response:
                return response.status < 500
        except (aiohttp.ClientError, TimeoutError):
            return False

    def _probed(self, probe: asyncio.Task[bool]) -> None:
        if probe.cancelled():
            return
        if probe.exception() is None and probe.result():
            self._down = False
        else:
            self._outage()

    def _outage(self) -> None:
        """End every request in flight: none of them will be answered."""
        self._down = True
        if self._next_outage is not None and not self._next_outage.done():
            self._next_outage.set_result(None)
        self._next_outage = None

    def _suspect(self) -> None:
        if not self._down:
            self._probing()

    async def _post(self, path: str, body: dict[str, Any], timeout_s: float,
                    forwarded: Forwarded | None = None,
                    context: otel_context.Context | None = None) -> Any:
        if timeout_s <= 0:
            raise DeadlineExceeded("the deadline passed before the model server was called")
        headers = {"Content-Type": "application/json",
                   **(forwarded.headers() if forwarded is not None else {})}
        # W3C trace context, so the model server's spans join the caller's trace.
        propagate.inject(headers, context=context)
        # Shielded: a caller that gives up must not cancel the others' probe.
        if self._down and not await asyncio.shield(self._probing()):
            raise self._unavailable(f"does not answer (restarting?); probed within "
                                    f"{self._probe_timeout_s:.1f}s")
        loop = asyncio.get_running_loop()
        if self._next_outage is None:
            self._next_outage = loop.create_future()
        outage = self._next_outage
        # A task of its own, so that an outage can end the wait without cancelling the
        # caller's task (a cancellation racing a finished request would leak out of here).
        request = loop.create_task(self._request(path, headers, body, timeout_s))
        watchdog = loop.call_later(self._probe_after_s, self._suspect)
        try:
            await asyncio.wait((request, outage), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watchdog.cancel()
            if not request.done():
                request.cancel()
        if request.done() and not request.cancelled():
            return request.result()  # an answer (or its own error) wins over an outage
        raise self._unavailable("stopped answering (restarting?)")

    async def _request(self, path: str, headers: dict[str, str], body: dict[str, Any],
                       timeout_s: float) -> Any:
        try:
            async with self._http().post(
                    self._base_url + path, headers=headers,
                    data=json.dumps(body, ensure_ascii=False).encode(),
                    timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                if response.status == 503:
                    raise Unavailable("model server is overloaded or starting",
                                      reason="MODEL_SERVER_UNAVAILABLE")
                if response.status == 401:
                    # The service verified this very assertion a moment ago, so the model
                    # server trusts other keys (or keeps another clock): the platform's
                    # fault, not the caller's credentials, hence not UNAUTHENTICATED.
                    raise ZhijianError("the model server refused the call's assertion: "
                                       + (await response.text())[:200],
                                       reason="MODEL_SERVER_REFUSED_ASSERTION")
                if response.status != 200:
                    # The model failed on this input: not worth a retry, unlike a busy server.
                    detail = (await response.text())[:200]
                    raise ZhijianError(f"model server answered HTTP {response.status}: "
                                       f"{detail}", reason="MODEL_SERVER_ERROR")
                return json.loads(await response.read())
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            self._outage()
            raise Unavailable(f"model server at {self._base_url} is unreachable: {error}",
                              reason="MODEL_SERVER_UNAVAILABLE") from None
        except TimeoutError:
            raise Unavailable(f"model server at {self._base_url} gave no answer within "
                              f"{timeout_s:.3f}s", reason="MODEL_SERVER_TIMEOUT") from None

    async def predict(self, items: Sequence[Item], version: str, timeout_s: float,
                      forwarded: Forwarded) -> list[Prediction]:
        """Predictions of ``items`` by ``version``, asked for the call ``forwarded`` names."""
        if timeout_s <= 0:
            raise DeadlineExceeded("the deadline passed before the model server was called")
        slices = self._slices(items)
        if len(slices) == 1:
            return await self._predict(items, version, timeout_s, forwarded)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        predictions: list[Prediction] = []
        for part in slices:
            predictions += await self._predict(part, version, deadline - loop.time(), forwarded)
        return predictions

    def _slices(self, items: Sequence[Item]) -> list[list[Item]]:
        """Consecutive runs of items of at most ``max_chars_per_slice`` characters (a
        longer item alone), in order."""
        slices: list[list[Item]] = [[]]
        size = 0
        for item in items:
            chars = item_chars(item)
            if slices[-1] and size + chars > self._max_slice_chars:
                slices.append([])
                size = 0
            slices[-1].append(item)
            size += chars
        return slices

    async def _predict(self, items: Sequence[Item], version: str, timeout_s: float,
                       forwarded: Forwarded) -> list[Prediction]:
        if timeout_s <= 0:
            raise DeadlineExceeded("the deadline passed before the model server answered")
        if self._tracer is None:
            self._tracer = trace.get_tracer("zhijian.model_client")
        loop = asyncio.get_running_loop()
        with self._tracer.start_as_current_span("model_server.predict",
                                                kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute("zhijian.batch_size", len(items))
            span.set_attribute("zhijian.model_version", version)
            if not self._waiting and self._busy() < self._max_in_flight:
                # A free slot and nobody queued: the request goes out from here, without
                # the future and task a queued call needs.
                self._direct += 1
                try:
                    return self._answers(await self._post(
                        "/predict", predict_body(items, version), timeout_s, forwarded),
                        len(items))
                finally:
                    self._direct -= 1
                    self._send_waiting()
            waiting = _Waiting(items, version, loop.time() + timeout_s, loop.create_future(),
                               forwarded)
            self._waiting.append(waiting)
            self._send_waiting()
            try:
                async with asyncio.timeout(timeout_s):
                    return await waiting.future
            except TimeoutError:
                raise Unavailable(f"model server at {self._base_url} gave no answer within "
                                  f"{timeout_s:.3f}s", reason="MODEL_SERVER_TIMEOUT") from None

    def _busy(self) -> int:
        return self._direct + len(self._in_flight)

    @staticmethod
    def _checked(result: Any, count: int) -> list[Prediction]:
        if not isinstance(result, list) or len(result) != count:
            raise ZhijianError("model server returned a malformed answer",
                               reason="MODEL_SERVER_ERROR")
        return result

    @classmethod
    def _answers(cls, result: Any, count: int) -> list[Prediction]:
        """The predictions of one caller, or the first per-item refusal among them."""
        predictions = cls._checked(result, count)
        for item in predictions:
            error = item_error(item)
            if error is not None:
                raise error
        return predictions

    def _next_group(self) -> list[_Waiting]:
        """The oldest caller and, in order, later callers of the same version that fit."""
        first = self._waiting.popleft()
        group, count, others = [first], len(first.items), deque[_Waiting]()
        for waiting in self._waiting:
            if waiting.version == first.version and count + len(waiting.items) <= self._max_items:
                group.append(waiting)
                count += len(waiting.items)
            else:
                others.append(waiting)
        self._waiting = others
        return group

    def _send_waiting(self) -> None:
        while self._waiting and self._busy() < self._max_in_flight:
            group = self._next_group()
            live = [w for w in group if not w.future.done()]  # callers that gave up
            if not live:
                continue
            task = asyncio.get_running_loop().create_task(self._send(live))
            self._in_flight.add(task)
            task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._send_waiting()

    async def _send(self, group: list[_Waiting]) -> None:
        loop = asyncio.get_running_loop()
        items = [item for waiting in group for item in waiting.items]
        try:
            # As long as the most patient caller waits; the others stop on their own.
            timeout_s = max(w.deadline for w in group) - loop.time()
            # One request for several calls carries one call's assertion. That is enough:
            # the service verified each call's own assertion (and applied its ceiling and
            # network domain) before queuing it here; what the model server checks is
            # that a request comes from the platform on behalf of a verified call, which
            # holds for every call of the group. The newest call's, as the one furthest
            # from expiring.
            result = self._checked(
                await self._post("/predict", predict_body(items, group[0].version), timeout_s,
                                 group[-1].forwarded, group[0].context), len(items))
        except Exception as error:
            if not isinstance(error, ZhijianError):
                error = ZhijianError(f"model client failed: {type(error).__name__}",
                                     reason="MODEL_SERVER_ERROR")
            for waiting in group:
                if not waiting.future.done():
                    waiting.future.set_exception(error)
            return
        offset = 0
        for waiting in group:
            mine = result[offset:offset + len(waiting.items)]
            offset += len(waiting.items)
            if waiting.future.done():
                continue
            try:
                waiting.future.set_result(self._answers(mine, len(mine)))
            except ZhijianError as error:
                waiting.future.set_exception(error)

    async def info(self, timeout_s: float = 5.0) -> dict[str, Any]:
        result: dict[str, Any] = await self._post("/info", {}, timeout_s)
        return result

    async def wait_ready(self, timeout_s: float) -> dict[str, Any]:
        """Poll ``/info`` until the model server answers (start-up ordering in tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                return await self.info(timeout_s=2.0)
            except Unavailable:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.5)
