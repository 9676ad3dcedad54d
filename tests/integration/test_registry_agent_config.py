"""An agent's config is validated when it is saved (CreateAgent, UpdateAgent, `agents import`, and over the gateway's
HTTP front), against the schema the runs service calls agents with: unknown keys, an unknown protocol and bad values
are INVALID_ARGUMENT naming `agent.config.<key>`, and nothing is written. Real gRPC on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from agentorch.registry.v1 import agent_pb2
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from cli.agents_import import Outcome, import_agents, load_directory
from cli.gateway_client import GatewayClient
from services.common.settings import DatabaseSettings
from tests.support.gateway import mint, new_org, platform
from tests.support.http import client, error_reason, violations
from tests.support.registry import agent_message, registry_stub, struct
from tests.support.rpc import bad_request_fields
from tests.support.rpc import error_reason as rpc_reason

A2A = {"protocol": "a2a", "endpoint": "https://agents.example.com/a2a"}
BAD_CONFIGS = [
    ({**A2A, "timout_seconds": 30}, {"agent.config.timout_seconds"}),  # a typo
    ({**A2A, "protocol": "grpc"}, {"agent.config.protocol"}),
    ({**A2A, "timeout_seconds": "soon"}, {"agent.config.timeout_seconds"}),
    ({**A2A, "timeout_seconds": 0}, {"agent.config.timeout_seconds"}),
    ({**A2A, "max_attempts": 50, "stream": "yes"}, {"agent.config.max_attempts", "agent.config.stream"}),
    ({**A2A, "headers": {"Idempotency-Key": "x"}}, {"agent.config.headers"}),
    ({"protocol": "openai", "endpoint": "https://api.example.com/v1"}, {"agent.config.model"}),
]


@pytest.fixture
async def registry(database: DatabaseSettings) -> AsyncIterator[pb_grpc.RegistryServiceStub]:
    async with registry_stub(database) as stub:
        yield stub


async def slugs(registry: pb_grpc.RegistryServiceStub, org: str) -> list[str]:
    reply = await registry.ListAgents(pb.ListAgentsRequest(parent=f"organizations/{org}", page_size=500))
    return [a.slug for a in reply.agents]


@pytest.mark.parametrize(("config", "fields"), BAD_CONFIGS)
async def test_create_agent_refuses_a_bad_config_naming_the_key(
    registry: pb_grpc.RegistryServiceStub, config: dict[str, Any], fields: set[str]
) -> None:
    org = new_org()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await registry.CreateAgent(pb.CreateAgentRequest(agent=agent_message(org, config=struct(config))))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc_reason(caught.value) == "VALIDATION_FAILED"
    assert bad_request_fields(caught.value) == fields
    assert await slugs(registry, org) == []


async def test_a_valid_config_is_saved_as_sent(registry: pb_grpc.RegistryServiceStub) -> None:
    org = new_org()
    config = {**A2A, "timeout_seconds": 30, "max_attempts": 2, "headers": {"X-Team": "research"}}
    created = (await registry.CreateAgent(pb.CreateAgentRequest(agent=agent_message(org, config=struct(config))))).agent
    assert created.config == struct(config)
    tuning = agent_message(org, "tuned", config=struct({"model": "m", "timeout_seconds": 5}))  # no protocol yet
    assert (await registry.CreateAgent(pb.CreateAgentRequest(agent=tuning))).agent.version == 1


async def test_update_agent_refuses_a_bad_config_and_changes_nothing(registry: pb_grpc.RegistryServiceStub) -> None:
    org = new_org()
    created = (await registry.CreateAgent(pb.CreateAgentRequest(agent=agent_message(org, config=struct(A2A))))).agent
    request = pb.UpdateAgentRequest(
        agent=agent_pb2.Agent(name=created.name, config=struct({**A2A, "max_response_bytes": 1}), description="d"),
        update_mask=field_mask_pb2.FieldMask(paths=["config", "description"]),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await registry.UpdateAgent(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc_reason(caught.value) == "VALIDATION_FAILED"
    assert bad_request_fields(caught.value) == {"agent.config.max_response_bytes"}
    assert (await registry.GetAgent(pb.GetAgentRequest(name=created.name))).agent == created


async def test_agents_import_reports_a_bad_config_and_writes_nothing_for_it(
    database: DatabaseSettings, tmp_path: Path
) -> None:
    """`agentorch agents import` goes through the gateway as the signed-in user: the file with a bad config is
    reported with its path and written nowhere, the good one is created."""
    org = new_org()
    (tmp_path / "good.yaml").write_text("config:\n  protocol: a2a\n  endpoint: https://agents.example.com/a2a\n")
    (tmp_path / "typo.yaml").write_text("config:\n  protocol: a2a\n  timeout_second: 30\n")
    async with platform(database) as running_platform:
        gateway = GatewayClient(running_platform.gateway.target, mint(org, "admin"))
        try:
            loaded = load_directory(tmp_path, org)
            results = {r.path.name: r for r in await asyncio.to_thread(import_agents, loaded, gateway)}
        finally:
            gateway.close()
        assert results["good.yaml"].outcome is Outcome.CREATED
        assert results["typo.yaml"].outcome is Outcome.FAILED
        assert "INVALID_ARGUMENT" in results["typo.yaml"].detail
        (violation,) = results["typo.yaml"].violations
        assert violation.startswith("agent.config.timeout_second: is not an agent config key")
        async with client(running_platform.gateway, mint(org, "admin")) as admin:
            listed = await admin.get(f"/v1/organizations/{org}/agents")
        assert [a["slug"] for a in listed.json()["agents"]] == ["good"]


async def test_over_http_a_bad_config_is_a_400_naming_the_key(database: DatabaseSettings) -> None:
    org = new_org()
    async with (
        platform(database) as running_platform,
        client(running_platform.gateway, mint(org, "admin")) as admin,
        client(running_platform.gateway, mint(org, "author")) as author,
    ):
        refused = await admin.post(
            f"/v1/organizations/{org}/agents",
            json={"slug": "helper", "displayName": "Helper", "config": {**A2A, "timeoutSeconds": 30}},
        )
        assert refused.status_code == 400, refused.text
        assert error_reason(refused.json()) == "VALIDATION_FAILED"
        assert violations(refused.json()) == {"agent.config.timeoutSeconds"}  # config keys are JSON: not renamed
        typo = await author.post(  # an author's typo of a tuning key is a typo, not a destination that needs admin
            f"/v1/organizations/{org}/agents",
            json={"slug": "tuned", "displayName": "Tuned", "config": {"model": "m", "timout_seconds": 5}},
        )
        assert typo.status_code == 400, typo.text
        assert violations(typo.json()) == {"agent.config.timout_seconds"}
        listed = await admin.get(f"/v1/organizations/{org}/agents")
        assert listed.json()["agents"] == []
        accepted = await admin.post(
            f"/v1/organizations/{org}/agents",
            json={"slug": "helper", "displayName": "Helper", "config": {**A2A, "timeout_seconds": 30}},
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["agent"]["config"]["timeout_seconds"] == 30
