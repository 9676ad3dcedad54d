"""Template limits through real gRPC, on SQLite and PostgreSQL: a template certain to exceed them is refused when
the definition is saved or launched ad hoc (nothing written); one whose cost comes from a launch input fails its
step at run time with the limit error, while the replica keeps serving other runs and its health check."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from services.common.settings import DatabaseSettings
from services.runs.app import engine as engine_module
from services.runs.config import TemplatesConfig
from tests.support.registry import create_agent, struct
from tests.support.rpc import bad_request_fields, error_reason
from tests.support.runs import (
    FINAL,
    Platform,
    all_events,
    definition,
    launch,
    launch_ad_hoc,
    platform,
    save,
    step,
    steps_of,
    wait_for_status,
)

NESTED = "{% for a in range(100000) %}{% for b in range(4000) %}{% endfor %}{% endfor %}"
FROM_INPUT = "{% for a in range(params.n) %}{% for b in range(params.n) %}{% endfor %}{% endfor %}"
ITERATIONS = "template exceeds 100000 loop iterations"


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, f"org-{uuid.uuid4().hex[:10]}") as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


def refused(error: grpc.aio.AioRpcError, field: str) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error_reason(error) == "VALIDATION_FAILED"
    assert field in bad_request_fields(error), bad_request_fields(error)
    assert "loops run at least 400100000 iterations" in (error.details() or "")


async def test_a_definition_certain_to_exceed_the_limits_is_refused_and_nothing_is_written(plat: Platform) -> None:
    document = definition([step("hello"), step("slow", message=NESTED)])
    with pytest.raises(grpc.aio.AioRpcError) as created:
        await save(plat, document, "slow")
    refused(created.value, "version.definition.phases[0].steps[1].message")
    listed = await plat.registry_stub.ListOrchestrations(
        rpb.ListOrchestrationsRequest(parent=f"organizations/{plat.org}/agents/-")
    )
    assert list(listed.orchestrations) == []

    name = await save(plat, definition([step("hello")]), "fine")
    with pytest.raises(grpc.aio.AioRpcError) as versioned:
        await plat.registry_stub.CreateOrchestrationVersion(
            rpb.CreateOrchestrationVersionRequest(
                parent=name, version=opb.OrchestrationVersion(definition=struct(document))
            )
        )
    refused(versioned.value, "version.definition.phases[0].steps[1].message")
    got = await plat.registry_stub.GetOrchestration(rpb.GetOrchestrationRequest(name=name))
    assert got.orchestration.current_version == 1

    with pytest.raises(grpc.aio.AioRpcError) as launched:
        await launch_ad_hoc(plat.runs_stub, plat.org, document)
    refused(launched.value, "ad_hoc.definition.phases[0].steps[1].message")
    runs = await plat.runs_stub.ListRuns(pb.ListRunsRequest(parent=f"organizations/{plat.org}"))
    assert list(runs.runs) == []


async def test_a_loop_sized_by_a_launch_input_fails_its_step_while_the_replica_keeps_serving(plat: Platform) -> None:
    retry = {"max_attempts": 3, "initial_backoff_seconds": 0}
    slow_definition = definition(
        [step("slow", message=FROM_INPUT, retry=retry)], parameters=[{"name": "n", "type": "integer"}]
    )
    quick_definition = definition([step("hello", message="Hello {{ params.who }}")], [step("after")])
    quick_definition["parameters"] = [{"name": "who", "type": "string"}]
    slow_name = await save(plat, slow_definition, "slow")  # its cost depends on the launch: accepted
    quick_name = await save(plat, quick_definition, "quick")

    slow = await launch(plat, slow_name, {"n": 100000})
    quick = await launch(plat, quick_name, {"who": "world"})
    async with grpc.aio.insecure_channel(plat.runs.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        answered, slow_done, quick_done = await asyncio.gather(
            health.Check(health_pb2.HealthCheckRequest(), timeout=10),
            wait_for_status(plat.runs_stub, slow.name, FINAL),
            wait_for_status(plat.runs_stub, quick.name, FINAL),
        )
        assert answered.status == health_pb2.HealthCheckResponse.SERVING
        after = await health.Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert after.status == health_pb2.HealthCheckResponse.SERVING

    assert quick_done.status == run_pb2.RUN_STATUS_COMPLETED
    assert steps_of(quick_done)["hello"].output.string_value == "Hello world"
    assert slow_done.status == run_pb2.RUN_STATUS_FAILED
    failed = steps_of(slow_done)["slow"]
    assert failed.attempt == 1  # a limit is not retried: another attempt would exceed it again
    assert failed.error.startswith(ITERATIONS)
    events = [e for e in await all_events(plat.runs_stub, slow.name) if e.type == run_pb2.EVENT_TYPE_STEP_FAILED]
    assert [(e.step_id, e.data["final"]) for e in events] == [("slow", True)]
    assert events[0].data["error"].startswith(ITERATIONS)


async def test_prompts_inputs_and_checkpoint_texts_render_within_the_limits(plat: Platform) -> None:
    keep_going = {"on_failure": "continue"}
    document = definition(
        [
            step("ask", "agent", prompt=FROM_INPUT, **keep_going),
            step("note", inputs={"big": FROM_INPUT}, message="{{ inputs.big }}", **keep_going),
            {"id": "review", "kind": "checkpoint", "checkpoint": {"title": FROM_INPUT}, **keep_going},
        ],
        parameters=[{"name": "n", "type": "integer"}],
    )
    run = await launch(plat, await save(plat, document), {"n": 100000})
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    steps = steps_of(done)
    assert {sid: (s.status, s.error.startswith(ITERATIONS)) for sid, s in steps.items()} == {
        sid: (run_pb2.STEP_STATUS_FAILED, True) for sid in ("ask", "note", "review")
    }
    assert plat.executor.calls == []  # the agent was never called with a prompt that could not be rendered


async def test_the_limits_are_the_runs_services_settings(database: DatabaseSettings) -> None:
    templates = TemplatesConfig(max_iterations=50, max_output_chars=1_000, max_seconds=5)
    async with platform(database, f"org-{uuid.uuid4().hex[:10]}", templates=templates) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        document = definition(
            [step("count", message="{% for i in range(params.n) %}.{% endfor %}")],
            parameters=[{"name": "n", "type": "integer"}],
        )
        name = await save(p, document)
        within, over = await launch(p, name, {"n": 50}), await launch(p, name, {"n": 51})
        within_done = await wait_for_status(p.runs_stub, within.name, FINAL)
        over_done = await wait_for_status(p.runs_stub, over.name, FINAL)
    assert steps_of(within_done)["count"].output.string_value == "." * 50
    assert steps_of(over_done)["count"].error == "range() of 51 numbers exceeds the limit of 50 loop iterations"


async def test_a_transaction_stops_starting_threaded_renders_once_they_took_long_enough(
    plat: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow template must not hold the claimed runs' locks (the write lock, on SQLite) for long: once a tick's
    threaded renders took TICK_RENDER_SECONDS, the steps left wait for the next transaction."""
    monkeypatch.setattr(engine_module, "TICK_RENDER_SECONDS", 1e-9)  # one threaded render per transaction
    loop = "{% for i in range(3) %}{{ i }}{% endfor %}"
    run = await launch(plat, await save(plat, definition([step("a", message=loop), step("b", message=loop)])))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert {sid: s.output.string_value for sid, s in steps_of(done).items()} == {"a": "012", "b": "012"}
    written = {
        e.step_id: e.event_time.ToDatetime()
        for e in await all_events(plat.runs_stub, run.name)
        if e.type == run_pb2.EVENT_TYPE_STEP_SUCCEEDED
    }
    assert written["a"] != written["b"]  # two transactions (one, before the allowance existed)
