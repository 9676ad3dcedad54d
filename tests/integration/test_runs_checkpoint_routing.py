"""Checkpoint routing, the inbox, reminders and escalation chains through real gRPC, on SQLite and PostgreSQL
(issue 14 items 2 and 7): who may decide (assignees, groups, the admin override), ReassignCheckpoint and
ExtendCheckpoint (audited, open checkpoints only), the inbox filters and due-time order, the timers, and races."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import sqlalchemy as sa

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.db import create_engine, utcnow
from services.common.settings import DatabaseSettings
from services.runs.store.tables import checkpoint_assignees, checkpoints, run_steps
from tests.support.principals import as_member
from tests.support.registry import create_agent, new_org, struct
from tests.support.rpc import bad_request_fields, channel_as, error_info, error_reason
from tests.support.runs import (
    FINAL,
    Platform,
    all_events,
    checkpoint_step,
    definition,
    launch,
    platform,
    save,
    step,
    steps_of,
    wait_for_event,
    wait_for_status,
)

PAUSED = {run_pb2.RUN_STATUS_PAUSED}
APPROVE, REJECT = run_pb2.DECISION_APPROVE, run_pb2.DECISION_REJECT
E = run_pb2
ROUTED = definition(
    [checkpoint_step("review", "Review", assignees=["Bob@Example.com", "group:legal"], due_in_seconds=3600)],
    [step("after")],
)


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org(), idle_wait_seconds=0.2) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


async def open_checkpoint(p: Platform, document: dict[str, Any], slug: str = "flow") -> tuple[run_pb2.Run, str]:
    run = await launch(p, await save(p, document, slug))
    run = await wait_for_status(p.runs_stub, run.name, PAUSED)
    return run, run.open_checkpoints[0]


def decide_request(name: str, decision: int = APPROVE, **fields: Any) -> pb.DecideCheckpointRequest:
    return pb.DecideCheckpointRequest(name=name, decision=decision, payload=struct({}), **fields)


async def get(stub: pb_grpc.RunsServiceStub, name: str) -> run_pb2.Checkpoint:
    return (await stub.GetCheckpoint(pb.GetCheckpointRequest(name=name))).checkpoint


async def as_user(p: Platform, *roles: str, subject: str, groups: tuple[str, ...] = ()) -> Any:
    return channel_as(p.runs.target, as_member(p.org, *roles, subject=subject, groups=groups))


async def set_times(database: DatabaseSettings, run_id: str, step_id: str, **values: Any) -> None:
    """Move a checkpoint's stored times (the engine has no fake clock: timers are rows) and make its step due."""
    engine = create_engine(database, "runs")
    try:
        async with engine.begin() as conn:
            if values:
                await conn.execute(
                    checkpoints.update()
                    .where(checkpoints.c.run_id == run_id, checkpoints.c.step_id == step_id)
                    .values(**values)
                )
            await conn.execute(
                run_steps.update()
                .where(run_steps.c.run_id == run_id, run_steps.c.step_id == step_id)
                .values(due_at=utcnow() - dt.timedelta(seconds=1))
            )
    finally:
        await engine.dispose()


async def stored_assignees(database: DatabaseSettings, checkpoint_id: str) -> list[str]:
    engine = create_engine(database, "runs")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(checkpoint_assignees.c.assignee)
                .where(checkpoint_assignees.c.checkpoint_id == checkpoint_id)
                .order_by(checkpoint_assignees.c.assignee)
            )
            return list(rows.scalars())
    finally:
        await engine.dispose()


# --- who may decide ---------------------------------------------------------------------------------------------


async def test_only_assignees_decide_directly_or_through_a_group(plat: Platform, database: DatabaseSettings) -> None:
    run, name = await open_checkpoint(plat, ROUTED)
    assert await stored_assignees(database, name.rsplit("/", 1)[1]) == ["bob@example.com", "group:legal"]
    async with (
        await as_user(plat, "approver", subject="mallory@example.com") as outsider_channel,
        await as_user(plat, "viewer", subject="bob@example.com") as viewer_channel,
        await as_user(plat, "approver", subject="dana@example.com", groups=("legal",)) as legal_channel,
    ):
        outsider = pb_grpc.RunsServiceStub(outsider_channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await outsider.DecideCheckpoint(decide_request(name))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_reason(refused.value) == "NOT_AN_ASSIGNEE"
        assert "Bob@Example.com, group:legal" in (refused.value.details() or "")
        assert "override" not in (refused.value.details() or "")  # not an admin: no override to offer
        with pytest.raises(grpc.aio.AioRpcError) as no_role:  # an assignee still needs the role
            await pb_grpc.RunsServiceStub(viewer_channel).DecideCheckpoint(decide_request(name))
        assert no_role.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_reason(no_role.value) == "PERMISSION_DENIED"
        assert error_info(no_role.value).metadata["required_role"] == "approver"
        assert (await get(plat.runs_stub, name)).status == E.CHECKPOINT_STATUS_OPEN

        decided = await pb_grpc.RunsServiceStub(legal_channel).DecideCheckpoint(decide_request(name))
    assert decided.checkpoint.decided_by == "dana@example.com"
    assert decided.checkpoint.override is False
    assert (await wait_for_status(plat.runs_stub, run.name, FINAL)).status == E.RUN_STATUS_COMPLETED


async def test_an_assignee_matches_case_insensitively(plat: Platform) -> None:
    _, name = await open_checkpoint(plat, ROUTED)
    async with await as_user(plat, "approver", subject="BOB@example.COM") as channel:
        decided = await pb_grpc.RunsServiceStub(channel).DecideCheckpoint(decide_request(name, REJECT))
    assert decided.checkpoint.status == E.CHECKPOINT_STATUS_REJECTED


async def test_an_admin_decides_a_foreign_checkpoint_only_as_an_audited_override(plat: Platform) -> None:
    run, name = await open_checkpoint(plat, ROUTED)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await plat.runs_stub.DecideCheckpoint(decide_request(name))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(refused.value) == "NOT_AN_ASSIGNEE"
    assert "override" in (refused.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as unjustified:
        await plat.runs_stub.DecideCheckpoint(decide_request(name, override=True, justification="  "))
    assert unjustified.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(unjustified.value) == {"justification"}
    assert (await get(plat.runs_stub, name)).status == E.CHECKPOINT_STATUS_OPEN

    decided = await plat.runs_stub.DecideCheckpoint(
        decide_request(name, override=True, justification="Bob is on leave; legal agreed by phone")
    )
    assert decided.checkpoint.override is True
    assert decided.checkpoint.override_justification == "Bob is on leave; legal agreed by phone"
    assert decided.checkpoint.decided_by == "alice@example.com"
    stored = await get(plat.runs_stub, name)
    assert (stored.override, stored.override_justification) == (True, "Bob is on leave; legal agreed by phone")
    event = next(e for e in await all_events(plat.runs_stub, run.name) if e.type == E.EVENT_TYPE_CHECKPOINT_DECIDED)
    assert dict(event.data["override"]) == {
        "by": "alice@example.com",
        "justification": "Bob is on leave; legal agreed by phone",
    }


async def test_a_non_admin_cannot_override(plat: Platform) -> None:
    _, name = await open_checkpoint(plat, ROUTED)
    async with await as_user(plat, "approver", subject="mallory@example.com") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.RunsServiceStub(channel).DecideCheckpoint(
                decide_request(name, override=True, justification="I insist")
            )
    assert error_reason(refused.value) == "NOT_AN_ASSIGNEE"
    assert (await get(plat.runs_stub, name)).status == E.CHECKPOINT_STATUS_OPEN


# --- reassign and extend ----------------------------------------------------------------------------------------


async def test_reassign_changes_who_may_decide_and_is_audited(plat: Platform, database: DatabaseSettings) -> None:
    run, name = await open_checkpoint(plat, ROUTED)
    async with await as_user(plat, "operator", subject="op@example.com") as channel:
        operator = pb_grpc.RunsServiceStub(channel)
        reply = await operator.ReassignCheckpoint(
            pb.ReassignCheckpointRequest(
                name=name, assignees=["carol@example.com", "group:finance"], role="admin", reason="Bob left"
            )
        )
    assert list(reply.checkpoint.assignees) == ["carol@example.com", "group:finance"]
    assert reply.checkpoint.role == "admin"
    assert await stored_assignees(database, name.rsplit("/", 1)[1]) == ["carol@example.com", "group:finance"]
    event = next(e for e in await all_events(plat.runs_stub, run.name) if e.type == E.EVENT_TYPE_CHECKPOINT_REASSIGNED)
    assert event.step_id == "review"
    assert event.data["by"] == "op@example.com"
    assert event.data["reason"] == "Bob left"
    assert list(event.data["before"]["assignees"]) == ["Bob@Example.com", "group:legal"]
    assert event.data["before"]["role"] == "approver"
    assert list(event.data["after"]["assignees"]) == ["carol@example.com", "group:finance"]
    async with await as_user(plat, "approver", subject="bob@example.com") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.RunsServiceStub(channel).DecideCheckpoint(decide_request(name))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with await as_user(plat, "admin", subject="carol@example.com") as channel:
        decided = await pb_grpc.RunsServiceStub(channel).DecideCheckpoint(decide_request(name))
    assert decided.checkpoint.override is False
    with pytest.raises(grpc.aio.AioRpcError) as closed:  # only open checkpoints
        await plat.runs_stub.ReassignCheckpoint(
            pb.ReassignCheckpointRequest(name=name, assignees=["x@example.com"], reason="too late")
        )
    assert closed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as closed_extend:
        await plat.runs_stub.ExtendCheckpoint(
            pb.ExtendCheckpointRequest(name=name, due_time=_ts(utcnow() + dt.timedelta(hours=2)), reason="late")
        )
    assert closed_extend.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_an_approver_cannot_route_a_checkpoint_to_themselves(plat: Platform) -> None:
    run, name = await open_checkpoint(plat, ROUTED)
    before = len(await all_events(plat.runs_stub, run.name))
    async with await as_user(plat, "approver", subject="eve@example.com", groups=("ops",)) as channel:
        stub = pb_grpc.RunsServiceStub(channel)
        for assignees in (["eve@example.com"], ["group:ops"], []):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ReassignCheckpoint(
                    pb.ReassignCheckpointRequest(name=name, assignees=assignees, reason="mine now")
                )
            assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert error_reason(refused.value) == "SELF_ASSIGNMENT_FORBIDDEN"
        await stub.ReassignCheckpoint(  # to someone else: fine
            pb.ReassignCheckpointRequest(name=name, assignees=["carol@example.com"], reason="carol covers")
        )
    async with await as_user(plat, "author", subject="author@example.com") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as no_role:
            await pb_grpc.RunsServiceStub(channel).ReassignCheckpoint(
                pb.ReassignCheckpointRequest(name=name, assignees=["x@example.com"], reason="r")
            )
        assert no_role.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert error_info(no_role.value).metadata["required_role"] == "operator"
    assert len(await all_events(plat.runs_stub, run.name)) == before + 1
    assert list((await get(plat.runs_stub, name)).assignees) == ["carol@example.com"]


def _ts(moment: dt.datetime) -> Any:
    from google.protobuf import timestamp_pb2

    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


async def test_extend_moves_the_due_time_reminder_and_pending_escalations(plat: Platform) -> None:
    document = definition(
        [
            checkpoint_step(
                "review",
                "Review",
                assignees=["bob@example.com"],
                due_in_seconds=3600,
                remind_before_seconds=600,
                escalation=[{"after_seconds": 1800, "to": {"group": "legal"}}],
            )
        ]
    )
    run, name = await open_checkpoint(plat, document)
    opened = await get(plat.runs_stub, name)
    due = opened.due_time.ToDatetime(tzinfo=dt.UTC)
    assert opened.remind_time.ToDatetime(tzinfo=dt.UTC) == due - dt.timedelta(seconds=600)
    assert opened.next_escalation_time.ToDatetime(tzinfo=dt.UTC) == due - dt.timedelta(seconds=1800)
    assert (opened.escalation_level, opened.escalation_levels) == (0, 1)

    new_due = (due + dt.timedelta(hours=2)).replace(microsecond=0)
    async with await as_user(plat, "operator", subject="op@example.com") as channel:
        reply = await pb_grpc.RunsServiceStub(channel).ExtendCheckpoint(
            pb.ExtendCheckpointRequest(name=name, due_time=_ts(new_due), reason="waiting for the auditor")
        )
    extended = reply.checkpoint
    assert extended.due_time.ToDatetime(tzinfo=dt.UTC) == new_due
    assert extended.remind_time.ToDatetime(tzinfo=dt.UTC) == new_due - dt.timedelta(seconds=600)
    shift = new_due - due
    assert extended.next_escalation_time.ToDatetime(tzinfo=dt.UTC) == (
        opened.next_escalation_time.ToDatetime(tzinfo=dt.UTC) + shift
    )
    event = next(e for e in await all_events(plat.runs_stub, run.name) if e.type == E.EVENT_TYPE_CHECKPOINT_EXTENDED)
    assert (event.data["by"], event.data["reason"]) == ("op@example.com", "waiting for the auditor")
    assert dt.datetime.fromisoformat(event.data["before"]) == due
    assert dt.datetime.fromisoformat(event.data["after"]) == new_due
    waiting = steps_of((await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run)["review"]
    assert waiting.status == E.STEP_STATUS_WAITING


# --- timers -----------------------------------------------------------------------------------------------------


async def test_reminder_then_escalation_levels_then_expiry(plat: Platform, database: DatabaseSettings) -> None:
    document = definition(
        [
            checkpoint_step(
                "review",
                "Review",
                assignees=["bob@example.com"],
                due_in_seconds=7200,
                remind_before_seconds=300,
                on_expiry="reject",
                escalation=[
                    {"after_seconds": 600, "to": {"group": "legal"}},
                    {"after_seconds": 1200, "to": {"role": "admin", "users": ["boss@example.com"]}},
                ],
            )
        ]
    )
    run, name = await open_checkpoint(plat, document)
    checkpoint_id = name.rsplit("/", 1)[1]
    opened = await get(plat.runs_stub, name)
    base = opened.open_time.ToDatetime(tzinfo=dt.UTC)

    await set_times(database, run.run_id, "review", escalation_base_at=base - dt.timedelta(seconds=601))
    first = await wait_for_event(plat.runs_stub, run.name, lambda e: e.type == E.EVENT_TYPE_CHECKPOINT_ESCALATED)
    assert first.data["level"] == 1
    assert list(first.data["assignees"]) == ["group:legal"]
    assert first.data["role"] == "approver"
    level_one = await get(plat.runs_stub, name)
    assert (level_one.escalation_level, list(level_one.assignees)) == (1, ["group:legal"])
    assert await stored_assignees(database, checkpoint_id) == ["group:legal"]
    async with await as_user(plat, "approver", subject="bob@example.com") as channel:  # bob lost it
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await pb_grpc.RunsServiceStub(channel).DecideCheckpoint(decide_request(name))
        assert error_reason(refused.value) == "NOT_AN_ASSIGNEE"

    await set_times(database, run.run_id, "review", escalation_base_at=base - dt.timedelta(seconds=1201))
    second = await wait_for_event(
        plat.runs_stub, run.name, lambda e: e.type == E.EVENT_TYPE_CHECKPOINT_ESCALATED and e.data["level"] == 2
    )
    assert (second.data["role"], list(second.data["assignees"])) == ("admin", ["boss@example.com"])
    assert not (await get(plat.runs_stub, name)).HasField("next_escalation_time")

    await set_times(database, run.run_id, "review", remind_at=utcnow() - dt.timedelta(seconds=1))
    soon = await wait_for_event(plat.runs_stub, run.name, lambda e: e.type == E.EVENT_TYPE_CHECKPOINT_DUE_SOON)
    assert soon.data["remind_before_seconds"] == 300
    assert (await get(plat.runs_stub, name)).status == E.CHECKPOINT_STATUS_OPEN

    await set_times(database, run.run_id, "review", due_at=utcnow() - dt.timedelta(seconds=1))
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == E.RUN_STATUS_FAILED  # on_expiry reject still applies at the due time
    kinds = [e.type for e in await all_events(plat.runs_stub, run.name) if e.step_id == "review"]
    assert kinds.count(E.EVENT_TYPE_CHECKPOINT_ESCALATED) == 2
    assert kinds.count(E.EVENT_TYPE_CHECKPOINT_DUE_SOON) == 1
    assert kinds.count(E.EVENT_TYPE_CHECKPOINT_DECIDED) == 1


async def test_the_single_level_escalate_form_still_works_and_keeps_its_reminder(
    plat: Platform, database: DatabaseSettings
) -> None:
    document = definition(
        [
            checkpoint_step(
                "review",
                "Review",
                due_in_seconds=3600,
                remind_before_seconds=60,
                on_expiry="escalate",
                escalate_to="admin",
            )
        ]
    )
    run, name = await open_checkpoint(plat, document)
    await set_times(database, run.run_id, "review", due_at=utcnow() - dt.timedelta(seconds=1))
    await wait_for_event(plat.runs_stub, run.name, lambda e: e.type == E.EVENT_TYPE_CHECKPOINT_ESCALATED)
    escalated = await get(plat.runs_stub, name)
    assert (escalated.role, escalated.on_expiry, escalated.status) == ("admin", "reject", E.CHECKPOINT_STATUS_OPEN)
    due = escalated.due_time.ToDatetime(tzinfo=dt.UTC)
    assert escalated.remind_time.ToDatetime(tzinfo=dt.UTC) == due - dt.timedelta(seconds=60)


# --- the inbox --------------------------------------------------------------------------------------------------


async def test_the_inbox_filters_on_me_my_groups_due_time_and_orchestration(plat: Platform) -> None:
    soon = definition([checkpoint_step("a", "A", assignees=["bob@example.com"], due_in_seconds=600)])
    later = definition([checkpoint_step("b", "B", assignees=["group:legal"], due_in_seconds=7200)])
    never = definition([checkpoint_step("c", "C", assignees=["carol@example.com"])])
    _, a = await open_checkpoint(plat, soon, "soon")
    _, c = await open_checkpoint(plat, never, "never")
    _, b = await open_checkpoint(plat, later, "later")
    org = f"organizations/{plat.org}"

    async def names(stub: pb_grpc.RunsServiceStub, **filters: Any) -> list[str]:
        reply = await stub.ListCheckpoints(pb.ListCheckpointsRequest(parent=org, **filters))
        return [x.name for x in reply.checkpoints]

    async with await as_user(plat, "approver", subject="Bob@example.com", groups=("legal",)) as channel:
        bob = pb_grpc.RunsServiceStub(channel)
        assert await names(bob, assigned_to_me=True) == [a, b]  # oldest first
        assert await names(bob, assigned_to_me=True, order_by="due_time") == [a, b]
    assert await names(plat.runs_stub, assigned_to_me=True) == []  # alice: nothing assigned to her
    assert await names(plat.runs_stub, group="legal") == [b]
    assert await names(plat.runs_stub, group="group:legal") == [b]
    assert await names(plat.runs_stub, order_by="due_time") == [a, b, c]  # no due time last
    assert await names(plat.runs_stub, due_before=_ts(utcnow() + dt.timedelta(hours=1))) == [a]
    assert await names(plat.runs_stub, orchestration=f"{org}/agents/helper/orchestrations/later") == [b]

    paged: list[str] = []
    token = ""
    for _ in range(5):
        reply = await plat.runs_stub.ListCheckpoints(
            pb.ListCheckpointsRequest(parent=org, order_by="due_time", page_size=1, page_token=token)
        )
        paged += [x.name for x in reply.checkpoints]
        token = reply.next_page_token
        if not token:
            break
    assert paged == [a, b, c]
    first = await plat.runs_stub.ListCheckpoints(
        pb.ListCheckpointsRequest(parent=org, order_by="due_time", page_size=1)
    )
    with pytest.raises(grpc.aio.AioRpcError) as replayed:  # a token is bound to its filters and order
        await plat.runs_stub.ListCheckpoints(
            pb.ListCheckpointsRequest(parent=org, page_size=1, page_token=first.next_page_token)
        )
    assert error_reason(replayed.value) == "INVALID_PAGE_TOKEN"


# --- races --------------------------------------------------------------------------------------------------------


async def test_decide_expire_and_reassign_racing_have_exactly_one_outcome(
    plat: Platform, database: DatabaseSettings
) -> None:
    for round_ in range(3):
        run, name = await open_checkpoint(plat, ROUTED, f"race{round_}")
        await set_times(database, run.run_id, "review", due_at=utcnow() - dt.timedelta(seconds=1))  # expiry is due
        async with (
            await as_user(plat, "approver", subject="bob@example.com") as bob_channel,
            await as_user(plat, "operator", subject="op@example.com") as op_channel,
        ):
            results = await asyncio.gather(
                pb_grpc.RunsServiceStub(bob_channel).DecideCheckpoint(decide_request(name)),
                pb_grpc.RunsServiceStub(op_channel).ReassignCheckpoint(
                    pb.ReassignCheckpointRequest(name=name, assignees=["carol@example.com"], reason="race")
                ),
                return_exceptions=True,
            )
        succeeded = [r for r in results if not isinstance(r, BaseException)]
        assert len(succeeded) <= 1, results  # the reassignment takes bob's right away: never both
        for failure in (r for r in results if isinstance(r, grpc.aio.AioRpcError)):
            assert failure.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED)
        done = await wait_for_status(plat.runs_stub, run.name, FINAL)  # expiry (reject) decides the rest
        log = await all_events(plat.runs_stub, run.name)
        assert len([e for e in log if e.type == E.EVENT_TYPE_CHECKPOINT_DECIDED]) == 1
        checkpoint = await get(plat.runs_stub, name)
        if isinstance(results[0], pb.DecideCheckpointResponse):
            assert checkpoint.decided_by == "bob@example.com"
            assert done.status == E.RUN_STATUS_COMPLETED
        else:
            assert checkpoint.decided_by == "system"
            assert checkpoint.status == E.CHECKPOINT_STATUS_EXPIRED
