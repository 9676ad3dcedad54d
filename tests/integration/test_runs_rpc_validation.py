"""Every runs RPC with malformed input: INVALID_ARGUMENT naming the field(s), and nothing written; unknown but
well-formed names are NOT_FOUND; calls without a (valid) principal are UNAUTHENTICATED. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.principals import METADATA_KEY
from services.common.settings import DatabaseSettings
from tests.support.registry import create_agent, new_org, struct
from tests.support.rpc import bad_request_fields, channel_as, error_reason
from tests.support.runs import (
    FINAL,
    Platform,
    checkpoint_step,
    definition,
    launch,
    platform,
    save,
    step,
    wait_for_status,
)

S = run_pb2
Call = Callable[[pb_grpc.RunsServiceStub], Awaitable[Any]]


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org()) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


async def drain(call: Any) -> list[Any]:
    """Read a stream to its end (errors surface here)."""
    return await asyncio.wait_for(_read(call), 10)


async def _read(call: Any) -> list[Any]:
    return [item async for item in call]


async def snapshot(p: Platform) -> list[tuple[str, int, int, int, tuple[str, ...]]]:
    """What a malformed call must not change: every run's status, last event, update time and open checkpoints."""
    reply = await p.runs_stub.ListRuns(pb.ListRunsRequest(parent=f"organizations/{p.org}"))
    return [
        (r.name, r.status, r.last_event_sequence, r.update_time.ToNanoseconds(), tuple(r.open_checkpoints))
        for r in reply.runs
    ]


@pytest.fixture
async def world(plat: Platform) -> dict[str, Any]:
    """A completed run and a run paused at a checkpoint, and a ListRuns page token."""
    done = await launch(plat, await save(plat, definition([step("x")]), "done"))
    await wait_for_status(plat.runs_stub, done.name, FINAL)
    waiting = await launch(plat, await save(plat, definition([checkpoint_step("review", "Review")]), "wait"))
    paused = await wait_for_status(plat.runs_stub, waiting.name, {S.RUN_STATUS_PAUSED})
    page = await plat.runs_stub.ListRuns(pb.ListRunsRequest(parent=f"organizations/{plat.org}", page_size=1))
    assert page.next_page_token
    return {
        "org": f"organizations/{plat.org}",
        "run": paused.name,
        "done": done.name,
        "checkpoint": paused.open_checkpoints[0],
        "token": page.next_page_token,
    }


def malformed(w: dict[str, Any]) -> list[tuple[str, Call, set[str]]]:
    org, run, checkpoint, token = w["org"], w["run"], w["checkpoint"], w["token"]
    unknown_uuid = str(uuid.uuid4())
    return [
        (
            "CreateRun parent",
            lambda s: s.CreateRun(pb.CreateRunRequest(parent="org", plan=f"{org}/plans/1")),
            {"parent"},
        ),
        (
            "CreateRun metadata",
            lambda s: s.CreateRun(
                pb.CreateRunRequest(parent=org, plan=f"{org}/plans/1", metadata=struct({"x": "y" * 20_000}))
            ),
            {"metadata"},
        ),
        ("GetRun empty", lambda s: s.GetRun(pb.GetRunRequest()), {"name"}),
        ("GetRun id", lambda s: s.GetRun(pb.GetRunRequest(name=f"{org}/runs/not-a-uuid")), {"name"}),
        (
            "GetRun org",
            lambda s: s.GetRun(pb.GetRunRequest(name=f"organizations/Not_A_Slug/runs/{unknown_uuid}")),
            {"name"},
        ),
        ("GetRun collection", lambda s: s.GetRun(pb.GetRunRequest(name=f"{org}/plans/{unknown_uuid}")), {"name"}),
        ("ListRuns parent", lambda s: s.ListRuns(pb.ListRunsRequest(parent="organizations/")), {"parent"}),
        ("ListRuns page_size", lambda s: s.ListRuns(pb.ListRunsRequest(parent=org, page_size=-1)), {"page_size"}),
        ("ListRuns page_token", lambda s: s.ListRuns(pb.ListRunsRequest(parent=org, page_token="!!")), {"page_token"}),
        (
            "ListRuns token of another query",
            lambda s: s.ListRuns(pb.ListRunsRequest(parent=org, page_token=token, status=S.RUN_STATUS_COMPLETED)),
            {"page_token"},
        ),
        ("ListRuns status", lambda s: s.ListRuns(pb.ListRunsRequest(parent=org, status=99)), {"status"}),  # type: ignore[arg-type]
        (
            "ListRuns origin_type",
            lambda s: s.ListRuns(pb.ListRunsRequest(parent=org, origin_type=42)),  # type: ignore[arg-type]
            {"origin_type"},
        ),
        ("ListRunEvents name", lambda s: s.ListRunEvents(pb.ListRunEventsRequest(name=org)), {"name"}),
        (
            "ListRunEvents cursor and size",
            lambda s: s.ListRunEvents(pb.ListRunEventsRequest(name=run, after_sequence=-1, page_size=1001)),
            {"after_sequence", "page_size"},
        ),
        (
            "ListRunEvents negative size",
            lambda s: s.ListRunEvents(pb.ListRunEventsRequest(name=run, page_size=-1)),
            {"page_size"},
        ),
        ("WatchRun name", lambda s: drain(s.WatchRun(pb.WatchRunRequest(name="runs/1"))), {"name"}),
        (
            "WatchRun cursor",
            lambda s: drain(s.WatchRun(pb.WatchRunRequest(name=run, after_sequence=-3))),
            {"after_sequence"},
        ),
        ("WatchRuns parent", lambda s: drain(s.WatchRuns(pb.WatchRunsRequest(parent=run))), {"parent"}),
        (
            "WatchRuns statuses",
            lambda s: drain(s.WatchRuns(pb.WatchRunsRequest(parent=org, statuses=[S.RUN_STATUS_COMPLETED, 77]))),  # type: ignore[list-item]
            {"statuses[1]"},
        ),
        ("CancelRun name", lambda s: s.CancelRun(pb.CancelRunRequest(name=f"{run}/x")), {"name"}),
        ("CancelRun reason", lambda s: s.CancelRun(pb.CancelRunRequest(name=run, reason="r" * 1001)), {"reason"}),
        ("PauseRun name", lambda s: s.PauseRun(pb.PauseRunRequest(name="")), {"name"}),
        ("ResumeRun name", lambda s: s.ResumeRun(pb.ResumeRunRequest(name=org)), {"name"}),
        ("RetryRun name", lambda s: s.RetryRun(pb.RetryRunRequest(name="x", from_step="a")), {"name"}),
        ("GetCheckpoint run name", lambda s: s.GetCheckpoint(pb.GetCheckpointRequest(name=run)), {"name"}),
        (
            "GetCheckpoint id",
            lambda s: s.GetCheckpoint(pb.GetCheckpointRequest(name=f"{run}/checkpoints/nope")),
            {"name"},
        ),
        (
            "ListCheckpoints parent",
            lambda s: s.ListCheckpoints(pb.ListCheckpointsRequest(parent=f"{org}/runs/nope")),
            {"parent"},
        ),
        (
            "ListCheckpoints status",
            lambda s: s.ListCheckpoints(pb.ListCheckpointsRequest(parent=org, status=12)),  # type: ignore[arg-type]
            {"status"},
        ),
        (
            "ListCheckpoints role",
            lambda s: s.ListCheckpoints(pb.ListCheckpointsRequest(parent=org, role="overlord")),
            {"role"},
        ),
        (
            "ListCheckpoints page_size",
            lambda s: s.ListCheckpoints(pb.ListCheckpointsRequest(parent=run, page_size=-5)),
            {"page_size"},
        ),
        (
            "ListCheckpoints page_token",
            lambda s: s.ListCheckpoints(pb.ListCheckpointsRequest(parent=org, page_token=token)),
            {"page_token"},
        ),
        (
            "DecideCheckpoint name",
            lambda s: s.DecideCheckpoint(pb.DecideCheckpointRequest(name=run, decision=S.DECISION_APPROVE)),
            {"name"},
        ),
        (
            "DecideCheckpoint no decision, long comment",
            lambda s: s.DecideCheckpoint(pb.DecideCheckpointRequest(name=checkpoint, comment="c" * 4001)),
            {"decision", "comment"},
        ),
        (
            "DecideCheckpoint decision out of range",
            lambda s: s.DecideCheckpoint(pb.DecideCheckpointRequest(name=checkpoint, decision=9)),  # type: ignore[arg-type]
            {"decision"},
        ),
        (
            "DecideCheckpoint payload",
            lambda s: s.DecideCheckpoint(
                pb.DecideCheckpointRequest(
                    name=checkpoint, decision=S.DECISION_APPROVE, payload=struct({"blob": "b" * 70_000})
                )
            ),
            {"payload"},
        ),
    ]


async def test_malformed_requests_name_the_field_and_write_nothing(plat: Platform, world: dict[str, Any]) -> None:
    before = await snapshot(plat)
    problems: list[str] = []
    for label, call, fields in malformed(world):
        try:
            await call(plat.runs_stub)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
                problems.append(f"{label}: {error.code().name} {error.details()}")
            elif bad_request_fields(error) != fields:
                problems.append(f"{label}: fields {sorted(bad_request_fields(error))}, expected {sorted(fields)}")
            elif error_reason(error) not in ("VALIDATION_FAILED", "INVALID_PAGE_TOKEN"):
                problems.append(f"{label}: reason {error_reason(error)}")
        else:
            problems.append(f"{label}: accepted")
    assert problems == []
    assert await snapshot(plat) == before
    checkpoint = (await plat.runs_stub.GetCheckpoint(pb.GetCheckpointRequest(name=world["checkpoint"]))).checkpoint
    assert checkpoint.status == S.CHECKPOINT_STATUS_OPEN


async def test_well_formed_unknown_names_are_not_found(plat: Platform, world: dict[str, Any]) -> None:
    org = world["org"]
    ghost = f"{org}/runs/{uuid.uuid4()}"
    ghost_checkpoint = f"{ghost}/checkpoints/{uuid.uuid4()}"
    real_run_ghost_checkpoint = f"{world['run']}/checkpoints/{uuid.uuid4()}"
    other_runs_checkpoint = world["checkpoint"].replace(world["run"], world["done"])
    before = await snapshot(plat)
    calls: list[tuple[str, Call]] = [
        ("GetRun", lambda s: s.GetRun(pb.GetRunRequest(name=ghost))),
        ("ListRunEvents", lambda s: s.ListRunEvents(pb.ListRunEventsRequest(name=ghost))),
        ("WatchRun", lambda s: drain(s.WatchRun(pb.WatchRunRequest(name=ghost)))),
        ("CancelRun", lambda s: s.CancelRun(pb.CancelRunRequest(name=ghost))),
        ("PauseRun", lambda s: s.PauseRun(pb.PauseRunRequest(name=ghost))),
        ("ResumeRun", lambda s: s.ResumeRun(pb.ResumeRunRequest(name=ghost))),
        ("RetryRun", lambda s: s.RetryRun(pb.RetryRunRequest(name=ghost))),
        ("ListCheckpoints", lambda s: s.ListCheckpoints(pb.ListCheckpointsRequest(parent=ghost))),
        ("GetCheckpoint", lambda s: s.GetCheckpoint(pb.GetCheckpointRequest(name=ghost_checkpoint))),
        (
            "GetCheckpoint of a real run",
            lambda s: s.GetCheckpoint(pb.GetCheckpointRequest(name=real_run_ghost_checkpoint)),
        ),
        (
            "GetCheckpoint under another run",
            lambda s: s.GetCheckpoint(pb.GetCheckpointRequest(name=other_runs_checkpoint)),
        ),
        (
            "DecideCheckpoint",
            lambda s: s.DecideCheckpoint(
                pb.DecideCheckpointRequest(name=ghost_checkpoint, decision=S.DECISION_APPROVE)
            ),
        ),
        (
            "DecideCheckpoint under another run",
            lambda s: s.DecideCheckpoint(
                pb.DecideCheckpointRequest(name=other_runs_checkpoint, decision=S.DECISION_APPROVE)
            ),
        ),
    ]
    problems: list[str] = []
    for label, call in calls:
        try:
            await call(plat.runs_stub)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                problems.append(f"{label}: {error.code().name} {error.details()}")
        else:
            problems.append(f"{label}: succeeded")
    assert problems == []
    assert await snapshot(plat) == before


async def test_calls_without_a_valid_principal_are_unauthenticated(plat: Platform, world: dict[str, Any]) -> None:
    org, run, checkpoint = world["org"], world["run"], world["checkpoint"]
    calls: list[tuple[str, Call]] = [
        ("CreateRun", lambda s: s.CreateRun(pb.CreateRunRequest(parent=org, plan=f"{org}/plans/1"))),
        ("GetRun", lambda s: s.GetRun(pb.GetRunRequest(name=run))),
        ("ListRuns", lambda s: s.ListRuns(pb.ListRunsRequest(parent=org))),
        ("ListRunEvents", lambda s: s.ListRunEvents(pb.ListRunEventsRequest(name=run))),
        ("WatchRun", lambda s: drain(s.WatchRun(pb.WatchRunRequest(name=run)))),
        ("WatchRuns", lambda s: drain(s.WatchRuns(pb.WatchRunsRequest(parent=org)))),
        ("CancelRun", lambda s: s.CancelRun(pb.CancelRunRequest(name=run))),
        ("PauseRun", lambda s: s.PauseRun(pb.PauseRunRequest(name=run))),
        ("ResumeRun", lambda s: s.ResumeRun(pb.ResumeRunRequest(name=run))),
        ("RetryRun", lambda s: s.RetryRun(pb.RetryRunRequest(name=run))),
        ("GetCheckpoint", lambda s: s.GetCheckpoint(pb.GetCheckpointRequest(name=checkpoint))),
        ("ListCheckpoints", lambda s: s.ListCheckpoints(pb.ListCheckpointsRequest(parent=org))),
        (
            "DecideCheckpoint",
            lambda s: s.DecideCheckpoint(pb.DecideCheckpointRequest(name=checkpoint, decision=S.DECISION_APPROVE)),
        ),
    ]
    before = await snapshot(plat)
    problems: list[str] = []
    async with channel_as(plat.runs.target, ((METADATA_KEY, b"forged"),)) as forged_channel:
        for who, stub in (
            ("anonymous", pb_grpc.RunsServiceStub(plat.runs.channel)),
            ("forged", pb_grpc.RunsServiceStub(forged_channel)),
        ):
            for label, call in calls:
                try:
                    await call(stub)
                except grpc.aio.AioRpcError as error:
                    if error.code() != grpc.StatusCode.UNAUTHENTICATED:
                        problems.append(f"{who} {label}: {error.code().name}")
                else:
                    problems.append(f"{who} {label}: succeeded")
    assert problems == []
    assert await snapshot(plat) == before
