"""Fuzz spec of zhijian.classify.v1.ClassifyService.

Business systems classify from every domain (the internet call is refused by the
service, MODEL_NOT_AUTHORIZED_FOR_DOMAIN, after its checks ran); reviewers review from
the extranet and intranet. Setup drafts a few real results so that ReviewResult seeds
name results that exist. Nothing here changes what the platform serves.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import grpc
from google.protobuf import message as pb_message

from fuzz.generate import Fixtures
from fuzz.spec import Caller, MethodSpec, ServiceSpec, SetupContext
from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.types.v1 import ai_result_pb2 as types_pb

RESULT = "classify.zhijian.internal/Result"
CORPUS = Path(__file__).resolve().parents[2] / "services" / "classify" / "corpus" / "seed.jsonl"
DRAFTER = Caller("business", "intranet")
BUSINESS = (DRAFTER, DRAFTER, Caller("business", "extranet"), Caller("business", "internet"))
REVIEWERS = (Caller("reviewer", "intranet"), Caller("reviewer", "extranet"))
DRAFTS = 6


@cache
def texts() -> tuple[str, ...]:
    """A spread of the seed corpus: Chinese and English, short and long."""
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    chosen = rows[::max(1, len(rows) // 24)][:24]
    return tuple(str(row["text"]) for row in chosen)


def classify_seeds(_: Fixtures) -> list[pb_message.Message]:
    seeds: list[pb_message.Message] = []
    for index, text in enumerate(texts()):
        request = pb.ClassifyRequest(text=text)
        if index % 3 == 1:
            request.tasks.extend([pb.TASK_DEVICE_CLASS, pb.TASK_REVIEW_ROUTE])
            request.display_language = "en"
        if index % 4 == 2:
            request.language_hint = "zh" if any("\u4e00" <= c <= "\u9fff" for c in text) else "en"
            request.data_level = types_pb.DATA_LEVEL_L2_GENERAL
        seeds.append(request)
    return seeds


def batch_seeds(fixtures: Fixtures) -> list[pb_message.Message]:
    singles = [s for s in classify_seeds(fixtures) if isinstance(s, pb.ClassifyRequest)]
    return [pb.ClassifyBatchRequest(requests=singles[i:i + size])
            for i, size in ((0, 1), (1, 3), (4, 6), (10, 2))]


def review_seeds(fixtures: Fixtures) -> list[pb_message.Message]:
    names = fixtures.names.get(RESULT) or ["results/fuzz-absent"]
    seeds: list[pb_message.Message] = []
    for index, name in enumerate(names):
        seeds.append(pb.ReviewResultRequest(name=name, decision=types_pb.REVIEW_DECISION_ACCEPT))
        seeds.append(pb.ReviewResultRequest(
            name=name, decision=types_pb.REVIEW_DECISION_MODIFY, reason="按分类目录调整",
            modified_labels=[pb.TaskLabel(task=pb.TASK_DEVICE_CLASS,
                                          label=("II", "III", "I")[index % 3])]))
        seeds.append(pb.ReviewResultRequest(name=name, decision=types_pb.REVIEW_DECISION_REJECT,
                                            reason="产品描述与分类目录条目不符"))
    return seeds


async def setup(context: SetupContext) -> None:
    for text in texts()[:DRAFTS]:
        try:
            drafted = await context.call(DRAFTER, "Classify", pb.ClassifyRequest(text=text),
                                         pb.ClassifyResponse)
        except grpc.aio.AioRpcError:
            continue  # health will say the service does not serve
        context.fixtures.add(RESULT, f"results/{drafted.result.result_id}")


async def health(context: SetupContext) -> list[str]:
    try:
        answer = await context.call(DRAFTER, "Classify", pb.ClassifyRequest(text=texts()[0]),
                                    pb.ClassifyResponse)
    except grpc.aio.AioRpcError as error:
        return [f"a seed Classify as {DRAFTER.label} failed: {error.code().name} "
                f"{error.details()}"]
    return [] if answer.results else ["a seed Classify answered without results"]


SPEC = ServiceSpec(
    descriptor=pb.DESCRIPTOR.services_by_name["ClassifyService"],
    methods=(
        MethodSpec("Classify", BUSINESS, classify_seeds, weight=3.0),
        MethodSpec("ClassifyBatch", BUSINESS, batch_seeds, weight=1.5, timeout_s=20.0),
        MethodSpec("ReviewResult", REVIEWERS, review_seeds, weight=1.5),
    ),
    setup=setup,
    health=health,
)
