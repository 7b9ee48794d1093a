"""The registry's own threads for reading dataset files.

Every other blocking step of a registry call runs in the event loop's default executor,
which WatchDeployments, the revocation poll and every read share. A dataset file can be
slow to read (a large corpus, a network file system that stalls) and a thread blocked
in a read cannot be taken back; on these few threads of their own, such reads can only
ever occupy themselves. When all of them are busy and the short queue is full a further
read is refused at once (RESOURCE_EXHAUSTED / DATASET_READS_BUSY) instead of piling up.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from zhijian.errors import ResourceExhausted

T = TypeVar("T")
BUSY = "DATASET_READS_BUSY"
RETRY_AFTER_S = 1.0


class DatasetReads:
    def __init__(self, workers: int, backlog: int | None = None) -> None:
        if workers <= 0:
            raise ValueError(f"dataset read workers must be positive, got {workers}")
        self._workers = workers
        self._jobs: queue.Queue[tuple[Future[Any], Callable[[], Any]]] = queue.Queue(
            maxsize=backlog if backlog is not None else 4 * workers)
        self._started = False
        self._lock = threading.Lock()

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            # Daemon threads: a read stuck in the kernel must not keep the registry from
            # exiting (executor threads are joined at interpreter exit).
            for index in range(self._workers):
                threading.Thread(target=self._work, name=f"dataset-read-{index}",
                                 daemon=True).start()

    def _work(self) -> None:
        while True:
            future, job = self._jobs.get()
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up (deadline, cancellation) before it started
            try:
                future.set_result(job())
            except BaseException as error:
                future.set_exception(error)

    async def run(self, job: Callable[[], T]) -> T:
        """``job()`` on a dataset-read thread, awaited without holding any other thread."""
        self._start()
        future: Future[T] = Future()
        # The caller's context (its trace span) goes with the job, as asyncio.to_thread's.
        bound = functools.partial(contextvars.copy_context().run, job)
        try:
            self._jobs.put_nowait((future, bound))
        except queue.Full:
            raise ResourceExhausted("the registry is reading as many dataset files as it "
                                    "can; retry shortly", reason=BUSY,
                                    retry_delay_s=RETRY_AFTER_S) from None
        return await asyncio.wrap_future(future)
