"""Ships a service's human reviews to the registry, durably and once.

``ReviewResult`` records a review in the service's result store; this loop sends what the
registry has not confirmed (``AppendReviewRecords``, idempotent by result) and marks it
shipped only after the registry answered, so a crash or a registry outage delays a
review's count but never loses it, and a retry after a lost answer counts it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

import grpc

from zhijian import metadata as md
from zhijian.client import open_channel
from zhijian.errors import ZhijianError
from zhijian.registry.v1 import registry_service_pb2 as registry_pb
from zhijian.registry.v1 import registry_service_pb2_grpc as registry_grpc
from zhijian.results import ResultRecord, ResultStore, ReviewRecord
from zhijian.reviews import DECISIONS as REVIEW_DECISIONS
from zhijian.types.v1 import ai_result_pb2 as types_pb

log = logging.getLogger("zhijian.review_shipper")

BATCH: Final = 200  # below the registry's 500 per call
# The store keeps the decision's name; the registry takes the enum ReviewResult read it from.
DECISIONS: Final = {name: value for value, name in REVIEW_DECISIONS.items()}


def review_record(review: ReviewRecord, result: ResultRecord) -> registry_pb.ReviewRecord:
    record = registry_pb.ReviewRecord(
        result=f"{result.service}/results/{result.result_id}",
        model=types_pb.ModelRef(model=result.model_name, version=result.model_version,
                                filing_id=result.filing_id),
        decision=DECISIONS[review.decision], reviewer=review.reviewer,
        trace_id=review.trace_id)
    record.review_time.FromNanoseconds(int(review.reviewed_at * 1e9))
    return record


class ReviewShipper:
    def __init__(self, results: ResultStore, registry_target: str, token: Callable[[], str],
                 *, interval_s: float = 1.0, timeout_s: float = 10.0) -> None:
        self._results = results
        self._target = registry_target
        self._token = token
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._channel: grpc.aio.Channel | None = None
        self._task: asyncio.Task[None] | None = None

    async def ship_once(self) -> int:
        """Send one batch; how many reviews the registry confirmed."""
        pending = await self._results.unshipped_reviews(BATCH)
        if not pending:
            return 0
        if self._channel is None:
            self._channel = open_channel(self._target)
        stub = registry_grpc.RegistryServiceStub(self._channel)
        await stub.AppendReviewRecords(
            registry_pb.AppendReviewRecordsRequest(
                records=[review_record(review, result) for review, result in pending]),
            metadata=((md.AUTHORIZATION, f"Bearer {self._token()}"),),
            timeout=self._timeout_s)
        await self._results.mark_shipped([review.result_id for review, _ in pending])
        return len(pending)

    async def _run(self) -> None:
        while True:
            try:
                while await self.ship_once() == BATCH:
                    pass  # a backlog: the next batch at once
            except (grpc.RpcError, ZhijianError) as error:
                # Kept and retried: the registry may be restarting.
                log.warning("could not ship reviews to the registry at %s: %s", self._target,
                            error.details() if isinstance(error, grpc.aio.AioRpcError)
                            else error)
            await asyncio.sleep(self._interval_s)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop; one last attempt to ship what is left (what fails waits for the next
        start, in the store)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(grpc.RpcError, ZhijianError):
            await self.ship_once()
        if self._channel is not None:
            await self._channel.close()
