import asyncio

import pytest

from zhijian.results import AlreadyReviewed, ResultRecord, ResultStore, ReviewRecord


def result(result_id: str, version: str = "1") -> ResultRecord:
    return ResultRecord(result_id, "classify", "zhijian-classify", version, "",
                        {"device_class": "II"}, "ab" * 32, "t" * 32, "r1", 1.0)


def test_results_survive_a_clean_close_and_reviews_are_once_only(tmp_path):
    path = tmp_path / "results.db"

    async def write() -> None:
        store = ResultStore(path, flush_interval_s=60)  # only close() flushes
        store.record(result("a"))
        store.record(result("b", version="2"))
        await store.close()

    asyncio.run(write())

    async def read() -> dict:
        store = ResultStore(path)
        stored = await store.get("a")
        assert stored is not None and stored.outputs == {"device_class": "II"}
        assert await store.get("missing") is None
        await store.add_review(ReviewRecord("a", "accept", "user:z", "", {}, "", 2.0))
        await store.add_review(ReviewRecord("b", "modify", "user:z", "class I",
                                            {"device_class": "I"}, "", 2.0))
        with pytest.raises(AlreadyReviewed):
            await store.add_review(ReviewRecord("a", "reject", "user:y", "no", {}, "", 3.0))
        stats = await store.review_stats("zhijian-classify")
        await store.close()
        return stats

    assert asyncio.run(read()) == {"1": {"accept": 1}, "2": {"modify": 1}}
