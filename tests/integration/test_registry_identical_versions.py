"""Saving a definition identical to the current version (same digest: definition with its parameters, and prompt
templates) makes no new version: it answers with the current one (`unchanged`) and writes nothing — unless the
save asks for a new label, or carries another lineage (another plan, a copy of another version). Real gRPC on
SQLite and PostgreSQL, and the gateway's HTTP front."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import plan_pb2
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from tests.support.gateway import mint, platform
from tests.support.http import client, save_orchestration
from tests.support.registry import (
    TEMPLATES,
    create_orchestration,
    definition,
    edited,
    new_org,
    organization_with,
    registry_stub,
    struct,
    version_message,
)

Stub = pb_grpc.RegistryServiceStub
PLAN: dict[str, Any] = {
    "title": "Weekly brief",
    "parameters": [{"name": "topic", "type": "string", "required": True}],
    "steps": [{"title": "Collect", "instructions": "List sources on {{ params.topic }}"}],
}


@pytest.fixture
async def stub(database: DatabaseSettings) -> AsyncIterator[Stub]:
    async with registry_stub(database) as registry:
        yield registry


@pytest.fixture
async def org(stub: Stub) -> str:
    return await organization_with(stub, "helper", "writer")


def name(org: str, agent: str = "helper") -> str:
    """The orchestration create_orchestration makes (`research`) of `agent`."""
    return f"organizations/{org}/agents/{agent}/orchestrations/research"


async def numbers(stub: Stub, orchestration: str) -> list[int]:
    reply = await stub.ListOrchestrationVersions(pb.ListOrchestrationVersionsRequest(parent=orchestration))
    return [v.version_number for v in reply.versions]


async def save(stub: Stub, orchestration: str, version: opb.OrchestrationVersion, etag: str = "") -> Any:
    request = pb.CreateOrchestrationVersionRequest(parent=orchestration, version=version, etag=etag)
    return await stub.CreateOrchestrationVersion(request)


async def test_an_identical_save_answers_with_the_current_version_and_writes_nothing(stub: Stub, org: str) -> None:
    created = await create_orchestration(stub, org, label="1.0.0")
    before = (await stub.GetOrchestration(pb.GetOrchestrationRequest(name=name(org)))).orchestration
    again = await save(stub, name(org), version_message(change_note="no change, really"), etag=before.etag)
    assert again.unchanged
    assert again.version == created.version  # the current version as it was: its label, note and time
    assert again.orchestration == before  # same revision and etag: nothing was written
    assert await numbers(stub, name(org)) == [1]
    stale = await save(stub, name(org), version_message(), etag="an-etag-long-gone")
    assert stale.unchanged  # nothing would change, so nothing can be lost: no conflict
    same_label = await save(stub, name(org), version_message(label="1.0.0"))
    assert (same_label.unchanged, same_label.version.version_number) == (True, 1)
    assert (await stub.GetOrchestration(pb.GetOrchestrationRequest(name=name(org)))).orchestration == before


async def test_any_change_of_content_or_a_new_label_is_a_new_version(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org, label="1.0.0")
    labelled = await save(stub, name(org), version_message(label="1.0.1"))
    assert (labelled.unchanged, labelled.version.version_number, labelled.version.label) == (False, 2, "1.0.1")
    templates = [opb.PromptTemplate(name=t.name, template=t.template, description="now described") for t in TEMPLATES]
    described = await save(stub, name(org), version_message(prompt_templates=templates))
    assert (described.unchanged, described.version.version_number) == (False, 3)
    parameters = definition()
    parameters["parameters"][1]["default"] = 3
    assert (
        await save(stub, name(org), version_message(parameters, prompt_templates=templates))
    ).version.version_number == 4
    reverted = await save(stub, name(org), version_message())  # identical to version 1, not to the current one
    assert (reverted.unchanged, reverted.version.version_number) == (False, 5)
    assert reverted.version.digest == labelled.version.digest
    assert await numbers(stub, name(org)) == [5, 4, 3, 2, 1]


async def test_saving_a_plan_again_is_unchanged_but_another_plan_keeps_its_lineage(stub: Stub, org: str) -> None:
    async def approved(conversation: str) -> str:
        plan = await stub.CreatePlan(
            pb.CreatePlanRequest(
                parent=f"organizations/{org}",
                plan=plan_pb2.ConversationPlan(conversation_id=conversation, agent_slug="helper", plan=struct(PLAN)),
            )
        )
        await stub.ApprovePlan(pb.ApprovePlanRequest(name=plan.plan.name))
        return str(plan.plan.name)

    first_plan = await approved("conv-1")
    first = await stub.SavePlanAsOrchestration(
        pb.SavePlanAsOrchestrationRequest(name=first_plan, orchestration_id="brief")
    )
    again = await stub.SavePlanAsOrchestration(
        pb.SavePlanAsOrchestrationRequest(name=first_plan, orchestration_id="brief")
    )
    assert (first.created, first.unchanged, again.created, again.unchanged) == (True, False, False, True)
    assert again.version == first.version
    other_plan = await approved("conv-2")  # the same plan, from another conversation: its own lineage
    other = await stub.SavePlanAsOrchestration(
        pb.SavePlanAsOrchestrationRequest(name=other_plan, orchestration_id="brief")
    )
    assert (other.unchanged, other.version.version_number, other.version.source_plan) == (False, 2, other_plan)
    assert other.version.digest == first.version.digest
    lineage = (await stub.GetPlan(pb.GetPlanRequest(name=first_plan))).plan.saved_versions
    assert list(lineage) == [first.version.name]


async def test_promoting_the_same_version_again_is_unchanged(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org)
    source = f"{name(org)}/versions/1"
    promote = pb.PromoteOrchestrationVersionRequest(name=source, target_parent=f"organizations/{org}/agents/writer")
    first = await stub.PromoteOrchestrationVersion(promote)
    again = await stub.PromoteOrchestrationVersion(promote)
    assert (first.unchanged, again.unchanged, again.version) == (False, True, first.version)
    await save(stub, name(org), edited(1))
    newer = pb.PromoteOrchestrationVersionRequest(name=f"{name(org)}/versions/2", target_parent=promote.target_parent)
    assert (await stub.PromoteOrchestrationVersion(newer)).version.version_number == 2
    assert await numbers(stub, name(org, agent="writer")) == [2, 1]


async def test_over_http_an_identical_save_says_unchanged(database: DatabaseSettings) -> None:
    org = new_org()
    async with platform(database) as p, client(p.gateway, mint(org, "author")) as http:
        document = {"schema_version": 1, "phases": [{"id": "main", "steps": [{"id": "a", "kind": "noop"}]}]}
        flow = (await save_orchestration(http, org, document))["orchestration"]["name"]
        again = await http.post(f"/v1/{flow}/versions", json={"version": {"definition": document}})
        assert again.status_code == 200, again.text
        assert again.json()["unchanged"] is True
        assert again.json()["version"]["versionNumber"] == "1"
        listed = await http.get(f"/v1/{flow}/versions")
        assert [v["versionNumber"] for v in listed.json()["versions"]] == ["1"]
