import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServingSlot(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVING_SLOT_UNSPECIFIED: _ClassVar[ServingSlot]
    SERVING_SLOT_PRODUCTION: _ClassVar[ServingSlot]
    SERVING_SLOT_CANARY: _ClassVar[ServingSlot]
    SERVING_SLOT_FALLBACK: _ClassVar[ServingSlot]

class ReviewDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_DECISION_UNSPECIFIED: _ClassVar[ReviewDecision]
    REVIEW_DECISION_ACCEPT: _ClassVar[ReviewDecision]
    REVIEW_DECISION_MODIFY: _ClassVar[ReviewDecision]
    REVIEW_DECISION_REJECT: _ClassVar[ReviewDecision]

class DataLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_LEVEL_UNSPECIFIED: _ClassVar[DataLevel]
    DATA_LEVEL_L1_PUBLIC: _ClassVar[DataLevel]
    DATA_LEVEL_L2_GENERAL: _ClassVar[DataLevel]
    DATA_LEVEL_L3_IMPORTANT: _ClassVar[DataLevel]
    DATA_LEVEL_L4_CORE: _ClassVar[DataLevel]

class NetworkDomain(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NETWORK_DOMAIN_UNSPECIFIED: _ClassVar[NetworkDomain]
    NETWORK_DOMAIN_INTERNET: _ClassVar[NetworkDomain]
    NETWORK_DOMAIN_EXTRANET: _ClassVar[NetworkDomain]
    NETWORK_DOMAIN_INTRANET: _ClassVar[NetworkDomain]
SERVING_SLOT_UNSPECIFIED: ServingSlot
SERVING_SLOT_PRODUCTION: ServingSlot
SERVING_SLOT_CANARY: ServingSlot
SERVING_SLOT_FALLBACK: ServingSlot
REVIEW_DECISION_UNSPECIFIED: ReviewDecision
REVIEW_DECISION_ACCEPT: ReviewDecision
REVIEW_DECISION_MODIFY: ReviewDecision
REVIEW_DECISION_REJECT: ReviewDecision
DATA_LEVEL_UNSPECIFIED: DataLevel
DATA_LEVEL_L1_PUBLIC: DataLevel
DATA_LEVEL_L2_GENERAL: DataLevel
DATA_LEVEL_L3_IMPORTANT: DataLevel
DATA_LEVEL_L4_CORE: DataLevel
NETWORK_DOMAIN_UNSPECIFIED: NetworkDomain
NETWORK_DOMAIN_INTERNET: NetworkDomain
NETWORK_DOMAIN_EXTRANET: NetworkDomain
NETWORK_DOMAIN_INTRANET: NetworkDomain

class ModelRef(_message.Message):
    __slots__ = ("model", "version", "filing_id", "filing_number", "slot")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILING_ID_FIELD_NUMBER: _ClassVar[int]
    FILING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    filing_id: str
    filing_number: str
    slot: ServingSlot
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., filing_id: _Optional[str] = ..., filing_number: _Optional[str] = ..., slot: _Optional[_Union[ServingSlot, str]] = ...) -> None: ...

class AiResult(_message.Message):
    __slots__ = ("result_id", "ai_generated", "disclaimer", "model", "create_time", "trace_id", "data_level", "review_required")
    RESULT_ID_FIELD_NUMBER: _ClassVar[int]
    AI_GENERATED_FIELD_NUMBER: _ClassVar[int]
    DISCLAIMER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REVIEW_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    result_id: str
    ai_generated: bool
    disclaimer: str
    model: ModelRef
    create_time: _timestamp_pb2.Timestamp
    trace_id: str
    data_level: DataLevel
    review_required: bool
    def __init__(self, result_id: _Optional[str] = ..., ai_generated: _Optional[bool] = ..., disclaimer: _Optional[str] = ..., model: _Optional[_Union[ModelRef, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_id: _Optional[str] = ..., data_level: _Optional[_Union[DataLevel, str]] = ..., review_required: _Optional[bool] = ...) -> None: ...

class HumanReview(_message.Message):
    __slots__ = ("name", "result", "decision", "reviewer", "reason", "modified_value", "modified_text", "review_time", "model", "trace_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_VALUE_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_TEXT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    result: str
    decision: ReviewDecision
    reviewer: str
    reason: str
    modified_value: _struct_pb2.Struct
    modified_text: str
    review_time: _timestamp_pb2.Timestamp
    model: ModelRef
    trace_id: str
    def __init__(self, name: _Optional[str] = ..., result: _Optional[str] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ..., reviewer: _Optional[str] = ..., reason: _Optional[str] = ..., modified_value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., modified_text: _Optional[str] = ..., review_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model: _Optional[_Union[ModelRef, _Mapping]] = ..., trace_id: _Optional[str] = ...) -> None: ...
