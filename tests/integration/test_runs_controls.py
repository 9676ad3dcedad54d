"""Operator controls through real gRPC, on SQLite and PostgreSQL: cancel, pause, resume and retry from a step."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_status import rpc_status

from agentorch.common.v1 import errors_pb2
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from services.common.settings import DatabaseSettings
from tests.support.agents import Script
from tests.support.registry import create_agent, new_org
from tests.support.rpc import bad_request_fields
from tests.support.runs import (
    FINAL,
    Platform,
    all_events,
    checkpoint_step,
    definition,
    engine_of,
    is_event,
    launch,
    platform,
    save,
    step,
    steps_of,
    wait_for_event,
    wait_for_status,
)

COMPLETED = {run_pb2.RUN_STATUS_COMPLETED}
PAUSED = {run_pb2.RUN_STATUS_PAUSED}
S = run_pb2


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org()) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


async def started(p: Platform, count: int = 1) -> None:
    """Wait until the scripted executor has received `count` calls."""
    async with asyncio.timeout(10):
        while len(p.executor.calls) < count:
            await p.executor.started.wait()
            p.executor.started.clear()


async def failed_precondition(call: object) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION, caught.value.details()
    return caught.value


def refused_transition(error: grpc.aio.AioRpcError) -> errors_pb2.InvalidTransition:
    """The typed detail of a refused control, read as a client reads any status detail."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(errors_pb2.InvalidTransition.DESCRIPTOR):
            found = errors_pb2.InvalidTransition()
            detail.Unpack(found)
            return found
    raise AssertionError(f"no InvalidTransition detail in {error.details()!r}")


async def test_a_refused_control_tells_the_client_the_run_s_state_and_the_refused_action(plat: Platform) -> None:
    run = await launch(plat, await save(plat, definition([checkpoint_step("review")])))
    await wait_for_status(plat.runs_stub, run.name, {S.RUN_STATUS_PAUSED})
    checkpoint = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run.open_checkpoints[0]
    resume = await failed_precondition(plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name)))
    detail = refused_transition(resume)
    assert (detail.resource, detail.current_status, detail.status_reason, detail.action) == (
        run.name,
        "paused",
        "checkpoint",
        "resume",
    )
    assert resume.details() == (
        f"run {run.name} is paused (checkpoint); cannot resume it (only a run paused by an operator)"
    )

    await plat.runs_stub.DecideCheckpoint(pb.DecideCheckpointRequest(name=checkpoint, decision=S.DECISION_REJECT))
    again = await failed_precondition(
        plat.runs_stub.DecideCheckpoint(pb.DecideCheckpointRequest(name=checkpoint, decision=S.DECISION_APPROVE))
    )
    assert (refused_transition(again).current_status, refused_transition(again).action) == ("rejected", "decide")
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    cancel = await failed_precondition(plat.runs_stub.CancelRun(pb.CancelRunRequest(name=run.name)))
    assert (refused_transition(cancel).current_status, refused_transition(cancel).action) == ("failed", "cancel")
    after = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
    assert after.last_event_sequence == done.last_event_sequence  # refused: nothing written


async def finished_tasks(p: Platform) -> None:
    tasks = set(engine_of(p.runs)._tasks)
    if tasks:
        await asyncio.wait(tasks, timeout=10)


async def test_cancel_ends_everything_and_only_once(plat: Platform) -> None:
    gate = asyncio.Event()
    plat.executor.scripts["helper"] = Script(gate=gate)
    document = definition(
        [step("work", "agent"), checkpoint_step("review", "Review"), step("next", depends_on=["work"])],
        [step("after")],
    )
    run = await launch(plat, await save(plat, document))
    await started(plat)
    await wait_for_event(plat.runs_stub, run.name, is_event(S.EVENT_TYPE_CHECKPOINT_OPENED, "review"))
    running = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
    assert running.status == S.RUN_STATUS_RUNNING
    checkpoint = running.open_checkpoints[0]

    cancelled = (await plat.runs_stub.CancelRun(pb.CancelRunRequest(name=run.name, reason="no longer needed"))).run
    assert cancelled.status == S.RUN_STATUS_CANCELLED
    assert cancelled.status_reason == "no longer needed"
    assert cancelled.HasField("end_time")
    assert {s.step_id: s.status for s in cancelled.steps} == {
        "work": S.STEP_STATUS_CANCELLED,
        "review": S.STEP_STATUS_CANCELLED,
        "next": S.STEP_STATUS_SKIPPED,
        "after": S.STEP_STATUS_SKIPPED,
    }
    assert list(cancelled.open_checkpoints) == []
    closed = (await plat.runs_stub.GetCheckpoint(pb.GetCheckpointRequest(name=checkpoint))).checkpoint
    assert closed.status == S.CHECKPOINT_STATUS_CLOSED

    await failed_precondition(plat.runs_stub.CancelRun(pb.CancelRunRequest(name=run.name)))
    await failed_precondition(plat.runs_stub.PauseRun(pb.PauseRunRequest(name=run.name)))
    await failed_precondition(plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name)))
    await failed_precondition(
        plat.runs_stub.DecideCheckpoint(pb.DecideCheckpointRequest(name=checkpoint, decision=S.DECISION_APPROVE))
    )

    await finished_tasks(plat)  # the run's end cancels its agent call: it does not wait for the agent's answer
    assert plat.executor.in_flight == 0
    assert not gate.is_set()
    gate.set()
    after = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
    assert after.status == S.RUN_STATUS_CANCELLED
    assert after.last_event_sequence == cancelled.last_event_sequence
    assert steps_of(after)["work"].status == S.STEP_STATUS_CANCELLED
    log = await all_events(plat.runs_stub, run.name)
    assert not [e for e in log if e.type == S.EVENT_TYPE_STEP_SUCCEEDED and e.step_id == "work"]
    assert log[-1].run_status == S.RUN_STATUS_CANCELLED


async def test_pause_starts_nothing_new_and_resume_continues(plat: Platform) -> None:
    gate = asyncio.Event()
    plat.executor.scripts["helper"] = Script(gate=gate)
    run = await launch(plat, await save(plat, definition([step("first", "agent")], [step("second", "agent")])))
    await started(plat)

    paused = (await plat.runs_stub.PauseRun(pb.PauseRunRequest(name=run.name))).run
    assert paused.status == S.RUN_STATUS_PAUSED
    assert paused.status_reason == "operator"
    await failed_precondition(plat.runs_stub.PauseRun(pb.PauseRunRequest(name=run.name)))

    gate.set()  # the running attempt finishes; the next step must not start
    await wait_for_event(plat.runs_stub, run.name, is_event(S.EVENT_TYPE_STEP_SUCCEEDED, "first"))
    held = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
    assert held.status == S.RUN_STATUS_PAUSED
    assert held.status_reason == "operator"
    assert steps_of(held)["first"].status == S.STEP_STATUS_SUCCEEDED
    assert steps_of(held)["second"].status == S.STEP_STATUS_READY
    assert not steps_of(held)["second"].HasField("next_attempt_time")  # not due: nothing will claim it
    assert await engine_of(plat.runs).tick() == 0
    assert [c.step_id for c in plat.executor.calls] == ["first"]

    resumed = (await plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name))).run
    assert resumed.status in (S.RUN_STATUS_RUNNING, S.RUN_STATUS_COMPLETED)  # the engine may finish it first
    assert resumed.status_reason == ""
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == S.RUN_STATUS_COMPLETED
    assert [c.step_id for c in plat.executor.calls] == ["first", "second"]
    await failed_precondition(plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name)))
    await failed_precondition(plat.runs_stub.PauseRun(pb.PauseRunRequest(name=run.name)))


async def test_a_retry_due_while_paused_waits_for_resume(plat: Platform) -> None:
    gate = asyncio.Event()
    plat.executor.scripts["helper"] = Script(gate=gate, failures=1)
    retry = {"max_attempts": 2, "initial_backoff_seconds": 0, "max_backoff_seconds": 0}
    run = await launch(plat, await save(plat, definition([step("flaky", "agent", retry=retry)])))
    await started(plat)
    await plat.runs_stub.PauseRun(pb.PauseRunRequest(name=run.name))
    gate.set()
    await wait_for_event(plat.runs_stub, run.name, is_event(S.EVENT_TYPE_STEP_FAILED, "flaky"))
    held = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
    assert held.status == S.RUN_STATUS_PAUSED
    assert steps_of(held)["flaky"].status == S.STEP_STATUS_READY
    assert not steps_of(held)["flaky"].HasField("next_attempt_time")
    assert await engine_of(plat.runs).tick() == 0
    assert len(plat.executor.calls) == 1

    await plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == S.RUN_STATUS_COMPLETED
    assert plat.executor.keys("flaky") == [f"{run.run_id}/flaky/1", f"{run.run_id}/flaky/2"]


async def test_pausing_a_run_that_waits_on_a_checkpoint_holds_what_the_decision_readies(plat: Platform) -> None:
    document = definition(
        [step("draft", "agent"), checkpoint_step("review", "Review {{ steps.draft.output }}", depends_on=["draft"])],
        [step("publish", "agent")],
    )
    run = await launch(plat, await save(plat, document))
    waiting = await wait_for_status(plat.runs_stub, run.name, PAUSED)
    assert waiting.status_reason == "checkpoint"
    await failed_precondition(plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name)))
    paused = (await plat.runs_stub.PauseRun(pb.PauseRunRequest(name=run.name))).run
    assert paused.status_reason == "operator"

    decide = plat.runs_stub.DecideCheckpoint
    sent_back = await decide(
        pb.DecideCheckpointRequest(name=waiting.open_checkpoints[0], decision=S.DECISION_REQUEST_CHANGES)
    )
    assert sent_back.run.status == S.RUN_STATUS_PAUSED
    assert sent_back.run.status_reason == "operator"
    assert steps_of(sent_back.run)["draft"].status == S.STEP_STATUS_READY
    assert not steps_of(sent_back.run)["draft"].HasField("next_attempt_time")
    assert await engine_of(plat.runs).tick() == 0
    assert len(plat.executor.calls) == 1

    await plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name))
    reopened = await wait_for_status(plat.runs_stub, run.name, PAUSED)
    assert reopened.status_reason == "checkpoint"
    assert plat.executor.keys("draft") == [f"{run.run_id}/draft/1", f"{run.run_id}/draft/2"]
    await plat.runs_stub.PauseRun(pb.PauseRunRequest(name=run.name))
    approved = await decide(pb.DecideCheckpointRequest(name=reopened.open_checkpoints[0], decision=S.DECISION_APPROVE))
    assert steps_of(approved.run)["publish"].status == S.STEP_STATUS_READY
    assert not steps_of(approved.run)["publish"].HasField("next_attempt_time")
    assert await engine_of(plat.runs).tick() == 0
    await plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == S.RUN_STATUS_COMPLETED
    assert [c.step_id for c in plat.executor.calls] == ["draft", "draft", "publish"]


async def test_retry_from_the_failed_step_keeps_earlier_outputs(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(failures=1, retryable=False)
    document = definition([step("prep")], [step("work", "agent")], [step("final", message="{{ steps.work.output }}")])
    run = await launch(plat, await save(plat, document))
    failed = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert failed.status == S.RUN_STATUS_FAILED
    assert steps_of(failed)["final"].status == S.STEP_STATUS_SKIPPED

    retried = (await plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name))).run
    assert retried.status in (S.RUN_STATUS_RUNNING, S.RUN_STATUS_COMPLETED)
    assert not retried.HasField("end_time") or retried.status == S.RUN_STATUS_COMPLETED
    done = await wait_for_status(plat.runs_stub, run.name, COMPLETED)
    states = steps_of(done)
    assert states["work"].attempt == 2
    assert states["work"].idempotency_key == f"{run.run_id}/work/2"
    assert plat.executor.keys("work") == [f"{run.run_id}/work/1", f"{run.run_id}/work/2"]
    assert states["prep"].attempt == 1
    assert states["prep"].output.string_value == "prep done"
    assert states["final"].output.string_value == "helper says: do work"
    log = await all_events(plat.runs_stub, run.name)
    assert [e.sequence for e in log] == list(range(1, len(log) + 1))
    assert len([e for e in log if e.type == S.EVENT_TYPE_STEP_STARTED and e.step_id == "prep"]) == 1
    await failed_precondition(plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name)))


async def test_retry_from_an_earlier_named_step(plat: Platform) -> None:
    await create_agent(plat.registry_stub, plat.org, "worker")
    plat.executor.scripts["worker"] = Script(failures=1, retryable=False)
    document = definition(
        [step("seed")],
        [step("prep", "agent", prompt="prep {{ steps.seed.output }}"), step("side", message="side")],
        [step("work", "agent", agent="worker", prompt="use {{ steps.prep.output }}")],
    )
    run = await launch(plat, await save(plat, document))
    failed = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert failed.status == S.RUN_STATUS_FAILED

    await plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name, from_step="prep"))
    done = await wait_for_status(plat.runs_stub, run.name, COMPLETED)
    states = steps_of(done)
    assert plat.executor.keys("prep") == [f"{run.run_id}/prep/1", f"{run.run_id}/prep/2"]
    assert plat.executor.keys("work") == [f"{run.run_id}/work/1", f"{run.run_id}/work/2"]
    assert (states["seed"].attempt, states["side"].attempt) == (1, 1)  # outputs kept, not run again
    assert states["side"].output.string_value == "side"
    assert states["work"].output.string_value == "worker says: use helper says: prep seed done"
    log = await all_events(plat.runs_stub, run.name)
    starts = [e.step_id for e in log if e.type == S.EVENT_TYPE_STEP_STARTED]
    assert sorted(starts) == sorted(["seed", "prep", "side", "work", "prep", "work"])


async def test_retry_preconditions_and_from_step_validation(plat: Platform) -> None:
    gate = asyncio.Event()
    plat.executor.scripts["helper"] = Script(gate=gate)
    run = await launch(plat, await save(plat, definition([step("work", "agent")], [step("after")])))
    await started(plat)
    await failed_precondition(plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name)))
    await failed_precondition(plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name)))

    await plat.runs_stub.CancelRun(pb.CancelRunRequest(name=run.name))
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name, from_step="nope"))
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(unknown.value) == {"from_step"}
    still = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
    assert still.status == S.RUN_STATUS_CANCELLED

    gate.set()
    await finished_tasks(plat)
    retried = (await plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name))).run  # a cancelled run retries too
    assert retried.status != S.RUN_STATUS_CANCELLED
    done = await wait_for_status(plat.runs_stub, run.name, COMPLETED)
    assert plat.executor.keys("work") == [f"{run.run_id}/work/1", f"{run.run_id}/work/2"]
    assert steps_of(done)["after"].status == S.STEP_STATUS_SUCCEEDED


async def test_at_capacity_the_engine_waits_instead_of_spinning(database: DatabaseSettings) -> None:
    async with platform(database, new_org(), max_concurrency=1) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        gate = asyncio.Event()
        p.executor.scripts["helper"] = Script(gate=gate)
        run = await launch(p, await save(p, definition([step("a", "agent"), step("b", "agent")])))
        await started(p)
        waiting = (await p.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
        assert sorted(s.status for s in waiting.steps) == [S.STEP_STATUS_READY, S.STEP_STATUS_RUNNING]
        engine = engine_of(p.runs)
        handled = await engine.tick()  # (0 if the engine's own tick holds the run at that moment)
        assert handled == 0  # the due step cannot start: nothing handled, so no immediate re-tick, nothing written
        assert (await p.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run.update_time == waiting.update_time
        assert await engine._idle_wait() == engine._settings.idle_wait_seconds
        gate.set()
        done = await wait_for_status(p.runs_stub, run.name, FINAL)
        assert done.status == S.RUN_STATUS_COMPLETED
        assert p.executor.max_in_flight == 1
