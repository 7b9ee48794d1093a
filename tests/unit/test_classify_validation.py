import asyncio
import time

import pytest

from services.classify.servicer import request_violations, requested_tasks, task_result
from zhijian.classify.v1 import classify_service_pb2 as pb
from zhijian.server import Call


def test_empty_task_list_means_all_tasks_in_enum_order():
    assert requested_tasks([]) == ["product_category", "device_class", "review_route"]
    assert requested_tasks([pb.TASK_REVIEW_ROUTE, pb.TASK_PRODUCT_CATEGORY,
                            pb.TASK_REVIEW_ROUTE]) == ["product_category", "review_route"]


def test_violations_are_collected_with_prefixed_field_paths():
    request = pb.ClassifyRequest(text="", tasks=[pb.TASK_DEVICE_CLASS, 7],  # type: ignore[list-item]
                                 display_language="de", data_level=9)  # type: ignore[arg-type]
    found = {(v.field, v.reason) for v in request_violations(request, 100, "requests[2].")}
    assert found == {("requests[2].text", "TEXT_EMPTY"), ("requests[2].tasks[1]", "UNKNOWN_TASK"),
                     ("requests[2].display_language", "UNSUPPORTED_LANGUAGE"),
                     ("requests[2].data_level", "UNKNOWN_DATA_LEVEL")}


def test_length_is_counted_in_characters_not_bytes():
    assert request_violations(pb.ClassifyRequest(text="注" * 100), 100) == []
    (too_long,) = request_violations(pb.ClassifyRequest(text="注" * 101), 100)
    assert too_long.reason == "TEXT_TOO_LONG"


def test_task_result_sorts_probabilities_and_names_labels_in_both_languages():
    prediction = {"label": "II", "terms": ["血压"],
                  "probabilities": {"I": 0.1, "II": 0.7, "III": 0.15, "not_applicable": 0.05}}
    zh = task_result("device_class", prediction, "zh")
    assert zh.display_name == "第二类"
    assert [p.label for p in zh.probabilities] == ["II", "III", "I", "not_applicable"]
    assert task_result("device_class", prediction, "en").probabilities[0].display_name == "Class II"


def _call(**metadata: str) -> Call:
    return Call(dict(metadata), "req-1", deadline=time.monotonic() + 10)


def effective_levels(requests: list[pb.ClassifyRequest], call: Call) -> list[int]:
    from zhijian.dlp import DEFAULT_BUDGET_S
    from zhijian.governed_call import ModelInput
    from zhijian.governed_call import effective_levels as levels

    return asyncio.run(levels([ModelInput.of_text(r) for r in requests], call, DEFAULT_BUDGET_S))


def test_effective_level_is_the_highest_of_field_header_and_content() -> None:
    from zhijian import metadata as md
    from zhijian.types.v1 import ai_result_pb2 as types_pb

    plain = pb.ClassifyRequest(text="电子血压计")
    declared = pb.ClassifyRequest(text="电子血压计", data_level=types_pb.DATA_LEVEL_L2_GENERAL)
    personal = pb.ClassifyRequest(text="联系人手机13812345678")
    assert effective_levels([plain], _call()) == [types_pb.DATA_LEVEL_L1_PUBLIC]
    assert effective_levels([plain, declared, personal], _call()) == [
        types_pb.DATA_LEVEL_L1_PUBLIC, types_pb.DATA_LEVEL_L2_GENERAL,
        types_pb.DATA_LEVEL_L3_IMPORTANT]
    assert effective_levels([plain], _call(**{md.DATA_LEVEL: "L4"})) == [
        types_pb.DATA_LEVEL_L4_CORE]
    assert effective_levels([plain], _call(**{md.DATA_LEVEL: "DATA_LEVEL_L2_GENERAL"})) == [
        types_pb.DATA_LEVEL_L2_GENERAL]


def test_markings_and_unknown_levels_are_refused() -> None:
    from zhijian import metadata as md
    from zhijian.errors import InvalidArgument, PermissionDenied

    with pytest.raises(PermissionDenied) as marked:
        effective_levels([pb.ClassifyRequest(text="秘密★ 审评意见")], _call())
    assert marked.value.reason == "CLASSIFIED_MARKING"
    assert "秘密" not in marked.value.message
    with pytest.raises(InvalidArgument) as unknown:
        effective_levels([pb.ClassifyRequest(text="x")], _call(**{md.DATA_LEVEL: "L9"}))
    assert unknown.value.reason == "UNKNOWN_DATA_LEVEL"
