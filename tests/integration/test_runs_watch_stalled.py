"""A watcher that stops reading: its stream is bounded by flow control, the engine goes on, and after the send
timeout the stream ends with ABORTED (CLIENT_TOO_SLOW), and the client resumes from its cursor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from tests.support.principals import as_member
from tests.support.registry import create_agent, new_org
from tests.support.rpc import STALLING_CHANNEL_OPTIONS, error_info, event_sequences_until_error
from tests.support.runs import FINAL, Platform, definition, launch, platform, save, step, wait_for_status

S = run_pb2
# A log far larger than one HTTP/2 flow-control window (64 KiB): 60 steps echoing 4 KB each.
BIG = definition([step(f"s{n}", message="x" * 4000) for n in range(60)])
STALL_SECONDS = 3.0  # how long the client does not read: well beyond the service's send timeout below


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org(), heartbeat_seconds=0.2, stream_send_timeout_seconds=1.0) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


async def test_a_stalled_watcher_is_told_to_resume_and_slows_nothing(plat: Platform) -> None:
    big = await launch(plat, await save(plat, BIG))
    done = await wait_for_status(plat.runs_stub, big.name, FINAL)
    assert done.status == S.RUN_STATUS_COMPLETED
    member = as_member(plat.org, "viewer")
    async with grpc.aio.insecure_channel(plat.runs.target, options=STALLING_CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.RunsServiceStub(channel)
        call = stub.WatchRun(pb.WatchRunRequest(name=big.name, after_sequence=0), metadata=member)
        # While the client does not read, the engine runs other runs as usual.
        other = await launch(plat, await save(plat, definition([step("a"), step("b", depends_on=["a"])]), "other"))
        assert (await wait_for_status(plat.runs_stub, other.name, FINAL)).status == S.RUN_STATUS_COMPLETED
        await asyncio.sleep(STALL_SECONDS)  # the stall itself (the scenario under test, not a synchronisation)
        received, ended = await event_sequences_until_error(call)
        assert ended.code() == grpc.StatusCode.ABORTED
        info = error_info(ended)
        assert info.reason == "CLIENT_TOO_SLOW"
        assert "after_sequence" in (ended.details() or "")
        assert received == list(range(1, len(received) + 1))  # what arrived has no gap
        assert received[-1] < done.last_event_sequence  # it was cut short: the rest was never buffered

        rest = plat.runs_stub.WatchRun(pb.WatchRunRequest(name=big.name, after_sequence=received[-1]))
        resumed = [item.event.sequence async for item in rest if item.HasField("event")]
        assert received + resumed == list(range(1, done.last_event_sequence + 1))
