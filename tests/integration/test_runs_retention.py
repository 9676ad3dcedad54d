"""Retention: finished runs older than the policy disappear with their steps, events and checkpoints; others stay."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import pytest

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from services.common.settings import DatabaseSettings
from tests.support.registry import create_agent, struct
from tests.support.runs import FINAL, engine_of, platform, wait_for_status


async def test_purge_deletes_only_finished_runs(database: DatabaseSettings) -> None:
    async with platform(database, f"org-{uuid.uuid4().hex[:10]}") as p:
        await create_agent(p.registry_stub, p.org, "helper")
        finished = definition([{"id": "done", "kind": "echo", "message": "ok"}])
        waiting = definition([{"id": "wait", "kind": "checkpoint", "checkpoint": {"title": "hold"}}])
        old = (await p.runs_stub.CreateRun(adhoc(p.org, finished))).run
        await wait_for_status(p.runs_stub, old.name, FINAL)
        open_run = (await p.runs_stub.CreateRun(adhoc(p.org, waiting))).run
        await wait_for_status(p.runs_stub, open_run.name, {run_pb2.RUN_STATUS_PAUSED})
        engine = engine_of(p.runs)
        assert await engine.purge(dt.timedelta(days=1)) == 0  # nothing is old enough yet
        assert await engine.purge(dt.timedelta(seconds=-1)) == 1  # "older than the future": every finished run
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await p.runs_stub.GetRun(pb.GetRunRequest(name=old.name))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        still = (await p.runs_stub.GetRun(pb.GetRunRequest(name=open_run.name))).run
        assert still.status == run_pb2.RUN_STATUS_PAUSED
        assert (await p.runs_stub.ListRunEvents(pb.ListRunEventsRequest(name=open_run.name))).events


def definition(steps: list[dict[str, object]]) -> dict[str, object]:
    return {"schema_version": 1, "phases": [{"id": "main", "steps": steps}]}


def adhoc(org: str, document: dict[str, object]) -> pb.CreateRunRequest:
    return pb.CreateRunRequest(parent=f"organizations/{org}", ad_hoc=pb.AdHocDefinition(definition=struct(document)))
