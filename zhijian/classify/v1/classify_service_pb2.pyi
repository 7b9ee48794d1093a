from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from zhijian.types.v1 import ai_result_pb2 as _ai_result_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Task(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_UNSPECIFIED: _ClassVar[Task]
    TASK_PRODUCT_CATEGORY: _ClassVar[Task]
    TASK_DEVICE_CLASS: _ClassVar[Task]
    TASK_REVIEW_ROUTE: _ClassVar[Task]
TASK_UNSPECIFIED: Task
TASK_PRODUCT_CATEGORY: Task
TASK_DEVICE_CLASS: Task
TASK_REVIEW_ROUTE: Task

class ClassifyRequest(_message.Message):
    __slots__ = ("text", "tasks", "language_hint", "data_level", "display_language")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_HINT_FIELD_NUMBER: _ClassVar[int]
    DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    text: str
    tasks: _containers.RepeatedScalarFieldContainer[Task]
    language_hint: str
    data_level: _ai_result_pb2.DataLevel
    display_language: str
    def __init__(self, text: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[Task, str]]] = ..., language_hint: _Optional[str] = ..., data_level: _Optional[_Union[_ai_result_pb2.DataLevel, str]] = ..., display_language: _Optional[str] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("result", "results")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    result: _ai_result_pb2.AiResult
    results: _containers.RepeatedCompositeFieldContainer[TaskResult]
    def __init__(self, result: _Optional[_Union[_ai_result_pb2.AiResult, _Mapping]] = ..., results: _Optional[_Iterable[_Union[TaskResult, _Mapping]]] = ...) -> None: ...

class TaskResult(_message.Message):
    __slots__ = ("task", "label", "display_name", "probabilities", "terms")
    TASK_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PROBABILITIES_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    task: Task
    label: str
    display_name: str
    probabilities: _containers.RepeatedCompositeFieldContainer[LabelProbability]
    terms: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, task: _Optional[_Union[Task, str]] = ..., label: _Optional[str] = ..., display_name: _Optional[str] = ..., probabilities: _Optional[_Iterable[_Union[LabelProbability, _Mapping]]] = ..., terms: _Optional[_Iterable[str]] = ...) -> None: ...

class LabelProbability(_message.Message):
    __slots__ = ("label", "display_name", "probability")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    label: str
    display_name: str
    probability: float
    def __init__(self, label: _Optional[str] = ..., display_name: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class ClassifyBatchRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ClassifyRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[ClassifyRequest, _Mapping]]] = ...) -> None: ...

class ClassifyBatchResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[ClassifyResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[ClassifyResponse, _Mapping]]] = ...) -> None: ...

class ReviewResultRequest(_message.Message):
    __slots__ = ("name", "decision", "reviewer", "reason", "modified_labels")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_LABELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    decision: _ai_result_pb2.ReviewDecision
    reviewer: str
    reason: str
    modified_labels: _containers.RepeatedCompositeFieldContainer[TaskLabel]
    def __init__(self, name: _Optional[str] = ..., decision: _Optional[_Union[_ai_result_pb2.ReviewDecision, str]] = ..., reviewer: _Optional[str] = ..., reason: _Optional[str] = ..., modified_labels: _Optional[_Iterable[_Union[TaskLabel, _Mapping]]] = ...) -> None: ...

class TaskLabel(_message.Message):
    __slots__ = ("task", "label")
    TASK_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    task: Task
    label: str
    def __init__(self, task: _Optional[_Union[Task, str]] = ..., label: _Optional[str] = ...) -> None: ...
