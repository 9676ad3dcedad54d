"""A registry and a runs service on loopback, wired together, for runs tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as reg_pb
from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings, ServerSettings
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from services.runs.app.engine import Engine
from services.runs.bootstrap import RunsService, RunsSpec
from services.runs.bootstrap import spec as runs_spec
from services.runs.config import ClientsConfig, EngineConfig, RunsSettings, TemplatesConfig
from tests.support.agents import ScriptedExecutor
from tests.support.egress import LOOPBACK
from tests.support.principals import AUTH, as_member
from tests.support.registry import struct
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


def runs_settings(
    database: DatabaseSettings, registry_target: str, *, lease_seconds: float = 30.0, **engine: Any
) -> RunsSettings:
    """Settings of a runs service for tests: `engine` overrides EngineConfig fields (heartbeat_seconds 15 s),
    `stream_send_timeout_seconds` the server's and `templates` (a TemplatesConfig) the template limits."""
    server = ServerSettings(stream_send_timeout_seconds=engine.pop("stream_send_timeout_seconds", 30.0))
    return RunsSettings(
        database=database,
        auth=AUTH,
        server=server,
        clients=ClientsConfig(registry=registry_target),
        templates=engine.pop("templates", None) or TemplatesConfig(),
        engine=EngineConfig(
            lease_seconds=lease_seconds, heartbeat_seconds=engine.pop("heartbeat_seconds", 15.0), **engine
        ),
    )


@asynccontextmanager
async def platform(
    database: DatabaseSettings, org: str, *, lease_seconds: float = 30.0, **engine: Any
) -> AsyncIterator[Platform]:
    executor = ScriptedExecutor()
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(
            running(registry_spec(RegistrySettings(database=sibling(database, "registry"), auth=AUTH, agents=LOOPBACK)))
        )
        settings = runs_settings(database, registry.target, lease_seconds=lease_seconds, **engine)
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
    stub: pb_grpc.RunsServiceStub, name: str, statuses: Collection[Any], timeout: float = 20.0
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

    return await asyncio.wait_for(follow(), timeout)


# --- definitions, launches and reads shared by the runs tests ------------------------------------------------------


def step(step_id: str, kind: str = "echo", **fields: Any) -> dict[str, Any]:
    """A step of a definition; echo steps get a message and agent steps the `helper` agent and a prompt by default."""
    document: dict[str, Any] = {"id": step_id, "kind": kind, **fields}
    if kind == "echo" and "message" not in fields:
        document["message"] = f"{step_id} done"
    if kind == "agent":
        document.setdefault("agent", "helper")
        document.setdefault("prompt", f"do {step_id}")
    return document


def checkpoint_step(step_id: str, title: str = "Approve?", **block: Any) -> dict[str, Any]:
    """A checkpoint step; `depends_on` and `on_failure` go to the step, everything else to its checkpoint block."""
    fields = {k: block.pop(k) for k in ("depends_on", "on_failure") if k in block}
    return {"id": step_id, "kind": "checkpoint", **fields, "checkpoint": {"title": title, **block}}


def definition(*phases: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "parameters": parameters or [],
        "phases": [{"id": f"p{i}", "steps": steps} for i, steps in enumerate(phases)],
    }


async def save(p: Platform, document: dict[str, Any], slug: str = "flow") -> str:
    """Save `document` as an orchestration of the `helper` agent (which must exist); returns its name."""
    await p.registry_stub.CreateOrchestration(
        reg_pb.CreateOrchestrationRequest(
            parent=f"organizations/{p.org}/agents/helper",
            orchestration_id=slug,
            orchestration=opb.Orchestration(display_name=slug),
            version=opb.OrchestrationVersion(definition=struct(document)),
        )
    )
    return f"organizations/{p.org}/agents/helper/orchestrations/{slug}"


async def launch(p: Platform, orchestration: str, inputs: dict[str, Any] | None = None, **fields: Any) -> run_pb2.Run:
    request = pb.CreateRunRequest(
        parent=f"organizations/{p.org}", orchestration=orchestration, prompt_inputs=struct(inputs or {}), **fields
    )
    return (await p.runs_stub.CreateRun(request)).run


async def launch_ad_hoc(stub: pb_grpc.RunsServiceStub, org: str, document: dict[str, Any]) -> run_pb2.Run:
    request = pb.CreateRunRequest(parent=f"organizations/{org}", ad_hoc=pb.AdHocDefinition(definition=struct(document)))
    return (await stub.CreateRun(request)).run


async def all_events(stub: pb_grpc.RunsServiceStub, name: str) -> list[run_pb2.RunEvent]:
    return list((await stub.ListRunEvents(pb.ListRunEventsRequest(name=name, page_size=1000))).events)


async def wait_for_event(
    stub: pb_grpc.RunsServiceStub,
    name: str,
    predicate: Callable[[run_pb2.RunEvent], bool],
    timeout: float = 20.0,
) -> run_pb2.RunEvent:
    """Follow the run's log from the start (WatchRun) until an event matches `predicate`; return it."""

    async def follow() -> run_pb2.RunEvent:
        call = stub.WatchRun(pb.WatchRunRequest(name=name))
        async for item in call:
            if item.HasField("event") and predicate(item.event):
                call.cancel()
                return item.event
        raise AssertionError(f"the watch of {name} ended without a matching event")

    return await asyncio.wait_for(follow(), timeout)


def is_event(kind: int, step_id: str = "") -> Callable[[run_pb2.RunEvent], bool]:
    return lambda event: event.type == kind and (not step_id or event.step_id == step_id)


def steps_of(run: run_pb2.Run) -> dict[str, run_pb2.StepState]:
    return {s.step_id: s for s in run.steps}


def service_of(server: RunningServer) -> RunsService:
    """What the runs server's bootstrap wired (engine, write path, use cases)."""
    assert isinstance(server.spec, RunsSpec), "not a runs server"
    return server.spec.service


def engine_of(server: RunningServer) -> Engine:
    """The engine behind a running runs server (to check its tasks, wake it, or run one tick)."""
    return service_of(server).engine
