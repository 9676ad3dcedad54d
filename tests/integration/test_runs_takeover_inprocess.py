"""Lease takeover between two runs replicas in one process, on one PostgreSQL schema (SQLite has one writer):
replica A claims an agent step and then stalls or stops; once the lease expires replica B takes the step over with
the same attempt and idempotency key, and the step succeeds exactly once, even when A's late answer arrives."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import DropSchema

from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from services.runs.bootstrap import spec as runs_spec
from tests.support.agents import Script, ScriptedExecutor
from tests.support.principals import AUTH, as_member
from tests.support.registry import create_agent, new_org
from tests.support.rpc import channel_as
from tests.support.runs import (
    FINAL,
    all_events,
    definition,
    engine_of,
    launch_ad_hoc,
    runs_settings,
    sibling,
    step,
    steps_of,
    wait_for_status,
)
from tests.support.servers import running

pytestmark = pytest.mark.postgres
S = run_pb2


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[DatabaseSettings]:
    """A fresh PostgreSQL schema (and its siblings), dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield DatabaseSettings(url=SecretStr(postgres_url), schema_name=schema)
    engine = create_async_engine(postgres_url)
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


@pytest.mark.parametrize("how", ["stalls", "stops"])
async def test_an_expired_lease_is_taken_over_with_the_same_attempt_and_succeeds_once(
    pg: DatabaseSettings, how: str
) -> None:
    org = new_org()
    gate = asyncio.Event()
    executor_a = ScriptedExecutor(scripts={"helper": Script(gate=gate, hang=how == "stops")})
    executor_b = ScriptedExecutor()
    settings = {"lease_seconds": 1.0, "idle_wait_seconds": 0.5}
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(
            running(registry_spec(RegistrySettings(database=sibling(pg, "registry"), auth=AUTH)))
        )
        a = await stack.enter_async_context(
            running(runs_spec(runs_settings(pg, registry.target, **settings), executor=executor_a, worker_id="a"))
        )
        member = as_member(org, "admin")
        registry_stub = reg_grpc.RegistryServiceStub(
            await stack.enter_async_context(channel_as(registry.target, member))
        )
        await create_agent(registry_stub, org, "helper")
        stub_a = pb_grpc.RunsServiceStub(await stack.enter_async_context(channel_as(a.target, member)))
        document = definition([step("work", "agent")], [step("after", message="{{ steps.work.output }}")])
        run = await launch_ad_hoc(stub_a, org, document)
        await asyncio.wait_for(executor_a.started.wait(), 10)
        key = f"{run.run_id}/work/1"
        assert executor_a.keys("work") == [key]

        engine_a = engine_of(a)
        if how == "stalls":  # no more heartbeats or claims from A, but its agent call is still in flight
            assert a.supervisor is not None
            for loop in engine_a._loops:
                await a.supervisor.cancel(loop)
        else:  # A's engine goes away abruptly: its hanging call is abandoned without a result
            await engine_a.stop(grace=0)
            assert not engine_a._tasks

        b = await stack.enter_async_context(
            running(runs_spec(runs_settings(pg, registry.target, **settings), executor=executor_b, worker_id="b"))
        )
        stub_b = pb_grpc.RunsServiceStub(await stack.enter_async_context(channel_as(b.target, member)))
        done = await wait_for_status(stub_b, run.name, FINAL)
        assert done.status == S.RUN_STATUS_COMPLETED
        assert executor_b.keys("work") == [key]  # the same attempt, so the same idempotency key
        assert steps_of(done)["work"].attempt == 1
        assert steps_of(done)["after"].output.string_value == "helper says: do work"
        log = await all_events(stub_b, run.name)
        taken = [e for e in log if e.type == S.EVENT_TYPE_STEP_TAKEN_OVER]
        assert len(taken) == 1
        assert dict(taken[0].data) == {"attempt": 1, "worker": "b", "previous": "a"}
        assert [e.step_id for e in log if e.type == S.EVENT_TYPE_STEP_SUCCEEDED] == ["work", "after"]
        assert [e.sequence for e in log] == list(range(1, len(log) + 1))

        if how == "stalls":  # A wakes up and reports: fenced off, nothing changes
            gate.set()
            await asyncio.wait_for(asyncio.gather(*engine_a._tasks), 10)
            assert executor_a.in_flight == 0
        after = (await stub_b.GetRun(pb.GetRunRequest(name=run.name))).run
        assert after.last_event_sequence == done.last_event_sequence
        assert steps_of(after)["work"].output.string_value == "helper says: do work"
