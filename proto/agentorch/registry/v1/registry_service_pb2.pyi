from agentorch.registry.v1 import agent_pb2 as _agent_pb2
from agentorch.registry.v1 import orchestration_pb2 as _orchestration_pb2
from agentorch.registry.v1 import plan_pb2 as _plan_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateAgentRequest(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class CreateAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents", "next_page_token")
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[_agent_pb2.Agent]
    next_page_token: str
    def __init__(self, agents: _Optional[_Iterable[_Union[_agent_pb2.Agent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateAgentRequest(_message.Message):
    __slots__ = ("agent", "update_mask", "etag")
    AGENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    update_mask: _field_mask_pb2.FieldMask
    etag: str
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class UpdateAgentResponse(_message.Message):
    __slots__ = ("agent",)
    AGENT_FIELD_NUMBER: _ClassVar[int]
    agent: _agent_pb2.Agent
    def __init__(self, agent: _Optional[_Union[_agent_pb2.Agent, _Mapping]] = ...) -> None: ...

class DeleteAgentRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteAgentResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateOrchestrationRequest(_message.Message):
    __slots__ = ("parent", "orchestration_id", "orchestration", "version")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ORCHESTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    parent: str
    orchestration_id: str
    orchestration: _orchestration_pb2.Orchestration
    version: _orchestration_pb2.OrchestrationVersion
    def __init__(self, parent: _Optional[str] = ..., orchestration_id: _Optional[str] = ..., orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ..., version: _Optional[_Union[_orchestration_pb2.OrchestrationVersion, _Mapping]] = ...) -> None: ...

class CreateOrchestrationResponse(_message.Message):
    __slots__ = ("orchestration", "version")
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    version: _orchestration_pb2.OrchestrationVersion
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ..., version: _Optional[_Union[_orchestration_pb2.OrchestrationVersion, _Mapping]] = ...) -> None: ...

class GetOrchestrationRequest(_message.Message):
    __slots__ = ("name", "version_number")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_NUMBER_FIELD_NUMBER: _ClassVar[int]
    name: str
    version_number: int
    def __init__(self, name: _Optional[str] = ..., version_number: _Optional[int] = ...) -> None: ...

class GetOrchestrationResponse(_message.Message):
    __slots__ = ("orchestration", "version")
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    version: _orchestration_pb2.OrchestrationVersion
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ..., version: _Optional[_Union[_orchestration_pb2.OrchestrationVersion, _Mapping]] = ...) -> None: ...

class ListOrchestrationsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "filter", "show_deleted")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SHOW_DELETED_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    filter: str
    show_deleted: bool
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., show_deleted: _Optional[bool] = ...) -> None: ...

class ListOrchestrationsResponse(_message.Message):
    __slots__ = ("orchestrations", "next_page_token")
    ORCHESTRATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    orchestrations: _containers.RepeatedCompositeFieldContainer[_orchestration_pb2.Orchestration]
    next_page_token: str
    def __init__(self, orchestrations: _Optional[_Iterable[_Union[_orchestration_pb2.Orchestration, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateOrchestrationRequest(_message.Message):
    __slots__ = ("orchestration", "update_mask", "etag")
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    update_mask: _field_mask_pb2.FieldMask
    etag: str
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class UpdateOrchestrationResponse(_message.Message):
    __slots__ = ("orchestration",)
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ...) -> None: ...

class CreateOrchestrationVersionRequest(_message.Message):
    __slots__ = ("parent", "version", "etag")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    parent: str
    version: _orchestration_pb2.OrchestrationVersion
    etag: str
    def __init__(self, parent: _Optional[str] = ..., version: _Optional[_Union[_orchestration_pb2.OrchestrationVersion, _Mapping]] = ..., etag: _Optional[str] = ...) -> None: ...

class CreateOrchestrationVersionResponse(_message.Message):
    __slots__ = ("orchestration", "version", "unchanged")
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    version: _orchestration_pb2.OrchestrationVersion
    unchanged: bool
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ..., version: _Optional[_Union[_orchestration_pb2.OrchestrationVersion, _Mapping]] = ..., unchanged: _Optional[bool] = ...) -> None: ...

class ListOrchestrationVersionsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOrchestrationVersionsResponse(_message.Message):
    __slots__ = ("versions", "next_page_token")
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[_orchestration_pb2.OrchestrationVersion]
    next_page_token: str
    def __init__(self, versions: _Optional[_Iterable[_Union[_orchestration_pb2.OrchestrationVersion, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetOrchestrationVersionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetOrchestrationVersionResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: _orchestration_pb2.OrchestrationVersion
    def __init__(self, version: _Optional[_Union[_orchestration_pb2.OrchestrationVersion, _Mapping]] = ...) -> None: ...

class DiffOrchestrationVersionsRequest(_message.Message):
    __slots__ = ("name", "from_version", "to_version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_VERSION_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    from_version: int
    to_version: int
    def __init__(self, name: _Optional[str] = ..., from_version: _Optional[int] = ..., to_version: _Optional[int] = ...) -> None: ...

class DiffOrchestrationVersionsResponse(_message.Message):
    __slots__ = ("changes",)
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[_orchestration_pb2.VersionChange]
    def __init__(self, changes: _Optional[_Iterable[_Union[_orchestration_pb2.VersionChange, _Mapping]]] = ...) -> None: ...

class SetOrchestrationStatusRequest(_message.Message):
    __slots__ = ("name", "status", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: _orchestration_pb2.OrchestrationStatus
    etag: str
    def __init__(self, name: _Optional[str] = ..., status: _Optional[_Union[_orchestration_pb2.OrchestrationStatus, str]] = ..., etag: _Optional[str] = ...) -> None: ...

class SetOrchestrationStatusResponse(_message.Message):
    __slots__ = ("orchestration",)
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ...) -> None: ...

class TagOrchestrationRequest(_message.Message):
    __slots__ = ("name", "tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class TagOrchestrationResponse(_message.Message):
    __slots__ = ("orchestration",)
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ...) -> None: ...

class UntagOrchestrationRequest(_message.Message):
    __slots__ = ("name", "tags")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    name: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class UntagOrchestrationResponse(_message.Message):
    __slots__ = ("orchestration",)
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ...) -> None: ...

class PromoteOrchestrationVersionRequest(_message.Message):
    __slots__ = ("name", "target_parent", "target_orchestration_id", "label", "change_note")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_PARENT_FIELD_NUMBER: _ClassVar[int]
    TARGET_ORCHESTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CHANGE_NOTE_FIELD_NUMBER: _ClassVar[int]
    name: str
    target_parent: str
    target_orchestration_id: str
    label: str
    change_note: str
    def __init__(self, name: _Optional[str] = ..., target_parent: _Optional[str] = ..., target_orchestration_id: _Optional[str] = ..., label: _Optional[str] = ..., change_note: _Optional[str] = ...) -> None: ...

class PromoteOrchestrationVersionResponse(_message.Message):
    __slots__ = ("orchestration", "version", "unchanged")
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    version: _orchestration_pb2.OrchestrationVersion
    unchanged: bool
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ..., version: _Optional[_Union[_orchestration_pb2.OrchestrationVersion, _Mapping]] = ..., unchanged: _Optional[bool] = ...) -> None: ...

class DeleteOrchestrationRequest(_message.Message):
    __slots__ = ("name", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class DeleteOrchestrationResponse(_message.Message):
    __slots__ = ("orchestration",)
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ...) -> None: ...

class ValidateOrchestrationDefinitionRequest(_message.Message):
    __slots__ = ("parent", "definition", "prompt_templates")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    parent: str
    definition: _struct_pb2.Struct
    prompt_templates: _containers.RepeatedCompositeFieldContainer[_orchestration_pb2.PromptTemplate]
    def __init__(self, parent: _Optional[str] = ..., definition: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., prompt_templates: _Optional[_Iterable[_Union[_orchestration_pb2.PromptTemplate, _Mapping]]] = ...) -> None: ...

class ValidateOrchestrationDefinitionResponse(_message.Message):
    __slots__ = ("parameters", "referenced_agents")
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    REFERENCED_AGENTS_FIELD_NUMBER: _ClassVar[int]
    parameters: _containers.RepeatedCompositeFieldContainer[_orchestration_pb2.ParameterSpec]
    referenced_agents: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, parameters: _Optional[_Iterable[_Union[_orchestration_pb2.ParameterSpec, _Mapping]]] = ..., referenced_agents: _Optional[_Iterable[str]] = ...) -> None: ...

class CreatePlanRequest(_message.Message):
    __slots__ = ("parent", "plan")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    parent: str
    plan: _plan_pb2.ConversationPlan
    def __init__(self, parent: _Optional[str] = ..., plan: _Optional[_Union[_plan_pb2.ConversationPlan, _Mapping]] = ...) -> None: ...

class CreatePlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: _plan_pb2.ConversationPlan
    def __init__(self, plan: _Optional[_Union[_plan_pb2.ConversationPlan, _Mapping]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetPlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: _plan_pb2.ConversationPlan
    def __init__(self, plan: _Optional[_Union[_plan_pb2.ConversationPlan, _Mapping]] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "conversation_id", "agent_slug", "status")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_SLUG_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    conversation_id: str
    agent_slug: str
    status: _plan_pb2.PlanStatus
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., conversation_id: _Optional[str] = ..., agent_slug: _Optional[str] = ..., status: _Optional[_Union[_plan_pb2.PlanStatus, str]] = ...) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans", "next_page_token")
    PLANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[_plan_pb2.ConversationPlan]
    next_page_token: str
    def __init__(self, plans: _Optional[_Iterable[_Union[_plan_pb2.ConversationPlan, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApprovePlanRequest(_message.Message):
    __slots__ = ("name", "comment", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    comment: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., comment: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class ApprovePlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: _plan_pb2.ConversationPlan
    def __init__(self, plan: _Optional[_Union[_plan_pb2.ConversationPlan, _Mapping]] = ...) -> None: ...

class RejectPlanRequest(_message.Message):
    __slots__ = ("name", "comment", "etag")
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    name: str
    comment: str
    etag: str
    def __init__(self, name: _Optional[str] = ..., comment: _Optional[str] = ..., etag: _Optional[str] = ...) -> None: ...

class RejectPlanResponse(_message.Message):
    __slots__ = ("plan",)
    PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: _plan_pb2.ConversationPlan
    def __init__(self, plan: _Optional[_Union[_plan_pb2.ConversationPlan, _Mapping]] = ...) -> None: ...

class ConvertPlanToOrchestrationRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ConvertPlanToOrchestrationResponse(_message.Message):
    __slots__ = ("definition", "prompt_templates", "notes")
    DEFINITION_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TEMPLATES_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    definition: _struct_pb2.Struct
    prompt_templates: _containers.RepeatedCompositeFieldContainer[_orchestration_pb2.PromptTemplate]
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, definition: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., prompt_templates: _Optional[_Iterable[_Union[_orchestration_pb2.PromptTemplate, _Mapping]]] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class SavePlanAsOrchestrationRequest(_message.Message):
    __slots__ = ("name", "orchestration_id", "display_name", "label", "change_note")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORCHESTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CHANGE_NOTE_FIELD_NUMBER: _ClassVar[int]
    name: str
    orchestration_id: str
    display_name: str
    label: str
    change_note: str
    def __init__(self, name: _Optional[str] = ..., orchestration_id: _Optional[str] = ..., display_name: _Optional[str] = ..., label: _Optional[str] = ..., change_note: _Optional[str] = ...) -> None: ...

class SavePlanAsOrchestrationResponse(_message.Message):
    __slots__ = ("orchestration", "version", "created", "unchanged")
    ORCHESTRATION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_FIELD_NUMBER: _ClassVar[int]
    orchestration: _orchestration_pb2.Orchestration
    version: _orchestration_pb2.OrchestrationVersion
    created: bool
    unchanged: bool
    def __init__(self, orchestration: _Optional[_Union[_orchestration_pb2.Orchestration, _Mapping]] = ..., version: _Optional[_Union[_orchestration_pb2.OrchestrationVersion, _Mapping]] = ..., created: _Optional[bool] = ..., unchanged: _Optional[bool] = ...) -> None: ...
