"""Request changes that actually revise (issue 14, item 4), through real gRPC on SQLite and PostgreSQL: the revised
step's prompt carries the reviewer's comment and edited payload, templates read `revision.*`, the new checkpoint
shows its revision number, and after `max_revisions` only approve or reject remain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from tests.support.registry import create_agent, new_org, struct
from tests.support.rpc import bad_request_fields, error_reason
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
APPROVE, CHANGES = run_pb2.DECISION_APPROVE, run_pb2.DECISION_REQUEST_CHANGES


@pytest.fixture
async def plat(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org(), idle_wait_seconds=0.2) as p:
        await create_agent(p.registry_stub, p.org, "helper")
        yield p


def review(prompt: str, **checkpoint: Any) -> dict[str, Any]:
    return definition(
        [
            step("draft", "agent", prompt=prompt),
            checkpoint_step("review", "Review", depends_on=["draft"], context="{{ steps.draft.output }}", **checkpoint),
        ],
        [step("publish", message="{{ steps.draft.output }}")],
    )


async def decide(
    stub: pb_grpc.RunsServiceStub, name: str, decision: int, comment: str = "", payload: dict[str, Any] | None = None
) -> pb.DecideCheckpointResponse:
    request = pb.DecideCheckpointRequest(name=name, decision=decision, comment=comment, payload=struct(payload or {}))
    response: pb.DecideCheckpointResponse = await stub.DecideCheckpoint(request)
    return response


async def next_checkpoint(p: Platform, run: str, *seen: str) -> run_pb2.Checkpoint:
    """Wait until a checkpoint other than those `seen` opened; return it."""
    previous = {name.rsplit("/", 1)[1] for name in seen}
    opened = await wait_for_event(
        p.runs_stub,
        run,
        lambda e: e.type == run_pb2.EVENT_TYPE_CHECKPOINT_OPENED and e.data["checkpoint"] not in previous,
    )
    name = f"{run}/checkpoints/{opened.data['checkpoint']}"
    return (await p.runs_stub.GetCheckpoint(pb.GetCheckpointRequest(name=name))).checkpoint


def prompts(p: Platform, step_id: str) -> list[str]:
    return [c.prompt for c in p.executor.calls if c.step_id == step_id]


async def test_the_revised_step_s_prompt_contains_the_reviewer_s_comment(plat: Platform) -> None:
    run = await launch(plat, await save(plat, review("Write a summary")))
    waiting = await wait_for_status(plat.runs_stub, run.name, PAUSED)
    first = (await plat.runs_stub.GetCheckpoint(pb.GetCheckpointRequest(name=waiting.open_checkpoints[0]))).checkpoint
    assert first.revision == 0

    sent = await decide(plat.runs_stub, first.name, CHANGES, "Mention the Q3 numbers", {"tone": "formal"})
    assert sent.checkpoint.status == run_pb2.CHECKPOINT_STATUS_CHANGES_REQUESTED
    second = await next_checkpoint(plat, run.name, first.name)
    assert second.revision == 1

    first_prompt, revised = prompts(plat, "draft")
    assert first_prompt == "Write a summary"
    assert revised.startswith("Write a summary\n\nReviewer feedback (revision 1):\nMention the Q3 numbers")
    assert 'Edited payload: {"tone": "formal"}' in revised
    assert "Your previous output: helper says: Write a summary" in revised
    request = [c for c in plat.executor.calls if c.step_id == "draft"][1]
    assert request.revision is not None
    assert (request.revision["number"], request.revision["comment"]) == (1, "Mention the Q3 numbers")
    after = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
    assert steps_of(after)["draft"].revision == 1

    await decide(plat.runs_stub, second.name, APPROVE)
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert steps_of(done)["publish"].output.string_value == f"helper says: {revised}"


async def test_a_template_reads_revision_itself(plat: Platform) -> None:
    prompt = (
        "Write.{% if revision %} Revision {{ revision.number }}: {{ revision.comment }}; "
        "tone {{ revision.payload.tone }}{% endif %}"
    )
    run = await launch(plat, await save(plat, review(prompt)))
    waiting = await wait_for_status(plat.runs_stub, run.name, PAUSED)
    await decide(plat.runs_stub, waiting.open_checkpoints[0], CHANGES, "shorter", {"tone": "dry"})
    second = await next_checkpoint(plat, run.name, waiting.open_checkpoints[0])
    await decide(plat.runs_stub, second.name, CHANGES, "shorter still", {"tone": "drier"})
    await next_checkpoint(plat, run.name, waiting.open_checkpoints[0], second.name)
    assert prompts(plat, "draft") == [
        "Write.",
        "Write. Revision 1: shorter; tone dry",
        "Write. Revision 2: shorter still; tone drier",
    ]


async def test_after_max_revisions_only_approve_or_reject_remain(plat: Platform) -> None:
    run = await launch(plat, await save(plat, review("Write", max_revisions=1)))
    waiting = await wait_for_status(plat.runs_stub, run.name, PAUSED)
    await decide(plat.runs_stub, waiting.open_checkpoints[0], CHANGES, "again")
    second = await next_checkpoint(plat, run.name, waiting.open_checkpoints[0])
    assert second.revision == 1
    before = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await decide(plat.runs_stub, second.name, CHANGES, "and again")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(refused.value) == "REVISIONS_EXHAUSTED"
    assert "approve or reject" in (refused.value.details() or "")
    after = (await plat.runs_stub.GetRun(pb.GetRunRequest(name=run.name))).run
    assert after.last_event_sequence == before.last_event_sequence  # nothing written
    still = (await plat.runs_stub.GetCheckpoint(pb.GetCheckpointRequest(name=second.name))).checkpoint
    assert (still.status, still.comment) == (run_pb2.CHECKPOINT_STATUS_OPEN, "")
    assert len(prompts(plat, "draft")) == 2

    await decide(plat.runs_stub, second.name, APPROVE)
    done = await wait_for_status(plat.runs_stub, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    decided = [e for e in await all_events(plat.runs_stub, run.name) if e.type == run_pb2.EVENT_TYPE_CHECKPOINT_DECIDED]
    assert [e.data["decision"] for e in decided] == ["request_changes", "approve"]


async def test_a_definition_with_a_bad_max_revisions_is_refused_at_save(plat: Platform) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await save(plat, review("Write", max_revisions=-1))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (field,) = bad_request_fields(refused.value)
    assert field.endswith("phases[0].steps[1].checkpoint.max_revisions"), field
    listed = await plat.registry_stub.ListOrchestrations(
        rpb.ListOrchestrationsRequest(parent=f"organizations/{plat.org}/agents/helper")
    )
    assert list(listed.orchestrations) == []  # nothing saved
