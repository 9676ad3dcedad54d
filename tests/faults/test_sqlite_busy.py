"""The embedded database held by another process past the busy timeout: UNAVAILABLE (retry), not INTERNAL.

On SQLite the failure a client can meet is a lock held elsewhere (a backup, a sqlite3 shell, a stuck process): each
service answers UNAVAILABLE with RetryInfo once DATABASE__SQLITE_BUSY_TIMEOUT_MS has passed, writes nothing, and
serves normally once the lock is released.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from pydantic import SecretStr

from agentorch.credentials.v1 import credentials_service_pb2 as vpb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as vpb_grpc
from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.registry.v1 import registry_service_pb2_grpc as rpb_grpc
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from tests.support.gateway import Platform, mint, new_org, platform
from tests.support.registry import agent_message
from tests.support.rpc import error_info


@pytest.fixture
async def plat(tmp_path: Path) -> AsyncIterator[Platform]:
    url = SecretStr(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    database = DatabaseSettings(url=url, sqlite_busy_timeout_ms=100)
    async with platform(database) as p:
        yield p


@asynccontextmanager
async def locked(path: Path) -> AsyncIterator[None]:
    """Hold the database's write lock from another connection, as another process would (taken in a thread: the
    services' own transactions must go on meanwhile for it to get the lock)."""
    holder = sqlite3.connect(path, isolation_level=None, timeout=10, check_same_thread=False)
    try:
        await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize(
    ("file", "method"),
    [
        ("test-registry.db", "CreateAgent"),
        ("test.db", "ListRuns"),
        ("test-vault.db", "ListCredentials"),
        ("test-gateway.db", "ListApiKeys"),
    ],
)
async def test_a_locked_database_is_unavailable_and_nothing_is_written(
    plat: Platform, tmp_path: Path, file: str, method: str
) -> None:
    org = new_org()
    channel = await plat.channel(mint(org, "admin"))
    parent = f"organizations/{org}"
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "CreateAgent": lambda: rpb_grpc.RegistryServiceStub(channel).CreateAgent(
            rpb.CreateAgentRequest(agent=agent_message(org, "helper"))
        ),
        "ListRuns": lambda: pb_grpc.RunsServiceStub(channel).ListRuns(pb.ListRunsRequest(parent=parent)),
        "ListCredentials": lambda: vpb_grpc.CredentialsServiceStub(channel).ListCredentials(
            vpb.ListCredentialsRequest(parent=parent)
        ),
        "ListApiKeys": lambda: gw_grpc.GatewayServiceStub(channel).ListApiKeys(gw.ListApiKeysRequest(parent=parent)),
    }
    async with locked(tmp_path / file):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await calls[method]()
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value.details()
    assert error_info(caught.value).reason == "UNAVAILABLE"
    await calls[method]()  # served once the lock is gone
    if method == "CreateAgent":  # the refused create wrote nothing: the retry created the only agent
        agents = await rpb_grpc.RegistryServiceStub(channel).ListAgents(rpb.ListAgentsRequest(parent=parent))
        assert [a.name for a in agents.agents] == [f"{parent}/agents/helper"]
