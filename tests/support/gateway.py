"""The whole platform behind the gateway, on loopback, and the credentials to call it: JWTs minted with a test
HS256 secret (and anything a test wants to forge), API keys created through the gateway."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import jwt
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import DropSchema

from agentorch.credentials.v1 import credentials_service_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as cpb_grpc
from agentorch.gateway.v1 import gateway_service_pb2 as gpb
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gpb_grpc
from agentorch.gateway.v1 import identity_pb2 as ipb
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.registry.v1 import registry_service_pb2_grpc as rpb_grpc
from agentorch.runs.v1 import runs_service_pb2 as runs_pb
from agentorch.runs.v1 import runs_service_pb2_grpc as runs_grpc
from gateway import config as gateway_config
from gateway.bootstrap import spec as gateway_spec
from gateway.config import BackendSettings, GatewaySettings, HttpSettings, JwtSettings, RateLimitSettings
from services.common.settings import DatabaseSettings, TaskSettings
from services.credentials.bootstrap import spec as credentials_spec
from services.credentials.config import CredentialsSettings
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from services.runs.bootstrap import spec as runs_spec
from services.runs.config import ClientsConfig, EngineConfig, RunsSettings
from tests.support.agents import ScriptedExecutor
from tests.support.egress import LOOPBACK
from tests.support.principals import AUTH, as_platform
from tests.support.rpc import channel_as
from tests.support.servers import RunningServer, running
from tests.support.vault import VAULT

SECRET = base64.b64encode(os.urandom(32)).decode()
ISSUER = "https://idp.agentorch.test/"
AUDIENCE = "agentorch-tests"
JWT = JwtSettings(hs256_secret=SecretStr(SECRET), issuer=ISSUER, audience=AUDIENCE, leeway_seconds=30)
GENEROUS = RateLimitSettings(requests_per_second=100_000, burst=100_000)
# Tests that are not about the failed-authentication limits send many bad credentials from 127.0.0.1.
FORGIVING = gateway_config.FailedAuthSettings(per_client_burst=100_000, per_key_burst=100_000)
PEPPER = base64.b64encode(os.urandom(32)).decode()
API_KEYS = gateway_config.ApiKeySettings(peppers={"test-pepper": SecretStr(PEPPER)})

Metadata = tuple[tuple[str, str | bytes], ...]


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def mint(
    org: str | None,
    *roles: str,
    subject: str = "alice@example.com",
    secret: str = SECRET,
    issuer: str = ISSUER,
    audience: str = AUDIENCE,
    lifetime: float = 300,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A JWT as the identity provider would issue it; every field can be changed to forge a bad one."""
    now = int(time.time())
    payload: dict[str, Any] = {"sub": subject, "iss": issuer, "aud": audience, "iat": now, "exp": now + lifetime}
    if org is not None:
        payload["org"] = org
    payload["roles"] = list(roles)
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}  # a claim set to None is left out
    with warnings.catch_warnings():  # forged HS384/HS512 tokens use a secret short for them, on purpose
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(payload, secret, algorithm=algorithm, headers=headers)


def unsigned(payload: dict[str, Any]) -> str:
    """A token with `alg: none` (no signature)."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def bearer(token: str) -> Metadata:
    return (("authorization", f"Bearer {token}"),)


def sibling(database: DatabaseSettings, name: str) -> DatabaseSettings:
    """Another process's database next to `database`: a sibling SQLite file, or another PostgreSQL schema (the
    `database` fixture drops `<schema>_*` after the test)."""
    if database.is_postgresql:
        return database.model_copy(update={"schema_name": f"{database.schema_name}_{name}"})
    url = database.url.get_secret_value()
    return database.model_copy(update={"url": SecretStr(url.replace(".db", f"-{name}.db"))})


def gateway_settings(database: DatabaseSettings, backends: BackendSettings, **changes: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "database": sibling(database, "gateway"),
        "auth": AUTH,
        "backends": backends,
        "jwt": JWT,
        "rate_limit": GENEROUS,
        "failed_auth": FORGIVING,
        "api_keys": API_KEYS,
        "http": HttpSettings(port=0),  # the HTTP front on a free loopback port (tests.support.http finds it)
    }
    values.update(changes)
    return GatewaySettings(**values)


@dataclass
class Platform:
    gateway: RunningServer
    registry: RunningServer
    runs: RunningServer
    credentials: RunningServer
    executor: ScriptedExecutor
    stack: AsyncExitStack

    async def channel(self, token: str, *extra: tuple[str, str | bytes]) -> grpc.aio.Channel:
        """A channel to the gateway whose every call carries `authorization: Bearer <token>` (closed with the
        platform)."""
        return await self.stack.enter_async_context(channel_as(self.gateway.target, (*bearer(token), *extra)))


@asynccontextmanager
async def platform(
    database: DatabaseSettings,
    *,
    real_agents: bool = False,
    tasks: TaskSettings | None = None,
    **gateway_changes: Any,
) -> AsyncIterator[Platform]:
    """registry, runs (scripted agents; with `real_agents`, the real HTTP agent executors), credentials and the
    gateway in front of them; `tasks` supervises every process's background tasks (default settings if None).
    Agents on loopback are allowed (as `agentorch up` allows them): test agents live there."""
    executor = ScriptedExecutor()
    supervision = tasks or TaskSettings()
    async with AsyncExitStack() as stack:
        registry_settings = RegistrySettings(
            database=sibling(database, "registry"), auth=AUTH, tasks=supervision, agents=LOOPBACK
        )
        registry = await stack.enter_async_context(running(registry_spec(registry_settings)))
        vault_settings = CredentialsSettings(
            database=sibling(database, "vault"), auth=AUTH, vault=VAULT, tasks=supervision
        )
        credentials = await stack.enter_async_context(running(credentials_spec(vault_settings)))
        runs_settings = RunsSettings(
            database=database,
            auth=AUTH,
            tasks=supervision,
            clients=ClientsConfig(registry=registry.target, credentials=credentials.target),
            engine=EngineConfig(heartbeat_seconds=1.0),
            agents=LOOPBACK,
        )
        runs = await stack.enter_async_context(
            running(runs_spec(runs_settings, executor=None if real_agents else executor))
        )
        backends = BackendSettings(registry=registry.target, runs=runs.target, credentials=credentials.target)
        settings = gateway_settings(database, backends, tasks=supervision, **gateway_changes)
        gateway = await stack.enter_async_context(running(gateway_spec(settings)))
        yield Platform(gateway, registry, runs, credentials, executor, stack)


@asynccontextmanager
async def module_platform(
    kind: str, tmp_path_factory: Any, postgres_url: Callable[[], str], **gateway_changes: Any
) -> AsyncIterator[Platform]:
    """A platform shared by the tests of a module, on SQLite (`kind` "sqlite") or in a fresh PostgreSQL schema
    (dropped afterwards); `postgres_url` is called only for PostgreSQL (it may skip the test)."""
    if kind == "sqlite":
        path = tmp_path_factory.mktemp("platform") / "test.db"
        database = DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{path}"))
    else:
        database = DatabaseSettings(url=SecretStr(postgres_url()), schema_name=f"t_{uuid.uuid4().hex[:16]}")
    try:
        async with platform(database, **gateway_changes) as running:
            yield running
    finally:
        if database.is_postgresql:
            await drop_schemas(database.url.get_secret_value(), database.schema_name)


async def organization_contents(plat: Platform, org: str) -> dict[str, list[str]]:
    """Everything an organization has, and the platform-wide agents (read as a platform principal): what a test of
    bad input compares before and after, to show that nothing was written."""
    parent = f"organizations/{org}"
    async with channel_as(plat.registry.target, as_platform()) as channel:
        registry = rpb_grpc.RegistryServiceStub(channel)
        agents = await registry.ListAgents(rpb.ListAgentsRequest(parent=parent, page_size=500))
        shared = await registry.ListAgents(rpb.ListAgentsRequest(parent="", page_size=500))
        orchestrations = await registry.ListOrchestrations(
            rpb.ListOrchestrationsRequest(parent=f"{parent}/agents/-", show_deleted=True, page_size=500)
        )
        plans = await registry.ListPlans(rpb.ListPlansRequest(parent=parent, page_size=500))
    async with channel_as(plat.runs.target, as_platform()) as channel:
        runs = await runs_grpc.RunsServiceStub(channel).ListRuns(runs_pb.ListRunsRequest(parent=parent, page_size=500))
    async with channel_as(plat.credentials.target, as_platform()) as channel:
        vault = cpb_grpc.CredentialsServiceStub(channel)
        credentials = await vault.ListCredentials(cpb.ListCredentialsRequest(parent=parent, page_size=500))
        audit = await vault.ListAuditEvents(cpb.ListAuditEventsRequest(parent=parent, page_size=500))
    gateway = gpb_grpc.GatewayServiceStub(plat.gateway.channel)
    keys = await gateway.ListApiKeys(gpb.ListApiKeysRequest(parent=parent), metadata=bearer(mint(org, "admin")))
    members = await gateway.ListMembers(
        ipb.ListMembersRequest(parent=parent, page_size=500), metadata=bearer(mint(org, "admin"))
    )
    groups = await gateway.ListGroups(
        ipb.ListGroupsRequest(parent=parent, page_size=500), metadata=bearer(mint(org, "admin"))
    )
    return {
        "agents": [a.name for a in agents.agents],
        "platform agents": [a.name for a in shared.agents],
        "orchestrations": [o.name for o in orchestrations.orchestrations],
        "plans": [p.name for p in plans.plans],
        "runs": [r.name for r in runs.runs],
        "credentials": [c.name for c in credentials.credentials],
        "audit events": [e.name for e in audit.events],
        "api keys": [k.name for k in keys.api_keys],
        "members": [m.name for m in members.members],
        "groups": [g.name for g in groups.groups],
    }


async def drop_schemas(url: str, schema: str) -> None:
    """Drop a PostgreSQL test schema and its siblings (`<schema>_*`), as the `database` fixture does."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            found = await conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname = :s OR nspname LIKE :p"),
                {"s": schema, "p": f"{schema}\\_%"},
            )
            for (name,) in found.all():
                await conn.execute(DropSchema(name, cascade=True, if_exists=True))
    finally:
        await engine.dispose()
