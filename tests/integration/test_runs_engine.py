"""The runs engine through real gRPC, on SQLite and PostgreSQL: launch, DAG order, parallelism, retries, failure
policies, timeouts, pinning and idempotency."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from services.common.settings import DatabaseSettings
from tests.support.agents import Script
from tests.support.registry import create_agent, struct
from tests.support.rpc import bad_request_fields, error_reason
from tests.support.runs import FINAL, Platform, definition, launch, platform, save, step, wait_for_status

COMPLETED = {run_pb2.RUN_STATUS_COMPLETED}


def org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


async def events(p: Platform, name: str) -> list[run_pb2.RunEvent]:
    return list((await p.runs_stub.ListRunEvents(pb.ListRunEventsRequest(name=name, page_size=1000))).events)


@pytest.fixture
async def plat(database: DatabaseSettings) -> Any:
    async with platform(database, org()) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


async def test_built_in_steps_run_in_order_and_complete(plat: Platform) -> None:
    document = definition(
        [step("hello", message="Hello {{ params.who }}"), step("wait", "noop")],
        [step("summary", "template", template="{{ steps.hello.output }}!", depends_on=[])],
        parameters=[{"name": "who", "type": "string", "required": True}],
    )
    run = await launch(plat, await save(plat, document), {"who": "world"})
    assert run.status in (run_pb2.RUN_STATUS_PENDING, run_pb2.RUN_STATUS_RUNNING, run_pb2.RUN_STATUS_COMPLETED)
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    outputs = {s.step_id: s.output.string_value for s in done.steps}
    assert outputs["hello"] == "Hello world"
    assert outputs["summary"] == "Hello world!"
    log = await events(plat, run.name)
    assert [e.sequence for e in log] == list(range(1, len(log) + 1))
    assert log[0].type == run_pb2.EVENT_TYPE_RUN_CREATED
    assert log[-1].run_status == run_pb2.RUN_STATUS_COMPLETED
    started = [e.step_id for e in log if e.type == run_pb2.EVENT_TYPE_STEP_STARTED]
    assert started.index("summary") > started.index("hello")
    assert started.index("summary") > started.index("wait")


async def test_agent_steps_of_a_phase_run_in_parallel_and_respect_dependencies(plat: Platform) -> None:
    gate = asyncio.Event()
    plat.executor.scripts["helper"] = Script(gate=gate)
    document = definition([step("a", "agent"), step("b", "agent"), step("c", "agent", depends_on=["a", "b"])])
    run = await launch(plat, await save(plat, document))
    async with asyncio.timeout(10):
        while plat.executor.in_flight < 2:
            await plat.executor.started.wait()
            plat.executor.started.clear()
    assert {c.step_id for c in plat.executor.calls} == {"a", "b"}
    gate.set()
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert plat.executor.max_in_flight == 2
    assert [c.step_id for c in plat.executor.calls][-1] == "c"
    assert {s.step_id: s.output.string_value for s in done.steps}["c"] == "helper says: do c"


async def test_retries_use_new_idempotency_keys_then_succeed(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(failures=2)
    retry = {"max_attempts": 3, "initial_backoff_seconds": 0, "max_backoff_seconds": 0}
    run = await launch(plat, await save(plat, definition([step("flaky", "agent", retry=retry)])))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert done.steps[0].attempt == 3
    assert plat.executor.keys("flaky") == [f"{run.run_id}/flaky/{n}" for n in (1, 2, 3)]
    failures = [e for e in await events(plat, run.name) if e.type == run_pb2.EVENT_TYPE_STEP_FAILED]
    assert len(failures) == 2
    assert all("retry_at" in e.data for e in failures)


async def test_final_failure_fails_the_run_and_skips_the_rest(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(failures=5, retryable=False)
    retry = {"max_attempts": 3, "initial_backoff_seconds": 0}
    document = definition([step("doomed", "agent", retry=retry)], [step("later")])
    run = await launch(plat, await save(plat, document))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_FAILED
    assert "doomed" in done.status_reason
    states = {s.step_id: s.status for s in done.steps}
    assert states == {"doomed": run_pb2.STEP_STATUS_FAILED, "later": run_pb2.STEP_STATUS_SKIPPED}
    assert len(plat.executor.keys("doomed")) == 1  # not retryable: one attempt


async def test_on_failure_continue_lets_the_run_complete(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(failures=1, retryable=False)
    document = definition([step("optional", "agent", on_failure="continue")], [step("after")])
    run = await launch(plat, await save(plat, document))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert {s.step_id: s.status for s in done.steps}["optional"] == run_pb2.STEP_STATUS_FAILED


async def test_timeouts_fail_the_attempt(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(hang=True)
    run = await launch(plat, await save(plat, definition([step("slow", "agent", timeout_seconds=0.2)])))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_FAILED
    assert "timed out after 0.2s" in done.steps[0].error


async def test_a_run_is_pinned_to_the_version_it_launched_with(plat: Platform) -> None:
    name = await save(plat, definition([step("greet", message="v1")]))
    run = await launch(plat, name)
    await plat.registry_stub.CreateOrchestrationVersion(
        rpb.CreateOrchestrationVersionRequest(
            parent=name, version=opb.OrchestrationVersion(definition=struct(definition([step("greet", message="v2")])))
        )
    )
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.origin == f"{name}/versions/1"
    assert done.steps[0].output.string_value == "v1"
    second = await launch(plat, name)
    assert second.origin == f"{name}/versions/2"
    pinned = await launch(plat, name, orchestration_version=1)
    assert pinned.origin == f"{name}/versions/1"


async def test_request_id_makes_launch_idempotent(plat: Platform) -> None:
    name = await save(plat, definition([step("once")]))
    first, second = await asyncio.gather(launch(plat, name, request_id="req-1"), launch(plat, name, request_id="req-1"))
    assert first.run_id == second.run_id
    third = await launch(plat, name, request_id="req-2")
    assert third.run_id != first.run_id
    listed = await plat.runs_stub.ListRuns(pb.ListRunsRequest(parent=f"organizations/{plat.org}"))
    assert len(listed.runs) == 2


@pytest.mark.parametrize(
    ("inputs", "fields"),
    [
        ({}, {"prompt_inputs.topic"}),
        ({"topic": 3}, {"prompt_inputs.topic"}),
        ({"topic": "x", "colour": "red"}, {"prompt_inputs.colour"}),
        ({"topic": "x", "depth": 7}, {"prompt_inputs.depth"}),
        ({"topic": "x", "depth": 1.5}, {"prompt_inputs.depth"}),
    ],
)
async def test_bad_inputs_name_the_parameter_and_create_nothing(
    plat: Platform, inputs: dict[str, Any], fields: set[str]
) -> None:
    parameters = [
        {"name": "topic", "type": "string", "required": True},
        {"name": "depth", "type": "integer", "default": 2, "enum": [1, 2, 3]},
    ]
    name = await save(plat, definition([step("go", message="{{ params.topic }}")], parameters=parameters))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await launch(plat, name, inputs)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(caught.value) == fields
    listed = await plat.runs_stub.ListRuns(pb.ListRunsRequest(parent=f"organizations/{plat.org}"))
    assert list(listed.runs) == []


async def test_defaults_are_applied(plat: Platform) -> None:
    parameters = [{"name": "depth", "type": "integer", "default": 2}]
    run = await launch(
        plat, await save(plat, definition([step("go", message="{{ params.depth }}")], parameters=parameters))
    )
    assert run.prompt_inputs["depth"] == 2
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.steps[0].output.string_value == "2"


async def test_archived_orchestrations_cannot_launch(plat: Platform) -> None:
    name = await save(plat, definition([step("x")]))
    await plat.registry_stub.SetOrchestrationStatus(
        rpb.SetOrchestrationStatusRequest(name=name, status=opb.ORCHESTRATION_STATUS_ARCHIVED)
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await launch(plat, name)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_ad_hoc_launch_and_its_validation(plat: Platform) -> None:
    good = pb.AdHocDefinition(definition=struct(definition([step("adhoc", message="ad hoc!")])))
    run = (await plat.runs_stub.CreateRun(pb.CreateRunRequest(parent=f"organizations/{plat.org}", ad_hoc=good))).run
    assert run.origin_type == run_pb2.ORIGIN_TYPE_AD_HOC
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.steps[0].output.string_value == "ad hoc!"
    bad = pb.AdHocDefinition(definition=struct(definition([step("x", "teleport")])))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plat.runs_stub.CreateRun(pb.CreateRunRequest(parent=f"organizations/{plat.org}", ad_hoc=bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ad_hoc.definition.phases[0].steps[0].kind" in bad_request_fields(caught.value)


async def test_unknown_agent_is_rejected_at_launch(plat: Platform) -> None:
    document = definition([step("call", "agent", agent="ghost")])
    bad = pb.AdHocDefinition(definition=struct(document))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plat.runs_stub.CreateRun(pb.CreateRunRequest(parent=f"organizations/{plat.org}", ad_hoc=bad))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ghost" in (caught.value.details() or "")


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"parent": "orgs/x", "orchestration": "o"}, "parent"),
        ({"parent": "organizations/{org}"}, "source"),
        (
            {"parent": "organizations/{org}", "orchestration": "organizations/elsewhere/agents/a/orchestrations/b"},
            "orchestration",
        ),
        (
            {"parent": "organizations/{org}", "plan": "organizations/{org}/plans/1", "orchestration_version": 2},
            "orchestration_version",
        ),
        ({"parent": "organizations/{org}", "plan": "organizations/other/plans/1"}, "plan"),
        (
            {
                "parent": "organizations/{org}",
                "orchestration": "organizations/{org}/agents/a/orchestrations/b",
                "request_id": "x" * 200,
            },
            "request_id",
        ),
        (
            {
                "parent": "organizations/{org}",
                "orchestration": "organizations/{org}/agents/a/orchestrations/b",
                "orchestration_version": -1,
            },
            "orchestration_version",
        ),
    ],
)
async def test_malformed_launches_name_the_field_and_create_nothing(
    plat: Platform, request_fields: dict[str, Any], field: str
) -> None:
    fields = {k: v.replace("{org}", plat.org) if isinstance(v, str) else v for k, v in request_fields.items()}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await plat.runs_stub.CreateRun(pb.CreateRunRequest(**fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in bad_request_fields(caught.value)
    assert error_reason(caught.value) == "VALIDATION_FAILED"
    listed = await plat.runs_stub.ListRuns(pb.ListRunsRequest(parent=f"organizations/{plat.org}"))
    assert list(listed.runs) == []
