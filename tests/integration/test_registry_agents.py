"""Registry agents through real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2

from agentorch.registry.v1 import agent_pb2
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from services.common.settings import AgentNetworkSettings, DatabaseSettings
from services.registry.bootstrap import spec
from services.registry.config import RegistrySettings
from tests.support.egress import LOOPBACK_NETWORKS as LOOPBACK
from tests.support.principals import AUTH, as_member, as_platform
from tests.support.rpc import bad_request_fields, channel_as, error_info, error_reason
from tests.support.servers import RunningServer, running


@pytest.fixture
async def registry(database: DatabaseSettings) -> AsyncIterator[RunningServer]:
    async with running(spec(RegistrySettings(database=database, auth=AUTH))) as server:
        yield server


@pytest.fixture
async def stub(registry: RunningServer) -> AsyncIterator[pb_grpc.RegistryServiceStub]:
    """A platform admin: may act in every organization (tenancy itself is tested in test_registry_tenancy)."""
    async with channel_as(registry.target, as_platform()) as channel:
        yield pb_grpc.RegistryServiceStub(channel)


def org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def agent(org_slug: str, slug: str = "helper", **fields: object) -> agent_pb2.Agent:
    card = struct_pb2.Struct()
    card.update({"name": slug, "url": "https://agents.example.com/a2a", "skills": [{"id": "answer"}]})
    values: dict[str, object] = {
        "organization_slug": org_slug,
        "slug": slug,
        "display_name": "Helper",
        "description": "answers questions",
        "agent_yaml": "name: helper\nmodel: local\n",
        "agent_card": card,
    }
    values.update(fields)
    return agent_pb2.Agent(**values)  # type: ignore[arg-type]


async def list_slugs(stub: pb_grpc.RegistryServiceStub, org_slug: str) -> list[str]:
    reply = await stub.ListAgents(pb.ListAgentsRequest(parent=f"organizations/{org_slug}", page_size=500))
    return [a.slug for a in reply.agents]


async def test_create_then_get_round_trips_every_field(stub: pb_grpc.RegistryServiceStub) -> None:
    o = org()
    created = (await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(o)))).agent
    assert created.name == f"organizations/{o}/agents/helper"
    assert created.version == 1
    assert created.etag
    assert created.create_time.seconds > 0
    fetched = (await stub.GetAgent(pb.GetAgentRequest(name=created.name))).agent
    assert fetched == created
    assert fetched.agent_yaml == "name: helper\nmodel: local\n"
    assert fetched.agent_card["skills"][0]["id"] == "answer"


async def test_platform_wide_agent_has_short_name(stub: pb_grpc.RegistryServiceStub) -> None:
    slug = f"p-{uuid.uuid4().hex[:8]}"
    created = (await stub.CreateAgent(pb.CreateAgentRequest(agent=agent("", slug)))).agent
    assert created.name == f"agents/{slug}"
    assert (await stub.GetAgent(pb.GetAgentRequest(name=f"agents/{slug}"))).agent.slug == slug


async def test_invalid_agent_lists_every_field_and_writes_nothing(stub: pb_grpc.RegistryServiceStub) -> None:
    o = org()
    bad = agent(o, "Not_A_Slug", display_name="", agent_yaml="- a list\n- not a mapping\n")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateAgent(pb.CreateAgentRequest(agent=bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "VALIDATION_FAILED"
    assert bad_request_fields(caught.value) == {"agent.slug", "agent.display_name", "agent.agent_yaml"}
    assert await list_slugs(stub, o) == []


async def test_unparsable_yaml_names_the_line(stub: pb_grpc.RegistryServiceStub) -> None:
    o = org()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(o, agent_yaml="name: [unclosed\n")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == {"agent.agent_yaml"}
    assert "line" in (caught.value.details() or "")
    assert await list_slugs(stub, o) == []


async def test_duplicate_slug_is_already_exists_and_keeps_the_first(stub: pb_grpc.RegistryServiceStub) -> None:
    o = org()
    await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(o, display_name="First")))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(o, display_name="Second")))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_reason(caught.value) == "ALREADY_EXISTS"
    fetched = (await stub.GetAgent(pb.GetAgentRequest(name=f"organizations/{o}/agents/helper"))).agent
    assert fetched.display_name == "First"


async def test_same_slug_in_two_organizations_are_distinct(stub: pb_grpc.RegistryServiceStub) -> None:
    a, b = org(), org()
    await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(a, display_name="A")))
    await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(b, display_name="B")))
    assert (await stub.GetAgent(pb.GetAgentRequest(name=f"organizations/{b}/agents/helper"))).agent.display_name == "B"


@pytest.mark.parametrize("name", ["", "agents", "organizations/acme/agents", "organizations/ACME/agents/x", "x/y/z/w"])
async def test_get_with_malformed_name_is_invalid_argument(stub: pb_grpc.RegistryServiceStub, name: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetAgent(pb.GetAgentRequest(name=name))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == {"name"}


async def test_get_unknown_agent_is_not_found(stub: pb_grpc.RegistryServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetAgent(pb.GetAgentRequest(name=f"organizations/{org()}/agents/nobody"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(caught.value) == "NOT_FOUND"


async def test_list_pages_through_every_agent_once_in_order(stub: pb_grpc.RegistryServiceStub) -> None:
    o = org()
    slugs = [f"a{i:02d}" for i in range(7)]
    for slug in reversed(slugs):
        await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(o, slug)))
    seen: list[str] = []
    token = ""
    pages = 0
    while True:
        reply = await stub.ListAgents(pb.ListAgentsRequest(parent=f"organizations/{o}", page_size=3, page_token=token))
        seen += [a.slug for a in reply.agents]
        pages += 1
        token = reply.next_page_token
        if not token:
            break
    assert seen == slugs
    assert pages == 3


async def test_page_token_from_another_query_is_rejected(stub: pb_grpc.RegistryServiceStub) -> None:
    a, b = org(), org()
    for slug in ("x1", "x2"):
        await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(a, slug)))
    first = await stub.ListAgents(pb.ListAgentsRequest(parent=f"organizations/{a}", page_size=1))
    assert first.next_page_token
    for parent, token in ((f"organizations/{b}", first.next_page_token), (f"organizations/{a}", "not-a-token!")):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListAgents(pb.ListAgentsRequest(parent=parent, page_token=token))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_reason(caught.value) == "INVALID_PAGE_TOKEN"
        assert bad_request_fields(caught.value) == {"page_token"}


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [({"parent": "orgs/acme"}, "parent"), ({"parent": "organizations/acme", "page_size": -1}, "page_size")],
)
async def test_list_rejects_bad_arguments(
    stub: pb_grpc.RegistryServiceStub, request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ListAgents(pb.ListAgentsRequest(**request_fields))  # type: ignore[arg-type]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == {field}


async def test_request_id_is_echoed_on_success_and_error(stub: pb_grpc.RegistryServiceStub) -> None:
    call = stub.GetAgent(pb.GetAgentRequest(name="bad"), metadata=(("x-request-id", "req-123"),))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert dict(caught.value.trailing_metadata() or ())["x-request-id"] == "req-123"
    o = org()
    ok = stub.CreateAgent(pb.CreateAgentRequest(agent=agent(o)), metadata=(("x-request-id", "req-456"),))
    await ok
    assert dict(await ok.trailing_metadata())["x-request-id"] == "req-456"


async def test_update_changes_masked_fields_and_bumps_the_version(stub: pb_grpc.RegistryServiceStub) -> None:
    o = org()
    created = (await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(o)))).agent
    changes = agent_pb2.Agent(name=created.name, display_name="Renamed", description="ignored, not in the mask")
    updated = (
        await stub.UpdateAgent(
            pb.UpdateAgentRequest(
                agent=changes, update_mask=field_mask_pb2.FieldMask(paths=["display_name"]), etag=created.etag
            )
        )
    ).agent
    assert (updated.display_name, updated.description, updated.version) == ("Renamed", created.description, 2)
    assert updated.etag != created.etag
    assert updated.create_time == created.create_time
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateAgent(
            pb.UpdateAgentRequest(
                agent=changes, update_mask=field_mask_pb2.FieldMask(paths=["description"]), etag=created.etag
            )
        )
    assert caught.value.code() == grpc.StatusCode.ABORTED
    assert error_reason(caught.value) == "ETAG_MISMATCH"
    fetched = (await stub.GetAgent(pb.GetAgentRequest(name=created.name))).agent
    assert fetched == updated


@pytest.mark.parametrize(
    ("paths", "fields", "violation"),
    [
        ([], {"display_name": "x"}, "update_mask"),
        (["slug"], {"slug": "other"}, "update_mask"),
        (["display_name"], {"display_name": ""}, "agent.display_name"),
        (["agent_yaml"], {"agent_yaml": "[1, 2"}, "agent.agent_yaml"),
    ],
)
async def test_invalid_updates_change_nothing(
    stub: pb_grpc.RegistryServiceStub, paths: list[str], fields: dict[str, str], violation: str
) -> None:
    o = org()
    created = (await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(o)))).agent
    request = pb.UpdateAgentRequest(
        agent=agent_pb2.Agent(name=created.name, **fields), update_mask=field_mask_pb2.FieldMask(paths=paths)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateAgent(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == {violation}
    assert (await stub.GetAgent(pb.GetAgentRequest(name=created.name))).agent == created


async def test_concurrent_updates_with_one_etag_let_exactly_one_win(stub: pb_grpc.RegistryServiceStub) -> None:
    created = (await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(org())))).agent

    def update(i: int) -> object:
        return stub.UpdateAgent(
            pb.UpdateAgentRequest(
                agent=agent_pb2.Agent(name=created.name, display_name=f"Writer {i}"),
                update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
                etag=created.etag,
            )
        )

    results = await asyncio.gather(*(update(i) for i in range(5)), return_exceptions=True)  # type: ignore[arg-type]
    assert sum(isinstance(r, pb.UpdateAgentResponse) for r in results) == 1
    assert {r.code() for r in results if isinstance(r, grpc.aio.AioRpcError)} == {grpc.StatusCode.ABORTED}
    assert (await stub.GetAgent(pb.GetAgentRequest(name=created.name))).agent.version == 2


async def test_delete_removes_the_agent(stub: pb_grpc.RegistryServiceStub) -> None:
    created = (await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(org())))).agent
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteAgent(pb.DeleteAgentRequest(name=created.name, etag="stale"))
    assert caught.value.code() == grpc.StatusCode.ABORTED
    await stub.DeleteAgent(pb.DeleteAgentRequest(name=created.name, etag=created.etag))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetAgent(pb.GetAgentRequest(name=created.name))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.DeleteAgent(pb.DeleteAgentRequest(name=created.name))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


# --- endpoints (SSRF) and who may set an agent's destination --------------------------------------------------------

ISSUE_FORMS = [
    "http://127.0.0.1:50063",  # the vault's port
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:22",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_INFO",
    "http://localhost:50061/",
    "http://10.0.0.12:5432/",
    "http://[fe80::1]/",
    "http://100.64.0.1/",
    "http://0x7f000001/",
]


@pytest.mark.parametrize("url", ISSUE_FORMS)
@pytest.mark.parametrize(
    ("where", "build"),
    [
        ("agent.config.endpoint", lambda url: {"config": {"protocol": "openai", "endpoint": url, "model": "m"}}),
        ("agent.agent_card.url", lambda url: {"agent_card": {"name": "x", "url": url}}),
        (
            "agent.agent_card.supportedInterfaces[0].url",
            lambda url: {"agent_card": {"supportedInterfaces": [{"url": url, "protocolBinding": "JSONRPC"}]}},
        ),
    ],
)
async def test_an_internal_or_non_http_endpoint_is_refused_at_save_time(
    stub: pb_grpc.RegistryServiceStub, url: str, where: str, build: Any
) -> None:
    o = org()
    fields = {k: _struct(v) for k, v in build(url).items()}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(o, **{"agent_card": _struct({}), **fields})))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "VALIDATION_FAILED"
    assert bad_request_fields(caught.value) == {where}
    assert await list_slugs(stub, o) == []


async def test_moving_an_endpoint_inside_is_refused_and_changes_nothing(stub: pb_grpc.RegistryServiceStub) -> None:
    created = (await stub.CreateAgent(pb.CreateAgentRequest(agent=agent(org())))).agent
    request = pb.UpdateAgentRequest(
        agent=agent_pb2.Agent(name=created.name, config=_struct({"protocol": "a2a", "endpoint": "http://[::1]:22"})),
        update_mask=field_mask_pb2.FieldMask(paths=["config"]),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.UpdateAgent(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == {"agent.config.endpoint"}
    assert "AGENTORCH_REGISTRY_AGENTS__ALLOWED_NETWORKS" in (caught.value.details() or "")
    assert (await stub.GetAgent(pb.GetAgentRequest(name=created.name))).agent == created


async def test_an_allowlisted_network_is_accepted(database: DatabaseSettings) -> None:
    settings = RegistrySettings(database=database, auth=AUTH, agents=AgentNetworkSettings(allowed_networks=LOOPBACK))
    async with running(spec(settings)) as server, channel_as(server.target, as_platform()) as channel:
        registry = pb_grpc.RegistryServiceStub(channel)
        o = org()
        config = _struct({"protocol": "a2a", "endpoint": "http://127.0.0.1:9100"})
        created = (await registry.CreateAgent(pb.CreateAgentRequest(agent=agent(o, config=config)))).agent
        assert created.config["endpoint"] == "http://127.0.0.1:9100"
        with pytest.raises(grpc.aio.AioRpcError) as caught:  # loopback only: metadata is still refused
            await registry.CreateAgent(
                pb.CreateAgentRequest(agent=agent(o, "meta", config=_struct({"endpoint": "http://169.254.169.254/"})))
            )
        assert bad_request_fields(caught.value) == {"agent.config.endpoint"}


@pytest.fixture
async def member(registry: RunningServer) -> Any:
    """Stubs of a member of `organization` with `roles`."""
    async with AsyncExitStack() as stack:

        async def connect(organization: str, *roles: str) -> pb_grpc.RegistryServiceStub:
            channel = await stack.enter_async_context(channel_as(registry.target, as_member(organization, *roles)))
            return pb_grpc.RegistryServiceStub(channel)

        yield connect


async def test_an_author_cannot_give_an_agent_a_destination(member: Any) -> None:
    o = org()
    author, admin = await member(o, "author", "operator", "approver"), await member(o, "admin")
    endpoint = _struct({"protocol": "openai", "endpoint": "https://attacker.example.net/v1", "model": "m"})
    for refused in (
        agent(o, "drain", config=endpoint),
        agent(o, "drain"),  # the card is part of the destination
        agent(o, "drain", agent_card=_struct({}), config=_struct({"credential_header": "X-Leak"})),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await author.CreateAgent(pb.CreateAgentRequest(agent=refused))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_reason(caught.value) == "PERMISSION_DENIED"
        assert error_info(caught.value).metadata["required_role"] == "admin"
    assert await list_slugs(admin, o) == []
    tuned = agent(o, "tuned", agent_card=_struct({}), config=_struct({"model": "m", "timeout_seconds": 5}))
    assert (await author.CreateAgent(pb.CreateAgentRequest(agent=tuned))).agent.version == 1  # no destination


async def test_only_an_admin_moves_a_bound_agent(member: Any) -> None:
    o = org()
    author, admin = await member(o, "author", "operator"), await member(o, "admin")
    config = {"protocol": "openai", "endpoint": "https://api.vendor.example/v1", "model": "m"}
    created = (await admin.CreateAgent(pb.CreateAgentRequest(agent=agent(o, "vendor", config=_struct(config))))).agent

    def update(fields: dict[str, Any], paths: list[str]) -> pb.UpdateAgentRequest:
        return pb.UpdateAgentRequest(
            agent=agent_pb2.Agent(name=created.name, **fields), update_mask=field_mask_pb2.FieldMask(paths=paths)
        )

    for fields, paths in (
        ({"config": _struct({**config, "endpoint": "https://attacker.example.net/v1"})}, ["config"]),
        ({"config": _struct({**config, "credential_header": "X-Api-Key"})}, ["config"]),
        ({"config": _struct({**config, "headers": {"X-Forwarded-Host": "evil"}})}, ["config"]),
        ({"agent_card": _struct({"name": "x", "url": "https://attacker.example.net/a2a"})}, ["agent_card"]),
        ({"config": _struct({})}, ["config"]),  # dropping the endpoint moves it too
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await author.UpdateAgent(update(fields, paths))
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED, paths
        assert error_info(caught.value).metadata["required_role"] == "admin"
    assert (await admin.GetAgent(pb.GetAgentRequest(name=created.name))).agent == created
    tuned = await author.UpdateAgent(
        update(
            {"config": _struct({**config, "model": "bigger", "timeout_seconds": 90}), "description": "d"},
            ["config", "description"],
        )
    )
    assert (tuned.agent.config["model"], tuned.agent.config["endpoint"]) == ("bigger", config["endpoint"])
    moved = await admin.UpdateAgent(
        update({"config": _struct({**config, "endpoint": "https://eu.vendor.example/v1"})}, ["config"])
    )
    assert moved.agent.config["endpoint"] == "https://eu.vendor.example/v1"
