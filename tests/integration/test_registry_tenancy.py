"""Tenancy and roles in the registry: signed principals, organization scoping, role checks."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator

import grpc
import pytest
from pydantic import SecretStr

from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from services.common.context import Principal
from services.common.principals import METADATA_KEY, KeyRing
from services.common.settings import AuthSettings, DatabaseSettings
from services.registry.bootstrap import spec
from services.registry.config import RegistrySettings
from tests.support.principals import AUTH, as_member, as_platform
from tests.support.registry import create_agent, create_orchestration, new_org
from tests.support.rpc import channel_as, error_reason
from tests.support.servers import RunningServer, running

Stub = pb_grpc.RegistryServiceStub


@pytest.fixture
async def registry(database: DatabaseSettings) -> AsyncIterator[RunningServer]:
    async with running(spec(RegistrySettings(database=database, auth=AUTH))) as server:
        yield server


@pytest.fixture
async def seeded(registry: RunningServer) -> tuple[str, str]:
    """Two organizations, each with an agent and an orchestration."""
    a, b = new_org(), new_org()
    async with channel_as(registry.target, as_platform()) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        for org in (a, b):
            await create_agent(stub, org)
            await create_orchestration(stub, org)
    return a, b


async def code_of(call: object) -> grpc.StatusCode:
    try:
        await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def orchestration(org: str) -> str:
    return f"organizations/{org}/agents/helper/orchestrations/research"


async def test_calls_without_a_principal_are_unauthenticated(registry: RunningServer) -> None:
    stub = pb_grpc.RegistryServiceStub(registry.channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetAgent(pb.GetAgentRequest(name="organizations/acme/agents/x"))
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error_reason(caught.value) == "UNAUTHENTICATED"


async def test_forged_expired_or_garbage_tokens_are_rejected(registry: RunningServer) -> None:
    attacker = KeyRing.from_settings(
        AuthSettings(principal_keys={"test-key": SecretStr(base64.b64encode(os.urandom(32)).decode())})
    )
    admin = Principal(subject="mallory", organization_slug="", roles=frozenset({"admin"}))
    import datetime as dt

    from tests.support.principals import KEY_RING

    expired = KEY_RING.sign(admin, "tests", now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    for token in (attacker.sign(admin, "evil"), expired, b"\x00garbage", os.urandom(64)):
        async with channel_as(registry.target, ((METADATA_KEY, token),)) as channel:
            code = await code_of(pb_grpc.RegistryServiceStub(channel).ListAgents(pb.ListAgentsRequest()))
        assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_members_see_only_their_organization(registry: RunningServer, seeded: tuple[str, str]) -> None:
    a, b = seeded
    async with channel_as(registry.target, as_member(a, "viewer")) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        assert (await stub.GetOrchestration(pb.GetOrchestrationRequest(name=orchestration(a)))).orchestration.slug
        foreign_calls = [
            stub.GetAgent(pb.GetAgentRequest(name=f"organizations/{b}/agents/helper")),
            stub.GetAgent(pb.GetAgentRequest(name=f"organizations/{b}/agents/does-not-exist")),
            stub.GetOrchestration(pb.GetOrchestrationRequest(name=orchestration(b))),
            stub.ListOrchestrations(pb.ListOrchestrationsRequest(parent=f"organizations/{b}/agents/-")),
            stub.ListOrchestrationVersions(pb.ListOrchestrationVersionsRequest(parent=orchestration(b))),
            stub.GetOrchestrationVersion(pb.GetOrchestrationVersionRequest(name=f"{orchestration(b)}/versions/1")),
        ]
        for call in foreign_calls:
            assert await code_of(call) == grpc.StatusCode.NOT_FOUND


async def test_foreign_writes_change_nothing(registry: RunningServer, seeded: tuple[str, str]) -> None:
    a, b = seeded
    async with channel_as(registry.target, as_member(a, "admin")) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        assert await code_of(stub.DeleteOrchestration(pb.DeleteOrchestrationRequest(name=orchestration(b)))) == (
            grpc.StatusCode.NOT_FOUND
        )
        assert await code_of(stub.TagOrchestration(pb.TagOrchestrationRequest(name=orchestration(b), tags=["x"]))) == (
            grpc.StatusCode.NOT_FOUND
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await create_agent(stub, b, "intruder")
        # Like every other create under another organization's name: NOT_FOUND, whether it exists or not.
        assert (caught.value.code(), error_reason(caught.value)) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
        assert caught.value.details() == f"organization {b!r} not found"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await create_agent(stub, new_org(), "intruder")
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        promote = pb.PromoteOrchestrationVersionRequest(
            name=f"{orchestration(a)}/versions/1", target_parent=f"organizations/{b}/agents/helper"
        )
        assert await code_of(stub.PromoteOrchestrationVersion(promote)) == grpc.StatusCode.NOT_FOUND
    async with channel_as(registry.target, as_platform()) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        got = await stub.GetOrchestration(pb.GetOrchestrationRequest(name=orchestration(b)))
        assert (got.orchestration.tags, got.orchestration.delete_time.seconds) == ([], 0)
        assert await code_of(stub.GetAgent(pb.GetAgentRequest(name=f"organizations/{b}/agents/intruder"))) == (
            grpc.StatusCode.NOT_FOUND
        )


async def test_roles_gate_writes(registry: RunningServer, seeded: tuple[str, str]) -> None:
    a, _ = seeded
    async with channel_as(registry.target, as_member(a, "viewer")) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.TagOrchestration(pb.TagOrchestrationRequest(name=orchestration(a), tags=["x"]))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_reason(caught.value) == "PERMISSION_DENIED"
    async with channel_as(registry.target, as_member(a, "author")) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        tagged = await stub.TagOrchestration(pb.TagOrchestrationRequest(name=orchestration(a), tags=["x"]))
        assert list(tagged.orchestration.tags) == ["x"]
        assert tagged.orchestration.updated_by == "alice@example.com"


async def test_platform_agents_are_shared_read_only(registry: RunningServer) -> None:
    org = new_org()
    slug = f"shared-{org}"
    async with channel_as(registry.target, as_platform()) as channel:
        await create_agent(pb_grpc.RegistryServiceStub(channel), "", slug)
    async with channel_as(registry.target, as_member(org, "admin")) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        assert (await stub.GetAgent(pb.GetAgentRequest(name=f"agents/{slug}"))).agent.slug == slug
        listed = await stub.ListAgents(pb.ListAgentsRequest(parent=""))
        assert slug in [a.slug for a in listed.agents]
        assert await code_of(stub.DeleteAgent(pb.DeleteAgentRequest(name=f"agents/{slug}"))) == (
            grpc.StatusCode.PERMISSION_DENIED
        )
        assert await code_of(create_agent(stub, "", f"{slug}-2")) == grpc.StatusCode.PERMISSION_DENIED
