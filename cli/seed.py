"""Demo data `agentorch up` creates, so a fresh platform has something to look at and call.

Seeding is idempotent: an existing resource (ALREADY_EXISTS) is left as it is, so restarts keep user edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, struct_pb2

from agentorch.credentials.v1 import credential_pb2, credentials_service_pb2, credentials_service_pb2_grpc
from agentorch.gateway.v1 import gateway_service_pb2_grpc, identity_pb2
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
    "capabilities": {"streaming": True},
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [{"id": "echo", "name": "Echo", "description": "Returns its input unchanged."}],
}


@dataclass(frozen=True)
class Seeded:
    resource: str
    created: bool  # False: it was already there


def demo_agent(agents: DemoAgents) -> agent_pb2.Agent:
    """The researcher: an A2A agent (the local reference A2A agent)."""
    return agent_pb2.Agent(
        organization_slug=DEMO_ORGANIZATION,
        slug=DEMO_AGENT_SLUG,
        display_name="Demo agent",
        description="A local A2A agent seeded by `agentorch up`; it replies with what it received.",
        agent_yaml=_DEMO_AGENT_YAML,
        agent_card=_struct({**_DEMO_AGENT_CARD, "url": agents.a2a_url}),
        config=_struct({"protocol": "a2a", "endpoint": agents.a2a_url, "timeout_seconds": 30}),
    )


def demo_writer(agents: DemoAgents) -> agent_pb2.Agent:
    """The writer: an OpenAI-compatible chat endpoint (the local reference agent) that demands an API key."""
    return agent_pb2.Agent(
        organization_slug=DEMO_ORGANIZATION,
        slug=DEMO_WRITER_SLUG,
        display_name="Demo writer",
        description="A local OpenAI-compatible agent seeded by `agentorch up`.",
        agent_yaml="name: demo-writer\nprotocol: openai\n",
        config=_struct(
            {"protocol": "openai", "endpoint": agents.openai_url, "model": "reference", "timeout_seconds": 30}
        ),
    )


SEEDER = Principal(subject="service:agentorch-up", organization_slug="", roles=frozenset({"admin"}), kind="service")


@dataclass(frozen=True)
class DemoAgents:
    """Where the local reference agents listen, and the key the OpenAI-compatible one demands."""

    a2a_url: str
    openai_url: str
    api_key: str


DEMO_WRITER_SLUG = "demo-writer"
DEMO_WRITER_NAME = f"organizations/{DEMO_ORGANIZATION}/agents/{DEMO_WRITER_SLUG}"
DEMO_CREDENTIAL_ALIAS = "demo-openai.api-key"


async def seed_demo(
    targets: Mapping[str, str], keys: KeyRing, agents: DemoAgents, rpc_timeout: float = 10.0
) -> list[Seeded]:
    """Create the demo resources through the services' public APIs; `targets` maps service name to host:port.

    The demo's agents point at the local reference agents (their addresses change with the ports, so an existing
    agent's config is updated); the writer's API key is stored in the vault, bound to the writer agent (and only
    to it), and resolved by the runs service at call time. Calls are made as a platform principal signed with the
    local key ring. Raises grpc.aio.AioRpcError for anything but ALREADY_EXISTS.
    """
    metadata = keys.metadata(SEEDER, issuer="cli")
    async with (
        grpc.aio.insecure_channel(targets["registry"]) as registry_channel,
        grpc.aio.insecure_channel(targets["credentials"]) as vault_channel,
    ):
        registry = registry_service_pb2_grpc.RegistryServiceStub(registry_channel)
        vault = credentials_service_pb2_grpc.CredentialsServiceStub(vault_channel)
        return [
            await _put_agent(registry, demo_agent(agents), metadata, rpc_timeout),
            await _put_agent(registry, demo_writer(agents), metadata, rpc_timeout),
            await _create_credential(vault, agents.api_key, metadata, rpc_timeout),
            await _create_orchestration(registry, metadata, rpc_timeout),
        ]


async def _create_credential(vault: Any, value: str, metadata: Any, rpc_timeout: float) -> Seeded:
    name = f"organizations/{DEMO_ORGANIZATION}/credentials/{DEMO_CREDENTIAL_ALIAS}"
    request = credentials_service_pb2.CreateCredentialRequest(
        parent=f"organizations/{DEMO_ORGANIZATION}",
        alias=DEMO_CREDENTIAL_ALIAS,
        credential=credential_pb2.Credential(
            description="API key of the local OpenAI-compatible reference agent",
            provider="reference",
            type=credential_pb2.CREDENTIAL_TYPE_API_KEY,
            retained_versions=1,
            allowed_agents=[DEMO_WRITER_NAME],
        ),
        value=value,
    )
    try:
        await vault.CreateCredential(request, metadata=metadata, timeout=rpc_timeout)
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        await _bind_if_unbound(vault, name, metadata, rpc_timeout)
        return Seeded(name, created=False)
    return Seeded(name, created=True)


async def _bind_if_unbound(vault: Any, name: str, metadata: Any, rpc_timeout: float) -> None:
    """A demo key stored before credentials had bindings is unbound (unusable): bind it to the writer. A binding
    someone set is left as it is."""
    current = (
        await vault.GetCredential(
            credentials_service_pb2.GetCredentialRequest(name=name), metadata=metadata, timeout=rpc_timeout
        )
    ).credential
    if current.allowed_agents or current.allowed_hosts:
        return
    update = credentials_service_pb2.UpdateCredentialRequest(
        credential=credential_pb2.Credential(name=name, allowed_agents=[DEMO_WRITER_NAME]),
        update_mask=field_mask_pb2.FieldMask(paths=["allowed_agents"]),
        etag=current.etag,
    )
    await vault.UpdateCredential(update, metadata=metadata, timeout=rpc_timeout)


async def _put_agent(registry: Any, agent: agent_pb2.Agent, metadata: Any, rpc_timeout: float) -> Seeded:
    """Create the agent; if it exists, point its config and card at this start's reference agents."""
    parent = f"organizations/{agent.organization_slug}/" if agent.organization_slug else ""
    name = f"{parent}agents/{agent.slug}"
    try:
        await registry.CreateAgent(
            registry_service_pb2.CreateAgentRequest(agent=agent), metadata=metadata, timeout=rpc_timeout
        )
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise
        agent.name = name
        update = registry_service_pb2.UpdateAgentRequest(
            agent=agent, update_mask=field_mask_pb2.FieldMask(paths=["config", "agent_card"])
        )
        await registry.UpdateAgent(update, metadata=metadata, timeout=rpc_timeout)
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
                    "kind": "agent",
                    "agent": DEMO_AGENT_SLUG,
                    "title": "Collect findings",
                    "prompt": "Research {{ params.topic }} following this outline: {{ steps.outline.output }}",
                    "retry": {"max_attempts": 3, "initial_backoff_seconds": 1},
                    "timeout_seconds": 60,
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
            "steps": [
                {
                    "id": "brief",
                    "kind": "agent",
                    "agent": "demo-writer",
                    "title": "Write the brief",
                    "prompt_template": "brief",
                    "credentials": ["demo-openai.api-key"],
                    "retry": {"max_attempts": 3, "initial_backoff_seconds": 1},
                    "timeout_seconds": 60,
                }
            ],
        },
    ],
}
DEMO_TEMPLATES = [
    orchestration_pb2.PromptTemplate(
        name="brief",
        template="Write a brief on {{ params.topic }} for {{ params.audience }} from: {{ steps.findings.output }} "
        "(review: {{ steps.review.output.comment }})",
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


async def seed_demo_organization(gateway_target: str, platform_token: str, rpc_timeout: float = 10.0) -> Seeded:
    """The demo organization's record (issue 14), created through the gateway with a platform admin's token.

    It gets no members: the dev tokens' roles keep applying (an organization with members takes its users' roles
    from them, and the dev token's subject would have to be one). Settings are the defaults (self-approval allowed).
    """
    name = f"organizations/{DEMO_ORGANIZATION}"
    request = identity_pb2.CreateOrganizationRequest(
        organization_id=DEMO_ORGANIZATION, organization=identity_pb2.Organization(display_name="Demo")
    )
    async with grpc.aio.insecure_channel(gateway_target) as channel:
        gateway = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        try:
            await gateway.CreateOrganization(
                request, metadata=(("authorization", f"Bearer {platform_token}"),), timeout=rpc_timeout
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            return Seeded(name, created=False)
    return Seeded(name, created=True)
