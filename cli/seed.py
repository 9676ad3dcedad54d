"""Demo data `agentorch up` creates, so a fresh platform has something to look at and call.

Seeding is idempotent: an existing resource (ALREADY_EXISTS) is left as it is, so restarts keep user edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import struct_pb2

from agentorch.registry.v1 import agent_pb2, orchestration_pb2, registry_service_pb2, registry_service_pb2_grpc
from services.common.context import Principal
from services.common.principals import KeyRing

DEMO_ORGANIZATION = "demo"
DEMO_AGENT_SLUG = "demo-agent"
DEMO_AGENT_NAME = f"organizations/{DEMO_ORGANIZATION}/agents/{DEMO_AGENT_SLUG}"

_DEMO_AGENT_YAML = """\
# Seeded by `agentorch up`: an echo agent to try the platform with.
name: demo-agent
description: Replies with the message it was sent.
protocol: a2a
skills:
  - id: echo
    description: Returns its input unchanged.
"""

_DEMO_AGENT_CARD: dict[str, Any] = {
    "name": "Demo agent",
    "description": "Replies with the message it was sent.",
    "version": "1.0.0",
    "capabilities": {"streaming": False},
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "echo", "name": "Echo", "description": "Returns its input unchanged."}],
}


@dataclass(frozen=True)
class Seeded:
    resource: str
    created: bool  # False: it was already there


def demo_agent() -> agent_pb2.Agent:
    return agent_pb2.Agent(
        organization_slug=DEMO_ORGANIZATION,
        slug=DEMO_AGENT_SLUG,
        display_name="Demo agent",
        description="An echo agent seeded by `agentorch up`.",
        agent_yaml=_DEMO_AGENT_YAML,
        agent_card=_struct(_DEMO_AGENT_CARD),
    )


SEEDER = Principal(subject="service:agentorch-up", organization_slug="", roles=frozenset({"admin"}), kind="service")


async def seed_demo(targets: Mapping[str, str], keys: KeyRing, rpc_timeout: float = 10.0) -> list[Seeded]:
    """Create the demo resources through the services' public APIs; `targets` maps service name to host:port.

    Calls are made as a platform principal signed with the local key ring. Raises grpc.aio.AioRpcError for anything
    but ALREADY_EXISTS.
    """
    async with grpc.aio.insecure_channel(targets["registry"]) as channel:
        registry = registry_service_pb2_grpc.RegistryServiceStub(channel)
        metadata = keys.metadata(SEEDER, issuer="cli")
        return [
            await _create_agent(registry, demo_agent(), metadata, rpc_timeout),
            await _create_orchestration(registry, metadata, rpc_timeout),
        ]


async def _create_agent(registry: Any, agent: agent_pb2.Agent, metadata: Any, rpc_timeout: float) -> Seeded:
    parent = f"organizations/{agent.organization_slug}/" if agent.organization_slug else ""
    name = f"{parent}agents/{agent.slug}"
    try:
        await registry.CreateAgent(
            registry_service_pb2.CreateAgentRequest(agent=agent), metadata=metadata, timeout=rpc_timeout
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        return Seeded(name, created=False)
    return Seeded(name, created=True)


DEMO_ORCHESTRATION_SLUG = "research-brief"
DEMO_ORCHESTRATION_NAME = f"{DEMO_AGENT_NAME}/orchestrations/{DEMO_ORCHESTRATION_SLUG}"

# plan → research → human checkpoint → write-up; every step runs offline (built-in kinds).
DEMO_DEFINITION: dict[str, Any] = {
    "schema_version": 1,
    "parameters": [
        {"name": "topic", "type": "string", "required": True, "description": "What the brief is about"},
        {"name": "audience", "type": "string", "default": "engineers", "enum": ["engineers", "executives"]},
    ],
    "phases": [
        {
            "id": "plan",
            "title": "Plan",
            "steps": [
                {
                    "id": "outline",
                    "kind": "echo",
                    "title": "Outline the brief",
                    "message": "Brief on {{ params.topic }} for {{ params.audience }}: context, findings, next steps.",
                }
            ],
        },
        {
            "id": "research",
            "title": "Research",
            "steps": [
                {
                    "id": "findings",
                    "kind": "template",
                    "title": "Collect findings",
                    "template": "Findings on {{ params.topic }} (following: {{ steps.outline.output }})",
                },
                {
                    "id": "review",
                    "kind": "checkpoint",
                    "depends_on": ["findings"],
                    "checkpoint": {
                        "title": "Review the findings on {{ params.topic }}",
                        "context": "{{ steps.findings.output }}",
                        "deliverables": ["{{ steps.findings.output }}"],
                        "role": "approver",
                    },
                },
            ],
        },
        {
            "id": "write-up",
            "title": "Write-up",
            "steps": [{"id": "brief", "kind": "template", "title": "Write the brief", "prompt_template": "brief"}],
        },
    ],
}
DEMO_TEMPLATES = [
    orchestration_pb2.PromptTemplate(
        name="brief",
        template="# {{ params.topic }}\n\n{{ steps.findings.output }}\n\nReviewed: {{ steps.review.output }}",
        description="The final brief",
    )
]


async def _create_orchestration(registry: Any, metadata: Any, rpc_timeout: float) -> Seeded:
    request = registry_service_pb2.CreateOrchestrationRequest(
        parent=DEMO_AGENT_NAME,
        orchestration_id=DEMO_ORCHESTRATION_SLUG,
        orchestration=orchestration_pb2.Orchestration(
            display_name="Research brief", description="Plan, research, human review, write-up.", tags=["demo"]
        ),
        version=orchestration_pb2.OrchestrationVersion(
            definition=_struct(DEMO_DEFINITION), prompt_templates=DEMO_TEMPLATES, label="1.0.0", change_note="seeded"
        ),
    )
    try:
        await registry.CreateOrchestration(request, metadata=metadata, timeout=rpc_timeout)
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        return Seeded(DEMO_ORCHESTRATION_NAME, created=False)
    return Seeded(DEMO_ORCHESTRATION_NAME, created=True)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message
