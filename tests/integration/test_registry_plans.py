"""Conversation plans through real gRPC, on SQLite and PostgreSQL: record, decide, convert, save with lineage."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import plan_pb2
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from services.registry.api.convert import struct_to_dict
from services.registry.bootstrap import spec
from services.registry.config import RegistrySettings
from tests.support.principals import AUTH, Metadata, as_member, as_platform
from tests.support.registry import create_agent, create_orchestration, new_org, struct
from tests.support.rpc import bad_request_fields, channel_as, error_reason
from tests.support.servers import RunningServer, running

Stub = pb_grpc.RegistryServiceStub

PLAN: dict[str, Any] = {
    "title": "Market research",
    "summary": "Research a market, then write it up",
    "parameters": [{"name": "topic", "type": "string", "required": True}],
    "steps": [
        {"title": "Research", "instructions": "Research {{ params.topic }}", "requires_approval": True},
        {"title": "Write the report", "agent": "writer", "instructions": "Write it up", "depends_on": ["research"]},
    ],
}


@pytest.fixture
async def server(database: DatabaseSettings) -> AsyncIterator[RunningServer]:
    async with running(spec(RegistrySettings(database=database, auth=AUTH))) as server:
        yield server


@pytest.fixture
async def stub(server: RunningServer) -> AsyncIterator[Stub]:
    async with channel_as(server.target, as_platform()) as channel:
        yield pb_grpc.RegistryServiceStub(channel)


@pytest.fixture
async def org(stub: Stub) -> str:
    org = new_org()
    await create_agent(stub, org, "helper")
    await create_agent(stub, org, "writer")
    return org


class Member:
    """Stubs acting as members of an organization with given roles (closed with the test's server)."""

    def __init__(self, server: RunningServer) -> None:
        self._server = server
        self._channels: list[grpc.aio.Channel] = []

    def __call__(self, metadata: Metadata) -> Stub:
        channel = channel_as(self._server.target, metadata)
        self._channels.append(channel)
        return pb_grpc.RegistryServiceStub(channel)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()


@pytest.fixture
async def as_user(server: RunningServer) -> AsyncIterator[Member]:
    member = Member(server)
    yield member
    await member.close()


async def expect_error(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return caught.value


async def create_plan(
    stub: Stub, org: str, conversation: str = "conv-1", agent: str = "helper", document: dict[str, Any] | None = None
) -> plan_pb2.ConversationPlan:
    reply = await stub.CreatePlan(
        pb.CreatePlanRequest(
            parent=f"organizations/{org}",
            plan=plan_pb2.ConversationPlan(
                conversation_id=conversation, agent_slug=agent, plan=struct(document if document is not None else PLAN)
            ),
        )
    )
    return reply.plan


async def get_plan(stub: Stub, name: str) -> plan_pb2.ConversationPlan:
    return (await stub.GetPlan(pb.GetPlanRequest(name=name))).plan


async def listed(stub: Stub, org: str, **fields: Any) -> list[str]:
    request = pb.ListPlansRequest(parent=f"organizations/{org}", page_size=500, **fields)
    return [p.name for p in (await stub.ListPlans(request)).plans]


async def orchestrations(stub: Stub, org: str) -> list[str]:
    request = pb.ListOrchestrationsRequest(parent=f"organizations/{org}/agents/-", page_size=500)
    return [o.name for o in (await stub.ListOrchestrations(request)).orchestrations]


def missing_plan(org: str) -> str:
    return f"organizations/{org}/plans/{uuid.uuid4()}"


# --- create, get, list --------------------------------------------------------------------------------------------


async def test_create_records_a_draft_and_get_reads_it_back(stub: Stub, org: str) -> None:
    plan = await create_plan(stub, org)
    assert plan.name == f"organizations/{org}/plans/{plan.plan_id}"
    assert str(uuid.UUID(plan.plan_id)) == plan.plan_id
    assert (plan.organization_slug, plan.conversation_id, plan.agent_slug) == (org, "conv-1", "helper")
    assert plan.status == plan_pb2.PLAN_STATUS_DRAFT
    assert struct_to_dict(plan.plan) == PLAN
    assert plan.created_by == "service:tests"
    assert plan.create_time.seconds > 0
    assert (plan.decided_by, plan.decision_comment, plan.HasField("decide_time")) == ("", "", False)
    assert list(plan.saved_versions) == []
    assert plan.etag
    assert await get_plan(stub, plan.name) == plan


async def test_plan_of_a_platform_wide_agent(stub: Stub) -> None:
    org = new_org()
    shared = f"shared-{org}"
    await create_agent(stub, "", shared)
    plan = await create_plan(stub, org, agent=shared)
    assert plan.agent_slug == shared


async def test_invalid_create_names_every_field_and_writes_nothing(stub: Stub, org: str) -> None:
    request = pb.CreatePlanRequest(
        parent="organizations/Not Valid",
        plan=plan_pb2.ConversationPlan(conversation_id="a\nb", agent_slug="Bad Agent"),
    )
    error = await expect_error(stub.CreatePlan(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert error_reason(error) == "VALIDATION_FAILED"
    assert bad_request_fields(error) == {"parent", "plan.conversation_id", "plan.agent_slug", "plan.plan"}
    for parent, plan, field in (
        ("", plan_pb2.ConversationPlan(conversation_id="c", agent_slug="helper", plan=struct(PLAN)), "parent"),
        (
            f"organizations/{org}",
            plan_pb2.ConversationPlan(conversation_id="c" * 201, agent_slug="helper", plan=struct(PLAN)),
            "plan.conversation_id",
        ),
        (
            f"organizations/{org}",
            plan_pb2.ConversationPlan(conversation_id="c", agent_slug="helper", plan=struct({"x": "y" * 600_000})),
            "plan.plan",
        ),
    ):
        error = await expect_error(
            stub.CreatePlan(pb.CreatePlanRequest(parent=parent, plan=plan)), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert bad_request_fields(error) == {field}
    assert await listed(stub, org) == []


async def test_create_for_an_unknown_agent_is_not_found_and_writes_nothing(stub: Stub, org: str) -> None:
    error = await expect_error(create_plan(stub, org, agent="ghost"), grpc.StatusCode.NOT_FOUND)
    assert "ghost" in (error.details() or "")
    assert await listed(stub, org) == []


async def test_a_newer_plan_supersedes_the_older_drafts_of_its_conversation(stub: Stub, org: str) -> None:
    first = await create_plan(stub, org, "conv-1")
    approved = await create_plan(stub, org, "conv-1")
    await stub.ApprovePlan(pb.ApprovePlanRequest(name=approved.name))
    other = await create_plan(stub, org, "conv-2")
    latest = await create_plan(stub, org, "conv-1")
    first_now = await get_plan(stub, first.name)
    assert first_now.status == plan_pb2.PLAN_STATUS_SUPERSEDED
    assert first_now.etag != first.etag
    assert (await get_plan(stub, approved.name)).status == plan_pb2.PLAN_STATUS_APPROVED
    assert (await get_plan(stub, other.name)).status == plan_pb2.PLAN_STATUS_DRAFT
    assert (await get_plan(stub, latest.name)).status == plan_pb2.PLAN_STATUS_DRAFT
    error = await expect_error(
        stub.ApprovePlan(pb.ApprovePlanRequest(name=first.name)), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "superseded" in (error.details() or "")


async def test_plans_created_at_once_leave_exactly_one_draft(stub: Stub, org: str) -> None:
    await asyncio.gather(*(create_plan(stub, org, "busy") for _ in range(6)))
    assert len(await listed(stub, org, conversation_id="busy")) == 6
    assert len(await listed(stub, org, conversation_id="busy", status=plan_pb2.PLAN_STATUS_DRAFT)) == 1


async def test_list_is_newest_first_filtered_and_paged(stub: Stub, org: str) -> None:
    created = [
        await create_plan(stub, org, conversation, agent)
        for conversation, agent in (("a", "helper"), ("b", "writer"), ("a", "helper"), ("c", "helper"), ("b", "helper"))
    ]
    names = [p.name for p in created]
    assert await listed(stub, org) == names[::-1]
    assert await listed(stub, org, conversation_id="a") == [names[2], names[0]]
    assert await listed(stub, org, agent_slug="writer") == [names[1]]
    assert await listed(stub, org, status=plan_pb2.PLAN_STATUS_SUPERSEDED) == [names[1], names[0]]
    assert await listed(stub, org, status=plan_pb2.PLAN_STATUS_DRAFT, conversation_id="b") == [names[4]]
    seen, token, pages = [], "", 0
    while True:
        page = await stub.ListPlans(pb.ListPlansRequest(parent=f"organizations/{org}", page_size=2, page_token=token))
        seen += [p.name for p in page.plans]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert (seen, pages) == (names[::-1], 3)
    first = await stub.ListPlans(pb.ListPlansRequest(parent=f"organizations/{org}", page_size=1))
    error = await expect_error(
        stub.ListPlans(
            pb.ListPlansRequest(parent=f"organizations/{org}", page_token=first.next_page_token, conversation_id="a")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert error_reason(error) == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"parent": "organizations"}, {"parent"}),
        ({"parent": ""}, {"parent"}),
        ({"page_size": -1}, {"page_size"}),
        ({"page_token": "garbage!"}, {"page_token"}),
        ({"status": 42}, {"status"}),
        ({"agent_slug": "Not A Slug", "conversation_id": "x" * 201}, {"agent_slug", "conversation_id"}),
    ],
)
async def test_bad_list_requests_name_the_field(stub: Stub, org: str, fields: dict[str, Any], bad: set[str]) -> None:
    request = pb.ListPlansRequest(**{"parent": f"organizations/{org}", **fields})
    error = await expect_error(stub.ListPlans(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert bad_request_fields(error) == bad


# --- decisions ------------------------------------------------------------------------------------------------------


async def test_approve_and_reject_record_actor_time_and_comment(stub: Stub, org: str, as_user: Member) -> None:
    approver = as_user(as_member(org, "approver", subject="bob@example.com"))
    plan = await create_plan(stub, org, "conv-1")
    approved = (
        await approver.ApprovePlan(pb.ApprovePlanRequest(name=plan.name, comment="looks good", etag=plan.etag))
    ).plan
    assert approved.status == plan_pb2.PLAN_STATUS_APPROVED
    assert (approved.decided_by, approved.decision_comment) == ("bob@example.com", "looks good")
    assert approved.decide_time.seconds > 0
    assert approved.etag != plan.etag
    assert await get_plan(stub, plan.name) == approved
    other = await create_plan(stub, org, "conv-2")
    rejected = (await approver.RejectPlan(pb.RejectPlanRequest(name=other.name, comment="too vague"))).plan
    assert rejected.status == plan_pb2.PLAN_STATUS_REJECTED
    assert (rejected.decided_by, rejected.decision_comment) == ("bob@example.com", "too vague")
    assert rejected.decide_time.seconds > 0


async def test_a_decided_plan_cannot_be_decided_again(stub: Stub, org: str) -> None:
    plan = await create_plan(stub, org)
    approved = (await stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.name))).plan
    error = await expect_error(
        stub.RejectPlan(pb.RejectPlanRequest(name=plan.name, comment="changed my mind")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "FAILED_PRECONDITION"
    assert "approved" in (error.details() or "")
    await expect_error(stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.name)), grpc.StatusCode.FAILED_PRECONDITION)
    assert await get_plan(stub, plan.name) == approved


async def test_a_stale_etag_is_aborted_and_changes_nothing(stub: Stub, org: str) -> None:
    plan = await create_plan(stub, org)
    error = await expect_error(
        stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.name, etag="stale")), grpc.StatusCode.ABORTED
    )
    assert error_reason(error) == "ETAG_MISMATCH"
    assert await get_plan(stub, plan.name) == plan


async def test_concurrent_approve_and_reject_let_exactly_one_win(stub: Stub, org: str) -> None:
    for _ in range(3):
        plan = await create_plan(stub, org, f"conv-{uuid.uuid4().hex[:6]}")
        results = await asyncio.gather(
            stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.name, comment="yes")),
            stub.RejectPlan(pb.RejectPlanRequest(name=plan.name, comment="no")),
            return_exceptions=True,
        )
        winners = [r for r in results if not isinstance(r, BaseException)]
        losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert (len(winners), len(losers)) == (1, 1), results
        assert losers[0].code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED)
        final = await get_plan(stub, plan.name)
        assert final == winners[0].plan  # type: ignore[union-attr]
        assert final.decision_comment == ("yes" if final.status == plan_pb2.PLAN_STATUS_APPROVED else "no")


# --- convert and save -----------------------------------------------------------------------------------------------


async def test_convert_returns_a_valid_definition_with_notes(stub: Stub, org: str, as_user: Member) -> None:
    plan = await create_plan(stub, org)
    viewer = as_user(as_member(org, "viewer"))
    reply = await viewer.ConvertPlanToOrchestration(pb.ConvertPlanToOrchestrationRequest(name=plan.name))
    definition = struct_to_dict(reply.definition)
    [phase] = definition["phases"]
    steps = {s["id"]: s for s in phase["steps"]}
    assert list(steps) == ["research", "research-approval", "write-the-report"]
    assert (steps["research"]["kind"], steps["research"]["agent"]) == ("agent", "helper")
    assert steps["research-approval"]["kind"] == "checkpoint"
    assert steps["write-the-report"]["agent"] == "writer"
    assert steps["write-the-report"]["depends_on"] == ["research-approval"]
    assert definition["parameters"] == PLAN["parameters"]
    assert list(reply.prompt_templates) == []
    assert any("step id 'research' generated" in note for note in reply.notes)
    # The definition is accepted as is by CreateOrchestration.
    created = await stub.CreateOrchestration(
        pb.CreateOrchestrationRequest(
            parent=f"organizations/{org}/agents/helper",
            orchestration_id="by-hand",
            orchestration=opb.Orchestration(display_name="By hand"),
            version=opb.OrchestrationVersion(definition=reply.definition),
        )
    )
    assert created.version.version_number == 1


async def test_an_unconvertible_plan_is_invalid_at_plan_paths(stub: Stub, org: str) -> None:
    document = copy.deepcopy(PLAN)
    document["steps"][1]["depends_on"] = ["nowhere"]
    document["steps"].append({"title": "Broken", "instructions": "{{ params.unknown }}"})
    plan = await create_plan(stub, org, document=document)
    error = await expect_error(
        stub.ConvertPlanToOrchestration(pb.ConvertPlanToOrchestrationRequest(name=plan.name)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_request_fields(error) == {"plan.steps[1].depends_on[0]"}
    document["steps"][1]["depends_on"] = ["research"]
    plan = await create_plan(stub, org, document=document)
    error = await expect_error(
        stub.ConvertPlanToOrchestration(pb.ConvertPlanToOrchestrationRequest(name=plan.name)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_request_fields(error) == {"plan.steps[2].instructions"}
    await stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.name))
    await expect_error(
        stub.SavePlanAsOrchestration(pb.SavePlanAsOrchestrationRequest(name=plan.name, orchestration_id="broken")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert await orchestrations(stub, org) == []


async def test_saving_an_approved_plan_creates_then_versions_with_lineage(stub: Stub, org: str) -> None:
    plan = await create_plan(stub, org)
    await stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.name))
    first = await stub.SavePlanAsOrchestration(
        pb.SavePlanAsOrchestrationRequest(name=plan.name, orchestration_id="market", label="1.0.0", change_note="v1")
    )
    target = f"organizations/{org}/agents/helper/orchestrations/market"
    assert first.created
    assert first.orchestration.name == target
    assert (first.orchestration.display_name, first.orchestration.description) == (
        "Market research",
        "Research a market, then write it up",
    )
    assert (first.version.version_number, first.version.label, first.version.change_note) == (1, "1.0.0", "v1")
    assert first.version.source_plan == plan.name
    second = await stub.SavePlanAsOrchestration(
        pb.SavePlanAsOrchestrationRequest(
            name=plan.name, orchestration_id="market", display_name="Ignored", label="1.1.0"
        )
    )
    assert not second.created
    assert second.orchestration.display_name == "Market research"
    assert (second.version.version_number, second.version.source_plan) == (2, plan.name)
    assert second.version.digest == first.version.digest
    named = await stub.SavePlanAsOrchestration(
        pb.SavePlanAsOrchestrationRequest(name=plan.name, orchestration_id="named", display_name="Named")
    )
    assert (named.created, named.orchestration.display_name) == (True, "Named")
    saved = await get_plan(stub, plan.name)
    assert list(saved.saved_versions) == [f"{target}/versions/1", f"{target}/versions/2", named.version.name]
    stored = await stub.GetOrchestration(pb.GetOrchestrationRequest(name=target, version_number=2))
    assert stored.version.source_plan == plan.name
    assert sorted(await orchestrations(stub, org)) == sorted([target, named.orchestration.name])


async def test_saving_into_an_existing_orchestration_appends_a_version(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org, "research")
    plan = await create_plan(stub, org)
    await stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.name))
    saved = await stub.SavePlanAsOrchestration(
        pb.SavePlanAsOrchestrationRequest(name=plan.name, orchestration_id="research")
    )
    assert (saved.created, saved.version.version_number, saved.orchestration.current_version) == (False, 2, 2)
    assert saved.orchestration.display_name == "Research"


@pytest.mark.parametrize("decision", ["draft", "rejected", "superseded"])
async def test_only_an_approved_plan_can_be_saved(stub: Stub, org: str, decision: str) -> None:
    plan = await create_plan(stub, org)
    if decision == "rejected":
        await stub.RejectPlan(pb.RejectPlanRequest(name=plan.name))
    elif decision == "superseded":
        await create_plan(stub, org)
    error = await expect_error(
        stub.SavePlanAsOrchestration(pb.SavePlanAsOrchestrationRequest(name=plan.name, orchestration_id="market")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert decision in (error.details() or "")
    assert await orchestrations(stub, org) == []
    assert list((await get_plan(stub, plan.name)).saved_versions) == []


async def test_a_label_taken_by_the_target_saves_nothing(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org, "research", label="1.0.0")
    plan = await create_plan(stub, org)
    await stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.name))
    await expect_error(
        stub.SavePlanAsOrchestration(
            pb.SavePlanAsOrchestrationRequest(name=plan.name, orchestration_id="research", label="1.0.0")
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert list((await get_plan(stub, plan.name)).saved_versions) == []


# --- malformed requests, tenancy, roles -----------------------------------------------------------------------------


async def test_malformed_requests_name_each_field_and_write_nothing(stub: Stub, org: str) -> None:
    plan = await create_plan(stub, org)
    await stub.ApprovePlan(pb.ApprovePlanRequest(name=(await create_plan(stub, org, "approved")).name))
    approved = (await listed(stub, org, status=plan_pb2.PLAN_STATUS_APPROVED))[0]
    cases: list[tuple[str, object, set[str]]] = [
        ("GetPlan", pb.GetPlanRequest(name=f"organizations/{org}/plans/not-a-uuid"), {"name"}),
        ("GetPlan", pb.GetPlanRequest(name=""), {"name"}),
        ("ApprovePlan", pb.ApprovePlanRequest(name="plans/x", comment="c" * 2001), {"name", "comment"}),
        ("ApprovePlan", pb.ApprovePlanRequest(name=plan.name, comment="c" * 2001), {"comment"}),
        ("RejectPlan", pb.RejectPlanRequest(name=plan.name, comment="c" * 2001), {"comment"}),
        ("RejectPlan", pb.RejectPlanRequest(name=f"organizations/{org}/agents/x"), {"name"}),
        ("ConvertPlanToOrchestration", pb.ConvertPlanToOrchestrationRequest(name="nope"), {"name"}),
        (
            "SavePlanAsOrchestration",
            pb.SavePlanAsOrchestrationRequest(name="nope", orchestration_id="Bad Slug"),
            {"name", "orchestration_id"},
        ),
        ("SavePlanAsOrchestration", pb.SavePlanAsOrchestrationRequest(name=approved), {"orchestration_id"}),
        (
            "SavePlanAsOrchestration",
            pb.SavePlanAsOrchestrationRequest(
                name=approved,
                orchestration_id="ok",
                display_name="d" * 201,
                label="bad label!",
                change_note="n" * 2001,
            ),
            {"display_name", "label", "change_note"},
        ),
        (
            "SavePlanAsOrchestration",
            pb.SavePlanAsOrchestrationRequest(name=approved, orchestration_id="ok", label="7"),
            {"label"},
        ),
    ]
    for method, request, fields in cases:
        error = await expect_error(getattr(stub, method)(request), grpc.StatusCode.INVALID_ARGUMENT)
        assert bad_request_fields(error) == fields, (method, request)
    assert await get_plan(stub, plan.name) == plan
    assert await orchestrations(stub, org) == []


async def test_missing_plans_are_not_found(stub: Stub, org: str) -> None:
    name = missing_plan(org)
    for call in (
        stub.GetPlan(pb.GetPlanRequest(name=name)),
        stub.ApprovePlan(pb.ApprovePlanRequest(name=name)),
        stub.RejectPlan(pb.RejectPlanRequest(name=name)),
        stub.ConvertPlanToOrchestration(pb.ConvertPlanToOrchestrationRequest(name=name)),
        stub.SavePlanAsOrchestration(pb.SavePlanAsOrchestrationRequest(name=name, orchestration_id="x")),
    ):
        error = await expect_error(call, grpc.StatusCode.NOT_FOUND)
        assert error_reason(error) == "NOT_FOUND"


async def test_another_organizations_plans_are_not_found(stub: Stub, org: str, as_user: Member) -> None:
    plan = await create_plan(stub, org)
    await stub.ApprovePlan(pb.ApprovePlanRequest(name=(await create_plan(stub, org, "c2")).name))
    approved = (await listed(stub, org, status=plan_pb2.PLAN_STATUS_APPROVED))[0]
    outsider = as_user(as_member(new_org(), "admin"))
    for call in (
        outsider.GetPlan(pb.GetPlanRequest(name=plan.name)),
        outsider.ListPlans(pb.ListPlansRequest(parent=f"organizations/{org}")),
        outsider.CreatePlan(
            pb.CreatePlanRequest(
                parent=f"organizations/{org}",
                plan=plan_pb2.ConversationPlan(conversation_id="c", agent_slug="helper", plan=struct(PLAN)),
            )
        ),
        outsider.ApprovePlan(pb.ApprovePlanRequest(name=plan.name)),
        outsider.RejectPlan(pb.RejectPlanRequest(name=plan.name)),
        outsider.ConvertPlanToOrchestration(pb.ConvertPlanToOrchestrationRequest(name=plan.name)),
        outsider.SavePlanAsOrchestration(pb.SavePlanAsOrchestrationRequest(name=approved, orchestration_id="x")),
    ):
        await expect_error(call, grpc.StatusCode.NOT_FOUND)
    assert await get_plan(stub, plan.name) == plan
    assert len(await listed(stub, org)) == 2
    assert await orchestrations(stub, org) == []


async def test_roles_gate_each_plan_rpc(stub: Stub, org: str, as_user: Member) -> None:
    viewer = as_user(as_member(org, "viewer"))
    author = as_user(as_member(org, "author", subject="carol@example.com"))
    plan = await create_plan(author, org)
    assert plan.created_by == "carol@example.com"
    assert await get_plan(viewer, plan.name) == plan
    assert await listed(viewer, org) == [plan.name]
    await viewer.ConvertPlanToOrchestration(pb.ConvertPlanToOrchestrationRequest(name=plan.name))
    for call in (
        viewer.ApprovePlan(pb.ApprovePlanRequest(name=plan.name)),
        viewer.RejectPlan(pb.RejectPlanRequest(name=plan.name)),
        author.ApprovePlan(pb.ApprovePlanRequest(name=plan.name)),
        create_plan(viewer, org),
    ):
        error = await expect_error(call, grpc.StatusCode.PERMISSION_DENIED)
        assert error_reason(error) == "PERMISSION_DENIED"
    assert await get_plan(stub, plan.name) == plan
    await stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.name))
    await expect_error(
        viewer.SavePlanAsOrchestration(pb.SavePlanAsOrchestrationRequest(name=plan.name, orchestration_id="x")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    saved = await author.SavePlanAsOrchestration(
        pb.SavePlanAsOrchestrationRequest(name=plan.name, orchestration_id="x")
    )
    assert saved.version.author == "carol@example.com"
