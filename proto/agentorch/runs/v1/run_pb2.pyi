import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class OriginType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ORIGIN_TYPE_UNSPECIFIED: _ClassVar[OriginType]
    ORIGIN_TYPE_PLAN: _ClassVar[OriginType]
    ORIGIN_TYPE_SAVED_ORCHESTRATION: _ClassVar[OriginType]
    ORIGIN_TYPE_AD_HOC: _ClassVar[OriginType]

class RunStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATUS_UNSPECIFIED: _ClassVar[RunStatus]
    RUN_STATUS_PENDING: _ClassVar[RunStatus]
    RUN_STATUS_RUNNING: _ClassVar[RunStatus]
    RUN_STATUS_PAUSED: _ClassVar[RunStatus]
    RUN_STATUS_COMPLETED: _ClassVar[RunStatus]
    RUN_STATUS_FAILED: _ClassVar[RunStatus]
    RUN_STATUS_CANCELLED: _ClassVar[RunStatus]

class StepStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STEP_STATUS_UNSPECIFIED: _ClassVar[StepStatus]
    STEP_STATUS_PENDING: _ClassVar[StepStatus]
    STEP_STATUS_READY: _ClassVar[StepStatus]
    STEP_STATUS_RUNNING: _ClassVar[StepStatus]
    STEP_STATUS_WAITING: _ClassVar[StepStatus]
    STEP_STATUS_SUCCEEDED: _ClassVar[StepStatus]
    STEP_STATUS_FAILED: _ClassVar[StepStatus]
    STEP_STATUS_SKIPPED: _ClassVar[StepStatus]
    STEP_STATUS_CANCELLED: _ClassVar[StepStatus]

class CheckpointStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECKPOINT_STATUS_UNSPECIFIED: _ClassVar[CheckpointStatus]
    CHECKPOINT_STATUS_OPEN: _ClassVar[CheckpointStatus]
    CHECKPOINT_STATUS_APPROVED: _ClassVar[CheckpointStatus]
    CHECKPOINT_STATUS_REJECTED: _ClassVar[CheckpointStatus]
    CHECKPOINT_STATUS_CHANGES_REQUESTED: _ClassVar[CheckpointStatus]
    CHECKPOINT_STATUS_EXPIRED: _ClassVar[CheckpointStatus]
    CHECKPOINT_STATUS_CLOSED: _ClassVar[CheckpointStatus]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_APPROVE: _ClassVar[Decision]
    DECISION_REJECT: _ClassVar[Decision]
    DECISION_REQUEST_CHANGES: _ClassVar[Decision]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_RUN_CREATED: _ClassVar[EventType]
    EVENT_TYPE_RUN_STATUS_CHANGED: _ClassVar[EventType]
    EVENT_TYPE_STEP_READY: _ClassVar[EventType]
    EVENT_TYPE_STEP_STARTED: _ClassVar[EventType]
    EVENT_TYPE_STEP_SUCCEEDED: _ClassVar[EventType]
    EVENT_TYPE_STEP_FAILED: _ClassVar[EventType]
    EVENT_TYPE_STEP_SKIPPED: _ClassVar[EventType]
    EVENT_TYPE_STEP_TAKEN_OVER: _ClassVar[EventType]
    EVENT_TYPE_STEP_OUTPUT_DELTA: _ClassVar[EventType]
    EVENT_TYPE_CHECKPOINT_OPENED: _ClassVar[EventType]
    EVENT_TYPE_CHECKPOINT_DECIDED: _ClassVar[EventType]
    EVENT_TYPE_CHECKPOINT_ESCALATED: _ClassVar[EventType]
    EVENT_TYPE_CHECKPOINT_DUE_SOON: _ClassVar[EventType]
    EVENT_TYPE_CHECKPOINT_REASSIGNED: _ClassVar[EventType]
    EVENT_TYPE_CHECKPOINT_EXTENDED: _ClassVar[EventType]
    EVENT_TYPE_CHECKPOINT_VOTE_RECORDED: _ClassVar[EventType]
    EVENT_TYPE_OPERATOR_INTERVENTION: _ClassVar[EventType]
ORIGIN_TYPE_UNSPECIFIED: OriginType
ORIGIN_TYPE_PLAN: OriginType
ORIGIN_TYPE_SAVED_ORCHESTRATION: OriginType
ORIGIN_TYPE_AD_HOC: OriginType
RUN_STATUS_UNSPECIFIED: RunStatus
RUN_STATUS_PENDING: RunStatus
RUN_STATUS_RUNNING: RunStatus
RUN_STATUS_PAUSED: RunStatus
RUN_STATUS_COMPLETED: RunStatus
RUN_STATUS_FAILED: RunStatus
RUN_STATUS_CANCELLED: RunStatus
STEP_STATUS_UNSPECIFIED: StepStatus
STEP_STATUS_PENDING: StepStatus
STEP_STATUS_READY: StepStatus
STEP_STATUS_RUNNING: StepStatus
STEP_STATUS_WAITING: StepStatus
STEP_STATUS_SUCCEEDED: StepStatus
STEP_STATUS_FAILED: StepStatus
STEP_STATUS_SKIPPED: StepStatus
STEP_STATUS_CANCELLED: StepStatus
CHECKPOINT_STATUS_UNSPECIFIED: CheckpointStatus
CHECKPOINT_STATUS_OPEN: CheckpointStatus
CHECKPOINT_STATUS_APPROVED: CheckpointStatus
CHECKPOINT_STATUS_REJECTED: CheckpointStatus
CHECKPOINT_STATUS_CHANGES_REQUESTED: CheckpointStatus
CHECKPOINT_STATUS_EXPIRED: CheckpointStatus
CHECKPOINT_STATUS_CLOSED: CheckpointStatus
DECISION_UNSPECIFIED: Decision
DECISION_APPROVE: Decision
DECISION_REJECT: Decision
DECISION_REQUEST_CHANGES: Decision
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_RUN_CREATED: EventType
EVENT_TYPE_RUN_STATUS_CHANGED: EventType
EVENT_TYPE_STEP_READY: EventType
EVENT_TYPE_STEP_STARTED: EventType
EVENT_TYPE_STEP_SUCCEEDED: EventType
EVENT_TYPE_STEP_FAILED: EventType
EVENT_TYPE_STEP_SKIPPED: EventType
EVENT_TYPE_STEP_TAKEN_OVER: EventType
EVENT_TYPE_STEP_OUTPUT_DELTA: EventType
EVENT_TYPE_CHECKPOINT_OPENED: EventType
EVENT_TYPE_CHECKPOINT_DECIDED: EventType
EVENT_TYPE_CHECKPOINT_ESCALATED: EventType
EVENT_TYPE_CHECKPOINT_DUE_SOON: EventType
EVENT_TYPE_CHECKPOINT_REASSIGNED: EventType
EVENT_TYPE_CHECKPOINT_EXTENDED: EventType
EVENT_TYPE_CHECKPOINT_VOTE_RECORDED: EventType
EVENT_TYPE_OPERATOR_INTERVENTION: EventType

class Run(_message.Message):
    __slots__ = ("name", "organization_slug", "run_id", "origin_type", "origin", "status", "status_reason", "prompt_inputs", "metadata", "steps", "current_phase_index", "open_checkpoints", "last_event_sequence", "created_by", "create_time", "start_time", "end_time", "update_time", "definition", "prompt_templates", "failed_steps", "operator_interventions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_SLUG_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_TYPE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    PROMPT_INPUTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PHASE_INDEX_FIELD_NUMBER: _ClassVar[int]
    OPEN_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    LAST_EVENT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    FAILED_STEPS_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_INTERVENTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    organization_slug: str
    run_id: str
    origin_type: OriginType
    origin: str
    status: RunStatus
    status_reason: str
    prompt_inputs: _struct_pb2.Struct
    metadata: _struct_pb2.Struct
    steps: _containers.RepeatedCompositeFieldContainer[StepState]
    current_phase_index: int
    open_checkpoints: _containers.RepeatedScalarFieldContainer[str]
    last_event_sequence: int
    created_by: str
    create_time: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    definition: _struct_pb2.Struct
    prompt_templates: _containers.RepeatedCompositeFieldContainer[RunPromptTemplate]
    failed_steps: int
    operator_interventions: _containers.RepeatedCompositeFieldContainer[OperatorIntervention]
    def __init__(self, name: _Optional[str] = ..., organization_slug: _Optional[str] = ..., run_id: _Optional[str] = ..., origin_type: _Optional[_Union[OriginType, str]] = ..., origin: _Optional[str] = ..., status: _Optional[_Union[RunStatus, str]] = ..., status_reason: _Optional[str] = ..., prompt_inputs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[StepState, _Mapping]]] = ..., current_phase_index: _Optional[int] = ..., open_checkpoints: _Optional[_Iterable[str]] = ..., last_event_sequence: _Optional[int] = ..., created_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., definition: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., prompt_templates: _Optional[_Iterable[_Union[RunPromptTemplate, _Mapping]]] = ..., failed_steps: _Optional[int] = ..., operator_interventions: _Optional[_Iterable[_Union[OperatorIntervention, _Mapping]]] = ...) -> None: ...

class RunPromptTemplate(_message.Message):
    __slots__ = ("name", "template")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    template: str
    def __init__(self, name: _Optional[str] = ..., template: _Optional[str] = ...) -> None: ...

class StepState(_message.Message):
    __slots__ = ("step_id", "phase_id", "kind", "status", "attempt", "output", "error", "start_time", "end_time", "next_attempt_time", "checkpoint", "idempotency_key", "revision")
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    step_id: str
    phase_id: str
    kind: str
    status: StepStatus
    attempt: int
    output: _struct_pb2.Value
    error: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    next_attempt_time: _timestamp_pb2.Timestamp
    checkpoint: str
    idempotency_key: str
    revision: int
    def __init__(self, step_id: _Optional[str] = ..., phase_id: _Optional[str] = ..., kind: _Optional[str] = ..., status: _Optional[_Union[StepStatus, str]] = ..., attempt: _Optional[int] = ..., output: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., error: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., checkpoint: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., revision: _Optional[int] = ...) -> None: ...

class Checkpoint(_message.Message):
    __slots__ = ("name", "run", "step_id", "title", "context", "deliverables", "assignees", "role", "status", "open_time", "due_time", "on_expiry", "decision", "comment", "payload", "decided_by", "decide_time", "latency_ms", "organization_slug", "revision", "approvals_required", "approvals", "forbid_self_approval", "votes", "reason_codes", "reason_code", "escalation_level", "remind_time", "next_escalation_time", "override", "override_justification", "escalation_levels")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    DELIVERABLES_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEES_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    OPEN_TIME_FIELD_NUMBER: _ClassVar[int]
    DUE_TIME_FIELD_NUMBER: _ClassVar[int]
    ON_EXPIRY_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    DECIDED_BY_FIELD_NUMBER: _ClassVar[int]
    DECIDE_TIME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_SLUG_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    FORBID_SELF_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    VOTES_FIELD_NUMBER: _ClassVar[int]
    REASON_CODES_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    REMIND_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_ESCALATION_TIME_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    OVERRIDE_JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LEVELS_FIELD_NUMBER: _ClassVar[int]
    name: str
    run: str
    step_id: str
    title: str
    context: str
    deliverables: _containers.RepeatedScalarFieldContainer[str]
    assignees: _containers.RepeatedScalarFieldContainer[str]
    role: str
    status: CheckpointStatus
    open_time: _timestamp_pb2.Timestamp
    due_time: _timestamp_pb2.Timestamp
    on_expiry: str
    decision: Decision
    comment: str
    payload: _struct_pb2.Struct
    decided_by: str
    decide_time: _timestamp_pb2.Timestamp
    latency_ms: int
    organization_slug: str
    revision: int
    approvals_required: int
    approvals: int
    forbid_self_approval: bool
    votes: _containers.RepeatedCompositeFieldContainer[CheckpointVote]
    reason_codes: _containers.RepeatedScalarFieldContainer[str]
    reason_code: str
    escalation_level: int
    remind_time: _timestamp_pb2.Timestamp
    next_escalation_time: _timestamp_pb2.Timestamp
    override: bool
    override_justification: str
    escalation_levels: int
    def __init__(self, name: _Optional[str] = ..., run: _Optional[str] = ..., step_id: _Optional[str] = ..., title: _Optional[str] = ..., context: _Optional[str] = ..., deliverables: _Optional[_Iterable[str]] = ..., assignees: _Optional[_Iterable[str]] = ..., role: _Optional[str] = ..., status: _Optional[_Union[CheckpointStatus, str]] = ..., open_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., due_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., on_expiry: _Optional[str] = ..., decision: _Optional[_Union[Decision, str]] = ..., comment: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., decided_by: _Optional[str] = ..., decide_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latency_ms: _Optional[int] = ..., organization_slug: _Optional[str] = ..., revision: _Optional[int] = ..., approvals_required: _Optional[int] = ..., approvals: _Optional[int] = ..., forbid_self_approval: _Optional[bool] = ..., votes: _Optional[_Iterable[_Union[CheckpointVote, _Mapping]]] = ..., reason_codes: _Optional[_Iterable[str]] = ..., reason_code: _Optional[str] = ..., escalation_level: _Optional[int] = ..., remind_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_escalation_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., override: _Optional[bool] = ..., override_justification: _Optional[str] = ..., escalation_levels: _Optional[int] = ...) -> None: ...

class RunEvent(_message.Message):
    __slots__ = ("run", "sequence", "type", "step_id", "data", "event_time", "run_status")
    RUN_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    RUN_STATUS_FIELD_NUMBER: _ClassVar[int]
    run: str
    sequence: int
    type: EventType
    step_id: str
    data: _struct_pb2.Struct
    event_time: _timestamp_pb2.Timestamp
    run_status: RunStatus
    def __init__(self, run: _Optional[str] = ..., sequence: _Optional[int] = ..., type: _Optional[_Union[EventType, str]] = ..., step_id: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., run_status: _Optional[_Union[RunStatus, str]] = ...) -> None: ...

class OperatorIntervention(_message.Message):
    __slots__ = ("step_id", "kind", "by", "time")
    STEP_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    BY_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    step_id: str
    kind: str
    by: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, step_id: _Optional[str] = ..., kind: _Optional[str] = ..., by: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckpointVote(_message.Message):
    __slots__ = ("name", "voter", "decision", "comment", "reason_code", "payload", "payload_diff", "evidence_sha256", "evidence_json", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VOTER_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_DIFF_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_SHA256_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_JSON_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    voter: str
    decision: Decision
    comment: str
    reason_code: str
    payload: _struct_pb2.Struct
    payload_diff: _struct_pb2.ListValue
    evidence_sha256: str
    evidence_json: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., voter: _Optional[str] = ..., decision: _Optional[_Union[Decision, str]] = ..., comment: _Optional[str] = ..., reason_code: _Optional[str] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., payload_diff: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., evidence_sha256: _Optional[str] = ..., evidence_json: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
