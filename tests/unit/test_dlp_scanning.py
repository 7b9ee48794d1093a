"""How services scan: large requests off the event loop, within a CPU budget, and the
same findings whichever way a text is scanned."""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest

from bench.dlp import WORST_BATCH
from zhijian import dlp
from zhijian.dlp import DetectionBudgetExceeded, detect, detect_texts


def test_small_and_large_requests_give_the_findings_of_detect() -> None:
    texts = ["联系人手机13812345678", "电子血压计", "秘密★ 文件", "x" * (dlp.INLINE_CHARS + 1)]
    small = asyncio.run(detect_texts(texts[:3]))
    large = asyncio.run(detect_texts(texts))  # over INLINE_CHARS: scanned in a worker
    assert small == [detect(t) for t in texts[:3]]
    assert large == [detect(t) for t in texts]
    assert [d.detectors() for d in large] == [["personal_mobile_number"], [],
                                              ["classification_marking"], []]


def test_over_budget_is_refused_as_resource_exhausted() -> None:
    with pytest.raises(DetectionBudgetExceeded) as refused:
        asyncio.run(detect_texts(WORST_BATCH, budget_s=1e-6))
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.value.reason == "DETECTION_BUDGET_EXCEEDED"
    assert refused.value.metadata == {"budget_s": "1e-06"}


def test_the_worst_batch_fits_the_default_budget() -> None:
    found = asyncio.run(detect_texts(WORST_BATCH))
    assert len(found) == 256
    # 13800138000 is a personal mobile number; the other worst cases hold nothing.
    assert {d.detectors()[0] for d in found if d.findings} == {"personal_mobile_number"}


def test_the_event_loop_keeps_running_while_the_worst_batch_is_scanned() -> None:
    async def scenario() -> float:
        longest = 0.0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal longest
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                longest = max(longest, now - last)
                last = now

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        await detect_texts(WORST_BATCH)
        done.set()
        await task
        return longest

    # The scan takes on the order of a second of CPU; the loop must still get a turn
    # every few milliseconds (the interpreter's switch interval), far from a stall.
    assert asyncio.run(scenario()) < 0.25


def test_a_cancelled_scan_stops_in_its_worker() -> None:
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(asyncio.CancelledError):
        dlp._scan_all(WORST_BATCH, None, cancelled)
