"""Checkpoints as governed decision records, through real gRPC on SQLite and PostgreSQL (issue 14 items 3, 5, 6):
quorum votes, four-eyes, edit and approve with its JSON diff, evidence snapshots and their SHA-256, reason codes,
immutable votes, and races for the last vote of a quorum."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import json_format

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.db import create_engine
from services.common.settings import DatabaseSettings
from services.runs.store.tables import checkpoint_votes, checkpoints
from tests.support.principals import as_member
from tests.support.registry import create_agent, new_org, struct
from tests.support.rpc import bad_request_fields, channel_as, error_reason
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
    wait_for_status,
)

PAUSED = {run_pb2.RUN_STATUS_PAUSED}
APPROVE, REJECT, CHANGES = run_pb2.DECISION_APPROVE, run_pb2.DECISION_REJECT, run_pb2.DECISION_REQUEST_CHANGES
LAUNCHER = "alice@example.com"  # the platform's own stub


def quorum(**block: Any) -> dict[str, Any]:
    return definition(
        [step("draft", "agent", prompt="draft about {{ params.topic }}")],
        [
            checkpoint_step(
                "review",
                "Review {{ params.topic }}",
                depends_on=["draft"],
                context="Draft: {{ steps.draft.output }}",
                deliverables=["{{ steps.draft.output }}", "notes"],
                **block,
            )
        ],
        [step("publish", message="published {{ steps.review.output.payload }}")],
        parameters=[{"name": "topic", "type": "string", "required": True}],
    )


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org(), idle_wait_seconds=0.2) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


class Voters:
    """A stub per approver subject of the platform's organization."""

    def __init__(self, p: Platform) -> None:
        self._p = p
        self._channels: list[grpc.aio.Channel] = []

    def __call__(self, subject: str, *roles: str) -> pb_grpc.RunsServiceStub:
        channel = channel_as(self._p.runs.target, as_member(self._p.org, *(roles or ("approver",)), subject=subject))
        self._channels.append(channel)
        return pb_grpc.RunsServiceStub(channel)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


@pytest.fixture
async def voters(plat: Platform) -> AsyncIterator[Voters]:
    made = Voters(plat)
    yield made
    await made.close()


async def open_checkpoint(p: Platform, document: dict[str, Any], slug: str = "flow") -> tuple[run_pb2.Run, str]:
    run = await launch(p, await save(p, document, slug), {"topic": "ai"})
    run = await wait_for_status(p.runs_stub, run.name, PAUSED)
    return run, run.open_checkpoints[0]


async def decide(
    stub: pb_grpc.RunsServiceStub,
    name: str,
    decision: int,
    comment: str = "",
    payload: dict[str, Any] | None = None,
    reason_code: str = "",
) -> pb.DecideCheckpointResponse:
    request = pb.DecideCheckpointRequest(
        name=name, decision=decision, comment=comment, payload=struct(payload or {}), reason_code=reason_code
    )
    response: pb.DecideCheckpointResponse = await stub.DecideCheckpoint(request)
    return response


async def get(stub: pb_grpc.RunsServiceStub, name: str) -> run_pb2.Checkpoint:
    return (await stub.GetCheckpoint(pb.GetCheckpointRequest(name=name))).checkpoint


async def votes_of(stub: pb_grpc.RunsServiceStub, name: str) -> list[run_pb2.CheckpointVote]:
    return list((await stub.ListCheckpointVotes(pb.ListCheckpointVotesRequest(parent=name))).votes)


async def vote_rows(database: DatabaseSettings, checkpoint_name: str) -> int:
    engine = create_engine(database, "runs")
    try:
        async with engine.connect() as conn:
            query = sa.select(sa.func.count()).where(
                checkpoint_votes.c.checkpoint_id == checkpoint_name.rsplit("/")[-1]
            )
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


def kinds(log: list[run_pb2.RunEvent], step_id: str) -> list[int]:
    return [e.type for e in log if e.step_id == step_id]


async def test_two_approvals_approve_and_the_tally_is_visible(plat: Platform, voters: Voters) -> None:
    run, name = await open_checkpoint(plat, quorum(approvals_required=2))
    opened = await get(plat.runs_stub, name)
    assert (opened.approvals_required, opened.approvals, list(opened.votes)) == (2, 0, [])

    first = await decide(voters("bob@example.com"), name, APPROVE, "fine by me")
    assert first.checkpoint.status == run_pb2.CHECKPOINT_STATUS_OPEN
    assert first.checkpoint.approvals == 1
    assert [(v.voter, v.decision) for v in first.checkpoint.votes] == [("bob@example.com", APPROVE)]
    assert first.run.status == run_pb2.RUN_STATUS_PAUSED

    second = await decide(voters("carol@example.com"), name, APPROVE, "ship it")
    assert second.checkpoint.status == run_pb2.CHECKPOINT_STATUS_APPROVED
    assert second.checkpoint.approvals == 2
    assert second.checkpoint.decided_by == "carol@example.com"
    voted = [(v.voter, v.decision, v.comment) for v in second.checkpoint.votes]
    assert voted == [("bob@example.com", APPROVE, "fine by me"), ("carol@example.com", APPROVE, "ship it")]
    assert all(len(v.evidence_sha256) == 64 and v.evidence_json == "" for v in second.checkpoint.votes)

    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    log = await all_events(plat.runs_stub, run.name)
    assert kinds(log, "review") == [
        run_pb2.EVENT_TYPE_CHECKPOINT_OPENED,
        run_pb2.EVENT_TYPE_CHECKPOINT_VOTE_RECORDED,
        run_pb2.EVENT_TYPE_CHECKPOINT_DECIDED,
        run_pb2.EVENT_TYPE_STEP_SUCCEEDED,
    ]
    recorded = next(e for e in log if e.type == run_pb2.EVENT_TYPE_CHECKPOINT_VOTE_RECORDED)
    assert recorded.data["voter"] == "bob@example.com"
    assert (recorded.data["approvals"], recorded.data["approvals_required"]) == (1, 2)
    decided = next(e for e in log if e.type == run_pb2.EVENT_TYPE_CHECKPOINT_DECIDED)
    assert decided.data["tally"]["approvals"] == 2
    assert "tally" not in json_format.MessageToDict(steps_of(done)["review"].output)


async def test_any_rejection_rejects_at_once(plat: Platform, voters: Voters) -> None:
    _run, name = await open_checkpoint(plat, quorum(approvals_required=3))
    await decide(voters("bob@example.com"), name, APPROVE)
    rejected = await decide(voters("carol@example.com"), name, REJECT, "wrong numbers")
    assert rejected.checkpoint.status == run_pb2.CHECKPOINT_STATUS_REJECTED
    assert rejected.run.status == run_pb2.RUN_STATUS_FAILED
    assert [v.decision for v in rejected.checkpoint.votes] == [APPROVE, REJECT]


async def test_request_changes_sends_it_back_at_once(plat: Platform, voters: Voters) -> None:
    run, name = await open_checkpoint(plat, quorum(approvals_required=2))
    await decide(voters("bob@example.com"), name, APPROVE)
    sent_back = await decide(voters("carol@example.com"), name, CHANGES, "more detail")
    assert sent_back.checkpoint.status == run_pb2.CHECKPOINT_STATUS_CHANGES_REQUESTED
    again = await wait_for_status(plat.runs_stub, run.name, PAUSED)
    fresh = again.open_checkpoints[0]
    assert fresh != name
    reopened = await get(plat.runs_stub, fresh)
    assert (reopened.approvals, list(reopened.votes)) == (0, [])  # a new revision starts a new tally
    assert steps_of(again)["draft"].attempt == 2
    await decide(voters("bob@example.com"), fresh, APPROVE)
    (vote,) = await votes_of(plat.runs_stub, fresh)
    assert json.loads(vote.evidence_json)["revision"] == 1  # sent back once before
    (sent,) = [v for v in await votes_of(plat.runs_stub, name) if v.decision == CHANGES]
    assert json.loads(sent.evidence_json)["revision"] == 0


async def test_one_person_votes_once(plat: Platform, voters: Voters, database: DatabaseSettings) -> None:
    _run, name = await open_checkpoint(plat, quorum(approvals_required=2))
    bob = voters("bob@example.com")
    await decide(bob, name, APPROVE)
    for decision in (APPROVE, REJECT):
        with pytest.raises(grpc.aio.AioRpcError) as again:
            await decide(bob, name, decision)
        assert again.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert error_reason(again.value) == "ALREADY_VOTED"
    checkpoint = await get(plat.runs_stub, name)
    assert (checkpoint.status, checkpoint.approvals) == (run_pb2.CHECKPOINT_STATUS_OPEN, 1)
    assert await vote_rows(database, name) == 1


async def test_the_same_principal_racing_itself_gets_one_vote(
    plat: Platform, voters: Voters, database: DatabaseSettings
) -> None:
    _run, name = await open_checkpoint(plat, quorum(approvals_required=2))
    bob = voters("bob@example.com")
    results = await asyncio.gather(decide(bob, name, APPROVE), decide(bob, name, APPROVE), return_exceptions=True)
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(lost) == 1, results
    assert lost[0].code() == grpc.StatusCode.ALREADY_EXISTS
    assert error_reason(lost[0]) == "ALREADY_VOTED"
    assert await vote_rows(database, name) == 1
    assert (await get(plat.runs_stub, name)).approvals == 1


async def test_two_approvers_racing_for_the_last_vote_decide_once(
    plat: Platform, voters: Voters, database: DatabaseSettings
) -> None:
    run, name = await open_checkpoint(plat, quorum(approvals_required=2))
    await decide(voters("bob@example.com"), name, APPROVE)
    carol, dave = voters("carol@example.com"), voters("dave@example.com")
    results = await asyncio.gather(decide(carol, name, APPROVE), decide(dave, name, APPROVE), return_exceptions=True)
    won = [r for r in results if isinstance(r, pb.DecideCheckpointResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    # The first of the two reaches the quorum; the second finds the checkpoint decided and is refused.
    assert len(won) == 1, results
    assert len(lost) == 1, results
    assert won[0].checkpoint.status == run_pb2.CHECKPOINT_STATUS_APPROVED
    assert lost[0].code() == grpc.StatusCode.FAILED_PRECONDITION
    log = await all_events(plat.runs_stub, run.name)
    assert len([e for e in log if e.type == run_pb2.EVENT_TYPE_CHECKPOINT_DECIDED]) == 1
    assert await vote_rows(database, name) == 2
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED


async def test_two_approvers_racing_with_a_quorum_of_three_both_count(
    plat: Platform, voters: Voters, database: DatabaseSettings
) -> None:
    run, name = await open_checkpoint(plat, quorum(approvals_required=3))
    await decide(voters("bob@example.com"), name, APPROVE)
    results = await asyncio.gather(
        decide(voters("carol@example.com"), name, APPROVE),
        decide(voters("dave@example.com"), name, APPROVE),
        return_exceptions=True,
    )
    assert all(isinstance(r, pb.DecideCheckpointResponse) for r in results), results
    final = await get(plat.runs_stub, name)
    assert (final.status, final.approvals) == (run_pb2.CHECKPOINT_STATUS_APPROVED, 3)
    log = await all_events(plat.runs_stub, run.name)
    assert len([e for e in log if e.type == run_pb2.EVENT_TYPE_CHECKPOINT_DECIDED]) == 1
    assert len([e for e in log if e.type == run_pb2.EVENT_TYPE_CHECKPOINT_VOTE_RECORDED]) == 2
    assert await vote_rows(database, name) == 3


async def test_the_launcher_cannot_approve_when_self_approval_is_forbidden(
    plat: Platform, voters: Voters, database: DatabaseSettings
) -> None:
    _run, name = await open_checkpoint(plat, quorum(forbid_self_approval=True))
    assert (await get(plat.runs_stub, name)).forbid_self_approval
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await decide(plat.runs_stub, name, APPROVE)  # alice launched the run
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_reason(denied.value) == "SELF_APPROVAL_FORBIDDEN"
    assert await vote_rows(database, name) == 0
    assert (await get(plat.runs_stub, name)).status == run_pb2.CHECKPOINT_STATUS_OPEN
    approved = await decide(voters("bob@example.com"), name, APPROVE)
    assert approved.checkpoint.status == run_pb2.CHECKPOINT_STATUS_APPROVED


async def test_the_launcher_may_reject_their_own_run(plat: Platform) -> None:
    _run, name = await open_checkpoint(plat, quorum(forbid_self_approval=True))
    rejected = await decide(plat.runs_stub, name, REJECT, "I launched the wrong thing")
    assert rejected.checkpoint.status == run_pb2.CHECKPOINT_STATUS_REJECTED


async def test_the_organization_default_is_pinned_at_launch(plat: Platform, voters: Voters) -> None:
    orchestration = await save(plat, quorum(), "pinned")
    strict = as_member(plat.org, "admin", subject=LAUNCHER, forbid_self_approval=True)
    async with channel_as(plat.runs.target, strict) as channel:
        launched = await pb_grpc.RunsServiceStub(channel).CreateRun(
            pb.CreateRunRequest(
                parent=f"organizations/{plat.org}", orchestration=orchestration, prompt_inputs=struct({"topic": "ai"})
            )
        )
    run = await wait_for_status(plat.runs_stub, launched.run.name, PAUSED)
    name = run.open_checkpoints[0]
    assert (await get(plat.runs_stub, name)).forbid_self_approval
    # alice's stub now carries the default policy (self-approval allowed): the pinned value still applies.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await decide(plat.runs_stub, name, APPROVE)
    assert error_reason(denied.value) == "SELF_APPROVAL_FORBIDDEN"

    _relaxed_run, relaxed = await open_checkpoint(plat, quorum(), "relaxed")
    assert not (await get(plat.runs_stub, relaxed)).forbid_self_approval
    assert (await decide(plat.runs_stub, relaxed, APPROVE)).checkpoint.status == run_pb2.CHECKPOINT_STATUS_APPROVED


async def test_the_step_setting_overrides_the_organization_default(plat: Platform) -> None:
    orchestration = await save(plat, quorum(forbid_self_approval=False), "lenient")
    strict = as_member(plat.org, "admin", subject=LAUNCHER, forbid_self_approval=True)
    async with channel_as(plat.runs.target, strict) as channel:
        stub = pb_grpc.RunsServiceStub(channel)
        launched = await stub.CreateRun(
            pb.CreateRunRequest(
                parent=f"organizations/{plat.org}", orchestration=orchestration, prompt_inputs=struct({"topic": "ai"})
            )
        )
        run = await wait_for_status(stub, launched.run.name, PAUSED)
        approved = await decide(stub, run.open_checkpoints[0], APPROVE)
    assert approved.checkpoint.status == run_pb2.CHECKPOINT_STATUS_APPROVED


async def test_edit_and_approve_stores_the_edit_and_its_diff(plat: Platform, voters: Voters) -> None:
    run, name = await open_checkpoint(plat, quorum(approvals_required=2))
    edited = {"deliverables": ["helper says: a better draft", "notes"], "budget": 100}
    bob, carol = voters("bob@example.com"), voters("carol@example.com")
    first = await decide(bob, name, APPROVE, "tightened the draft", edited)
    vote = first.checkpoint.votes[0]
    assert json_format.MessageToDict(vote.payload) == edited
    diff = json_format.MessageToDict(vote.payload_diff)
    assert sorted(diff, key=lambda op: op["path"]) == [
        {"op": "add", "path": "/budget", "value": 100},
        {"op": "replace", "path": "/deliverables/0", "value": "helper says: a better draft"},
    ]
    with pytest.raises(grpc.aio.AioRpcError) as conflict:
        await decide(carol, name, APPROVE, payload={"deliverables": ["something else"]})
    assert conflict.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(conflict.value) == "EDIT_CONFLICT"
    assert len((await get(plat.runs_stub, name)).votes) == 1

    second = await decide(carol, name, APPROVE, "agreed")  # endorses the proposed edit
    assert second.checkpoint.status == run_pb2.CHECKPOINT_STATUS_APPROVED
    assert json_format.MessageToDict(second.checkpoint.payload) == edited
    carols = second.checkpoint.votes[1]
    assert json_format.MessageToDict(carols.payload) == edited
    assert list(carols.payload_diff) == []
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert "a better draft" in steps_of(done)["publish"].output.string_value  # later steps read the edit
    evidence = json.loads((await votes_of(plat.runs_stub, name))[1].evidence_json)
    assert evidence["proposed_payload"] == edited  # carol saw (and endorsed) bob's edit


async def test_evidence_is_what_the_voter_saw_and_its_hash_recomputes(plat: Platform, voters: Voters) -> None:
    _run, name = await open_checkpoint(plat, quorum(approvals_required=2))
    await decide(voters("bob@example.com"), name, APPROVE)
    await decide(voters("carol@example.com"), name, APPROVE)
    listed = await votes_of(plat.runs_stub, name)
    shown = {v.name: v.evidence_sha256 for v in (await get(plat.runs_stub, name)).votes}
    assert [v.voter for v in listed] == ["bob@example.com", "carol@example.com"]
    for vote in listed:
        assert vote.name.startswith(f"{name}/votes/")
        assert hashlib.sha256(vote.evidence_json.encode("utf-8")).hexdigest() == vote.evidence_sha256
        assert shown[vote.name] == vote.evidence_sha256
        document = json.loads(vote.evidence_json)
        assert json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == vote.evidence_json
        assert document["title"] == "Review ai"
        assert document["context"] == "Draft: helper says: draft about ai"
        assert document["deliverables"] == ["helper says: draft about ai", "notes"]
        assert document["inputs"] == {"draft": "helper says: draft about ai"}
        assert document["definition"]["origin"].startswith(
            f"organizations/{plat.org}/agents/helper/orchestrations/flow"
        )
        assert document["definition"]["origin_type"] == "saved_orchestration"
        assert document["revision"] == 0
        assert document["checkpoint"] == name
    assert [json.loads(v.evidence_json)["approvals"] for v in listed] == [0, 1]


async def test_votes_are_immutable_in_the_database(plat: Platform, voters: Voters, database: DatabaseSettings) -> None:
    _run, name = await open_checkpoint(plat, quorum(approvals_required=2))
    await decide(voters("bob@example.com"), name, APPROVE, "original")
    engine = create_engine(database, "runs")
    try:
        with pytest.raises(sa.exc.DBAPIError, match="immutable"):
            async with engine.begin() as conn:
                await conn.execute(checkpoint_votes.update().values(comment="forged", decision="reject"))
    finally:
        await engine.dispose()
    assert [v.comment for v in (await get(plat.runs_stub, name)).votes] == ["original"]


async def test_reason_codes(plat: Platform, voters: Voters, database: DatabaseSettings) -> None:
    _run, name = await open_checkpoint(plat, quorum(reason_codes=["missing-data", "policy"]))
    assert list((await get(plat.runs_stub, name)).reason_codes) == ["missing-data", "policy"]
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await decide(voters("bob@example.com"), name, REJECT, "no", reason_code="vibes")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(bad.value) == {"reason_code"}
    assert error_reason(bad.value) == "VALIDATION_FAILED"
    assert await vote_rows(database, name) == 0
    rejected = await decide(voters("bob@example.com"), name, REJECT, "numbers missing", reason_code="missing-data")
    assert rejected.checkpoint.reason_code == "missing-data"
    assert rejected.checkpoint.votes[0].reason_code == "missing-data"


async def test_a_reason_code_on_a_checkpoint_without_codes_is_refused(
    plat: Platform, database: DatabaseSettings
) -> None:
    _run, name = await open_checkpoint(plat, quorum())
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await decide(plat.runs_stub, name, APPROVE, reason_code="policy")
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(bad.value) == {"reason_code"}
    assert await vote_rows(database, name) == 0


async def test_bad_vote_input_writes_nothing(plat: Platform, database: DatabaseSettings) -> None:
    _run, name = await open_checkpoint(plat, quorum())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"reason_code": "x" * 64}, "reason_code"),
        ({"decision": 0}, "decision"),
        ({"comment": "c" * 4001}, "comment"),
    ]
    for fields, field in cases:
        request = pb.DecideCheckpointRequest(name=name, decision=fields.pop("decision", APPROVE), **fields)
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await plat.runs_stub.DecideCheckpoint(request)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert bad_request_fields(bad.value) == {field}
        assert error_reason(bad.value) == "VALIDATION_FAILED"
    assert await vote_rows(database, name) == 0
    assert (await get(plat.runs_stub, name)).status == run_pb2.CHECKPOINT_STATUS_OPEN


async def test_list_checkpoint_votes_bad_input_and_tenancy(plat: Platform) -> None:
    run, name = await open_checkpoint(plat, quorum())
    await decide(plat.runs_stub, name, APPROVE)
    for parent in ("", "organizations/x/runs/nope", f"{run.name}/checkpoints/not-a-uuid"):
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await votes_of(plat.runs_stub, parent)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT, parent
        assert bad_request_fields(bad.value) == {"parent"}
    async with channel_as(plat.runs.target, as_member(new_org(), "admin")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as hidden:
            await votes_of(pb_grpc.RunsServiceStub(channel), name)
        assert hidden.value.code() == grpc.StatusCode.NOT_FOUND
    async with channel_as(plat.runs.target, as_member(plat.org, "viewer", subject="v@example.com")) as channel:
        assert len(await votes_of(pb_grpc.RunsServiceStub(channel), name)) == 1


async def test_checkpoints_store_their_settings_when_they_open(plat: Platform, database: DatabaseSettings) -> None:
    _run, name = await open_checkpoint(plat, quorum(approvals_required=3, reason_codes=["policy"]))
    engine = create_engine(database, "runs")
    try:
        async with engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(checkpoints).where(checkpoints.c.id == name.rsplit("/")[-1])))
                .one()
                ._mapping
            )
    finally:
        await engine.dispose()
    assert (row["approvals_required"], row["forbid_self_approval"], list(row["reason_codes"])) == (3, False, ["policy"])
