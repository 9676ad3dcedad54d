"""Run controls that hold (issue 14, item 8), through real gRPC on SQLite and PostgreSQL: RetryRun gives the full
retry policy again and can restart a completed run from a step, with no spurious status event; failed steps of a
completed run and operator interventions are visible; inactive orchestrations and reused request ids are refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from services.common.settings import DatabaseSettings
from tests.support.agents import Script
from tests.support.registry import create_agent, new_org, struct
from tests.support.rpc import error_info, error_reason
from tests.support.runs import (
    FINAL,
    Platform,
    all_events,
    definition,
    launch,
    platform,
    save,
    step,
    steps_of,
    wait_for_status,
)

S = run_pb2
COMPLETED = {S.RUN_STATUS_COMPLETED}
FAST_RETRY = {"max_attempts": 2, "initial_backoff_seconds": 0, "max_backoff_seconds": 0}


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org(), idle_wait_seconds=0.2) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


def status_changes(log: list[run_pb2.RunEvent]) -> list[tuple[str, str]]:
    return [(e.data["from"], e.data["to"]) for e in log if e.type == S.EVENT_TYPE_RUN_STATUS_CHANGED]


async def refused(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return caught.value


async def run_names(p: Platform) -> list[str]:
    listed = await p.runs_stub.ListRuns(pb.ListRunsRequest(parent=f"organizations/{p.org}"))
    return [r.name for r in listed.runs]


async def test_retry_run_gives_the_step_its_full_retry_policy_again(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(failures=3)  # attempts 1-3 fail, the 4th succeeds
    run = await launch(plat, await save(plat, definition([step("work", "agent", retry=FAST_RETRY)])))
    failed = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert failed.status == S.RUN_STATUS_FAILED
    assert steps_of(failed)["work"].attempt == 2

    await plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == S.RUN_STATUS_COMPLETED  # before issue 14, attempt 3 was the retried step's only one
    assert plat.executor.keys("work") == [f"{run.run_id}/work/{n}" for n in (1, 2, 3, 4)]
    log = await all_events(plat.runs_stub, run.name)
    failures = [e for e in log if e.type == S.EVENT_TYPE_STEP_FAILED]
    assert [int(e.data["attempt"]) for e in failures] == [1, 2, 3]
    assert ["retry_at" in e.data for e in failures] == [True, False, True]  # attempt 3 was retried with backoff


async def test_a_retry_records_no_running_to_running_event(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(failures=1, retryable=False)
    run = await launch(plat, await save(plat, definition([step("prep")], [step("work", "agent")], [step("end")])))
    await wait_for_status(plat.runs_stub, run.name, FINAL)
    retried = (await plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name))).run
    assert retried.status_reason in ("retried from work", "")
    await wait_for_status(plat.runs_stub, run.name, COMPLETED)
    changes = status_changes(await all_events(plat.runs_stub, run.name))
    assert ("running", "running") not in changes
    assert changes == [("pending", "running"), ("running", "failed"), ("failed", "running"), ("running", "completed")]


async def test_a_completed_run_retries_from_a_step_keeping_earlier_outputs(plat: Platform) -> None:
    document = definition(
        [step("prep")],
        [step("work", "agent", prompt="use {{ steps.prep.output }}"), step("side")],
        [step("final", message="final: {{ steps.work.output }}")],
    )
    run = await launch(plat, await save(plat, document))
    first = await wait_for_status(plat.runs_stub, run.name, COMPLETED)
    assert first.operator_interventions == []

    await refused(plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name)), grpc.StatusCode.FAILED_PRECONDITION)
    unchanged = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
    assert unchanged.last_event_sequence == first.last_event_sequence  # refused: nothing written

    retried = (await plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name, from_step="work"))).run
    assert retried.status != S.RUN_STATUS_COMPLETED or retried.HasField("end_time")
    done = await wait_for_status(plat.runs_stub, run.name, COMPLETED)
    states = steps_of(done)
    assert (states["prep"].attempt, states["side"].attempt) == (1, 1)  # earlier and unrelated outputs kept
    assert (states["work"].attempt, states["final"].attempt) == (2, 2)  # the step and everything after it
    assert plat.executor.keys("work") == [f"{run.run_id}/work/1", f"{run.run_id}/work/2"]
    assert states["final"].output.string_value == "final: helper says: use prep done"
    (intervention,) = done.operator_interventions
    assert (intervention.kind, intervention.step_id, intervention.by) == ("retry", "work", "alice@example.com")
    assert intervention.HasField("time")
    log = await all_events(plat.runs_stub, run.name)
    assert [e.step_id for e in log if e.type == S.EVENT_TYPE_OPERATOR_INTERVENTION] == ["work"]
    assert status_changes(log)[-2:] == [("completed", "running"), ("running", "completed")]


async def test_resume_is_recorded_as_an_intervention(plat: Platform) -> None:
    gate = asyncio.Event()
    plat.executor.scripts["helper"] = Script(gate=gate)
    run = await launch(plat, await save(plat, definition([step("a", "agent")], [step("b")])))
    await plat.runs_stub.PauseRun(pb.PauseRunRequest(name=run.name))
    resumed = (await plat.runs_stub.ResumeRun(pb.ResumeRunRequest(name=run.name))).run
    assert [(i.kind, i.step_id) for i in resumed.operator_interventions] == [("resume", "")]
    gate.set()
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert len(done.operator_interventions) == 1


async def test_continue_failures_complete_the_run_with_a_visible_count(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(failures=1, retryable=False)
    document = definition([step("try", "agent", on_failure="continue"), step("fine")], [step("after")])
    run = await launch(plat, await save(plat, document))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == S.RUN_STATUS_COMPLETED
    assert done.failed_steps == 1
    assert done.status_reason == "completed with 1 failed step(s) (on_failure: continue): try"
    clean = await launch(plat, await save(plat, definition([step("only")]), "clean"))
    clean_done = await wait_for_status(plat.runs_stub, clean.name, FINAL)
    assert (clean_done.failed_steps, clean_done.status_reason) == (0, "")


async def test_an_inactive_orchestration_cannot_launch(plat: Platform) -> None:
    name = await save(plat, definition([step("x")]))
    await plat.registry_stub.SetOrchestrationStatus(
        rpb.SetOrchestrationStatusRequest(name=name, status=opb.ORCHESTRATION_STATUS_INACTIVE)
    )
    error = await refused(launch(plat, name), grpc.StatusCode.FAILED_PRECONDITION)
    assert error_reason(error) == "ORCHESTRATION_INACTIVE"
    assert error_info(error).metadata["resource"] == name
    assert "inactive" in (error.details() or "")
    assert await run_names(plat) == []

    await plat.registry_stub.SetOrchestrationStatus(
        rpb.SetOrchestrationStatusRequest(name=name, status=opb.ORCHESTRATION_STATUS_ACTIVE)
    )
    run = await launch(plat, name)
    assert (await wait_for_status(plat.runs_stub, run.name, FINAL)).status == S.RUN_STATUS_COMPLETED


async def test_a_request_id_reused_with_other_parameters_is_refused(plat: Platform) -> None:
    parameters = [{"name": "topic", "type": "string", "required": True}]
    name = await save(plat, definition([step("go", message="{{ params.topic }}")], parameters=parameters))
    first = await launch(plat, name, {"topic": "a"}, request_id="req-1")
    again = await launch(plat, name, {"topic": "a"}, request_id="req-1")
    assert again.run_id == first.run_id  # the same request: the first run

    for inputs, fields in (({"topic": "b"}, {}), ({"topic": "a"}, {"metadata": struct({"k": "v"})})):
        error = await refused(launch(plat, name, inputs, request_id="req-1", **fields), grpc.StatusCode.ALREADY_EXISTS)
        assert error_reason(error) == "REQUEST_ID_REUSED"
        assert error_info(error).metadata["resource"] == first.name
        assert error_info(error).metadata["request_id"] == "req-1"
    assert await run_names(plat) == [first.name]


async def test_concurrent_launches_reusing_a_request_id_give_one_run(plat: Platform) -> None:
    parameters = [{"name": "topic", "type": "string", "required": True}]
    name = await save(plat, definition([step("go", message="{{ params.topic }}")], parameters=parameters))
    results = await asyncio.gather(
        launch(plat, name, {"topic": "a"}, request_id="race"),
        launch(plat, name, {"topic": "b"}, request_id="race"),
        return_exceptions=True,
    )
    runs = [r for r in results if isinstance(r, run_pb2.Run)]
    errors = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(runs) == 1, results
    assert len(errors) == 1, results
    assert errors[0].code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_reason(errors[0]) == "REQUEST_ID_REUSED"
    assert await run_names(plat) == [runs[0].name]


async def test_two_racing_retries_restart_the_run_once(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(failures=1, retryable=False)
    run = await launch(plat, await save(plat, definition([step("work", "agent")])))
    await wait_for_status(plat.runs_stub, run.name, FINAL)
    results = await asyncio.gather(
        plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name)),
        plat.runs_stub.RetryRun(pb.RetryRunRequest(name=run.name)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, pb.RetryRunResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert (len(won), len(lost)) == (1, 1), results
    assert lost[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    done = await wait_for_status(plat.runs_stub, run.name, COMPLETED)
    assert [i.kind for i in done.operator_interventions] == ["retry"]
    assert plat.executor.keys("work") == [f"{run.run_id}/work/1", f"{run.run_id}/work/2"]
