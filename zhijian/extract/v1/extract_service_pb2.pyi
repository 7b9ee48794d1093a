from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from zhijian.types.v1 import ai_result_pb2 as _ai_result_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DocumentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DOCUMENT_TYPE_UNSPECIFIED: _ClassVar[DocumentType]
    DOCUMENT_TYPE_ADVERSE_EVENT_REPORT: _ClassVar[DocumentType]
    DOCUMENT_TYPE_APPROVAL_DOCUMENT: _ClassVar[DocumentType]
    DOCUMENT_TYPE_DRUG_LABEL: _ClassVar[DocumentType]
    DOCUMENT_TYPE_SAMPLING_INSPECTION_REPORT: _ClassVar[DocumentType]
    DOCUMENT_TYPE_DEVICE_ADVERSE_EVENT_REPORT: _ClassVar[DocumentType]

class ReportValidity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_VALIDITY_UNSPECIFIED: _ClassVar[ReportValidity]
    REPORT_VALIDITY_VALID: _ClassVar[ReportValidity]
    REPORT_VALIDITY_NEEDS_FOLLOW_UP: _ClassVar[ReportValidity]
    REPORT_VALIDITY_INVALID: _ClassVar[ReportValidity]
DOCUMENT_TYPE_UNSPECIFIED: DocumentType
DOCUMENT_TYPE_ADVERSE_EVENT_REPORT: DocumentType
DOCUMENT_TYPE_APPROVAL_DOCUMENT: DocumentType
DOCUMENT_TYPE_DRUG_LABEL: DocumentType
DOCUMENT_TYPE_SAMPLING_INSPECTION_REPORT: DocumentType
DOCUMENT_TYPE_DEVICE_ADVERSE_EVENT_REPORT: DocumentType
REPORT_VALIDITY_UNSPECIFIED: ReportValidity
REPORT_VALIDITY_VALID: ReportValidity
REPORT_VALIDITY_NEEDS_FOLLOW_UP: ReportValidity
REPORT_VALIDITY_INVALID: ReportValidity

class Document(_message.Message):
    __slots__ = ("document_id", "type", "text", "file", "media_type", "language_hint", "data_level")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_HINT_FIELD_NUMBER: _ClassVar[int]
    DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    type: DocumentType
    text: str
    file: bytes
    media_type: str
    language_hint: str
    data_level: _ai_result_pb2.DataLevel
    def __init__(self, document_id: _Optional[str] = ..., type: _Optional[_Union[DocumentType, str]] = ..., text: _Optional[str] = ..., file: _Optional[bytes] = ..., media_type: _Optional[str] = ..., language_hint: _Optional[str] = ..., data_level: _Optional[_Union[_ai_result_pb2.DataLevel, str]] = ...) -> None: ...

class TextSpan(_message.Message):
    __slots__ = ("page", "start", "end")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    page: int
    start: int
    end: int
    def __init__(self, page: _Optional[int] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class ExtractFieldsRequest(_message.Message):
    __slots__ = ("document", "field_paths")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    FIELD_PATHS_FIELD_NUMBER: _ClassVar[int]
    document: Document
    field_paths: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., field_paths: _Optional[_Iterable[str]] = ...) -> None: ...

class ExtractFieldsResponse(_message.Message):
    __slots__ = ("result", "document_id", "document_type", "schema_version", "fields", "record", "missing_fields")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELDS_FIELD_NUMBER: _ClassVar[int]
    result: _ai_result_pb2.AiResult
    document_id: str
    document_type: DocumentType
    schema_version: str
    fields: _containers.RepeatedCompositeFieldContainer[ExtractedField]
    record: _struct_pb2.Struct
    missing_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, result: _Optional[_Union[_ai_result_pb2.AiResult, _Mapping]] = ..., document_id: _Optional[str] = ..., document_type: _Optional[_Union[DocumentType, str]] = ..., schema_version: _Optional[str] = ..., fields: _Optional[_Iterable[_Union[ExtractedField, _Mapping]]] = ..., record: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., missing_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class ExtractedField(_message.Message):
    __slots__ = ("field_path", "raw_value", "value", "confidence", "evidence")
    FIELD_PATH_FIELD_NUMBER: _ClassVar[int]
    RAW_VALUE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    field_path: str
    raw_value: str
    value: _struct_pb2.Value
    confidence: float
    evidence: _containers.RepeatedCompositeFieldContainer[TextSpan]
    def __init__(self, field_path: _Optional[str] = ..., raw_value: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., confidence: _Optional[float] = ..., evidence: _Optional[_Iterable[_Union[TextSpan, _Mapping]]] = ...) -> None: ...

class FindDuplicatesRequest(_message.Message):
    __slots__ = ("document", "candidates", "min_score", "max_matches")
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    MAX_MATCHES_FIELD_NUMBER: _ClassVar[int]
    document: Document
    candidates: _containers.RepeatedCompositeFieldContainer[Document]
    min_score: float
    max_matches: int
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[Document, _Mapping]]] = ..., min_score: _Optional[float] = ..., max_matches: _Optional[int] = ...) -> None: ...

class FindDuplicatesResponse(_message.Message):
    __slots__ = ("result", "document_id", "matches")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    result: _ai_result_pb2.AiResult
    document_id: str
    matches: _containers.RepeatedCompositeFieldContainer[DuplicateMatch]
    def __init__(self, result: _Optional[_Union[_ai_result_pb2.AiResult, _Mapping]] = ..., document_id: _Optional[str] = ..., matches: _Optional[_Iterable[_Union[DuplicateMatch, _Mapping]]] = ...) -> None: ...

class DuplicateMatch(_message.Message):
    __slots__ = ("document_id", "candidate_index", "score", "matching_fields", "conflicting_fields")
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_INDEX_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    MATCHING_FIELDS_FIELD_NUMBER: _ClassVar[int]
    CONFLICTING_FIELDS_FIELD_NUMBER: _ClassVar[int]
    document_id: str
    candidate_index: int
    score: float
    matching_fields: _containers.RepeatedScalarFieldContainer[str]
    conflicting_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, document_id: _Optional[str] = ..., candidate_index: _Optional[int] = ..., score: _Optional[float] = ..., matching_fields: _Optional[_Iterable[str]] = ..., conflicting_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class GradeReportRequest(_message.Message):
    __slots__ = ("document",)
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    document: Document
    def __init__(self, document: _Optional[_Union[Document, _Mapping]] = ...) -> None: ...

class GradeReportResponse(_message.Message):
    __slots__ = ("result", "document_id", "document_type", "validity", "completeness_score", "findings")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    VALIDITY_FIELD_NUMBER: _ClassVar[int]
    COMPLETENESS_SCORE_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    result: _ai_result_pb2.AiResult
    document_id: str
    document_type: DocumentType
    validity: ReportValidity
    completeness_score: float
    findings: _containers.RepeatedCompositeFieldContainer[ReportFinding]
    def __init__(self, result: _Optional[_Union[_ai_result_pb2.AiResult, _Mapping]] = ..., document_id: _Optional[str] = ..., document_type: _Optional[_Union[DocumentType, str]] = ..., validity: _Optional[_Union[ReportValidity, str]] = ..., completeness_score: _Optional[float] = ..., findings: _Optional[_Iterable[_Union[ReportFinding, _Mapping]]] = ...) -> None: ...

class ReportFinding(_message.Message):
    __slots__ = ("kind", "field_paths", "message", "blocking")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ReportFinding.Kind]
        KIND_MISSING: _ClassVar[ReportFinding.Kind]
        KIND_INCONSISTENT: _ClassVar[ReportFinding.Kind]
        KIND_IMPLAUSIBLE: _ClassVar[ReportFinding.Kind]
    KIND_UNSPECIFIED: ReportFinding.Kind
    KIND_MISSING: ReportFinding.Kind
    KIND_INCONSISTENT: ReportFinding.Kind
    KIND_IMPLAUSIBLE: ReportFinding.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    FIELD_PATHS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_FIELD_NUMBER: _ClassVar[int]
    kind: ReportFinding.Kind
    field_paths: _containers.RepeatedScalarFieldContainer[str]
    message: str
    blocking: bool
    def __init__(self, kind: _Optional[_Union[ReportFinding.Kind, str]] = ..., field_paths: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ..., blocking: _Optional[bool] = ...) -> None: ...

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
