"""Issue 14 with a real vault and real reference agents (SQLite and PostgreSQL): launch refuses credential aliases the
organization does not have (one violation per alias, without telling whether another organization has it), and a
revised A2A step receives the reviewer's feedback as a follow-up message in the same context."""

from __future__ import annotations

import uuid

import grpc
import pytest

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as vpb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as vpb_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from tests.integration.test_runs_agents import World, launch, setup_agents, world
from tests.support.principals import as_member
from tests.support.rpc import bad_request_fields, channel_as, error_info, error_reason
from tests.support.runs import FINAL, wait_for_event, wait_for_status

__all__ = ["world"]  # the fixture, shared with test_runs_agents
PAUSED = {run_pb2.RUN_STATUS_PAUSED}
PREFIX = "ad_hoc.definition.phases[0]"


def agent_step(step_id: str, *aliases: str, agent: str = "scribe") -> dict[str, object]:
    return {"id": step_id, "kind": "agent", "agent": agent, "prompt": "hi", "credentials": list(aliases)}


async def no_runs(w: World) -> None:
    listed = await w.runs.ListRuns(pb.ListRunsRequest(parent=f"organizations/{w.org}"))
    assert list(listed.runs) == []


async def test_launch_names_each_missing_alias_once(world: World) -> None:
    await setup_agents(world)  # creates scribe.key in the organization
    steps = [
        agent_step("a", "scribe.key", "gone.one"),
        agent_step("b", "gone.two", "gone.one"),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await launch(world, steps)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_reason(caught.value) == "CREDENTIALS_NOT_FOUND"
    assert bad_request_fields(caught.value) == {
        f"{PREFIX}.steps[0].credentials[1]",  # gone.one, at its first use
        f"{PREFIX}.steps[1].credentials[0]",  # gone.two
    }
    assert "'gone.one' does not exist" in (caught.value.details() or "")
    assert "used by step a, b" in (caught.value.details() or "")
    await no_runs(world)


async def test_another_organization_s_alias_is_as_missing_as_none(world: World) -> None:
    await setup_agents(world)
    other = f"org-{uuid.uuid4().hex[:10]}"
    async with channel_as(world.vault_target, as_member(other, "admin")) as channel:
        await vpb_grpc.CredentialsServiceStub(channel).CreateCredential(
            vpb.CreateCredentialRequest(
                parent=f"organizations/{other}",
                alias="theirs.key",
                credential=cpb.Credential(type=cpb.CREDENTIAL_TYPE_API_KEY),
                value="sk-other-" + uuid.uuid4().hex,
            )
        )
    refusals = []
    for alias in ("theirs.key", "nobodys.key"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await launch(world, [agent_step("a", alias)])
        refusals.append(caught.value)
    theirs, nobodys = refusals
    assert theirs.code() == nobodys.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (theirs.details() or "").replace("theirs", "X") == (nobodys.details() or "").replace("nobodys", "X")
    assert error_info(theirs).metadata == error_info(nobodys).metadata
    await no_runs(world)


async def test_existing_aliases_launch(world: World) -> None:
    await setup_agents(world)
    run = await launch(world, [agent_step("write", "scribe.key")])
    done = await wait_for_status(world.runs, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED


async def test_a_revised_a2a_step_gets_the_feedback_as_a_follow_up_in_the_same_context(world: World) -> None:
    await setup_agents(world)
    run = await launch(
        world,
        [
            {"id": "draft", "kind": "agent", "agent": "scout", "prompt": "Draft the plan"},
            {"id": "review", "kind": "checkpoint", "depends_on": ["draft"], "checkpoint": {"title": "Ok?"}},
        ],
    )
    paused = await wait_for_status(world.runs, run.name, PAUSED)
    first = paused.open_checkpoints[0]
    await world.runs.DecideCheckpoint(
        pb.DecideCheckpointRequest(name=first, decision=run_pb2.DECISION_REQUEST_CHANGES, comment="Add a budget")
    )
    await wait_for_event(
        world.runs,
        run.name,
        lambda e: e.type == run_pb2.EVENT_TYPE_CHECKPOINT_OPENED and e.data["checkpoint"] != first.rsplit("/", 1)[1],
    )
    assert world.a2a_requests is not None
    assert world.a2a_tasks is not None
    original, follow_up = [r["message"] for r in world.a2a_requests]
    assert "contextId" not in original  # the first run starts a conversation
    (first_task,) = [
        task for task in world.a2a_tasks.values() if task["history"][0]["messageId"] == original["messageId"]
    ]
    assert follow_up["contextId"] == first_task["contextId"]  # the revision continues it
    assert follow_up["referenceTaskIds"] == [first_task["id"]]
    assert "taskId" not in follow_up  # a completed task takes no new message: the follow-up references it
    assert follow_up["parts"][0]["text"].startswith("Draft the plan\n\nReviewer feedback (revision 1):\nAdd a budget")
    assert follow_up["metadata"]["revision"] == {"number": 1, "comment": "Add a budget", "payload": {}}
