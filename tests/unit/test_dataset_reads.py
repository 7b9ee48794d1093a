"""The registry's dataset-read threads: reads that never finish occupy only them, a read
beyond their queue is refused at once, and the event loop's default threads (every
other registry call, WatchDeployments) stay free throughout."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

import pytest

from registry.dataset_reads import BUSY, DatasetReads
from zhijian.errors import ResourceExhausted

pytestmark = pytest.mark.timeout(30)


async def until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_a_job_runs_on_a_dataset_read_thread_and_its_error_comes_back() -> None:
    reads = DatasetReads(workers=1)

    def fail() -> None:
        raise OSError("disk on fire")

    async def main() -> None:
        assert (await reads.run(lambda: threading.current_thread().name)) == "dataset-read-0"
        with pytest.raises(OSError, match="disk on fire"):
            await reads.run(fail)

    asyncio.run(main())


def test_stuck_reads_leave_every_other_call_free_and_a_further_read_is_refused() -> None:
    reads = DatasetReads(workers=2, backlog=1)
    release = threading.Event()
    ran: list[str] = []

    def stuck(name: str) -> str:
        ran.append(name)
        release.wait(20)  # a read blocked in the kernel, as on a stalled network share
        return name

    async def hold(name: str) -> str:
        return await reads.run(lambda: stuck(name))

    async def started(count: int) -> None:
        await until(lambda: len(ran) >= count)

    async def main() -> None:
        held = []
        for count, name in enumerate(("a", "b"), start=1):  # one at a time: the queue is short
            held.append(asyncio.ensure_future(hold(name)))
            await asyncio.wait_for(started(count), 5)
        held.append(asyncio.ensure_future(hold("queued")))
        await asyncio.sleep(0.05)
        assert len(ran) == 2
        with pytest.raises(ResourceExhausted) as refused:
            await asyncio.wait_for(reads.run(lambda: "one too many"), 1)
        assert refused.value.reason == BUSY and refused.value.retry_delay_s
        # The default executor, which every other registry call uses, is untouched.
        answers = await asyncio.wait_for(asyncio.gather(
            *(asyncio.to_thread(int, i) for i in range(20))), 2)
        assert answers == list(range(20))
        release.set()
        assert await asyncio.wait_for(asyncio.gather(*held), 5) == ["a", "b", "queued"]

    asyncio.run(main())


def test_a_read_whose_caller_gave_up_before_it_started_never_runs() -> None:
    reads = DatasetReads(workers=1, backlog=2)
    release = threading.Event()
    ran: list[str] = []

    def job(name: str) -> None:
        ran.append(name)
        release.wait(20)

    async def main() -> None:
        first = asyncio.ensure_future(reads.run(lambda: job("first")))
        await asyncio.wait_for(until(lambda: bool(ran)), 5)
        abandoned = asyncio.ensure_future(reads.run(lambda: job("abandoned")))
        await asyncio.sleep(0.05)
        abandoned.cancel()  # a caller's deadline passed while it waited for a thread
        with contextlib.suppress(asyncio.CancelledError):
            await abandoned
        release.set()
        await asyncio.wait_for(first, 5)
        await asyncio.wait_for(reads.run(lambda: job("after")), 5)

    asyncio.run(main())
    assert ran == ["first", "after"]
