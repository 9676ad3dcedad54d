import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CredentialType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDENTIAL_TYPE_UNSPECIFIED: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_API_KEY: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_BEARER_TOKEN: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_BASIC_AUTH: _ClassVar[CredentialType]
    CREDENTIAL_TYPE_GENERIC_SECRET: _ClassVar[CredentialType]

class AuditAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_ACTION_UNSPECIFIED: _ClassVar[AuditAction]
    AUDIT_ACTION_CREATE: _ClassVar[AuditAction]
    AUDIT_ACTION_UPDATE: _ClassVar[AuditAction]
    AUDIT_ACTION_ROTATE: _ClassVar[AuditAction]
    AUDIT_ACTION_DELETE: _ClassVar[AuditAction]
    AUDIT_ACTION_RESOLVE: _ClassVar[AuditAction]
    AUDIT_ACTION_REWRAP: _ClassVar[AuditAction]

class AuditOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_OUTCOME_UNSPECIFIED: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_ALLOWED: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_DENIED: _ClassVar[AuditOutcome]
    AUDIT_OUTCOME_FAILED: _ClassVar[AuditOutcome]
CREDENTIAL_TYPE_UNSPECIFIED: CredentialType
CREDENTIAL_TYPE_API_KEY: CredentialType
CREDENTIAL_TYPE_BEARER_TOKEN: CredentialType
CREDENTIAL_TYPE_BASIC_AUTH: CredentialType
CREDENTIAL_TYPE_GENERIC_SECRET: CredentialType
AUDIT_ACTION_UNSPECIFIED: AuditAction
AUDIT_ACTION_CREATE: AuditAction
AUDIT_ACTION_UPDATE: AuditAction
AUDIT_ACTION_ROTATE: AuditAction
AUDIT_ACTION_DELETE: AuditAction
AUDIT_ACTION_RESOLVE: AuditAction
AUDIT_ACTION_REWRAP: AuditAction
AUDIT_OUTCOME_UNSPECIFIED: AuditOutcome
AUDIT_OUTCOME_ALLOWED: AuditOutcome
AUDIT_OUTCOME_DENIED: AuditOutcome
AUDIT_OUTCOME_FAILED: AuditOutcome

class Credential(_message.Message):
    __slots__ = ("name", "organization_slug", "alias", "description", "provider", "type", "labels", "version", "retained_versions", "encryption", "create_time", "update_time", "rotate_time", "last_used_time", "rotation_age_seconds", "created_by", "updated_by", "etag", "allowed_agents", "allowed_hosts")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_SLUG_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    RETAINED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    ENCRYPTION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROTATE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_TIME_FIELD_NUMBER: _ClassVar[int]
    ROTATION_AGE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_AGENTS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_HOSTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    organization_slug: str
    alias: str
    description: str
    provider: str
    type: CredentialType
    labels: _containers.ScalarMap[str, str]
    version: int
    retained_versions: int
    encryption: EncryptionInfo
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    rotate_time: _timestamp_pb2.Timestamp
    last_used_time: _timestamp_pb2.Timestamp
    rotation_age_seconds: int
    created_by: str
    updated_by: str
    etag: str
    allowed_agents: _containers.RepeatedScalarFieldContainer[str]
    allowed_hosts: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., organization_slug: _Optional[str] = ..., alias: _Optional[str] = ..., description: _Optional[str] = ..., provider: _Optional[str] = ..., type: _Optional[_Union[CredentialType, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., version: _Optional[int] = ..., retained_versions: _Optional[int] = ..., encryption: _Optional[_Union[EncryptionInfo, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rotate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rotation_age_seconds: _Optional[int] = ..., created_by: _Optional[str] = ..., updated_by: _Optional[str] = ..., etag: _Optional[str] = ..., allowed_agents: _Optional[_Iterable[str]] = ..., allowed_hosts: _Optional[_Iterable[str]] = ...) -> None: ...

class EncryptionInfo(_message.Message):
    __slots__ = ("key_id", "algorithm", "wrap_time")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    WRAP_TIME_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    algorithm: str
    wrap_time: _timestamp_pb2.Timestamp
    def __init__(self, key_id: _Optional[str] = ..., algorithm: _Optional[str] = ..., wrap_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class AuditEvent(_message.Message):
    __slots__ = ("name", "organization_slug", "alias", "version", "action", "outcome", "reason", "actor", "run", "step", "request_id", "event_time", "sequence", "agent", "destination")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_SLUG_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    organization_slug: str
    alias: str
    version: int
    action: AuditAction
    outcome: AuditOutcome
    reason: str
    actor: str
    run: str
    step: str
    request_id: str
    event_time: _timestamp_pb2.Timestamp
    sequence: int
    agent: str
    destination: str
    def __init__(self, name: _Optional[str] = ..., organization_slug: _Optional[str] = ..., alias: _Optional[str] = ..., version: _Optional[int] = ..., action: _Optional[_Union[AuditAction, str]] = ..., outcome: _Optional[_Union[AuditOutcome, str]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., run: _Optional[str] = ..., step: _Optional[str] = ..., request_id: _Optional[str] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sequence: _Optional[int] = ..., agent: _Optional[str] = ..., destination: _Optional[str] = ...) -> None: ...
