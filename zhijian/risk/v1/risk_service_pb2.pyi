import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from zhijian.types.v1 import ai_result_pb2 as _ai_result_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubjectType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBJECT_TYPE_UNSPECIFIED: _ClassVar[SubjectType]
    SUBJECT_TYPE_ENTERPRISE: _ClassVar[SubjectType]
    SUBJECT_TYPE_PRODUCT: _ClassVar[SubjectType]

class RiskLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RISK_LEVEL_UNSPECIFIED: _ClassVar[RiskLevel]
    RISK_LEVEL_LOW: _ClassVar[RiskLevel]
    RISK_LEVEL_MEDIUM: _ClassVar[RiskLevel]
    RISK_LEVEL_HIGH: _ClassVar[RiskLevel]
    RISK_LEVEL_CRITICAL: _ClassVar[RiskLevel]

class WarningSeverity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WARNING_SEVERITY_UNSPECIFIED: _ClassVar[WarningSeverity]
    WARNING_SEVERITY_INFO: _ClassVar[WarningSeverity]
    WARNING_SEVERITY_LOW: _ClassVar[WarningSeverity]
    WARNING_SEVERITY_MEDIUM: _ClassVar[WarningSeverity]
    WARNING_SEVERITY_HIGH: _ClassVar[WarningSeverity]

class SignalMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNAL_METHOD_UNSPECIFIED: _ClassVar[SignalMethod]
    SIGNAL_METHOD_PRR: _ClassVar[SignalMethod]
    SIGNAL_METHOD_ROR: _ClassVar[SignalMethod]
    SIGNAL_METHOD_IC: _ClassVar[SignalMethod]
    SIGNAL_METHOD_EBGM: _ClassVar[SignalMethod]
SUBJECT_TYPE_UNSPECIFIED: SubjectType
SUBJECT_TYPE_ENTERPRISE: SubjectType
SUBJECT_TYPE_PRODUCT: SubjectType
RISK_LEVEL_UNSPECIFIED: RiskLevel
RISK_LEVEL_LOW: RiskLevel
RISK_LEVEL_MEDIUM: RiskLevel
RISK_LEVEL_HIGH: RiskLevel
RISK_LEVEL_CRITICAL: RiskLevel
WARNING_SEVERITY_UNSPECIFIED: WarningSeverity
WARNING_SEVERITY_INFO: WarningSeverity
WARNING_SEVERITY_LOW: WarningSeverity
WARNING_SEVERITY_MEDIUM: WarningSeverity
WARNING_SEVERITY_HIGH: WarningSeverity
SIGNAL_METHOD_UNSPECIFIED: SignalMethod
SIGNAL_METHOD_PRR: SignalMethod
SIGNAL_METHOD_ROR: SignalMethod
SIGNAL_METHOD_IC: SignalMethod
SIGNAL_METHOD_EBGM: SignalMethod

class Subject(_message.Message):
    __slots__ = ("type", "id", "display_name")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    type: SubjectType
    id: str
    display_name: str
    def __init__(self, type: _Optional[_Union[SubjectType, str]] = ..., id: _Optional[str] = ..., display_name: _Optional[str] = ...) -> None: ...

class ScoreRiskRequest(_message.Message):
    __slots__ = ("subject", "features", "as_of_time", "data_level")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    AS_OF_TIME_FIELD_NUMBER: _ClassVar[int]
    DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    subject: Subject
    features: _struct_pb2.Struct
    as_of_time: _timestamp_pb2.Timestamp
    data_level: _ai_result_pb2.DataLevel
    def __init__(self, subject: _Optional[_Union[Subject, _Mapping]] = ..., features: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., as_of_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_level: _Optional[_Union[_ai_result_pb2.DataLevel, str]] = ...) -> None: ...

class ScoreRiskResponse(_message.Message):
    __slots__ = ("result", "subject", "score", "level", "baseline", "contributions")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    result: _ai_result_pb2.AiResult
    subject: Subject
    score: float
    level: RiskLevel
    baseline: float
    contributions: _containers.RepeatedCompositeFieldContainer[FactorContribution]
    def __init__(self, result: _Optional[_Union[_ai_result_pb2.AiResult, _Mapping]] = ..., subject: _Optional[_Union[Subject, _Mapping]] = ..., score: _Optional[float] = ..., level: _Optional[_Union[RiskLevel, str]] = ..., baseline: _Optional[float] = ..., contributions: _Optional[_Iterable[_Union[FactorContribution, _Mapping]]] = ...) -> None: ...

class FactorContribution(_message.Message):
    __slots__ = ("factor", "display_name", "value", "contribution")
    FACTOR_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONTRIBUTION_FIELD_NUMBER: _ClassVar[int]
    factor: str
    display_name: str
    value: _struct_pb2.Value
    contribution: float
    def __init__(self, factor: _Optional[str] = ..., display_name: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., contribution: _Optional[float] = ...) -> None: ...

class Warning(_message.Message):
    __slots__ = ("name", "result", "rule_id", "rule_display_name", "subject", "severity", "message", "evidence", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    result: _ai_result_pb2.AiResult
    rule_id: str
    rule_display_name: str
    subject: Subject
    severity: WarningSeverity
    message: str
    evidence: _struct_pb2.Struct
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., result: _Optional[_Union[_ai_result_pb2.AiResult, _Mapping]] = ..., rule_id: _Optional[str] = ..., rule_display_name: _Optional[str] = ..., subject: _Optional[_Union[Subject, _Mapping]] = ..., severity: _Optional[_Union[WarningSeverity, str]] = ..., message: _Optional[str] = ..., evidence: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListWarningsRequest(_message.Message):
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

class ListWarningsResponse(_message.Message):
    __slots__ = ("warnings", "next_page_token")
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    warnings: _containers.RepeatedCompositeFieldContainer[Warning]
    next_page_token: str
    def __init__(self, warnings: _Optional[_Iterable[_Union[Warning, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DrugEventCounts(_message.Message):
    __slots__ = ("drug", "event", "a", "b", "c", "d")
    DRUG_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    C_FIELD_NUMBER: _ClassVar[int]
    D_FIELD_NUMBER: _ClassVar[int]
    drug: str
    event: str
    a: int
    b: int
    c: int
    d: int
    def __init__(self, drug: _Optional[str] = ..., event: _Optional[str] = ..., a: _Optional[int] = ..., b: _Optional[int] = ..., c: _Optional[int] = ..., d: _Optional[int] = ...) -> None: ...

class ComputeSignalsRequest(_message.Message):
    __slots__ = ("pairs", "methods", "confidence_level")
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    pairs: _containers.RepeatedCompositeFieldContainer[DrugEventCounts]
    methods: _containers.RepeatedScalarFieldContainer[SignalMethod]
    confidence_level: float
    def __init__(self, pairs: _Optional[_Iterable[_Union[DrugEventCounts, _Mapping]]] = ..., methods: _Optional[_Iterable[_Union[SignalMethod, str]]] = ..., confidence_level: _Optional[float] = ...) -> None: ...

class ComputeSignalsResponse(_message.Message):
    __slots__ = ("result", "signals")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    result: _ai_result_pb2.AiResult
    signals: _containers.RepeatedCompositeFieldContainer[Signal]
    def __init__(self, result: _Optional[_Union[_ai_result_pb2.AiResult, _Mapping]] = ..., signals: _Optional[_Iterable[_Union[Signal, _Mapping]]] = ...) -> None: ...

class Signal(_message.Message):
    __slots__ = ("drug", "event", "report_count", "measures", "signal_detected")
    DRUG_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    REPORT_COUNT_FIELD_NUMBER: _ClassVar[int]
    MEASURES_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_DETECTED_FIELD_NUMBER: _ClassVar[int]
    drug: str
    event: str
    report_count: int
    measures: _containers.RepeatedCompositeFieldContainer[SignalMeasure]
    signal_detected: bool
    def __init__(self, drug: _Optional[str] = ..., event: _Optional[str] = ..., report_count: _Optional[int] = ..., measures: _Optional[_Iterable[_Union[SignalMeasure, _Mapping]]] = ..., signal_detected: _Optional[bool] = ...) -> None: ...

class SignalMeasure(_message.Message):
    __slots__ = ("method", "estimate", "lower", "upper", "chi_squared", "criterion_met")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ESTIMATE_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    CHI_SQUARED_FIELD_NUMBER: _ClassVar[int]
    CRITERION_MET_FIELD_NUMBER: _ClassVar[int]
    method: SignalMethod
    estimate: float
    lower: float
    upper: float
    chi_squared: float
    criterion_met: bool
    def __init__(self, method: _Optional[_Union[SignalMethod, str]] = ..., estimate: _Optional[float] = ..., lower: _Optional[float] = ..., upper: _Optional[float] = ..., chi_squared: _Optional[float] = ..., criterion_met: _Optional[bool] = ...) -> None: ...

class ReviewResultRequest(_message.Message):
    __slots__ = ("name", "decision", "reviewer", "reason", "modified_value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    decision: _ai_result_pb2.ReviewDecision
    reviewer: str
    reason: str
    modified_value: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., decision: _Optional[_Union[_ai_result_pb2.ReviewDecision, str]] = ..., reviewer: _Optional[str] = ..., reason: _Optional[str] = ..., modified_value: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
