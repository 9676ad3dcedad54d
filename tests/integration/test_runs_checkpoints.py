"""Human checkpoints through real gRPC, on SQLite and PostgreSQL: opening (rendered from earlier outputs), the
approvals inbox, decisions (approve, reject, request_changes) taken exactly once, permissions, and expiry."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.db import create_engine, utcnow
from services.common.settings import DatabaseSettings
from services.runs.store.tables import checkpoints, run_steps
from tests.support.agents import Script
from tests.support.principals import as_member
from tests.support.registry import create_agent, new_org, struct
from tests.support.rpc import bad_request_fields, channel_as, error_reason
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

PAUSED = {run_pb2.RUN_STATUS_PAUSED}
APPROVE, REJECT, CHANGES = run_pb2.DECISION_APPROVE, run_pb2.DECISION_REJECT, run_pb2.DECISION_REQUEST_CHANGES

REVIEW = definition(
    [
        step("draft", "agent", prompt="draft about {{ params.topic }}"),
        checkpoint_step(
            "review",
            "Review {{ params.topic }}",
            depends_on=["draft"],
            context="Draft: {{ steps.draft.output }}",
            deliverables=["{{ steps.draft.output }}", "notes on {{ params.topic }}"],
            assignees=["alice@example.com", "carol@example.com"],  # alice (the default caller) may decide
            due_in_seconds=3600,
        ),
    ],
    [step("publish", message="published {{ steps.review.output.payload.x }} by {{ steps.review.output.decided_by }}")],
    parameters=[{"name": "topic", "type": "string", "required": True}],
)


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org(), idle_wait_seconds=0.2) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


async def paused_at_checkpoint(p: Platform, document: dict[str, Any], slug: str = "flow", **inputs: Any) -> run_pb2.Run:
    run = await launch(p, await save(p, document, slug), inputs)
    return await wait_for_status(p.runs_stub, run.name, PAUSED)


async def decide(
    stub: pb_grpc.RunsServiceStub,
    name: str,
    decision: int,
    comment: str = "",
    payload: dict[str, Any] | None = None,
    *,
    override: str = "",
) -> pb.DecideCheckpointResponse:
    """Decide `name`; `override` (a justification) decides as an admin's override of the assignees."""
    request = pb.DecideCheckpointRequest(
        name=name,
        decision=decision,
        comment=comment,
        payload=struct(payload or {}),
        override=bool(override),
        justification=override,
    )
    response: pb.DecideCheckpointResponse = await stub.DecideCheckpoint(request)
    return response


async def get_checkpoint(stub: pb_grpc.RunsServiceStub, name: str) -> run_pb2.Checkpoint:
    return (await stub.GetCheckpoint(pb.GetCheckpointRequest(name=name))).checkpoint


async def list_names(stub: pb_grpc.RunsServiceStub, parent: str, **filters: Any) -> list[str]:
    reply = await stub.ListCheckpoints(pb.ListCheckpointsRequest(parent=parent, **filters))
    assert reply.next_page_token == ""
    return [c.name for c in reply.checkpoints]


def output_of(run: run_pb2.Run, step_id: str) -> Any:
    return json_format.MessageToDict(steps_of(run)[step_id].output)


async def expire(database: DatabaseSettings, run_id: str, step_id: str, *, step_too: bool = True) -> None:
    """Move a checkpoint's due time into the past, straight in the database (due_in_seconds is at least 60)."""
    engine = create_engine(database, "runs")
    past = utcnow() - dt.timedelta(seconds=5)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                checkpoints.update()
                .where(checkpoints.c.run_id == run_id, checkpoints.c.step_id == step_id)
                .values(due_at=past)
            )
            if step_too:
                await conn.execute(
                    run_steps.update()
                    .where(run_steps.c.run_id == run_id, run_steps.c.step_id == step_id)
                    .values(due_at=past)
                )
    finally:
        await engine.dispose()


async def test_a_checkpoint_opens_pauses_the_run_and_approval_continues_it(plat: Platform) -> None:
    run = await paused_at_checkpoint(plat, REVIEW, topic="ai")
    assert run.status_reason == "checkpoint"
    assert len(run.open_checkpoints) == 1
    name = run.open_checkpoints[0]
    review = steps_of(run)["review"]
    assert review.status == run_pb2.STEP_STATUS_WAITING
    assert review.checkpoint == name
    assert review.attempt == 1
    assert steps_of(run)["publish"].status == run_pb2.STEP_STATUS_PENDING
    assert len(engine_of(plat.runs)._tasks) == 0  # a waiting run holds no task, timer or memory

    checkpoint = await get_checkpoint(plat.runs_stub, name)
    assert checkpoint.run == run.name
    assert checkpoint.organization_slug == plat.org
    assert checkpoint.step_id == "review"
    assert checkpoint.title == "Review ai"
    assert checkpoint.context == "Draft: helper says: draft about ai"
    assert list(checkpoint.deliverables) == ["helper says: draft about ai", "notes on ai"]
    assert list(checkpoint.assignees) == ["alice@example.com", "carol@example.com"]
    assert checkpoint.role == "approver"
    assert checkpoint.status == run_pb2.CHECKPOINT_STATUS_OPEN
    assert checkpoint.on_expiry == "reject"
    due = checkpoint.due_time.ToDatetime() - checkpoint.open_time.ToDatetime()
    assert due == dt.timedelta(seconds=3600)
    assert checkpoint.decision == run_pb2.DECISION_UNSPECIFIED
    assert not checkpoint.HasField("decide_time")

    decided = await decide(plat.runs_stub, name, APPROVE, "looks good", {"x": 7, "tags": ["a"]})
    assert decided.checkpoint.status == run_pb2.CHECKPOINT_STATUS_APPROVED
    assert decided.checkpoint.decision == APPROVE
    assert decided.checkpoint.comment == "looks good"
    assert json_format.MessageToDict(decided.checkpoint.payload) == {"x": 7, "tags": ["a"]}
    assert decided.checkpoint.decided_by == "alice@example.com"
    assert decided.checkpoint.HasField("decide_time")
    opened, closed = decided.checkpoint.open_time.ToDatetime(), decided.checkpoint.decide_time.ToDatetime()
    assert decided.checkpoint.latency_ms == int((closed - opened).total_seconds() * 1000)
    assert decided.run.name == run.name
    assert list(decided.run.open_checkpoints) == []

    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert output_of(done, "review") == {
        "decision": "approve",
        "comment": "looks good",
        "payload": {"x": 7, "tags": ["a"]},
        "decided_by": "alice@example.com",
    }
    assert steps_of(done)["publish"].output.string_value == "published 7 by alice@example.com"
    log = await all_events(plat.runs_stub, run.name)
    kinds = [e.type for e in log if e.step_id == "review"]
    assert kinds == [
        run_pb2.EVENT_TYPE_CHECKPOINT_OPENED,
        run_pb2.EVENT_TYPE_CHECKPOINT_DECIDED,
        run_pb2.EVENT_TYPE_STEP_SUCCEEDED,
    ]
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await decide(plat.runs_stub, name, REJECT)
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert (await get_checkpoint(plat.runs_stub, name)).status == run_pb2.CHECKPOINT_STATUS_APPROVED


async def test_reject_fails_the_step_and_the_run(plat: Platform) -> None:
    run = await paused_at_checkpoint(plat, REVIEW, topic="ai")
    name = run.open_checkpoints[0]
    decided = await decide(plat.runs_stub, name, REJECT, "not good enough")
    assert decided.checkpoint.status == run_pb2.CHECKPOINT_STATUS_REJECTED
    assert decided.run.status == run_pb2.RUN_STATUS_FAILED
    states = {s.step_id: s.status for s in decided.run.steps}
    assert states == {
        "draft": run_pb2.STEP_STATUS_SUCCEEDED,
        "review": run_pb2.STEP_STATUS_FAILED,
        "publish": run_pb2.STEP_STATUS_SKIPPED,
    }
    assert "checkpoint rejected: not good enough" in steps_of(decided.run)["review"].error
    assert "review" in decided.run.status_reason
    assert output_of(decided.run, "review")["decision"] == "reject"
    with pytest.raises(grpc.aio.AioRpcError) as again:
        await decide(plat.runs_stub, name, APPROVE)
    assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_request_changes_reruns_the_dependencies_and_opens_a_new_checkpoint(plat: Platform) -> None:
    run = await paused_at_checkpoint(plat, REVIEW, topic="ai")
    first = run.open_checkpoints[0]
    decided = await decide(plat.runs_stub, first, CHANGES, "more detail please")
    assert decided.checkpoint.status == run_pb2.CHECKPOINT_STATUS_CHANGES_REQUESTED
    assert decided.checkpoint.comment == "more detail please"

    reopened = await wait_for_event(
        plat.runs_stub,
        run.name,
        lambda e: e.type == run_pb2.EVENT_TYPE_CHECKPOINT_OPENED and e.data["checkpoint"] != first.rsplit("/", 1)[1],
    )
    again = await wait_for_status(plat.runs_stub, run.name, PAUSED)
    assert len(again.open_checkpoints) == 1
    second = again.open_checkpoints[0]
    assert second != first
    assert second.endswith(reopened.data["checkpoint"])
    assert steps_of(again)["draft"].attempt == 2
    assert steps_of(again)["review"].attempt == 2
    assert steps_of(again)["review"].checkpoint == second
    assert plat.executor.keys("draft") == [f"{run.run_id}/draft/1", f"{run.run_id}/draft/2"]
    assert (await get_checkpoint(plat.runs_stub, first)).status == run_pb2.CHECKPOINT_STATUS_CHANGES_REQUESTED
    assert (await get_checkpoint(plat.runs_stub, second)).status == run_pb2.CHECKPOINT_STATUS_OPEN

    await decide(plat.runs_stub, second, APPROVE, payload={"x": 2})
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert steps_of(done)["publish"].output.string_value == "published 2 by alice@example.com"
    statuses = [
        c.status for c in (await plat.runs_stub.ListCheckpoints(pb.ListCheckpointsRequest(parent=run.name))).checkpoints
    ]
    assert statuses == [run_pb2.CHECKPOINT_STATUS_CHANGES_REQUESTED, run_pb2.CHECKPOINT_STATUS_APPROVED]


async def test_concurrent_decisions_take_effect_exactly_once(plat: Platform) -> None:
    run = await paused_at_checkpoint(plat, REVIEW, topic="ai")
    name = run.open_checkpoints[0]
    results = await asyncio.gather(
        decide(plat.runs_stub, name, APPROVE, payload={"x": 1}),
        decide(plat.runs_stub, name, REJECT),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, pb.DecideCheckpointResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1, results
    assert len(lost) == 1, results
    assert lost[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    decided = (await get_checkpoint(plat.runs_stub, name)).decision
    assert decided == won[0].checkpoint.decision
    log = await all_events(plat.runs_stub, run.name)
    assert len([e for e in log if e.type == run_pb2.EVENT_TYPE_CHECKPOINT_DECIDED]) == 1
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    expected = run_pb2.RUN_STATUS_COMPLETED if decided == APPROVE else run_pb2.RUN_STATUS_FAILED
    assert done.status == expected


async def test_who_may_see_and_decide_a_checkpoint(plat: Platform) -> None:
    document = definition(
        [checkpoint_step("ops", "Operators decide", role="operator"), checkpoint_step("boss", "Approvers decide")]
    )
    run = await paused_at_checkpoint(plat, document)
    ops, boss = steps_of(run)["ops"].checkpoint, steps_of(run)["boss"].checkpoint
    async with (
        channel_as(plat.runs.target, as_member(plat.org, "viewer")) as viewer_channel,
        channel_as(plat.runs.target, as_member(plat.org, "operator", subject="op@example.com")) as operator_channel,
        channel_as(plat.runs.target, as_member(new_org(), "admin")) as stranger_channel,
    ):
        viewer = pb_grpc.RunsServiceStub(viewer_channel)
        operator = pb_grpc.RunsServiceStub(operator_channel)
        stranger = pb_grpc.RunsServiceStub(stranger_channel)

        assert (await get_checkpoint(viewer, boss)).status == run_pb2.CHECKPOINT_STATUS_OPEN
        assert len(await list_names(viewer, f"organizations/{plat.org}")) == 2
        for stub, name in ((viewer, boss), (viewer, ops), (operator, boss)):
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await decide(stub, name, APPROVE)
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED, name

        for call in (
            get_checkpoint(stranger, boss),
            decide(stranger, boss, APPROVE),
            stranger.ListCheckpoints(pb.ListCheckpointsRequest(parent=run.name)),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as hidden:
                await call
            assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as foreign:
            await stranger.ListCheckpoints(pb.ListCheckpointsRequest(parent=f"organizations/{plat.org}"))
        assert foreign.value.code() == grpc.StatusCode.NOT_FOUND

        decided = await decide(operator, ops, APPROVE)
        assert decided.checkpoint.decided_by == "op@example.com"
        assert decided.run.status == run_pb2.RUN_STATUS_PAUSED  # the other checkpoint still waits
        assert list(decided.run.open_checkpoints) == [boss]

    for name in (boss, ops):
        assert (await get_checkpoint(plat.runs_stub, name)).name == name
    await decide(plat.runs_stub, boss, APPROVE)
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED


async def test_parallel_checkpoints_of_one_run_each_have_their_own_id(plat: Platform) -> None:
    document = definition(
        [step("prep")],
        [checkpoint_step("left", "Left {{ steps.prep.output }}"), checkpoint_step("right", "Right")],
        [step("after", message="{{ steps.left.output.decision }}/{{ steps.right.output.decision }}")],
    )
    run = await paused_at_checkpoint(plat, document)
    assert len(run.open_checkpoints) == 2
    assert len(set(run.open_checkpoints)) == 2
    left, right = steps_of(run)["left"].checkpoint, steps_of(run)["right"].checkpoint
    assert {left, right} == set(run.open_checkpoints)
    assert (await get_checkpoint(plat.runs_stub, left)).title == "Left prep done"
    assert len(engine_of(plat.runs)._tasks) == 0

    first = await decide(plat.runs_stub, right, APPROVE)
    assert first.run.status == run_pb2.RUN_STATUS_PAUSED
    assert list(first.run.open_checkpoints) == [left]
    await decide(plat.runs_stub, left, APPROVE)
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert steps_of(done)["after"].output.string_value == "approve/approve"


async def test_the_inbox_filters_and_pages(plat: Platform, database: DatabaseSettings) -> None:
    two = definition(
        [
            checkpoint_step("a", "A", assignees=["bob@example.com"], due_in_seconds=60),
            checkpoint_step("b", "B", assignees=["carol@example.com"], role="admin", due_in_seconds=120),
        ]
    )
    one = definition([checkpoint_step("c", "C", assignees=["bob@example.com", "carol@example.com"], role="operator")])
    first = await paused_at_checkpoint(plat, two, "two")
    second = await paused_at_checkpoint(plat, one, "one")
    a, b = steps_of(first)["a"].checkpoint, steps_of(first)["b"].checkpoint
    c = steps_of(second)["c"].checkpoint
    org = f"organizations/{plat.org}"
    stub = plat.runs_stub

    everything = await list_names(stub, org)
    assert everything == [*sorted([a, b], key=lambda n: n.rsplit("/", 1)[1]), c]  # oldest first, then by id
    assert sorted(await list_names(stub, first.name)) == sorted([a, b])
    assert await list_names(stub, second.name) == [c]
    assert await list_names(stub, org, status=run_pb2.CHECKPOINT_STATUS_OPEN) == everything
    assert await list_names(stub, org, role="admin") == [b]
    assert await list_names(stub, org, role="operator") == [c]
    assert await list_names(stub, org, assignee="bob@example.com") == [a, c]
    assert await list_names(stub, org, assignee="carol@example.com", role="admin") == [b]
    assert await list_names(stub, org, assignee="dave@example.com") == []
    assert await list_names(stub, org, overdue=True) == []

    await expire(database, first.run_id, "a", step_too=False)  # overdue, but not yet expired by the engine
    assert await list_names(stub, org, overdue=True) == [a]
    assert await list_names(stub, second.name, overdue=True) == []

    await decide(stub, c, APPROVE, override="the inbox test decides as an admin")
    assert await list_names(stub, org, status=run_pb2.CHECKPOINT_STATUS_APPROVED) == [c]
    assert await list_names(stub, org, status=run_pb2.CHECKPOINT_STATUS_OPEN) == everything[:2]

    paged: list[str] = []
    token = ""
    for _ in range(10):
        reply = await stub.ListCheckpoints(pb.ListCheckpointsRequest(parent=org, page_size=1, page_token=token))
        paged += [x.name for x in reply.checkpoints]
        token = reply.next_page_token
        if not token:
            break
    assert paged == everything
    bob_page = await stub.ListCheckpoints(
        pb.ListCheckpointsRequest(parent=org, page_size=1, assignee="bob@example.com")
    )
    assert [x.name for x in bob_page.checkpoints] == [a]
    rest = await stub.ListCheckpoints(
        pb.ListCheckpointsRequest(
            parent=org, page_size=1, assignee="bob@example.com", page_token=bob_page.next_page_token
        )
    )
    assert [x.name for x in rest.checkpoints] == [c]
    assert rest.next_page_token == ""

    first_page = await stub.ListCheckpoints(pb.ListCheckpointsRequest(parent=org, page_size=1))
    with pytest.raises(grpc.aio.AioRpcError) as replayed:
        await stub.ListCheckpoints(
            pb.ListCheckpointsRequest(parent=org, page_size=1, role="admin", page_token=first_page.next_page_token)
        )
    assert replayed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(replayed.value) == {"page_token"}
    assert error_reason(replayed.value) == "INVALID_PAGE_TOKEN"


async def test_the_assignee_filter_finds_matches_beyond_the_first_rows(plat: Platform) -> None:
    crowd = definition([checkpoint_step(f"c{i:02d}", "Crowd", assignees=["alice@example.com"]) for i in range(45)])
    await paused_at_checkpoint(plat, crowd, "crowd")
    lone = await paused_at_checkpoint(
        plat, definition([checkpoint_step("mine", "Bob's", assignees=["bob@example.com"])]), "lone"
    )
    reply = await plat.runs_stub.ListCheckpoints(
        pb.ListCheckpointsRequest(parent=f"organizations/{plat.org}", assignee="bob@example.com", page_size=1)
    )
    assert [c.name for c in reply.checkpoints] == list(lone.open_checkpoints)
    assert reply.next_page_token == ""
    alices: list[str] = []
    token = ""
    for _ in range(50):
        page = await plat.runs_stub.ListCheckpoints(
            pb.ListCheckpointsRequest(
                parent=f"organizations/{plat.org}", assignee="alice@example.com", page_size=20, page_token=token
            )
        )
        alices += [c.name for c in page.checkpoints]
        token = page.next_page_token
        if not token:
            break
    assert len(alices) == len(set(alices)) == 45


@pytest.mark.parametrize("on_expiry", ["approve", "reject", "fail_run"])
async def test_expiry_applies_on_expiry(plat: Platform, database: DatabaseSettings, on_expiry: str) -> None:
    document = definition(
        [
            step("prep"),
            checkpoint_step(
                "review", "Review", depends_on=["prep"], due_in_seconds=60, on_expiry=on_expiry, on_failure="continue"
            ),
        ],
        [step("after", message="{{ steps.review.output.decision }} by {{ steps.review.output.decided_by }}")],
    )
    run = await paused_at_checkpoint(plat, document)
    name = run.open_checkpoints[0]
    assert (await get_checkpoint(plat.runs_stub, name)).on_expiry == on_expiry
    await expire(database, run.run_id, "review")
    engine_of(plat.runs).wake()
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    checkpoint = await get_checkpoint(plat.runs_stub, name)
    assert checkpoint.status == run_pb2.CHECKPOINT_STATUS_EXPIRED
    assert checkpoint.decided_by == "system"
    assert checkpoint.HasField("decide_time")
    assert list(done.open_checkpoints) == []
    review, after = steps_of(done)["review"], steps_of(done)["after"]
    decided = [e for e in await all_events(plat.runs_stub, run.name) if e.type == run_pb2.EVENT_TYPE_CHECKPOINT_DECIDED]
    assert len(decided) == 1
    assert decided[0].data["expired"] is True
    if on_expiry == "approve":
        assert done.status == run_pb2.RUN_STATUS_COMPLETED
        assert checkpoint.decision == APPROVE
        assert review.status == run_pb2.STEP_STATUS_SUCCEEDED
        assert output_of(done, "review") == {
            "decision": "approve",
            "comment": "",
            "payload": {},
            "decided_by": "system",
        }
        assert after.output.string_value == "approve by system"
    elif on_expiry == "reject":  # the step fails; on_failure continue lets the run go on
        assert done.status == run_pb2.RUN_STATUS_COMPLETED
        assert checkpoint.decision == REJECT
        assert review.status == run_pb2.STEP_STATUS_FAILED
        assert review.error == "checkpoint expired"
        assert after.output.string_value == "reject by system"
    else:  # fail_run ends the run whatever the step's on_failure says
        assert done.status == run_pb2.RUN_STATUS_FAILED
        assert "fail_run" in done.status_reason
        assert review.status == run_pb2.STEP_STATUS_FAILED
        assert after.status == run_pb2.STEP_STATUS_SKIPPED
    with pytest.raises(grpc.aio.AioRpcError) as late:
        await decide(plat.runs_stub, name, APPROVE)
    assert late.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_escalation_moves_the_checkpoint_to_a_higher_role_once(
    plat: Platform, database: DatabaseSettings
) -> None:
    document = definition(
        [checkpoint_step("review", "Review", due_in_seconds=3600, on_expiry="escalate", escalate_to="admin")]
    )
    run = await paused_at_checkpoint(plat, document)
    name = run.open_checkpoints[0]
    assert (await get_checkpoint(plat.runs_stub, name)).role == "approver"
    await expire(database, run.run_id, "review")
    engine_of(plat.runs).wake()
    await wait_for_event(plat.runs_stub, run.name, lambda e: e.type == run_pb2.EVENT_TYPE_CHECKPOINT_ESCALATED)
    escalated = await get_checkpoint(plat.runs_stub, name)
    assert (escalated.status, escalated.role, escalated.on_expiry) == (
        run_pb2.CHECKPOINT_STATUS_OPEN,
        "admin",
        "reject",
    )
    assert escalated.due_time.ToDatetime(tzinfo=dt.UTC) > utcnow() + dt.timedelta(minutes=50)
    await expire(database, run.run_id, "review")  # a second expiry rejects
    engine_of(plat.runs).wake()
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_FAILED
    assert (await get_checkpoint(plat.runs_stub, name)).status == run_pb2.CHECKPOINT_STATUS_EXPIRED


async def test_a_human_decision_before_the_engine_sees_the_expiry_wins(
    plat: Platform, database: DatabaseSettings
) -> None:
    document = definition([checkpoint_step("review", "Review", due_in_seconds=60, on_expiry="reject")], [step("after")])
    run = await paused_at_checkpoint(plat, document)
    name = run.open_checkpoints[0]
    decided = await decide(plat.runs_stub, name, APPROVE)
    await expire(database, run.run_id, "review", step_too=False)
    engine_of(plat.runs).wake()
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    checkpoint = await get_checkpoint(plat.runs_stub, name)
    assert checkpoint.status == run_pb2.CHECKPOINT_STATUS_APPROVED
    assert checkpoint.decided_by == decided.checkpoint.decided_by == "alice@example.com"


async def test_a_checkpoint_that_cannot_render_fails_its_step(plat: Platform) -> None:
    plat.executor.scripts["helper"] = Script(failures=1, retryable=False)
    document = definition(
        [
            step("draft", "agent", on_failure="continue"),
            checkpoint_step("review", "{{ steps.draft.output.title }}", depends_on=["draft"]),
        ]
    )
    run = await launch(plat, await save(plat, document))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_FAILED
    assert steps_of(done)["review"].status == run_pb2.STEP_STATUS_FAILED
    assert list(done.open_checkpoints) == []
    listed = await plat.runs_stub.ListCheckpoints(pb.ListCheckpointsRequest(parent=run.name))
    assert list(listed.checkpoints) == []
    await wait_for_event(plat.runs_stub, run.name, is_event(run_pb2.EVENT_TYPE_STEP_FAILED, "review"))
