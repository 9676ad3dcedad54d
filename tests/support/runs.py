"""A registry and a runs service on loopback, wired together, for runs tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from pydantic import SecretStr

from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from services.runs.bootstrap import spec as runs_spec
from services.runs.config import ClientsConfig, EngineConfig, RunsSettings
from tests.support.agents import ScriptedExecutor
from tests.support.principals import AUTH, as_member
from tests.support.rpc import channel_as
from tests.support.servers import RunningServer, running

FINAL = {run_pb2.RUN_STATUS_COMPLETED, run_pb2.RUN_STATUS_FAILED, run_pb2.RUN_STATUS_CANCELLED}


def sibling(database: DatabaseSettings, name: str) -> DatabaseSettings:
    """Another service's database next to `database`: a sibling SQLite file, or another PostgreSQL schema."""
    if database.is_postgresql:
        return database.model_copy(update={"schema_name": f"{database.schema_name}_{name}"})
    url = database.url.get_secret_value()
    return database.model_copy(update={"url": SecretStr(url.replace("test.db", f"{name}.db"))})


@dataclass
class Platform:
    registry: RunningServer
    runs: RunningServer
    executor: ScriptedExecutor
    org: str
    registry_stub: reg_grpc.RegistryServiceStub
    runs_stub: pb_grpc.RunsServiceStub


@asynccontextmanager
async def platform(
    database: DatabaseSettings, org: str, *, lease_seconds: float = 30.0, **engine: Any
) -> AsyncIterator[Platform]:
    executor = ScriptedExecutor()
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(
            running(registry_spec(RegistrySettings(database=sibling(database, "registry"), auth=AUTH)))
        )
        settings = RunsSettings(
            database=database,
            auth=AUTH,
            clients=ClientsConfig(registry=registry.target),
            engine=EngineConfig(
                lease_seconds=lease_seconds, heartbeat_seconds=engine.pop("heartbeat_seconds", 15.0), **engine
            ),
        )
        runs = await stack.enter_async_context(running(runs_spec(settings, executor=executor)))
        member = as_member(org, "admin")
        registry_channel = await stack.enter_async_context(channel_as(registry.target, member))
        runs_channel = await stack.enter_async_context(channel_as(runs.target, member))
        yield Platform(
            registry,
            runs,
            executor,
            org,
            reg_grpc.RegistryServiceStub(registry_channel),
            pb_grpc.RunsServiceStub(runs_channel),
        )


async def wait_for_status(
    stub: pb_grpc.RunsServiceStub, name: str, statuses: set[int], timeout: float = 20.0
) -> run_pb2.Run:
    """Follow the run's events (WatchRun) until its status is one of `statuses`."""

    async def follow() -> run_pb2.Run:
        run = (await stub.GetRun(pb.GetRunRequest(name=name))).run
        if run.status in statuses:
            return run
        call = stub.WatchRun(pb.WatchRunRequest(name=name, after_sequence=run.last_event_sequence))
        async for item in call:
            if item.HasField("event") and item.event.run_status in statuses:
                call.cancel()
                break
        return (await stub.GetRun(pb.GetRunRequest(name=name))).run

    import asyncio

    return await asyncio.wait_for(follow(), timeout)


def grpc_code(error: BaseException) -> grpc.StatusCode | None:
    return error.code() if isinstance(error, grpc.aio.AioRpcError) else None
