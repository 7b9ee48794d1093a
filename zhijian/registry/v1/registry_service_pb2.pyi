import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import code_pb2 as _code_pb2
from zhijian.types.v1 import ai_result_pb2 as _ai_result_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FilingState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILING_STATE_UNSPECIFIED: _ClassVar[FilingState]
    FILING_STATE_DRAFT: _ClassVar[FilingState]
    FILING_STATE_SUBMITTED: _ClassVar[FilingState]
    FILING_STATE_VALIDATED: _ClassVar[FilingState]
    FILING_STATE_VALIDATION_FAILED: _ClassVar[FilingState]
    FILING_STATE_APPROVED: _ClassVar[FilingState]
    FILING_STATE_REJECTED: _ClassVar[FilingState]
    FILING_STATE_SUSPENDED: _ClassVar[FilingState]
    FILING_STATE_EXPIRED: _ClassVar[FilingState]
    FILING_STATE_RETIRED: _ClassVar[FilingState]

class FilingType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILING_TYPE_UNSPECIFIED: _ClassVar[FilingType]
    FILING_TYPE_NEW: _ClassVar[FilingType]
    FILING_TYPE_CHANGE: _ClassVar[FilingType]
    FILING_TYPE_RETIREMENT: _ClassVar[FilingType]

class ModelRole(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_ROLE_UNSPECIFIED: _ClassVar[ModelRole]
    MODEL_ROLE_ASSISTIVE: _ClassVar[ModelRole]

class ImpactLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMPACT_LEVEL_UNSPECIFIED: _ClassVar[ImpactLevel]
    IMPACT_LEVEL_LOW: _ClassVar[ImpactLevel]
    IMPACT_LEVEL_MEDIUM: _ClassVar[ImpactLevel]
    IMPACT_LEVEL_HIGH: _ClassVar[ImpactLevel]

class RiskTier(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RISK_TIER_UNSPECIFIED: _ClassVar[RiskTier]
    RISK_TIER_LOW: _ClassVar[RiskTier]
    RISK_TIER_MEDIUM: _ClassVar[RiskTier]
    RISK_TIER_HIGH: _ClassVar[RiskTier]

class DatasetPurpose(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATASET_PURPOSE_UNSPECIFIED: _ClassVar[DatasetPurpose]
    DATASET_PURPOSE_TRAINING: _ClassVar[DatasetPurpose]
    DATASET_PURPOSE_VALIDATION: _ClassVar[DatasetPurpose]
    DATASET_PURPOSE_TEST: _ClassVar[DatasetPurpose]
    DATASET_PURPOSE_FINE_TUNING: _ClassVar[DatasetPurpose]
    DATASET_PURPOSE_KNOWLEDGE_BASE: _ClassVar[DatasetPurpose]

class Comparison(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPARISON_UNSPECIFIED: _ClassVar[Comparison]
    COMPARISON_GREATER_OR_EQUAL: _ClassVar[Comparison]
    COMPARISON_LESS_OR_EQUAL: _ClassVar[Comparison]

class ChangeClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANGE_CLASS_UNSPECIFIED: _ClassVar[ChangeClass]
    CHANGE_CLASS_MINOR: _ClassVar[ChangeClass]
    CHANGE_CLASS_PRE_AUTHORIZED: _ClassVar[ChangeClass]
    CHANGE_CLASS_SUBSTANTIAL: _ClassVar[ChangeClass]

class ApprovalDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    APPROVAL_DECISION_UNSPECIFIED: _ClassVar[ApprovalDecision]
    APPROVAL_DECISION_APPROVE: _ClassVar[ApprovalDecision]
    APPROVAL_DECISION_REJECT: _ClassVar[ApprovalDecision]
    APPROVAL_DECISION_RENEW: _ClassVar[ApprovalDecision]

class ValidationConclusion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALIDATION_CONCLUSION_UNSPECIFIED: _ClassVar[ValidationConclusion]
    VALIDATION_CONCLUSION_ADEQUATE: _ClassVar[ValidationConclusion]
    VALIDATION_CONCLUSION_CONDITIONAL: _ClassVar[ValidationConclusion]
    VALIDATION_CONCLUSION_INADEQUATE: _ClassVar[ValidationConclusion]

class ValidationRunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VALIDATION_RUN_STATE_UNSPECIFIED: _ClassVar[ValidationRunState]
    VALIDATION_RUN_STATE_RUNNING: _ClassVar[ValidationRunState]
    VALIDATION_RUN_STATE_SUCCEEDED: _ClassVar[ValidationRunState]
    VALIDATION_RUN_STATE_FAILED: _ClassVar[ValidationRunState]

class DeploymentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DEPLOYMENT_STATE_UNSPECIFIED: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_ACTIVE: _ClassVar[DeploymentState]
    DEPLOYMENT_STATE_SUSPENDED: _ClassVar[DeploymentState]

class WatchEventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WATCH_EVENT_TYPE_UNSPECIFIED: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_SNAPSHOT: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_CHANGED: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_DELETED: _ClassVar[WatchEventType]
    WATCH_EVENT_TYPE_HEARTBEAT: _ClassVar[WatchEventType]

class LedgerProblemKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LEDGER_PROBLEM_KIND_UNSPECIFIED: _ClassVar[LedgerProblemKind]
    LEDGER_PROBLEM_KIND_ENTRY_MODIFIED: _ClassVar[LedgerProblemKind]
    LEDGER_PROBLEM_KIND_CHAIN_BROKEN: _ClassVar[LedgerProblemKind]
    LEDGER_PROBLEM_KIND_SEQUENCE_GAP: _ClassVar[LedgerProblemKind]
    LEDGER_PROBLEM_KIND_CHECKPOINT_INVALID: _ClassVar[LedgerProblemKind]
    LEDGER_PROBLEM_KIND_TAIL_TRUNCATED: _ClassVar[LedgerProblemKind]
    LEDGER_PROBLEM_KIND_TOMBSTONE_INVALID: _ClassVar[LedgerProblemKind]
    LEDGER_PROBLEM_KIND_SERVING_STATE_MISMATCH: _ClassVar[LedgerProblemKind]
    LEDGER_PROBLEM_KIND_ENTRY_FORGED: _ClassVar[LedgerProblemKind]

class CallDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALL_DECISION_UNSPECIFIED: _ClassVar[CallDecision]
    CALL_DECISION_ALLOWED: _ClassVar[CallDecision]
    CALL_DECISION_DENIED: _ClassVar[CallDecision]

class SigningKeyState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGNING_KEY_STATE_UNSPECIFIED: _ClassVar[SigningKeyState]
    SIGNING_KEY_STATE_ACTIVE: _ClassVar[SigningKeyState]
    SIGNING_KEY_STATE_RETIRED: _ClassVar[SigningKeyState]

class CredentialKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_KIND_UNSPECIFIED: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_TOKEN: _ClassVar[CredentialKind]
    CREDENTIAL_KIND_CERTIFICATE: _ClassVar[CredentialKind]

class IssuanceState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISSUANCE_STATE_UNSPECIFIED: _ClassVar[IssuanceState]
    ISSUANCE_STATE_PENDING_APPROVAL: _ClassVar[IssuanceState]
    ISSUANCE_STATE_ISSUED: _ClassVar[IssuanceState]
FILING_STATE_UNSPECIFIED: FilingState
FILING_STATE_DRAFT: FilingState
FILING_STATE_SUBMITTED: FilingState
FILING_STATE_VALIDATED: FilingState
FILING_STATE_VALIDATION_FAILED: FilingState
FILING_STATE_APPROVED: FilingState
FILING_STATE_REJECTED: FilingState
FILING_STATE_SUSPENDED: FilingState
FILING_STATE_EXPIRED: FilingState
FILING_STATE_RETIRED: FilingState
FILING_TYPE_UNSPECIFIED: FilingType
FILING_TYPE_NEW: FilingType
FILING_TYPE_CHANGE: FilingType
FILING_TYPE_RETIREMENT: FilingType
MODEL_ROLE_UNSPECIFIED: ModelRole
MODEL_ROLE_ASSISTIVE: ModelRole
IMPACT_LEVEL_UNSPECIFIED: ImpactLevel
IMPACT_LEVEL_LOW: ImpactLevel
IMPACT_LEVEL_MEDIUM: ImpactLevel
IMPACT_LEVEL_HIGH: ImpactLevel
RISK_TIER_UNSPECIFIED: RiskTier
RISK_TIER_LOW: RiskTier
RISK_TIER_MEDIUM: RiskTier
RISK_TIER_HIGH: RiskTier
DATASET_PURPOSE_UNSPECIFIED: DatasetPurpose
DATASET_PURPOSE_TRAINING: DatasetPurpose
DATASET_PURPOSE_VALIDATION: DatasetPurpose
DATASET_PURPOSE_TEST: DatasetPurpose
DATASET_PURPOSE_FINE_TUNING: DatasetPurpose
DATASET_PURPOSE_KNOWLEDGE_BASE: DatasetPurpose
COMPARISON_UNSPECIFIED: Comparison
COMPARISON_GREATER_OR_EQUAL: Comparison
COMPARISON_LESS_OR_EQUAL: Comparison
CHANGE_CLASS_UNSPECIFIED: ChangeClass
CHANGE_CLASS_MINOR: ChangeClass
CHANGE_CLASS_PRE_AUTHORIZED: ChangeClass
CHANGE_CLASS_SUBSTANTIAL: ChangeClass
APPROVAL_DECISION_UNSPECIFIED: ApprovalDecision
APPROVAL_DECISION_APPROVE: ApprovalDecision
APPROVAL_DECISION_REJECT: ApprovalDecision
APPROVAL_DECISION_RENEW: ApprovalDecision
VALIDATION_CONCLUSION_UNSPECIFIED: ValidationConclusion
VALIDATION_CONCLUSION_ADEQUATE: ValidationConclusion
VALIDATION_CONCLUSION_CONDITIONAL: ValidationConclusion
VALIDATION_CONCLUSION_INADEQUATE: ValidationConclusion
VALIDATION_RUN_STATE_UNSPECIFIED: ValidationRunState
VALIDATION_RUN_STATE_RUNNING: ValidationRunState
VALIDATION_RUN_STATE_SUCCEEDED: ValidationRunState
VALIDATION_RUN_STATE_FAILED: ValidationRunState
DEPLOYMENT_STATE_UNSPECIFIED: DeploymentState
DEPLOYMENT_STATE_ACTIVE: DeploymentState
DEPLOYMENT_STATE_SUSPENDED: DeploymentState
WATCH_EVENT_TYPE_UNSPECIFIED: WatchEventType
WATCH_EVENT_TYPE_SNAPSHOT: WatchEventType
WATCH_EVENT_TYPE_CHANGED: WatchEventType
WATCH_EVENT_TYPE_DELETED: WatchEventType
WATCH_EVENT_TYPE_HEARTBEAT: WatchEventType
LEDGER_PROBLEM_KIND_UNSPECIFIED: LedgerProblemKind
LEDGER_PROBLEM_KIND_ENTRY_MODIFIED: LedgerProblemKind
LEDGER_PROBLEM_KIND_CHAIN_BROKEN: LedgerProblemKind
LEDGER_PROBLEM_KIND_SEQUENCE_GAP: LedgerProblemKind
LEDGER_PROBLEM_KIND_CHECKPOINT_INVALID: LedgerProblemKind
LEDGER_PROBLEM_KIND_TAIL_TRUNCATED: LedgerProblemKind
LEDGER_PROBLEM_KIND_TOMBSTONE_INVALID: LedgerProblemKind
LEDGER_PROBLEM_KIND_SERVING_STATE_MISMATCH: LedgerProblemKind
LEDGER_PROBLEM_KIND_ENTRY_FORGED: LedgerProblemKind
CALL_DECISION_UNSPECIFIED: CallDecision
CALL_DECISION_ALLOWED: CallDecision
CALL_DECISION_DENIED: CallDecision
SIGNING_KEY_STATE_UNSPECIFIED: SigningKeyState
SIGNING_KEY_STATE_ACTIVE: SigningKeyState
SIGNING_KEY_STATE_RETIRED: SigningKeyState
CREDENTIAL_KIND_UNSPECIFIED: CredentialKind
CREDENTIAL_KIND_TOKEN: CredentialKind
CREDENTIAL_KIND_CERTIFICATE: CredentialKind
ISSUANCE_STATE_UNSPECIFIED: IssuanceState
ISSUANCE_STATE_PENDING_APPROVAL: IssuanceState
ISSUANCE_STATE_ISSUED: IssuanceState

class Filing(_message.Message):
    __slots__ = ("name", "filing_number", "filing_type", "state", "state_history", "identity", "parties", "purpose", "classification", "technical_description", "datasets", "validation_plan", "latest_validation_run", "oversight", "change_control", "approvals", "required_approvals", "evidence_sha256", "create_time", "update_time", "submit_time", "approve_time", "revalidate_time", "etag", "revalidation_due", "code_revision")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FILING_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATE_HISTORY_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_FIELD_NUMBER: _ClassVar[int]
    PARTIES_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    TECHNICAL_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_PLAN_FIELD_NUMBER: _ClassVar[int]
    LATEST_VALIDATION_RUN_FIELD_NUMBER: _ClassVar[int]
    OVERSIGHT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_CONTROL_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_APPROVALS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_TIME_FIELD_NUMBER: _ClassVar[int]
    APPROVE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVALIDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REVALIDATION_DUE_FIELD_NUMBER: _ClassVar[int]
    CODE_REVISION_FIELD_NUMBER: _ClassVar[int]
    name: str
    filing_number: str
    filing_type: FilingType
    state: FilingState
    state_history: _containers.RepeatedCompositeFieldContainer[StateChange]
    identity: ModelIdentity
    parties: Parties
    purpose: Purpose
    classification: Classification
    technical_description: TechnicalDescription
    datasets: _containers.RepeatedCompositeFieldContainer[DatasetUse]
    validation_plan: ValidationPlan
    latest_validation_run: str
    oversight: Oversight
    change_control: ChangeControl
    approvals: _containers.RepeatedCompositeFieldContainer[Approval]
    required_approvals: int
    evidence_sha256: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    submit_time: _timestamp_pb2.Timestamp
    approve_time: _timestamp_pb2.Timestamp
    revalidate_time: _timestamp_pb2.Timestamp
    etag: str
    revalidation_due: bool
    code_revision: str
    def __init__(self, name: _Optional[str] = ..., filing_number: _Optional[str] = ..., filing_type: _Optional[_Union[FilingType, str]] = ..., state: _Optional[_Union[FilingState, str]] = ..., state_history: _Optional[_Iterable[_Union[StateChange, _Mapping]]] = ..., identity: _Optional[_Union[ModelIdentity, _Mapping]] = ..., parties: _Optional[_Union[Parties, _Mapping]] = ..., purpose: _Optional[_Union[Purpose, _Mapping]] = ..., classification: _Optional[_Union[Classification, _Mapping]] = ..., technical_description: _Optional[_Union[TechnicalDescription, _Mapping]] = ..., datasets: _Optional[_Iterable[_Union[DatasetUse, _Mapping]]] = ..., validation_plan: _Optional[_Union[ValidationPlan, _Mapping]] = ..., latest_validation_run: _Optional[str] = ..., oversight: _Optional[_Union[Oversight, _Mapping]] = ..., change_control: _Optional[_Union[ChangeControl, _Mapping]] = ..., approvals: _Optional[_Iterable[_Union[Approval, _Mapping]]] = ..., required_approvals: _Optional[int] = ..., evidence_sha256: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., submit_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., approve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revalidate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., revalidation_due: _Optional[bool] = ..., code_revision: _Optional[str] = ...) -> None: ...

class StateChange(_message.Message):
    __slots__ = ("from_state", "to_state", "actor", "change_time", "reason", "audit_event")
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENT_FIELD_NUMBER: _ClassVar[int]
    from_state: FilingState
    to_state: FilingState
    actor: str
    change_time: _timestamp_pb2.Timestamp
    reason: str
    audit_event: str
    def __init__(self, from_state: _Optional[_Union[FilingState, str]] = ..., to_state: _Optional[_Union[FilingState, str]] = ..., actor: _Optional[str] = ..., change_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., audit_event: _Optional[str] = ...) -> None: ...

class ModelIdentity(_message.Message):
    __slots__ = ("model", "version", "mlflow_run_id", "model_uri", "artifacts", "supersedes")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MLFLOW_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_URI_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDES_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: str
    mlflow_run_id: str
    model_uri: str
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    supersedes: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[str] = ..., mlflow_run_id: _Optional[str] = ..., model_uri: _Optional[str] = ..., artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ..., supersedes: _Optional[str] = ...) -> None: ...

class Artifact(_message.Message):
    __slots__ = ("path", "sha256", "size_bytes")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    path: str
    sha256: str
    size_bytes: int
    def __init__(self, path: _Optional[str] = ..., sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class Parties(_message.Message):
    __slots__ = ("provider_organization", "submitter", "business_owner", "security_officer", "developers", "validators", "approvers")
    PROVIDER_ORGANIZATION_FIELD_NUMBER: _ClassVar[int]
    SUBMITTER_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_OWNER_FIELD_NUMBER: _ClassVar[int]
    SECURITY_OFFICER_FIELD_NUMBER: _ClassVar[int]
    DEVELOPERS_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_FIELD_NUMBER: _ClassVar[int]
    APPROVERS_FIELD_NUMBER: _ClassVar[int]
    provider_organization: str
    submitter: str
    business_owner: str
    security_officer: str
    developers: _containers.RepeatedScalarFieldContainer[str]
    validators: _containers.RepeatedScalarFieldContainer[str]
    approvers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, provider_organization: _Optional[str] = ..., submitter: _Optional[str] = ..., business_owner: _Optional[str] = ..., security_officer: _Optional[str] = ..., developers: _Optional[_Iterable[str]] = ..., validators: _Optional[_Iterable[str]] = ..., approvers: _Optional[_Iterable[str]] = ...) -> None: ...

class Purpose(_message.Message):
    __slots__ = ("intended_use", "context_of_use", "role", "prohibited_decisions", "out_of_scope_uses", "users", "business_scenario", "algorithm_type", "task")
    INTENDED_USE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_OF_USE_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    PROHIBITED_DECISIONS_FIELD_NUMBER: _ClassVar[int]
    OUT_OF_SCOPE_USES_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_SCENARIO_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_TYPE_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    intended_use: str
    context_of_use: str
    role: ModelRole
    prohibited_decisions: _containers.RepeatedScalarFieldContainer[str]
    out_of_scope_uses: _containers.RepeatedScalarFieldContainer[str]
    users: _containers.RepeatedScalarFieldContainer[str]
    business_scenario: str
    algorithm_type: str
    task: str
    def __init__(self, intended_use: _Optional[str] = ..., context_of_use: _Optional[str] = ..., role: _Optional[_Union[ModelRole, str]] = ..., prohibited_decisions: _Optional[_Iterable[str]] = ..., out_of_scope_uses: _Optional[_Iterable[str]] = ..., users: _Optional[_Iterable[str]] = ..., business_scenario: _Optional[str] = ..., algorithm_type: _Optional[str] = ..., task: _Optional[str] = ...) -> None: ...

class Classification(_message.Message):
    __slots__ = ("model_influence", "decision_consequence", "risk_tier", "rationale", "max_data_level", "network_domains")
    MODEL_INFLUENCE_FIELD_NUMBER: _ClassVar[int]
    DECISION_CONSEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RISK_TIER_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    MAX_DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    NETWORK_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    model_influence: ImpactLevel
    decision_consequence: ImpactLevel
    risk_tier: RiskTier
    rationale: str
    max_data_level: _ai_result_pb2.DataLevel
    network_domains: _containers.RepeatedScalarFieldContainer[_ai_result_pb2.NetworkDomain]
    def __init__(self, model_influence: _Optional[_Union[ImpactLevel, str]] = ..., decision_consequence: _Optional[_Union[ImpactLevel, str]] = ..., risk_tier: _Optional[_Union[RiskTier, str]] = ..., rationale: _Optional[str] = ..., max_data_level: _Optional[_Union[_ai_result_pb2.DataLevel, str]] = ..., network_domains: _Optional[_Iterable[_Union[_ai_result_pb2.NetworkDomain, str]]] = ...) -> None: ...

class TechnicalDescription(_message.Message):
    __slots__ = ("mechanism", "architecture", "signature_json", "dependencies", "guardrails")
    MECHANISM_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_JSON_FIELD_NUMBER: _ClassVar[int]
    DEPENDENCIES_FIELD_NUMBER: _ClassVar[int]
    GUARDRAILS_FIELD_NUMBER: _ClassVar[int]
    mechanism: str
    architecture: str
    signature_json: str
    dependencies: _containers.RepeatedCompositeFieldContainer[Dependency]
    guardrails: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, mechanism: _Optional[str] = ..., architecture: _Optional[str] = ..., signature_json: _Optional[str] = ..., dependencies: _Optional[_Iterable[_Union[Dependency, _Mapping]]] = ..., guardrails: _Optional[_Iterable[str]] = ...) -> None: ...

class Dependency(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class Dataset(_message.Message):
    __slots__ = ("name", "display_name", "uri", "source", "legal_basis", "collection_start_time", "collection_end_time", "record_count", "sha256", "record_hashes_uri", "data_level", "preparation_notes", "annotation_notes", "known_gaps", "registrant", "create_time", "task_type", "derived_from")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_START_TIME_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_END_TIME_FIELD_NUMBER: _ClassVar[int]
    RECORD_COUNT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    RECORD_HASHES_URI_FIELD_NUMBER: _ClassVar[int]
    DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    PREPARATION_NOTES_FIELD_NUMBER: _ClassVar[int]
    ANNOTATION_NOTES_FIELD_NUMBER: _ClassVar[int]
    KNOWN_GAPS_FIELD_NUMBER: _ClassVar[int]
    REGISTRANT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    DERIVED_FROM_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    uri: str
    source: str
    legal_basis: str
    collection_start_time: _timestamp_pb2.Timestamp
    collection_end_time: _timestamp_pb2.Timestamp
    record_count: int
    sha256: str
    record_hashes_uri: str
    data_level: _ai_result_pb2.DataLevel
    preparation_notes: str
    annotation_notes: str
    known_gaps: _containers.RepeatedScalarFieldContainer[str]
    registrant: str
    create_time: _timestamp_pb2.Timestamp
    task_type: str
    derived_from: DatasetDerivation
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., uri: _Optional[str] = ..., source: _Optional[str] = ..., legal_basis: _Optional[str] = ..., collection_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., collection_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., record_count: _Optional[int] = ..., sha256: _Optional[str] = ..., record_hashes_uri: _Optional[str] = ..., data_level: _Optional[_Union[_ai_result_pb2.DataLevel, str]] = ..., preparation_notes: _Optional[str] = ..., annotation_notes: _Optional[str] = ..., known_gaps: _Optional[_Iterable[str]] = ..., registrant: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., task_type: _Optional[str] = ..., derived_from: _Optional[_Union[DatasetDerivation, _Mapping]] = ...) -> None: ...

class DatasetDerivation(_message.Message):
    __slots__ = ("source_uri", "source_sha256", "transform", "transform_sha256")
    SOURCE_URI_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_FIELD_NUMBER: _ClassVar[int]
    TRANSFORM_SHA256_FIELD_NUMBER: _ClassVar[int]
    source_uri: str
    source_sha256: str
    transform: str
    transform_sha256: str
    def __init__(self, source_uri: _Optional[str] = ..., source_sha256: _Optional[str] = ..., transform: _Optional[str] = ..., transform_sha256: _Optional[str] = ...) -> None: ...

class DatasetUse(_message.Message):
    __slots__ = ("dataset", "purpose", "snapshot")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    purpose: DatasetPurpose
    snapshot: Dataset
    def __init__(self, dataset: _Optional[str] = ..., purpose: _Optional[_Union[DatasetPurpose, str]] = ..., snapshot: _Optional[_Union[Dataset, _Mapping]] = ...) -> None: ...

class RegisterDatasetRequest(_message.Message):
    __slots__ = ("dataset", "dataset_id")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    dataset: Dataset
    dataset_id: str
    def __init__(self, dataset: _Optional[_Union[Dataset, _Mapping]] = ..., dataset_id: _Optional[str] = ...) -> None: ...

class GetDatasetRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDatasetsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDatasetsResponse(_message.Message):
    __slots__ = ("datasets", "next_page_token")
    DATASETS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    datasets: _containers.RepeatedCompositeFieldContainer[Dataset]
    next_page_token: str
    def __init__(self, datasets: _Optional[_Iterable[_Union[Dataset, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class MetricThreshold(_message.Message):
    __slots__ = ("metric", "target", "subgroup", "comparison", "threshold", "use_confidence_bound")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SUBGROUP_FIELD_NUMBER: _ClassVar[int]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    USE_CONFIDENCE_BOUND_FIELD_NUMBER: _ClassVar[int]
    metric: str
    target: str
    subgroup: str
    comparison: Comparison
    threshold: float
    use_confidence_bound: bool
    def __init__(self, metric: _Optional[str] = ..., target: _Optional[str] = ..., subgroup: _Optional[str] = ..., comparison: _Optional[_Union[Comparison, str]] = ..., threshold: _Optional[float] = ..., use_confidence_bound: _Optional[bool] = ...) -> None: ...

class ValidationPlan(_message.Message):
    __slots__ = ("metrics", "subgroups", "robustness", "latency_budget_p95", "confidence_level", "revalidation_interval", "bootstrap_resamples", "task_type")
    METRICS_FIELD_NUMBER: _ClassVar[int]
    SUBGROUPS_FIELD_NUMBER: _ClassVar[int]
    ROBUSTNESS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BUDGET_P95_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REVALIDATION_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    BOOTSTRAP_RESAMPLES_FIELD_NUMBER: _ClassVar[int]
    TASK_TYPE_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[MetricThreshold]
    subgroups: _containers.RepeatedScalarFieldContainer[str]
    robustness: RobustnessPlan
    latency_budget_p95: _duration_pb2.Duration
    confidence_level: float
    revalidation_interval: _duration_pb2.Duration
    bootstrap_resamples: int
    task_type: str
    def __init__(self, metrics: _Optional[_Iterable[_Union[MetricThreshold, _Mapping]]] = ..., subgroups: _Optional[_Iterable[str]] = ..., robustness: _Optional[_Union[RobustnessPlan, _Mapping]] = ..., latency_budget_p95: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., confidence_level: _Optional[float] = ..., revalidation_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., bootstrap_resamples: _Optional[int] = ..., task_type: _Optional[str] = ...) -> None: ...

class RobustnessPlan(_message.Message):
    __slots__ = ("perturbations", "target", "min_stability")
    PERTURBATIONS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    MIN_STABILITY_FIELD_NUMBER: _ClassVar[int]
    perturbations: _containers.RepeatedScalarFieldContainer[str]
    target: str
    min_stability: float
    def __init__(self, perturbations: _Optional[_Iterable[str]] = ..., target: _Optional[str] = ..., min_stability: _Optional[float] = ...) -> None: ...

class Oversight(_message.Message):
    __slots__ = ("review_points", "stop_authorities", "output_label")
    REVIEW_POINTS_FIELD_NUMBER: _ClassVar[int]
    STOP_AUTHORITIES_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_LABEL_FIELD_NUMBER: _ClassVar[int]
    review_points: _containers.RepeatedScalarFieldContainer[str]
    stop_authorities: _containers.RepeatedScalarFieldContainer[str]
    output_label: str
    def __init__(self, review_points: _Optional[_Iterable[str]] = ..., stop_authorities: _Optional[_Iterable[str]] = ..., output_label: _Optional[str] = ...) -> None: ...

class ChangeControl(_message.Message):
    __slots__ = ("pre_authorized_changes", "change_log")
    PRE_AUTHORIZED_CHANGES_FIELD_NUMBER: _ClassVar[int]
    CHANGE_LOG_FIELD_NUMBER: _ClassVar[int]
    pre_authorized_changes: _containers.RepeatedScalarFieldContainer[str]
    change_log: _containers.RepeatedCompositeFieldContainer[ChangeLogEntry]
    def __init__(self, pre_authorized_changes: _Optional[_Iterable[str]] = ..., change_log: _Optional[_Iterable[_Union[ChangeLogEntry, _Mapping]]] = ...) -> None: ...

class ChangeLogEntry(_message.Message):
    __slots__ = ("description", "change_class", "approver", "change_time")
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CHANGE_CLASS_FIELD_NUMBER: _ClassVar[int]
    APPROVER_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    description: str
    change_class: ChangeClass
    approver: str
    change_time: _timestamp_pb2.Timestamp
    def __init__(self, description: _Optional[str] = ..., change_class: _Optional[_Union[ChangeClass, str]] = ..., approver: _Optional[str] = ..., change_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Approval(_message.Message):
    __slots__ = ("approver", "decision", "conditions", "reason", "validation_run", "validation_run_sha256", "approve_time", "signature", "key_id")
    APPROVER_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RUN_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RUN_SHA256_FIELD_NUMBER: _ClassVar[int]
    APPROVE_TIME_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    approver: str
    decision: ApprovalDecision
    conditions: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    validation_run: str
    validation_run_sha256: str
    approve_time: _timestamp_pb2.Timestamp
    signature: bytes
    key_id: str
    def __init__(self, approver: _Optional[str] = ..., decision: _Optional[_Union[ApprovalDecision, str]] = ..., conditions: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., validation_run: _Optional[str] = ..., validation_run_sha256: _Optional[str] = ..., approve_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class CreateFilingRequest(_message.Message):
    __slots__ = ("filing", "filing_id", "request_id")
    FILING_FIELD_NUMBER: _ClassVar[int]
    FILING_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    filing: Filing
    filing_id: str
    request_id: str
    def __init__(self, filing: _Optional[_Union[Filing, _Mapping]] = ..., filing_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetFilingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListFilingsRequest(_message.Message):
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

class ListFilingsResponse(_message.Message):
    __slots__ = ("filings", "next_page_token")
    FILINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filings: _containers.RepeatedCompositeFieldContainer[Filing]
    next_page_token: str
    def __init__(self, filings: _Optional[_Iterable[_Union[Filing, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateFilingRequest(_message.Message):
    __slots__ = ("filing", "update_mask")
    FILING_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    filing: Filing
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, filing: _Optional[_Union[Filing, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class SubmitFilingRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class ApproveFilingRequest(_message.Message):
    __slots__ = ("name", "validation_run", "validation_run_sha256", "conditions", "signature", "key_id", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RUN_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RUN_SHA256_FIELD_NUMBER: _ClassVar[int]
    CONDITIONS_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    validation_run: str
    validation_run_sha256: str
    conditions: _containers.RepeatedScalarFieldContainer[str]
    signature: bytes
    key_id: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., validation_run: _Optional[str] = ..., validation_run_sha256: _Optional[str] = ..., conditions: _Optional[_Iterable[str]] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class RejectFilingRequest(_message.Message):
    __slots__ = ("name", "reason", "signature", "key_id", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    signature: bytes
    key_id: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class SuspendFilingRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReinstateFilingRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RenewFilingRequest(_message.Message):
    __slots__ = ("name", "validation_run", "validation_run_sha256", "signature", "key_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RUN_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_RUN_SHA256_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    validation_run: str
    validation_run_sha256: str
    signature: bytes
    key_id: str
    def __init__(self, name: _Optional[str] = ..., validation_run: _Optional[str] = ..., validation_run_sha256: _Optional[str] = ..., signature: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class RetireFilingRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ValidationRun(_message.Message):
    __slots__ = ("name", "validator", "evidence_sha256", "test_dataset_sha256", "metric_results", "robustness_results", "latency_p50", "latency_p95", "train_test_overlap_records", "limitations", "conclusion", "passed", "next_revalidation_time", "report_uri", "report_sha256", "record_sha256", "create_time", "state", "error", "failures", "mlflow_run_id", "report_markdown", "prediction_stability", "complete_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    TEST_DATASET_SHA256_FIELD_NUMBER: _ClassVar[int]
    METRIC_RESULTS_FIELD_NUMBER: _ClassVar[int]
    ROBUSTNESS_RESULTS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_FIELD_NUMBER: _ClassVar[int]
    TRAIN_TEST_OVERLAP_RECORDS_FIELD_NUMBER: _ClassVar[int]
    LIMITATIONS_FIELD_NUMBER: _ClassVar[int]
    CONCLUSION_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    NEXT_REVALIDATION_TIME_FIELD_NUMBER: _ClassVar[int]
    REPORT_URI_FIELD_NUMBER: _ClassVar[int]
    REPORT_SHA256_FIELD_NUMBER: _ClassVar[int]
    RECORD_SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    MLFLOW_RUN_ID_FIELD_NUMBER: _ClassVar[int]
    REPORT_MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    PREDICTION_STABILITY_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    validator: str
    evidence_sha256: str
    test_dataset_sha256: str
    metric_results: _containers.RepeatedCompositeFieldContainer[MetricResult]
    robustness_results: _containers.RepeatedCompositeFieldContainer[CheckResult]
    latency_p50: _duration_pb2.Duration
    latency_p95: _duration_pb2.Duration
    train_test_overlap_records: int
    limitations: _containers.RepeatedScalarFieldContainer[str]
    conclusion: ValidationConclusion
    passed: bool
    next_revalidation_time: _timestamp_pb2.Timestamp
    report_uri: str
    report_sha256: str
    record_sha256: str
    create_time: _timestamp_pb2.Timestamp
    state: ValidationRunState
    error: str
    failures: _containers.RepeatedScalarFieldContainer[str]
    mlflow_run_id: str
    report_markdown: str
    prediction_stability: float
    complete_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., validator: _Optional[str] = ..., evidence_sha256: _Optional[str] = ..., test_dataset_sha256: _Optional[str] = ..., metric_results: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ..., robustness_results: _Optional[_Iterable[_Union[CheckResult, _Mapping]]] = ..., latency_p50: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., latency_p95: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., train_test_overlap_records: _Optional[int] = ..., limitations: _Optional[_Iterable[str]] = ..., conclusion: _Optional[_Union[ValidationConclusion, str]] = ..., passed: _Optional[bool] = ..., next_revalidation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., report_uri: _Optional[str] = ..., report_sha256: _Optional[str] = ..., record_sha256: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[ValidationRunState, str]] = ..., error: _Optional[str] = ..., failures: _Optional[_Iterable[str]] = ..., mlflow_run_id: _Optional[str] = ..., report_markdown: _Optional[str] = ..., prediction_stability: _Optional[float] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MetricResult(_message.Message):
    __slots__ = ("metric", "target", "subgroup", "value", "ci_lower", "ci_upper", "sample_size", "passed", "planned")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SUBGROUP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CI_LOWER_FIELD_NUMBER: _ClassVar[int]
    CI_UPPER_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    PLANNED_FIELD_NUMBER: _ClassVar[int]
    metric: str
    target: str
    subgroup: str
    value: float
    ci_lower: float
    ci_upper: float
    sample_size: int
    passed: bool
    planned: bool
    def __init__(self, metric: _Optional[str] = ..., target: _Optional[str] = ..., subgroup: _Optional[str] = ..., value: _Optional[float] = ..., ci_lower: _Optional[float] = ..., ci_upper: _Optional[float] = ..., sample_size: _Optional[int] = ..., passed: _Optional[bool] = ..., planned: _Optional[bool] = ...) -> None: ...

class CheckResult(_message.Message):
    __slots__ = ("check", "passed", "detail", "value", "sample_size")
    CHECK_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    check: str
    passed: bool
    detail: str
    value: float
    sample_size: int
    def __init__(self, check: _Optional[str] = ..., passed: _Optional[bool] = ..., detail: _Optional[str] = ..., value: _Optional[float] = ..., sample_size: _Optional[int] = ...) -> None: ...

class ValidateFilingRequest(_message.Message):
    __slots__ = ("name", "limitations")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LIMITATIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    limitations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., limitations: _Optional[_Iterable[str]] = ...) -> None: ...

class GetValidationRunRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListValidationRunsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListValidationRunsResponse(_message.Message):
    __slots__ = ("validation_runs", "next_page_token")
    VALIDATION_RUNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    validation_runs: _containers.RepeatedCompositeFieldContainer[ValidationRun]
    next_page_token: str
    def __init__(self, validation_runs: _Optional[_Iterable[_Union[ValidationRun, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeployedVersion(_message.Message):
    __slots__ = ("filing", "version", "model_uri", "filing_state", "revalidate_time", "max_data_level", "network_domains", "artifacts", "filing_number")
    FILING_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    MODEL_URI_FIELD_NUMBER: _ClassVar[int]
    FILING_STATE_FIELD_NUMBER: _ClassVar[int]
    REVALIDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    MAX_DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    NETWORK_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    FILING_NUMBER_FIELD_NUMBER: _ClassVar[int]
    filing: str
    version: str
    model_uri: str
    filing_state: FilingState
    revalidate_time: _timestamp_pb2.Timestamp
    max_data_level: _ai_result_pb2.DataLevel
    network_domains: _containers.RepeatedScalarFieldContainer[_ai_result_pb2.NetworkDomain]
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    filing_number: str
    def __init__(self, filing: _Optional[str] = ..., version: _Optional[str] = ..., model_uri: _Optional[str] = ..., filing_state: _Optional[_Union[FilingState, str]] = ..., revalidate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_data_level: _Optional[_Union[_ai_result_pb2.DataLevel, str]] = ..., network_domains: _Optional[_Iterable[_Union[_ai_result_pb2.NetworkDomain, str]]] = ..., artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ..., filing_number: _Optional[str] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("name", "model", "display_name", "state", "production", "canary", "canary_weight_percent", "previous", "network_domains", "fallback_to_last_approved", "suspend_reason", "revision", "create_time", "update_time", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PRODUCTION_FIELD_NUMBER: _ClassVar[int]
    CANARY_FIELD_NUMBER: _ClassVar[int]
    CANARY_WEIGHT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_TO_LAST_APPROVED_FIELD_NUMBER: _ClassVar[int]
    SUSPEND_REASON_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    display_name: str
    state: DeploymentState
    production: DeployedVersion
    canary: DeployedVersion
    canary_weight_percent: int
    previous: DeployedVersion
    network_domains: _containers.RepeatedScalarFieldContainer[_ai_result_pb2.NetworkDomain]
    fallback_to_last_approved: bool
    suspend_reason: str
    revision: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., display_name: _Optional[str] = ..., state: _Optional[_Union[DeploymentState, str]] = ..., production: _Optional[_Union[DeployedVersion, _Mapping]] = ..., canary: _Optional[_Union[DeployedVersion, _Mapping]] = ..., canary_weight_percent: _Optional[int] = ..., previous: _Optional[_Union[DeployedVersion, _Mapping]] = ..., network_domains: _Optional[_Iterable[_Union[_ai_result_pb2.NetworkDomain, str]]] = ..., fallback_to_last_approved: _Optional[bool] = ..., suspend_reason: _Optional[str] = ..., revision: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class CreateDeploymentRequest(_message.Message):
    __slots__ = ("deployment", "deployment_id")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    deployment: Deployment
    deployment_id: str
    def __init__(self, deployment: _Optional[_Union[Deployment, _Mapping]] = ..., deployment_id: _Optional[str] = ...) -> None: ...

class GetDeploymentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListDeploymentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "filter")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    filter: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class ListDeploymentsResponse(_message.Message):
    __slots__ = ("deployments", "next_page_token")
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    next_page_token: str
    def __init__(self, deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateDeploymentRequest(_message.Message):
    __slots__ = ("deployment", "update_mask")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    deployment: Deployment
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, deployment: _Optional[_Union[Deployment, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class PromoteDeploymentRequest(_message.Message):
    __slots__ = ("name", "filing", "reason", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILING_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    filing: str
    reason: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., filing: _Optional[str] = ..., reason: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class SetDeploymentCanaryRequest(_message.Message):
    __slots__ = ("name", "filing", "weight_percent", "reason", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILING_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_PERCENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    filing: str
    weight_percent: int
    reason: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., filing: _Optional[str] = ..., weight_percent: _Optional[int] = ..., reason: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class RollbackDeploymentRequest(_message.Message):
    __slots__ = ("name", "reason", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class SuspendDeploymentRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ResumeDeploymentRequest(_message.Message):
    __slots__ = ("name", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WatchDeploymentsRequest(_message.Message):
    __slots__ = ("filter", "after_revision", "heartbeat_interval")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    AFTER_REVISION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    filter: str
    after_revision: int
    heartbeat_interval: _duration_pb2.Duration
    def __init__(self, filter: _Optional[str] = ..., after_revision: _Optional[int] = ..., heartbeat_interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class WatchDeploymentsResponse(_message.Message):
    __slots__ = ("type", "revision", "deployments", "event_time")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    type: WatchEventType
    revision: int
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    event_time: _timestamp_pb2.Timestamp
    def __init__(self, type: _Optional[_Union[WatchEventType, str]] = ..., revision: _Optional[int] = ..., deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("name", "sequence", "create_time", "actor", "action", "target", "details", "prev_sha256", "entry_sha256", "segment", "trace_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    PREV_SHA256_FIELD_NUMBER: _ClassVar[int]
    ENTRY_SHA256_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    sequence: int
    create_time: _timestamp_pb2.Timestamp
    actor: str
    action: str
    target: str
    details: _struct_pb2.Struct
    prev_sha256: str
    entry_sha256: str
    segment: int
    trace_id: str
    def __init__(self, name: _Optional[str] = ..., sequence: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., actor: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., prev_sha256: _Optional[str] = ..., entry_sha256: _Optional[str] = ..., segment: _Optional[int] = ..., trace_id: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "filter")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    filter: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("audit_events", "next_page_token")
    AUDIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    audit_events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, audit_events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class VerifyLedgerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class LedgerProblem(_message.Message):
    __slots__ = ("kind", "sequence", "segment", "detail")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    kind: LedgerProblemKind
    sequence: int
    segment: int
    detail: str
    def __init__(self, kind: _Optional[_Union[LedgerProblemKind, str]] = ..., sequence: _Optional[int] = ..., segment: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class VerifyLedgerResponse(_message.Message):
    __slots__ = ("ok", "entries_checked", "segments_checked", "tombstones", "head_sha256", "problems", "verify_time")
    OK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_CHECKED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    TOMBSTONES_FIELD_NUMBER: _ClassVar[int]
    HEAD_SHA256_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    VERIFY_TIME_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    entries_checked: int
    segments_checked: int
    tombstones: int
    head_sha256: str
    problems: _containers.RepeatedCompositeFieldContainer[LedgerProblem]
    verify_time: _timestamp_pb2.Timestamp
    def __init__(self, ok: _Optional[bool] = ..., entries_checked: _Optional[int] = ..., segments_checked: _Optional[int] = ..., tombstones: _Optional[int] = ..., head_sha256: _Optional[str] = ..., problems: _Optional[_Iterable[_Union[LedgerProblem, _Mapping]]] = ..., verify_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CallRecord(_message.Message):
    __slots__ = ("record_id", "recorder", "caller", "network_domain", "method", "model", "data_level", "decision", "reason", "status_code", "latency", "request_id", "trace_id", "request_sha256", "response_sha256", "start_time")
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDER_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    NETWORK_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_SHA256_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_SHA256_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    recorder: str
    caller: str
    network_domain: _ai_result_pb2.NetworkDomain
    method: str
    model: _ai_result_pb2.ModelRef
    data_level: _ai_result_pb2.DataLevel
    decision: CallDecision
    reason: str
    status_code: _code_pb2.Code
    latency: _duration_pb2.Duration
    request_id: str
    trace_id: str
    request_sha256: str
    response_sha256: str
    start_time: _timestamp_pb2.Timestamp
    def __init__(self, record_id: _Optional[str] = ..., recorder: _Optional[str] = ..., caller: _Optional[str] = ..., network_domain: _Optional[_Union[_ai_result_pb2.NetworkDomain, str]] = ..., method: _Optional[str] = ..., model: _Optional[_Union[_ai_result_pb2.ModelRef, _Mapping]] = ..., data_level: _Optional[_Union[_ai_result_pb2.DataLevel, str]] = ..., decision: _Optional[_Union[CallDecision, str]] = ..., reason: _Optional[str] = ..., status_code: _Optional[_Union[_code_pb2.Code, str]] = ..., latency: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., request_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., request_sha256: _Optional[str] = ..., response_sha256: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AppendCallRecordsRequest(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[CallRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[CallRecord, _Mapping]]] = ...) -> None: ...

class AppendCallRecordsResponse(_message.Message):
    __slots__ = ("appended_count", "duplicate_count", "last_sequence")
    APPENDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    appended_count: int
    duplicate_count: int
    last_sequence: int
    def __init__(self, appended_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ..., last_sequence: _Optional[int] = ...) -> None: ...

class ReviewRecord(_message.Message):
    __slots__ = ("result", "model", "decision", "reviewer", "review_time", "trace_id", "recorder")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    REVIEW_TIME_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDER_FIELD_NUMBER: _ClassVar[int]
    result: str
    model: _ai_result_pb2.ModelRef
    decision: _ai_result_pb2.ReviewDecision
    reviewer: str
    review_time: _timestamp_pb2.Timestamp
    trace_id: str
    recorder: str
    def __init__(self, result: _Optional[str] = ..., model: _Optional[_Union[_ai_result_pb2.ModelRef, _Mapping]] = ..., decision: _Optional[_Union[_ai_result_pb2.ReviewDecision, str]] = ..., reviewer: _Optional[str] = ..., review_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., trace_id: _Optional[str] = ..., recorder: _Optional[str] = ...) -> None: ...

class AppendReviewRecordsRequest(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[ReviewRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[ReviewRecord, _Mapping]]] = ...) -> None: ...

class AppendReviewRecordsResponse(_message.Message):
    __slots__ = ("appended_count", "duplicate_count")
    APPENDED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    appended_count: int
    duplicate_count: int
    def __init__(self, appended_count: _Optional[int] = ..., duplicate_count: _Optional[int] = ...) -> None: ...

class ListReviewStatsRequest(_message.Message):
    __slots__ = ("model", "filing", "page_size", "page_token")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FILING_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model: str
    filing: str
    page_size: int
    page_token: str
    def __init__(self, model: _Optional[str] = ..., filing: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ReviewStats(_message.Message):
    __slots__ = ("model", "accepted", "modified", "rejected", "total", "accept_rate", "modify_rate", "reject_rate", "last_review_time")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    MODIFIED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_RATE_FIELD_NUMBER: _ClassVar[int]
    MODIFY_RATE_FIELD_NUMBER: _ClassVar[int]
    REJECT_RATE_FIELD_NUMBER: _ClassVar[int]
    LAST_REVIEW_TIME_FIELD_NUMBER: _ClassVar[int]
    model: _ai_result_pb2.ModelRef
    accepted: int
    modified: int
    rejected: int
    total: int
    accept_rate: float
    modify_rate: float
    reject_rate: float
    last_review_time: _timestamp_pb2.Timestamp
    def __init__(self, model: _Optional[_Union[_ai_result_pb2.ModelRef, _Mapping]] = ..., accepted: _Optional[int] = ..., modified: _Optional[int] = ..., rejected: _Optional[int] = ..., total: _Optional[int] = ..., accept_rate: _Optional[float] = ..., modify_rate: _Optional[float] = ..., reject_rate: _Optional[float] = ..., last_review_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListReviewStatsResponse(_message.Message):
    __slots__ = ("stats", "next_page_token")
    STATS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    stats: _containers.RepeatedCompositeFieldContainer[ReviewStats]
    next_page_token: str
    def __init__(self, stats: _Optional[_Iterable[_Union[ReviewStats, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class PruneLedgerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class PruneLedgerResponse(_message.Message):
    __slots__ = ("dropped_segments", "dropped_events")
    DROPPED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    DROPPED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    dropped_segments: _containers.RepeatedScalarFieldContainer[int]
    dropped_events: int
    def __init__(self, dropped_segments: _Optional[_Iterable[int]] = ..., dropped_events: _Optional[int] = ...) -> None: ...

class SigningKey(_message.Message):
    __slots__ = ("name", "subject", "key_id", "public_key", "state", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    subject: str
    key_id: str
    public_key: bytes
    state: SigningKeyState
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., subject: _Optional[str] = ..., key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., state: _Optional[_Union[SigningKeyState, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EnrollSigningKeyRequest(_message.Message):
    __slots__ = ("public_key", "proof")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PROOF_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    proof: bytes
    def __init__(self, public_key: _Optional[bytes] = ..., proof: _Optional[bytes] = ...) -> None: ...

class Revocation(_message.Message):
    __slots__ = ("jti", "subject", "actor", "reason", "revoke_time", "audit_event")
    JTI_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENT_FIELD_NUMBER: _ClassVar[int]
    jti: str
    subject: str
    actor: str
    reason: str
    revoke_time: _timestamp_pb2.Timestamp
    audit_event: str
    def __init__(self, jti: _Optional[str] = ..., subject: _Optional[str] = ..., actor: _Optional[str] = ..., reason: _Optional[str] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., audit_event: _Optional[str] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("jti", "subject", "reason")
    JTI_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    jti: str
    subject: str
    reason: str
    def __init__(self, jti: _Optional[str] = ..., subject: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ListRevocationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRevocationsResponse(_message.Message):
    __slots__ = ("revocations", "next_page_token")
    REVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    revocations: _containers.RepeatedCompositeFieldContainer[Revocation]
    next_page_token: str
    def __init__(self, revocations: _Optional[_Iterable[_Union[Revocation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCallerIdentityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CallerIdentity(_message.Message):
    __slots__ = ("subject", "roles", "clearance", "jti", "expire_time", "network_domain", "signing_key_id")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CLEARANCE_FIELD_NUMBER: _ClassVar[int]
    JTI_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    NETWORK_DOMAIN_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    subject: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    clearance: _ai_result_pb2.DataLevel
    jti: str
    expire_time: _timestamp_pb2.Timestamp
    network_domain: _ai_result_pb2.NetworkDomain
    signing_key_id: str
    def __init__(self, subject: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., clearance: _Optional[_Union[_ai_result_pb2.DataLevel, str]] = ..., jti: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., network_domain: _Optional[_Union[_ai_result_pb2.NetworkDomain, str]] = ..., signing_key_id: _Optional[str] = ...) -> None: ...

class IssueCredentialRequest(_message.Message):
    __slots__ = ("subject", "roles", "clearance", "ttl", "certificate_public_key_pem", "reason")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CLEARANCE_FIELD_NUMBER: _ClassVar[int]
    TTL_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PUBLIC_KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    subject: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    clearance: str
    ttl: _duration_pb2.Duration
    certificate_public_key_pem: str
    reason: str
    def __init__(self, subject: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., clearance: _Optional[str] = ..., ttl: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., certificate_public_key_pem: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ApproveCredentialIssuanceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Credential(_message.Message):
    __slots__ = ("credential_id", "kind", "subject", "roles", "clearance", "issuer", "approver", "issue_time", "expire_time", "audit_event")
    CREDENTIAL_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CLEARANCE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_FIELD_NUMBER: _ClassVar[int]
    APPROVER_FIELD_NUMBER: _ClassVar[int]
    ISSUE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENT_FIELD_NUMBER: _ClassVar[int]
    credential_id: str
    kind: CredentialKind
    subject: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    clearance: str
    issuer: str
    approver: str
    issue_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    audit_event: str
    def __init__(self, credential_id: _Optional[str] = ..., kind: _Optional[_Union[CredentialKind, str]] = ..., subject: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., clearance: _Optional[str] = ..., issuer: _Optional[str] = ..., approver: _Optional[str] = ..., issue_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., audit_event: _Optional[str] = ...) -> None: ...

class CredentialIssuance(_message.Message):
    __slots__ = ("name", "state", "credential", "token", "certificate_pem", "requester", "subject", "roles", "clearance", "audit_event")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CLEARANCE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENT_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: IssuanceState
    credential: Credential
    token: str
    certificate_pem: str
    requester: str
    subject: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    clearance: str
    audit_event: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[IssuanceState, str]] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ..., token: _Optional[str] = ..., certificate_pem: _Optional[str] = ..., requester: _Optional[str] = ..., subject: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., clearance: _Optional[str] = ..., audit_event: _Optional[str] = ...) -> None: ...

class ListCredentialsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCredentialsResponse(_message.Message):
    __slots__ = ("credentials", "next_page_token")
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    credentials: _containers.RepeatedCompositeFieldContainer[Credential]
    next_page_token: str
    def __init__(self, credentials: _Optional[_Iterable[_Union[Credential, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
