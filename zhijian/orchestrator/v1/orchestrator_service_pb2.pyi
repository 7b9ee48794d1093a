import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from zhijian.types.v1 import ai_result_pb2 as _ai_result_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaseState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CASE_STATE_UNSPECIFIED: _ClassVar[CaseState]
    CASE_STATE_CREATED: _ClassVar[CaseState]
    CASE_STATE_RUNNING: _ClassVar[CaseState]
    CASE_STATE_AWAITING_REVIEW: _ClassVar[CaseState]
    CASE_STATE_ACCEPTED: _ClassVar[CaseState]
    CASE_STATE_MODIFIED: _ClassVar[CaseState]
    CASE_STATE_REJECTED: _ClassVar[CaseState]
    CASE_STATE_FAILED: _ClassVar[CaseState]
    CASE_STATE_CANCELLED: _ClassVar[CaseState]

class StepState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_STATE_UNSPECIFIED: _ClassVar[StepState]
    STEP_STATE_PENDING: _ClassVar[StepState]
    STEP_STATE_RUNNING: _ClassVar[StepState]
    STEP_STATE_SUCCEEDED: _ClassVar[StepState]
    STEP_STATE_FAILED: _ClassVar[StepState]
    STEP_STATE_SKIPPED: _ClassVar[StepState]
    STEP_STATE_CANCELLED: _ClassVar[StepState]
CASE_STATE_UNSPECIFIED: CaseState
CASE_STATE_CREATED: CaseState
CASE_STATE_RUNNING: CaseState
CASE_STATE_AWAITING_REVIEW: CaseState
CASE_STATE_ACCEPTED: CaseState
CASE_STATE_MODIFIED: CaseState
CASE_STATE_REJECTED: CaseState
CASE_STATE_FAILED: CaseState
CASE_STATE_CANCELLED: CaseState
STEP_STATE_UNSPECIFIED: StepState
STEP_STATE_PENDING: StepState
STEP_STATE_RUNNING: StepState
STEP_STATE_SUCCEEDED: StepState
STEP_STATE_FAILED: StepState
STEP_STATE_SKIPPED: StepState
STEP_STATE_CANCELLED: StepState

class Case(_message.Message):
    __slots__ = ("name", "workflow", "display_name", "input", "data_level", "state", "steps", "draft", "draft_text", "result", "review", "error", "creator", "create_time", "update_time", "end_time", "trace_id", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WORKFLOW_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    DRAFT_FIELD_NUMBER: _ClassVar[int]
    DRAFT_TEXT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATOR_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    workflow: str
    display_name: str
    input: _struct_pb2.Struct
    data_level: _ai_result_pb2.DataLevel
    state: CaseState
    steps: _containers.RepeatedCompositeFieldContainer[Step]
    draft: _struct_pb2.Struct
    draft_text: str
    result: _ai_result_pb2.AiResult
    review: _ai_result_pb2.HumanReview
    error: _status_pb2.Status
    creator: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    trace_id: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., workflow: _Optional[str] = ..., display_name: _Optional[str] = ..., input: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., data_level: _Optional[_Union[_ai_result_pb2.DataLevel, str]] = ..., state: _Optional[_Union[CaseState, str]] = ..., steps: _Optional[_Iterable[_Union[Step, _Mapping]]] = ..., draft: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., draft_text: _Optional[str] = ..., result: _Optional[_Union[_ai_result_pb2.AiResult, _Mapping]] = ..., review: _Optional[_Union[_ai_result_pb2.HumanReview, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., creator: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class Step(_message.Message):
    __slots__ = ("step_id", "agent", "tool", "summary", "state", "start_time", "end_time", "duration", "result", "output", "error", "attempts")
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    step_id: str
    agent: str
    tool: str
    summary: str
    state: StepState
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    duration: _duration_pb2.Duration
    result: _ai_result_pb2.AiResult
    output: _struct_pb2.Struct
    error: _status_pb2.Status
    attempts: int
    def __init__(self, step_id: _Optional[str] = ..., agent: _Optional[str] = ..., tool: _Optional[str] = ..., summary: _Optional[str] = ..., state: _Optional[_Union[StepState, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., result: _Optional[_Union[_ai_result_pb2.AiResult, _Mapping]] = ..., output: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., attempts: _Optional[int] = ...) -> None: ...

class CreateCaseRequest(_message.Message):
    __slots__ = ("case", "case_id", "request_id")
    CASE_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    case: Case
    case_id: str
    request_id: str
    def __init__(self, case: _Optional[_Union[Case, _Mapping]] = ..., case_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetCaseRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListCasesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter", "order_by")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    order_by: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., order_by: _Optional[str] = ...) -> None: ...

class ListCasesResponse(_message.Message):
    __slots__ = ("cases", "next_page_token")
    CASES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    cases: _containers.RepeatedCompositeFieldContainer[Case]
    next_page_token: str
    def __init__(self, cases: _Optional[_Iterable[_Union[Case, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchCaseRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class WatchCaseResponse(_message.Message):
    __slots__ = ("case", "changed_step_id")
    CASE_FIELD_NUMBER: _ClassVar[int]
    CHANGED_STEP_ID_FIELD_NUMBER: _ClassVar[int]
    case: Case
    changed_step_id: str
    def __init__(self, case: _Optional[_Union[Case, _Mapping]] = ..., changed_step_id: _Optional[str] = ...) -> None: ...

class CancelCaseRequest(_message.Message):
    __slots__ = ("name", "reason", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class ReviewCaseRequest(_message.Message):
    __slots__ = ("name", "decision", "reviewer", "reason", "modified_value", "modified_text", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_VALUE_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_TEXT_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    decision: _ai_result_pb2.ReviewDecision
    reviewer: str
    reason: str
    modified_value: _struct_pb2.Struct
    modified_text: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., decision: _Optional[_Union[_ai_result_pb2.ReviewDecision, str]] = ..., reviewer: _Optional[str] = ..., reason: _Optional[str] = ..., modified_value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., modified_text: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...
