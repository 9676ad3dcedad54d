"""Builders for registry requests used across tests."""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from google.protobuf import struct_pb2

from agentorch.registry.v1 import agent_pb2, orchestration_pb2
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from services.registry.bootstrap import spec
from services.registry.config import RegistrySettings
from tests.support.principals import AUTH, as_platform
from tests.support.rpc import channel_as
from tests.support.servers import running

DEFINITION: dict[str, Any] = {
    "schema_version": 1,
    "parameters": [
        {"name": "topic", "type": "string", "required": True, "description": "what to research"},
        {"name": "depth", "type": "integer", "required": False, "default": 2, "enum": [1, 2, 3]},
    ],
    "phases": [
        {
            "id": "research",
            "steps": [
                {"id": "plan", "kind": "agent", "agent": "helper", "prompt": "Plan research on {{ params.topic }}"},
                {
                    "id": "review",
                    "kind": "checkpoint",
                    "depends_on": ["plan"],
                    "checkpoint": {"title": "Approve the plan", "context": "{{ steps.plan.output }}"},
                },
            ],
        },
        {"id": "write", "steps": [{"id": "summary", "kind": "template", "prompt_template": "summary"}]},
    ],
}
TEMPLATES = [orchestration_pb2.PromptTemplate(name="summary", template="Summary: {{ steps.plan.output }}")]


@asynccontextmanager
async def registry_stub(database: DatabaseSettings) -> AsyncIterator[pb_grpc.RegistryServiceStub]:
    """A registry on `database`, and a stub of it acting as a platform principal."""
    async with (
        running(spec(RegistrySettings(database=database, auth=AUTH))) as server,
        channel_as(server.target, as_platform()) as channel,
    ):
        yield pb_grpc.RegistryServiceStub(channel)


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def definition(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(DEFINITION)
    document.update(changes)
    return document


def agent_message(org: str, slug: str = "helper", **fields: Any) -> agent_pb2.Agent:
    values: dict[str, Any] = {"organization_slug": org, "slug": slug, "display_name": slug.title()}
    values.update(fields)
    return agent_pb2.Agent(**values)


def version_message(document: dict[str, Any] | None = None, **fields: Any) -> orchestration_pb2.OrchestrationVersion:
    return orchestration_pb2.OrchestrationVersion(
        definition=struct(document if document is not None else DEFINITION),
        prompt_templates=fields.pop("prompt_templates", TEMPLATES),
        **fields,
    )


def edited(revision: int, **fields: Any) -> orchestration_pb2.OrchestrationVersion:
    """A version whose content differs from DEFINITION's (and from every other revision's): a save identical to the
    current version makes no new one, so tests that need new versions save edited ones."""
    document = definition()
    document["phases"][0]["steps"][0]["prompt"] = f"Plan research (revision {revision}) on {{{{ params.topic }}}}"
    return version_message(document, **fields)


async def create_agent(stub: pb_grpc.RegistryServiceStub, org: str, slug: str = "helper") -> agent_pb2.Agent:
    reply = await stub.CreateAgent(pb.CreateAgentRequest(agent=agent_message(org, slug)))
    return reply.agent


async def organization_with(stub: pb_grpc.RegistryServiceStub, *agents: str) -> str:
    """A new organization (its slug) that has these agents."""
    org = new_org()
    for slug in agents:
        await create_agent(stub, org, slug)
    return org


async def create_orchestration(
    stub: pb_grpc.RegistryServiceStub,
    org: str,
    slug: str = "research",
    *,
    agent: str = "helper",
    tags: tuple[str, ...] = (),
    display_name: str = "Research",
    description: str = "",
    document: dict[str, Any] | None = None,
    label: str = "",
) -> pb.CreateOrchestrationResponse:
    response: pb.CreateOrchestrationResponse = await stub.CreateOrchestration(
        pb.CreateOrchestrationRequest(
            parent=f"organizations/{org}/agents/{agent}",
            orchestration_id=slug,
            orchestration=orchestration_pb2.Orchestration(
                display_name=display_name, description=description, tags=list(tags)
            ),
            version=version_message(document, label=label),
        )
    )
    return response
