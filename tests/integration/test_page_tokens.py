"""Every List RPC answers a bad page token with INVALID_ARGUMENT, reason INVALID_PAGE_TOKEN, a field violation on
`page_token`, and reads or writes nothing — as errors.proto promises — called directly and through the gateway, on
SQLite and PostgreSQL.

The List methods are found in the service descriptors (every method whose request has a `page_token`), one test per
method and target, so a new one is covered the day it is added: it needs a line in LISTS saying how to ask for a
page of one in the world `_seed` makes (with two of everything), and `test_every_list_method_is_covered` fails until
it has one. Each list hands out a real token for its second page; the bad tokens are
made from it: garbage, another list's token (another query), a token of a later format version, its sort key with a
column more or a column short, and its typed columns (numbers, times) replaced by text.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message

from agentorch.common.v1 import pagination_pb2
from agentorch.common.v1 import principal_pb2 as ppb
from agentorch.credentials.v1 import credentials_service_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as cpb_grpc
from agentorch.gateway.v1 import gateway_service_pb2 as gpb
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gpb_grpc
from agentorch.gateway.v1 import identity_pb2 as ipb
from agentorch.registry.v1 import plan_pb2
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.registry.v1 import registry_service_pb2_grpc as rpb_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from gateway.bootstrap import DESCRIPTOR as GATEWAY
from gateway.bootstrap import REEXPOSED
from tests.support.badinput import methods, new_message, path_of
from tests.support.gateway import JWT, Platform, bearer, mint, module_platform, new_org, organization_contents
from tests.support.principals import as_member
from tests.support.registry import create_agent, create_orchestration, edited, struct
from tests.support.rpc import bad_request_fields, channel_as, error_reason
from tests.support.runs import checkpoint_step, definition, step, wait_for_status

pytestmark = pytest.mark.asyncio(loop_scope="module")

Metadata = tuple[tuple[str, str | bytes], ...]

PLATFORM_ORG = "platform-ops"
#: Lists that only a platform admin sees two items of (anyone else sees their own organization only).
AS_PLATFORM = {"/agentorch.gateway.v1.GatewayService/ListOrganizations"}


def list_methods() -> list[MethodDescriptor]:
    """Every method of every served contract that pages (its request has a page_token)."""
    return [m for m in methods(*REEXPOSED.values(), GATEWAY) if "page_token" in m.input_type.fields_by_name]


@dataclass
class World:
    """One organization holding two of everything, and each list's first page request (page_size 1)."""

    org: str
    first_pages: dict[str, dict[str, Any]]


async def _seed(plat: Platform, org: str) -> World:
    parent = f"organizations/{org}"
    member = as_member(org, "admin")
    async with channel_as(plat.registry.target, member) as channel:
        registry = rpb_grpc.RegistryServiceStub(channel)
        await create_agent(registry, org, "helper")
        await create_agent(registry, org, "writer")
        orchestration = (await create_orchestration(registry, org, "first")).orchestration
        await create_orchestration(registry, org, "second")
        await registry.CreateOrchestrationVersion(
            rpb.CreateOrchestrationVersionRequest(
                parent=orchestration.name, etag=orchestration.etag, version=edited(2, change_note="again")
            )
        )
        for conversation in ("conv-1", "conv-2"):
            plan = plan_pb2.ConversationPlan(
                conversation_id=conversation,
                agent_slug="helper",
                plan=struct({"title": "t", "steps": [{"title": "s"}]}),
            )
            await registry.CreatePlan(rpb.CreatePlanRequest(parent=parent, plan=plan))
    async with channel_as(plat.runs.target, member) as channel:
        runs = pb_grpc.RunsServiceStub(channel)
        document = definition([step("prep"), checkpoint_step("left"), checkpoint_step("right")])
        request = pb.CreateRunRequest(parent=parent, ad_hoc=pb.AdHocDefinition(definition=struct(document)))
        run = (await runs.CreateRun(request)).run
        await runs.CreateRun(request)
        await wait_for_status(runs, run.name, {run_pb2.RUN_STATUS_PAUSED})  # both checkpoints open
    async with channel_as(plat.credentials.target, member) as channel:
        vault = cpb_grpc.CredentialsServiceStub(channel)
        for alias in ("first.key", "second.key"):  # each creation is an audit event too
            await vault.CreateCredential(cpb.CreateCredentialRequest(parent=parent, alias=alias, value="s3cret"))
    gateway = gpb_grpc.GatewayServiceStub(plat.gateway.channel)
    admin = bearer(mint(org, "admin"))
    for name in ("ci", "cd"):
        key = gpb.ApiKey(display_name=name, roles=["viewer"])
        await gateway.CreateApiKey(gpb.CreateApiKeyRequest(parent=parent, api_key=key), metadata=admin)
    platform_admin = bearer(mint(PLATFORM_ORG, "admin", subject="ops@platform.test"))
    for slug in (org, new_org()):
        request_org = ipb.CreateOrganizationRequest(organization_id=slug, organization=ipb.Organization())
        await gateway.CreateOrganization(request_org, metadata=platform_admin)
    # alice@example.com is who the tests' tokens name: the first member, an admin, so they keep working.
    for subject, role in (("alice@example.com", ppb.ROLE_ADMIN), ("bob@example.com", ppb.ROLE_VIEWER)):
        member = ipb.Member(subject=subject, roles=[role])
        await gateway.CreateMember(ipb.CreateMemberRequest(parent=parent, member=member), metadata=admin)
    for slug in ("legal", "finance"):
        group = ipb.CreateGroupRequest(parent=parent, group_id=slug, group=ipb.Group())
        await gateway.CreateGroup(group, metadata=admin)
    return World(org, {name: request(org, orchestration.name) for name, request in LISTS.items()})


#: How to ask each List for a first page of one item, in the world `_seed` makes.
LISTS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "/agentorch.registry.v1.RegistryService/ListAgents": lambda org, _: {"parent": f"organizations/{org}"},
    "/agentorch.registry.v1.RegistryService/ListOrchestrations": lambda org, _: {
        "parent": f"organizations/{org}/agents/-"
    },
    "/agentorch.registry.v1.RegistryService/ListOrchestrationVersions": lambda _, orchestration: {
        "parent": orchestration
    },
    "/agentorch.registry.v1.RegistryService/ListPlans": lambda org, _: {"parent": f"organizations/{org}"},
    "/agentorch.runs.v1.RunsService/ListRuns": lambda org, _: {"parent": f"organizations/{org}"},
    "/agentorch.runs.v1.RunsService/ListCheckpoints": lambda org, _: {"parent": f"organizations/{org}"},
    "/agentorch.credentials.v1.CredentialsService/ListCredentials": lambda org, _: {"parent": f"organizations/{org}"},
    "/agentorch.credentials.v1.CredentialsService/ListAuditEvents": lambda org, _: {"parent": f"organizations/{org}"},
    "/agentorch.gateway.v1.GatewayService/ListApiKeys": lambda org, _: {"parent": f"organizations/{org}"},
    "/agentorch.gateway.v1.GatewayService/ListOrganizations": lambda _org, _: {},
    "/agentorch.gateway.v1.GatewayService/ListMembers": lambda org, _: {"parent": f"organizations/{org}"},
    "/agentorch.gateway.v1.GatewayService/ListGroups": lambda org, _: {"parent": f"organizations/{org}"},
}


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def plat(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    jwt = JWT.model_copy(update={"platform_organization": PLATFORM_ORG})
    postgres = lambda: request.getfixturevalue("postgres_url")  # noqa: E731
    async with module_platform(request.param, tmp_path_factory, postgres, jwt=jwt) as p:
        yield p


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(plat: Platform) -> World:
    return await _seed(plat, new_org())


@dataclass(frozen=True)
class Target:
    name: str
    call: Callable[[MethodDescriptor, Message], Awaitable[Any]]


def targets(plat: Platform, org: str) -> list[Target]:
    """Each list where a client meets it: its own service (signed principal) and the gateway (bearer token)."""
    servers = {
        "RegistryService": plat.registry,
        "RunsService": plat.runs,
        "CredentialsService": plat.credentials,
        "GatewayService": plat.gateway,
    }

    def token(method: MethodDescriptor) -> Metadata:
        if path_of(method) in AS_PLATFORM:
            return bearer(mint(PLATFORM_ORG, "admin", subject="ops@platform.test"))
        return bearer(mint(org, "admin"))

    def direct(method: MethodDescriptor, request: Message) -> Awaitable[Any]:
        server = servers[method.containing_service.name]
        metadata = token(method) if server is plat.gateway else as_member(org, "admin")
        return _unary(server.channel, method, request, metadata)

    def relayed(method: MethodDescriptor, request: Message) -> Awaitable[Any]:
        return _unary(plat.gateway.channel, method, request, token(method))

    return [Target("direct", direct), Target("gateway", relayed)]


def _unary(channel: grpc.aio.Channel, method: MethodDescriptor, request: Message, metadata: Metadata) -> Awaitable[Any]:
    reply_type = type(new_message(method.output_type))
    call = channel.unary_unary(
        path_of(method), request_serializer=lambda m: m.SerializeToString(), response_deserializer=reply_type.FromString
    )
    return call(request, metadata=metadata, timeout=10)


def _cursor(token: str) -> pagination_pb2.PageCursor:
    cursor: pagination_pb2.PageCursor = pagination_pb2.PageCursor.FromString(
        base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    )
    return cursor


def _token(cursor: pagination_pb2.PageCursor) -> str:
    return base64.urlsafe_b64encode(cursor.SerializeToString()).decode()


def _with(token: str, **changes: Any) -> str:
    cursor = _cursor(token)
    for field, value in changes.items():
        if field == "after":
            del cursor.after[:]
            cursor.after.extend(value)
        else:
            setattr(cursor, field, value)
    return _token(cursor)


def _typed(column: str) -> bool:
    """Whether a sort-key column is a number or a time (text in its place cannot be a key of that list)."""
    if column.isdigit():
        return True
    try:
        dt.datetime.fromisoformat(column)
    except ValueError:
        return False
    return True


def bad_tokens(real: str, foreign: str) -> dict[str, str]:
    """The bad tokens made from a list's real second-page token (and another list's)."""
    after = list(_cursor(real).after)
    cases = {
        "garbage": "not a token!",
        "another list's token": foreign,
        "a later format version": _with(real, version=99),
        "a key column more": _with(real, after=[*after, "extra"]),
        "a key column short": _with(real, after=after[:-1]),
    }
    if any(_typed(column) for column in after):
        cases["text in a typed key column"] = _with(real, after=["x" if _typed(c) else c for c in after])
    return cases


def _request(method: MethodDescriptor, fields: dict[str, Any]) -> Message:
    request = new_message(method.input_type)
    for field, value in fields.items():
        setattr(request, field, value)
    return request


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def real_tokens(plat: Platform, world: World) -> dict[tuple[str, str], str]:
    """Each list's real second-page token, as each target hands it out: (target, method path) → token."""
    tokens: dict[tuple[str, str], str] = {}
    for target in targets(plat, world.org):
        for method in list_methods():
            reply = await target.call(method, _request(method, {**world.first_pages[path_of(method)], "page_size": 1}))
            assert reply.next_page_token, f"{target.name} {path_of(method)}: the world has fewer than two items"
            tokens[(target.name, path_of(method))] = reply.next_page_token
    return tokens


async def test_every_list_method_is_covered() -> None:
    assert sorted(path_of(m) for m in list_methods()) == sorted(LISTS), "add the new List method to LISTS"


@pytest.mark.parametrize("target_name", ["direct", "gateway"])
@pytest.mark.parametrize("method", list_methods(), ids=lambda m: m.name)
async def test_a_bad_page_token_is_invalid_page_token(
    plat: Platform, world: World, real_tokens: dict[tuple[str, str], str], method: MethodDescriptor, target_name: str
) -> None:
    target = next(t for t in targets(plat, world.org) if t.name == target_name)
    path = path_of(method)
    methods_found = [path_of(m) for m in list_methods()]
    foreign = real_tokens[(target_name, methods_found[(methods_found.index(path) + 1) % len(methods_found)])]
    before = await organization_contents(plat, world.org)
    problems: list[str] = []
    cases = bad_tokens(real_tokens[(target_name, path)], foreign)
    for label, token in cases.items():
        request = _request(method, {**world.first_pages[path], "page_size": 1, "page_token": token})
        try:
            await target.call(method, request)
        except grpc.aio.AioRpcError as error:
            answer = (error.code(), error_reason(error), bad_request_fields(error))
            if answer != (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN", {"page_token"}):
                problems.append(f"[{label}]: {answer[0].name} {answer[1]} {sorted(answer[2])}")
        else:
            problems.append(f"[{label}]: answered OK")
    assert not problems, f"{target_name} {path}, {len(problems)} of {len(cases)} bad tokens:\n" + "\n".join(problems)
    assert await organization_contents(plat, world.org) == before
