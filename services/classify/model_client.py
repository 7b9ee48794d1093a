"""HTTP client of the classify model server, bounded by the caller's deadline.

A model server that is down, slow or broken surfaces as ``UNAVAILABLE`` (or
``DEADLINE_EXCEEDED``) within the deadline; it never hangs a call.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
from opentelemetry import propagate, trace

from zhijian.errors import DeadlineExceeded, Unavailable, ZhijianError


class ModelServerClient:
    def __init__(self, base_url: str, *, pool_size: int = 64) -> None:
        self._base_url = base_url
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None
        # Taken on first use, after the process set its tracer provider: a tracer taken at
        # import is a proxy that looks the real one up on every span.
        self._tracer: trace.Tracer | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size), trust_env=False,
                json_serialize=lambda obj: json.dumps(obj, ensure_ascii=False))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _post(self, path: str, body: dict[str, Any], timeout_s: float) -> Any:
        if timeout_s <= 0:
            raise DeadlineExceeded("the deadline passed before the model server was called")
        headers: dict[str, str] = {}
        # W3C trace context, so the model server's spans join the caller's trace.
        propagate.inject(headers)
        try:
            async with self._http().post(
                    self._base_url + path, json=body, headers=headers,
                    timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
                if response.status == 503:
                    raise Unavailable("model server is overloaded or starting",
                                      reason="MODEL_SERVER_UNAVAILABLE")
                if response.status != 200:
                    # The model failed on this input: not worth a retry, unlike a busy server.
                    detail = (await response.text())[:200]
                    raise ZhijianError(f"model server answered HTTP {response.status}: "
                                       f"{detail}", reason="MODEL_SERVER_ERROR")
                return await response.json()
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            raise Unavailable(f"model server at {self._base_url} is unreachable: {error}",
                              reason="MODEL_SERVER_UNAVAILABLE") from None
        except TimeoutError:
            raise Unavailable(f"model server at {self._base_url} gave no answer within "
                              f"{timeout_s:.3f}s", reason="MODEL_SERVER_TIMEOUT") from None

    async def predict(self, texts: list[str], timeout_s: float) -> list[dict[str, Any]]:
        if self._tracer is None:
            self._tracer = trace.get_tracer("zhijian.classify.model_client")
        with self._tracer.start_as_current_span("model_server.predict",
                                                kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute("zhijian.batch_size", len(texts))
            result = await self._post("/predict", {"texts": texts}, timeout_s)
        if not isinstance(result, list) or len(result) != len(texts):
            raise ZhijianError("model server returned a malformed answer",
                               reason="MODEL_SERVER_ERROR")
        return result

    async def info(self, timeout_s: float = 5.0) -> dict[str, str]:
        result: dict[str, str] = await self._post("/info", {}, timeout_s)
        return result

    async def wait_ready(self, timeout_s: float) -> dict[str, str]:
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
