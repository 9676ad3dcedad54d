import datetime

from agentorch.gateway.v1 import identity_pb2 as _identity_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ServingStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SERVING_STATUS_UNSPECIFIED: _ClassVar[ServingStatus]
    SERVING_STATUS_SERVING: _ClassVar[ServingStatus]
    SERVING_STATUS_NOT_SERVING: _ClassVar[ServingStatus]
    SERVING_STATUS_UNREACHABLE: _ClassVar[ServingStatus]

class AgentMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_MODE_UNSPECIFIED: _ClassVar[AgentMode]
    AGENT_MODE_PLAN: _ClassVar[AgentMode]
    AGENT_MODE_BUILD: _ClassVar[AgentMode]
    AGENT_MODE_ORCHESTRATE_CREATE: _ClassVar[AgentMode]
    AGENT_MODE_ORCHESTRATE_EXECUTE: _ClassVar[AgentMode]
    AGENT_MODE_ORCHESTRATE_CONTINUE: _ClassVar[AgentMode]
    AGENT_MODE_ORCHESTRATE_SAVE_RECIPE: _ClassVar[AgentMode]
SERVING_STATUS_UNSPECIFIED: ServingStatus
SERVING_STATUS_SERVING: ServingStatus
SERVING_STATUS_NOT_SERVING: ServingStatus
SERVING_STATUS_UNREACHABLE: ServingStatus
AGENT_MODE_UNSPECIFIED: AgentMode
AGENT_MODE_PLAN: AgentMode
AGENT_MODE_BUILD: AgentMode
AGENT_MODE_ORCHESTRATE_CREATE: AgentMode
AGENT_MODE_ORCHESTRATE_EXECUTE: AgentMode
AGENT_MODE_ORCHESTRATE_CONTINUE: AgentMode
AGENT_MODE_ORCHESTRATE_SAVE_RECIPE: AgentMode

class GetPlatformStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetPlatformStatusResponse(_message.Message):
    __slots__ = ("backends", "all_serving")
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    ALL_SERVING_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedCompositeFieldContainer[BackendStatus]
    all_serving: bool
    def __init__(self, backends: _Optional[_Iterable[_Union[BackendStatus, _Mapping]]] = ..., all_serving: _Optional[bool] = ...) -> None: ...

class BackendStatus(_message.Message):
    __slots__ = ("service", "target", "status")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    service: str
    target: str
    status: ServingStatus
    def __init__(self, service: _Optional[str] = ..., target: _Optional[str] = ..., status: _Optional[_Union[ServingStatus, str]] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("subject", "organization_slug", "roles", "authentication", "groups", "managed_membership", "forbid_self_approval")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_SLUG_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATION_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    MANAGED_MEMBERSHIP_FIELD_NUMBER: _ClassVar[int]
    FORBID_SELF_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    subject: str
    organization_slug: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    authentication: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    managed_membership: bool
    forbid_self_approval: bool
    def __init__(self, subject: _Optional[str] = ..., organization_slug: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., authentication: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., managed_membership: _Optional[bool] = ..., forbid_self_approval: _Optional[bool] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("name", "key_id", "display_name", "roles", "created_by", "create_time", "expire_time", "revoke_time", "last_used_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_USED_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    key_id: str
    display_name: str
    roles: _containers.RepeatedScalarFieldContainer[str]
    created_by: str
    create_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    revoke_time: _timestamp_pb2.Timestamp
    last_used_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., key_id: _Optional[str] = ..., display_name: _Optional[str] = ..., roles: _Optional[_Iterable[str]] = ..., created_by: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_used_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("parent", "api_key")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    api_key: ApiKey
    def __init__(self, parent: _Optional[str] = ..., api_key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("api_key", "secret")
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    secret: str
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("api_keys", "next_page_token")
    API_KEYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    api_keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    next_page_token: str
    def __init__(self, api_keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ("api_key",)
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    api_key: ApiKey
    def __init__(self, api_key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class InvokeRequest(_message.Message):
    __slots__ = ("mode", "parent", "agent_slug", "message", "conversation_id", "plan", "target", "definition", "prompt_inputs", "checkpoint", "decision", "comment", "orchestration_id", "request_id", "prompt_templates", "display_name", "label", "credentials")
    MODE_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    AGENT_SLUG_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_INPUTS_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ORCHESTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    mode: AgentMode
    parent: str
    agent_slug: str
    message: str
    conversation_id: str
    plan: _struct_pb2.Struct
    target: str
    definition: _struct_pb2.Struct
    prompt_inputs: _struct_pb2.Struct
    checkpoint: str
    decision: str
    comment: str
    orchestration_id: str
    request_id: str
    prompt_templates: _containers.RepeatedCompositeFieldContainer[InvokePromptTemplate]
    display_name: str
    label: str
    credentials: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, mode: _Optional[_Union[AgentMode, str]] = ..., parent: _Optional[str] = ..., agent_slug: _Optional[str] = ..., message: _Optional[str] = ..., conversation_id: _Optional[str] = ..., plan: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., target: _Optional[str] = ..., definition: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., prompt_inputs: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., checkpoint: _Optional[str] = ..., decision: _Optional[str] = ..., comment: _Optional[str] = ..., orchestration_id: _Optional[str] = ..., request_id: _Optional[str] = ..., prompt_templates: _Optional[_Iterable[_Union[InvokePromptTemplate, _Mapping]]] = ..., display_name: _Optional[str] = ..., label: _Optional[str] = ..., credentials: _Optional[_Iterable[str]] = ...) -> None: ...

class InvokePromptTemplate(_message.Message):
    __slots__ = ("name", "template")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    template: str
    def __init__(self, name: _Optional[str] = ..., template: _Optional[str] = ...) -> None: ...

class InvokeResponse(_message.Message):
    __slots__ = ("mode", "output", "run", "open_checkpoints", "plan", "orchestration_version", "metadata")
    MODE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    OPEN_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    ORCHESTRATION_VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    mode: AgentMode
    output: str
    run: str
    open_checkpoints: _containers.RepeatedScalarFieldContainer[str]
    plan: str
    orchestration_version: str
    metadata: _struct_pb2.Struct
    def __init__(self, mode: _Optional[_Union[AgentMode, str]] = ..., output: _Optional[str] = ..., run: _Optional[str] = ..., open_checkpoints: _Optional[_Iterable[str]] = ..., plan: _Optional[str] = ..., orchestration_version: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
