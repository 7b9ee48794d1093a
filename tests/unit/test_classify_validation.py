from services.classify.servicer import request_violations, requested_tasks, task_result
from zhijian.classify.v1 import classify_service_pb2 as pb


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
