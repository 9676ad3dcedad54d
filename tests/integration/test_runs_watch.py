"""WatchRun, WatchRuns and ListRunEvents through real gRPC, on SQLite and PostgreSQL: replay from every cursor,
live following without gap or duplicate, heartbeats, organization feeds, paging and scoping."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from tests.support.agents import Script
from tests.support.principals import as_member, as_platform
from tests.support.registry import create_agent, new_org
from tests.support.rpc import bad_request_fields, channel_as
from tests.support.runs import (
    FINAL,
    Platform,
    all_events,
    checkpoint_step,
    definition,
    launch,
    launch_ad_hoc,
    platform,
    save,
    step,
    wait_for_status,
)

S = run_pb2
SMALL = definition([step("one"), step("two", "noop")], [step("three", message="{{ steps.one.output }}!")])


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org(), heartbeat_seconds=0.2) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


async def collect(call: Any, timeout: float = 10.0) -> list[pb.WatchRunResponse]:
    """Every item of a stream that must end by itself."""

    async def read() -> list[pb.WatchRunResponse]:
        return [item async for item in call]

    return await asyncio.wait_for(read(), timeout)


async def next_item(stream: AsyncIterator[Any], timeout: float = 10.0) -> Any:
    return await asyncio.wait_for(anext(stream), timeout)


async def test_replay_from_every_cursor_yields_exactly_the_rest_and_ends(plat: Platform) -> None:
    run = await launch(plat, await save(plat, SMALL))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == S.RUN_STATUS_COMPLETED
    log = await all_events(plat.runs_stub, run.name)
    last = done.last_event_sequence
    assert [e.sequence for e in log] == list(range(1, last + 1))
    assert log[-1].run_status == S.RUN_STATUS_COMPLETED

    async def replay(k: int) -> None:
        items = await collect(plat.runs_stub.WatchRun(pb.WatchRunRequest(name=run.name, after_sequence=k)))
        assert all(item.HasField("event") for item in items), k
        assert [item.event for item in items] == log[k:], k

    await asyncio.gather(*(replay(k) for k in range(last + 1)))
    beyond = await collect(plat.runs_stub.WatchRun(pb.WatchRunRequest(name=run.name, after_sequence=last + 5)))
    assert beyond == []


async def test_a_live_watch_has_no_gap_and_no_duplicate(plat: Platform) -> None:
    gate = asyncio.Event()
    plat.executor.scripts["helper"] = Script(gate=gate, failures=1)  # every agent step fails once, then retries
    retry = {"max_attempts": 2, "initial_backoff_seconds": 0, "max_backoff_seconds": 0}
    document = definition(
        [step("a", "agent", retry=retry), step("b", "agent", retry=retry), step("c")],
        [step("d", message="{{ steps.a.output }}"), step("e", "agent", retry=retry)],
    )
    run = await launch(plat, await save(plat, document))
    call = plat.runs_stub.WatchRun(pb.WatchRunRequest(name=run.name))
    stream = aiter(call)
    first = await next_item(stream)  # the watch is live before anything runs: the agent steps wait on the gate
    assert first.event.sequence == 1
    assert first.event.type == S.EVENT_TYPE_RUN_CREATED
    gate.set()
    seen = [first.event]
    async with asyncio.timeout(20):
        async for item in stream:
            if item.HasField("event"):
                seen.append(item.event)
    assert [e.sequence for e in seen] == list(range(1, len(seen) + 1))
    assert seen[-1].run_status == S.RUN_STATUS_COMPLETED
    assert seen == await all_events(plat.runs_stub, run.name)
    assert len([e for e in seen if e.type == S.EVENT_TYPE_STEP_FAILED]) >= 1


async def test_many_concurrent_watchers_all_see_the_whole_log(plat: Platform) -> None:
    gate = asyncio.Event()
    plat.executor.scripts["helper"] = Script(gate=gate)
    document = definition([step(f"s{i}", "agent") for i in range(4)], [step("end")])
    run = await launch(plat, await save(plat, document))

    async def watch() -> list[int]:
        call = plat.runs_stub.WatchRun(pb.WatchRunRequest(name=run.name))
        return [item.event.sequence for item in await collect(call, 20) if item.HasField("event")]

    watchers = [asyncio.create_task(watch()) for _ in range(5)]  # started before or after: each replays from 0
    gate.set()
    results = await asyncio.gather(*watchers)
    last = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run.last_event_sequence
    assert all(sequences == list(range(1, last + 1)) for sequences in results), results


async def test_an_idle_watch_sends_heartbeats_with_its_cursor(plat: Platform) -> None:
    run = await launch(plat, await save(plat, definition([checkpoint_step("review", "Review")])))
    waiting = await wait_for_status(plat.runs_stub, run.name, {S.RUN_STATUS_PAUSED})
    last = waiting.last_event_sequence

    from_start = plat.runs_stub.WatchRun(pb.WatchRunRequest(name=run.name))
    stream = aiter(from_start)
    events = [(await next_item(stream)).event.sequence for _ in range(last)]
    assert events == list(range(1, last + 1))
    beat = await next_item(stream, 5)
    assert beat.HasField("heartbeat")
    assert beat.heartbeat.last_sequence == last
    assert beat.heartbeat.HasField("time")
    from_start.cancel()

    at_end = plat.runs_stub.WatchRun(pb.WatchRunRequest(name=run.name, after_sequence=last))
    beat = await next_item(aiter(at_end), 5)
    assert beat.heartbeat.last_sequence == last
    # a decision wakes the watch: the next items are the new events, then the stream ends with the run
    await plat.runs_stub.DecideCheckpoint(
        pb.DecideCheckpointRequest(name=waiting.open_checkpoints[0], decision=S.DECISION_APPROVE)
    )
    rest = [item async for item in at_end if item.HasField("event")]
    assert [e.event.sequence for e in rest] == list(range(last + 1, last + 1 + len(rest)))
    assert rest[-1].event.run_status == S.RUN_STATUS_COMPLETED


async def test_watch_runs_follows_the_organization_and_honours_statuses(plat: Platform) -> None:
    org = f"organizations/{plat.org}"
    everything = plat.runs_stub.WatchRuns(pb.WatchRunsRequest(parent=org))
    completed_only = plat.runs_stub.WatchRuns(pb.WatchRunsRequest(parent=org, statuses=[S.RUN_STATUS_COMPLETED]))
    all_stream, done_stream = aiter(everything), aiter(completed_only)
    for stream in (all_stream, done_stream):  # a heartbeat proves the subscription is in place
        assert (await next_item(stream, 5)).HasField("heartbeat")

    async with channel_as(plat.runs.target, as_member(other := new_org(), "admin")) as channel:
        elsewhere = await launch_ad_hoc(pb_grpc.RunsServiceStub(channel), other, definition([step("x")]))
    run = await launch(plat, await save(plat, definition([checkpoint_step("review", "Review")], [step("after")])))
    paused = await wait_for_status(plat.runs_stub, run.name, {S.RUN_STATUS_PAUSED})

    async def until(stream: AsyncIterator[pb.WatchRunsResponse], status: int) -> list[run_pb2.Run]:
        seen: list[run_pb2.Run] = []
        async with asyncio.timeout(10):
            async for item in stream:
                if item.HasField("run"):
                    seen.append(item.run)
                    if item.run.run_id == run.run_id and item.run.status == status:
                        return seen
        raise AssertionError("stream ended")

    seen_all = await until(all_stream, S.RUN_STATUS_PAUSED)
    assert seen_all[-1].open_checkpoints == paused.open_checkpoints
    assert not seen_all[-1].HasField("definition")
    await plat.runs_stub.DecideCheckpoint(
        pb.DecideCheckpointRequest(name=paused.open_checkpoints[0], decision=S.DECISION_APPROVE)
    )
    seen_all += await until(all_stream, S.RUN_STATUS_COMPLETED)
    seen_done = await until(done_stream, S.RUN_STATUS_COMPLETED)
    everything.cancel()
    completed_only.cancel()
    assert {r.run_id for r in seen_all} == {run.run_id}  # nothing of the other organization
    assert elsewhere.run_id not in {r.run_id for r in seen_done}
    assert all(r.status == S.RUN_STATUS_COMPLETED for r in seen_done)
    sequences = [r.last_event_sequence for r in seen_all]
    assert sequences == sorted(set(sequences))  # each change once, in order
    shown = [(r.status, r.status_reason, tuple(r.open_checkpoints)) for r in seen_all]
    assert all(a != b for a, b in itertools.pairwise(shown))  # only status or checkpoint changes


async def test_list_run_events_pages(plat: Platform) -> None:
    run = await launch(plat, await save(plat, SMALL))
    await wait_for_status(plat.runs_stub, run.name, FINAL)
    log = await all_events(plat.runs_stub, run.name)
    assert len(log) > 6
    paged: list[run_pb2.RunEvent] = []
    after, more = 0, True
    while more:
        reply = await plat.runs_stub.ListRunEvents(
            pb.ListRunEventsRequest(name=run.name, after_sequence=after, page_size=3)
        )
        assert len(reply.events) <= 3
        paged += reply.events
        more = reply.has_more
        assert more == (paged[-1].sequence < len(log))
        after = paged[-1].sequence
    assert paged == log
    exact = await plat.runs_stub.ListRunEvents(pb.ListRunEventsRequest(name=run.name, page_size=len(log)))
    assert not exact.has_more
    assert len(exact.events) == len(log)
    tail = await plat.runs_stub.ListRunEvents(pb.ListRunEventsRequest(name=run.name, after_sequence=len(log)))
    assert list(tail.events) == []
    assert not tail.has_more


async def test_bad_cursors_and_foreign_runs(plat: Platform) -> None:
    run = await launch(plat, await save(plat, SMALL))
    await wait_for_status(plat.runs_stub, run.name, FINAL)
    for call in (
        collect(plat.runs_stub.WatchRun(pb.WatchRunRequest(name=run.name, after_sequence=-1))),
        plat.runs_stub.ListRunEvents(pb.ListRunEventsRequest(name=run.name, after_sequence=-1)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await call
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_request_fields(bad.value) == {"after_sequence"}

    async with channel_as(plat.runs.target, as_member(new_org(), "admin")) as channel:
        stranger = pb_grpc.RunsServiceStub(channel)
        foreign_name = run.name.replace(plat.org, new_org())
        for call in (
            collect(stranger.WatchRun(pb.WatchRunRequest(name=run.name))),
            stranger.ListRunEvents(pb.ListRunEventsRequest(name=run.name)),
            stranger.GetRun(pb.GetRunRequest(name=run.name)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as hidden:
                await call
            assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as foreign_org:
            await collect(stranger.WatchRuns(pb.WatchRunsRequest(parent=f"organizations/{plat.org}")))
        assert foreign_org.value.code() == grpc.StatusCode.NOT_FOUND
    # the right run id under another organization's name is not found, even for a platform principal
    async with channel_as(plat.runs.target, as_platform("admin")) as channel:
        operator = pb_grpc.RunsServiceStub(channel)
        assert len(await collect(operator.WatchRun(pb.WatchRunRequest(name=run.name)))) > 0
        for call in (
            collect(operator.WatchRun(pb.WatchRunRequest(name=foreign_name))),
            operator.ListRunEvents(pb.ListRunEventsRequest(name=foreign_name)),
            operator.GetRun(pb.GetRunRequest(name=foreign_name)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as renamed:
                await call
            assert renamed.value.code() == grpc.StatusCode.NOT_FOUND
