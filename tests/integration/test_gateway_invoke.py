"""GatewayService/Invoke through a real gateway in front of real services, with the real reference agents over HTTP:
every mode's happy path, every mode's invalid inputs (field named, nothing written), the role per mode, tenancy,
idempotent launches, and backend errors relayed unchanged."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import json_format
from pydantic import SecretStr

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as cred
from agentorch.credentials.v1 import credentials_service_pb2_grpc as cred_grpc
from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.registry.v1 import plan_pb2
from agentorch.registry.v1 import registry_service_pb2 as reg
from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from agentorch.runs.v1 import runs_service_pb2_grpc as runs_grpc
from reference_agents import a2a_agent, openai_agent, serving
from services.common.settings import DatabaseSettings
from tests.support.gateway import Platform, drop_schemas, mint, new_org, platform
from tests.support.registry import agent_message, struct
from tests.support.rpc import bad_request_fields, error_info
from tests.support.runs import FINAL, wait_for_status

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEFINITION: dict[str, Any] = {
    "schema_version": 1,
    "parameters": [{"name": "topic", "type": "string", "required": True}],
    "phases": [
        {
            "id": "main",
            "steps": [
                {"id": "hello", "kind": "echo", "message": "Researching {{ params.topic }}"},
                {"id": "review", "kind": "checkpoint", "depends_on": ["hello"], "checkpoint": {"title": "Go on?"}},
                {"id": "summary", "kind": "template", "prompt_template": "summary", "depends_on": ["review"]},
            ],
        }
    ],
}
TEMPLATES = [gw.InvokePromptTemplate(name="summary", template="Summary of {{ params.topic }}")]
PLAN: dict[str, Any] = {
    "title": "Research",
    "summary": "Research, then write",
    "parameters": [],
    "steps": [{"title": "Research", "instructions": "Research it"}],
}
MODE = gw.AgentMode
OPERATOR_MODES = (
    "AGENT_MODE_PLAN",
    "AGENT_MODE_BUILD",
    "AGENT_MODE_ORCHESTRATE_EXECUTE",
    "AGENT_MODE_ORCHESTRATE_CONTINUE",
)
AUTHOR_MODES = ("AGENT_MODE_ORCHESTRATE_CREATE", "AGENT_MODE_ORCHESTRATE_SAVE_RECIPE")


SECRET = "sk-vaulted-" + uuid.uuid4().hex
#: What the planning agent answers (its prompt → its answer): a plan as JSON, one explained around a ```json block, a
#: JSON object that is no convertible plan, and prose.
PLANNED = {
    "title": "Weekly brief",
    "summary": "Collect sources, then write",
    "parameters": [{"name": "topic", "type": "string", "required": True}],
    "steps": [
        {"title": "Collect", "instructions": "List five sources on {{ params.topic }}"},
        {"title": "Write", "instructions": "Write the brief", "depends_on": ["collect"], "requires_approval": True},
    ],
}
PLANNER_ANSWERS = {
    "plan the brief": json.dumps(PLANNED),
    "plan it, explained": f"Here is my plan:\n```json\n{json.dumps(PLANNED, indent=2)}\n```\nShall I start?",
    "plan badly": json.dumps({"title": "No steps at all"}),
    "chat": "I would rather talk about it.",
}


@dataclass
class World:
    platform: Platform
    a2a_url: str
    openai_url: str
    vaulted_url: str  # an OpenAI-compatible agent that demands SECRET
    planner_url: str  # an A2A agent answering PLANNER_ANSWERS


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("invoke") / "test.db"
        database = DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{path}"))
    else:
        url = request.getfixturevalue("postgres_url")
        database = DatabaseSettings(url=SecretStr(url), schema_name=f"t_{uuid.uuid4().hex[:16]}")
    try:
        async with AsyncExitStack() as stack:
            a2a = await stack.enter_async_context(serving(a2a_agent.create_app("scout")))
            llm = await stack.enter_async_context(serving(openai_agent.create_app("scribe")))
            vaulted = await stack.enter_async_context(serving(openai_agent.create_app("vaulted", api_key=SECRET)))
            planner = await stack.enter_async_context(serving(a2a_agent.create_app("planner", answers=PLANNER_ANSWERS)))
            running = await stack.enter_async_context(platform(database, real_agents=True))
            yield World(running, a2a.url, f"{llm.url}/v1", f"{vaulted.url}/v1", planner.url)
    finally:
        if database.is_postgresql:
            await drop_schemas(database.url.get_secret_value(), database.schema_name)


@dataclass
class Org:
    """An organization with its agents (scout: A2A, scribe: OpenAI-compatible, helper: no endpoint) and stubs."""

    slug: str
    world: World
    admin: grpc.aio.Channel

    @property
    def parent(self) -> str:
        return f"organizations/{self.slug}"

    async def gateway(self, *roles: str, subject: str = "alice@example.com") -> gw_grpc.GatewayServiceStub:
        return gw_grpc.GatewayServiceStub(await self.world.platform.channel(mint(self.slug, *roles, subject=subject)))

    @property
    def registry(self) -> reg_grpc.RegistryServiceStub:
        return reg_grpc.RegistryServiceStub(self.admin)

    @property
    def runs(self) -> runs_grpc.RunsServiceStub:
        return runs_grpc.RunsServiceStub(self.admin)

    async def counts(self) -> dict[str, int]:
        """How many plans, runs, orchestrations and versions the organization has (to prove nothing was written)."""
        plans = await self.registry.ListPlans(reg.ListPlansRequest(parent=self.parent, page_size=500))
        listed = await self.runs.ListRuns(runs.ListRunsRequest(parent=self.parent, page_size=500))
        orchestrations = await self.registry.ListOrchestrations(
            reg.ListOrchestrationsRequest(parent=f"{self.parent}/agents/-", page_size=500)
        )
        versions = sum(o.current_version for o in orchestrations.orchestrations)
        return {
            "plans": len(plans.plans),
            "runs": len(listed.runs),
            "orchestrations": len(orchestrations.orchestrations),
            "versions": versions,
        }


@pytest_asyncio.fixture(loop_scope="module")
async def org(world: World) -> Org:
    slug = new_org()
    admin = await world.platform.channel(mint(slug, "admin"))
    registry = reg_grpc.RegistryServiceStub(admin)
    await registry.CreateAgent(
        reg.CreateAgentRequest(
            agent=agent_message(
                slug,
                "scout",
                config=struct({"protocol": "a2a", "endpoint": world.a2a_url}),
                agent_card=struct({"name": "scout", "url": world.a2a_url}),
            )
        )
    )
    await registry.CreateAgent(
        reg.CreateAgentRequest(
            agent=agent_message(
                slug, "scribe", config=struct({"protocol": "openai", "endpoint": world.openai_url, "model": "m"})
            )
        )
    )
    await registry.CreateAgent(
        reg.CreateAgentRequest(
            agent=agent_message(
                slug, "vaulted", config=struct({"protocol": "openai", "endpoint": world.vaulted_url, "model": "m"})
            )
        )
    )
    await registry.CreateAgent(reg.CreateAgentRequest(agent=agent_message(slug, "helper")))
    await registry.CreateAgent(
        reg.CreateAgentRequest(
            agent=agent_message(slug, "planner", config=struct({"protocol": "a2a", "endpoint": world.planner_url}))
        )
    )
    await cred_grpc.CredentialsServiceStub(admin).CreateCredential(
        cred.CreateCredentialRequest(
            parent=f"organizations/{slug}",
            alias="vaulted.key",
            credential=cpb.Credential(type=cpb.CREDENTIAL_TYPE_API_KEY, allowed_agents=["vaulted"]),
            value=SECRET,
        )
    )
    return Org(slug, world, admin)


def request(mode: str, parent: str, **fields: Any) -> gw.InvokeRequest:
    message = gw.InvokeRequest(mode=MODE.Value(mode), parent=parent)
    for name, value in fields.items():
        if isinstance(value, dict):
            getattr(message, name).CopyFrom(struct(value))
        elif name in ("prompt_templates", "credentials"):
            getattr(message, name).extend(value)
        else:
            setattr(message, name, value)
    return message


async def expect(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, (caught.value.code(), caught.value.details())
    return caught.value


def meta(response: gw.InvokeResponse) -> dict[str, Any]:
    value: dict[str, Any] = json_format.MessageToDict(response.metadata)
    return value


async def saved_orchestration(o: Org, slug: str = "brief") -> str:
    author = await o.gateway("author")
    await author.Invoke(
        request(
            "AGENT_MODE_ORCHESTRATE_CREATE",
            o.parent,
            agent_slug="helper",
            orchestration_id=slug,
            definition=DEFINITION,
            prompt_templates=TEMPLATES,
            label="1.0.0",
        )
    )
    return f"{o.parent}/agents/helper/orchestrations/{slug}"


async def approved_plan(o: Org) -> str:
    plan = await o.registry.CreatePlan(
        reg.CreatePlanRequest(
            parent=o.parent,
            plan=plan_pb2.ConversationPlan(conversation_id="c1", agent_slug="helper", plan=struct(PLAN)),
        )
    )
    await o.registry.ApprovePlan(reg.ApprovePlanRequest(name=plan.plan.name))
    return str(plan.plan.name)


# --- plan / build: the single-call pass-through --------------------------------------------------------------------


async def test_plan_and_build_return_the_agents_answer_and_the_run(org: Org) -> None:
    operator = await org.gateway("operator", subject="ops@example.com")
    message = "outline {{ not a template }} for Q3"  # reaches the agent verbatim
    planned = await operator.Invoke(
        request("AGENT_MODE_PLAN", org.parent, agent_slug="scout", message=message), timeout=30
    )
    assert planned.mode == MODE.Value("AGENT_MODE_PLAN")
    assert planned.output == f"scout received: {message}"
    assert meta(planned)["status"] == "RUN_STATUS_COMPLETED"
    assert meta(planned)["step_status"] == "STEP_STATUS_SUCCEEDED"
    run = (await org.runs.GetRun(runs.GetRunRequest(name=planned.run))).run  # the audit trail
    assert run.origin_type == run_pb2.ORIGIN_TYPE_AD_HOC
    assert run.created_by == "ops@example.com"
    assert json_format.MessageToDict(run.metadata) == {"invoke": {"mode": "plan", "agent": "scout"}}

    built = await operator.Invoke(
        request("AGENT_MODE_BUILD", org.parent, agent_slug="scribe", message="build it"), timeout=30
    )
    assert built.output == "scribe received: build it"
    assert built.run != planned.run


async def test_plan_mode_stores_the_agents_plan_as_a_draft_of_the_conversation(org: Org) -> None:
    operator = await org.gateway("operator")
    first = await operator.Invoke(
        request(
            "AGENT_MODE_PLAN", org.parent, agent_slug="planner", message="plan the brief", conversation_id="conv-7"
        ),
        timeout=30,
    )
    assert first.output == json.dumps(PLANNED)
    stored = meta(first)["conversation_plan"]
    assert (stored["stored"], stored["plan"], stored["status"]) == (True, first.plan, "PLAN_STATUS_DRAFT")
    assert stored["validation"]["valid"] is True
    plan = (await org.registry.GetPlan(reg.GetPlanRequest(name=first.plan))).plan
    assert (plan.conversation_id, plan.agent_slug, plan.status) == ("conv-7", "planner", plan_pb2.PLAN_STATUS_DRAFT)
    assert json_format.MessageToDict(plan.plan) == PLANNED
    assert plan.created_by == "alice@example.com"  # recorded as the caller

    second = await operator.Invoke(  # a newer plan of the conversation supersedes the draft, as CreatePlan does
        request(
            "AGENT_MODE_PLAN", org.parent, agent_slug="planner", message="plan it, explained", conversation_id="conv-7"
        ),
        timeout=30,
    )
    assert second.plan not in ("", first.plan)
    superseded = (await org.registry.GetPlan(reg.GetPlanRequest(name=first.plan))).plan
    assert superseded.status == plan_pb2.PLAN_STATUS_SUPERSEDED

    # approve → save → launch, from the plan's name alone
    await org.registry.ApprovePlan(reg.ApprovePlanRequest(name=second.plan))
    author = await org.gateway("author")
    saved = await author.Invoke(
        request("AGENT_MODE_ORCHESTRATE_SAVE_RECIPE", org.parent, target=second.plan, orchestration_id="weekly")
    )
    assert saved.orchestration_version == f"{org.parent}/agents/planner/orchestrations/weekly/versions/1"
    launched = await operator.Invoke(
        request(
            "AGENT_MODE_ORCHESTRATE_EXECUTE",
            org.parent,
            target=saved.orchestration_version,
            prompt_inputs={"topic": "tides"},
        )
    )
    assert meta(launched)["origin_type"] == "ORIGIN_TYPE_SAVED_ORCHESTRATION"
    assert launched.orchestration_version == saved.orchestration_version


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"message": "plan the brief"}, "no conversation_id was given"),
        ({"message": "chat", "conversation_id": "conv-8"}, "not a plan"),
        ({"message": "plan [fail]", "conversation_id": "conv-8"}, "did not answer"),
    ],
)
async def test_plan_mode_says_when_it_stored_no_plan(org: Org, fields: dict[str, Any], reason: str) -> None:
    operator = await org.gateway("operator")
    before = await org.counts()
    answered = await operator.Invoke(request("AGENT_MODE_PLAN", org.parent, agent_slug="planner", **fields), timeout=30)
    assert answered.run  # the agent was asked: the run is its audit trail
    assert answered.plan == ""
    stored = meta(answered)["conversation_plan"]
    assert stored["stored"] is False
    assert reason in stored["reason"]
    assert await org.counts() == {**before, "runs": before["runs"] + 1}  # no plan


async def test_plan_mode_stores_a_plan_that_would_not_convert_and_says_why(org: Org) -> None:
    operator = await org.gateway("operator")
    answered = await operator.Invoke(
        request("AGENT_MODE_PLAN", org.parent, agent_slug="planner", message="plan badly", conversation_id="conv-9"),
        timeout=30,
    )
    stored = meta(answered)["conversation_plan"]
    assert (stored["stored"], stored["plan"]) == (True, answered.plan)  # a draft, as CreatePlan keeps any object
    assert stored["validation"]["valid"] is False
    assert any(v["field"].startswith("plan.steps") for v in stored["validation"]["violations"])


@pytest.mark.parametrize(("mode", "conversation_id"), [("AGENT_MODE_BUILD", "conv-1"), ("AGENT_MODE_PLAN", "bad\nid")])
async def test_a_conversation_id_that_cannot_be_stored_is_refused_before_the_agent_is_called(
    org: Org, mode: str, conversation_id: str
) -> None:
    operator = await org.gateway("operator")
    before = await org.counts()
    error = await expect(
        operator.Invoke(
            request(mode, org.parent, agent_slug="planner", message="plan the brief", conversation_id=conversation_id)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_request_fields(error) == {"conversation_id"}
    assert await org.counts() == before


async def test_credentials_of_a_pass_through_are_resolved_by_the_runs_service(org: Org) -> None:
    admin = await org.gateway("admin")
    call = request("AGENT_MODE_BUILD", org.parent, agent_slug="vaulted", message="hi", credentials=["vaulted.key"])
    answered = await admin.Invoke(call, timeout=30)
    assert answered.output == "vaulted received: hi"
    assert SECRET not in str(answered)
    audit = await cred_grpc.CredentialsServiceStub(org.admin).ListAuditEvents(
        cred.ListAuditEventsRequest(parent=org.parent, action=cpb.AUDIT_ACTION_RESOLVE)
    )
    assert [e.run for e in audit.events] == [answered.run]  # resolved for the run, inside the platform
    operator = await org.gateway("operator")
    refused = await operator.Invoke(
        request("AGENT_MODE_BUILD", org.parent, agent_slug="vaulted", message="hi"), timeout=30
    )
    assert meta(refused)["status"] == "RUN_STATUS_FAILED"  # without the alias the agent says 401
    assert SECRET not in str(refused)


@pytest.mark.parametrize(
    ("mode", "fields"),
    [
        ("AGENT_MODE_PLAN", {"agent_slug": "vaulted", "message": "hi", "credentials": ["vaulted.key"]}),
        ("AGENT_MODE_BUILD", {"agent_slug": "scribe", "message": "hi", "credentials": ["vaulted.key"]}),
        (
            "AGENT_MODE_ORCHESTRATE_EXECUTE",
            {
                "definition": {
                    "schema_version": 1,
                    "phases": [
                        {
                            "id": "main",
                            "steps": [
                                {
                                    "id": "leak",
                                    "kind": "agent",
                                    "agent": "scribe",
                                    "prompt": "hi",
                                    "credentials": ["vaulted.key"],
                                }
                            ],
                        }
                    ],
                }
            },
        ),
    ],
)
async def test_naming_credentials_outside_a_saved_orchestration_needs_admin(
    org: Org, mode: str, fields: dict[str, Any]
) -> None:
    before = await org.counts()
    operator = await org.gateway("operator", "approver")
    error = await expect(
        operator.Invoke(request(mode, org.parent, **fields), timeout=30), grpc.StatusCode.PERMISSION_DENIED
    )
    info = error_info(error)
    assert (info.reason, info.metadata["required_role"], info.metadata["enforced_by"]) == (
        "PERMISSION_DENIED",
        "admin",
        "gateway",
    )
    assert "vaulted.key" in (error.details() or "")
    assert await org.counts() == before  # no run
    audit = await cred_grpc.CredentialsServiceStub(org.admin).ListAuditEvents(
        cred.ListAuditEventsRequest(parent=org.parent, action=cpb.AUDIT_ACTION_RESOLVE)
    )
    assert list(audit.events) == []  # the vault was never asked


async def test_a_call_whose_deadline_comes_first_answers_with_the_run_still_running(org: Org) -> None:
    operator = await org.gateway("operator")
    slow = request("AGENT_MODE_PLAN", org.parent, agent_slug="scout", message="[slow:5] think hard")
    answered = await operator.Invoke(slow, timeout=2)  # the gateway answers a margin (1 s) before it
    assert meta(answered)["status"] in ("RUN_STATUS_PENDING", "RUN_STATUS_RUNNING")
    assert answered.output == ""
    await org.runs.CancelRun(runs.CancelRunRequest(name=answered.run, reason="test over"))


async def test_a_repeated_request_id_returns_the_same_call(org: Org) -> None:
    operator = await org.gateway("operator")
    call = request("AGENT_MODE_PLAN", org.parent, agent_slug="scout", message="once", request_id="plan-1")
    first = await operator.Invoke(call, timeout=30)
    before = await org.counts()
    again = await operator.Invoke(call, timeout=30)
    assert (again.run, again.output) == (first.run, "scout received: once")
    assert await org.counts() == before


async def test_an_agents_question_comes_back_as_an_open_checkpoint_and_continue_answers_it(org: Org) -> None:
    operator = await org.gateway("operator")
    asked = await operator.Invoke(
        request("AGENT_MODE_PLAN", org.parent, agent_slug="scout", message="[input-required:Which region?] plan"),
        timeout=30,
    )
    assert meta(asked)["status"] == "RUN_STATUS_PAUSED"
    assert asked.output == ""
    (checkpoint,) = asked.open_checkpoints
    assert checkpoint.startswith(f"{asked.run}/checkpoints/")

    approver = await org.gateway("approver")
    decided = await approver.Invoke(
        request(
            "AGENT_MODE_ORCHESTRATE_CONTINUE", org.parent, checkpoint=checkpoint, decision="approve", comment="Europe"
        )
    )
    assert decided.run == asked.run
    assert meta(decided)["checkpoint"] == checkpoint
    assert meta(decided)["checkpoint_status"] == "CHECKPOINT_STATUS_APPROVED"
    done = await wait_for_status(org.runs, asked.run, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert done.steps[0].output.string_value == "scout received: Europe"


async def test_an_agent_failure_is_reported_with_the_run(org: Org) -> None:
    operator = await org.gateway("operator")
    failed = await operator.Invoke(
        request("AGENT_MODE_BUILD", org.parent, agent_slug="scout", message="[fail] build"), timeout=30
    )
    assert meta(failed)["status"] == "RUN_STATUS_FAILED"
    assert meta(failed)["step_status"] == "STEP_STATUS_FAILED"
    assert "scout" in meta(failed)["error"]
    assert failed.output == ""
    assert failed.run


# --- orchestrate_create --------------------------------------------------------------------------------------------


async def test_create_records_a_plan_with_its_conversion_preview(org: Org) -> None:
    author = await org.gateway("author")
    created = await author.Invoke(
        request("AGENT_MODE_ORCHESTRATE_CREATE", org.parent, agent_slug="helper", conversation_id="conv-1", plan=PLAN)
    )
    plan = (await org.registry.GetPlan(reg.GetPlanRequest(name=created.plan))).plan
    assert (plan.conversation_id, plan.agent_slug, plan.status) == ("conv-1", "helper", plan_pb2.PLAN_STATUS_DRAFT)
    metadata = meta(created)
    assert metadata["status"] == "PLAN_STATUS_DRAFT"
    assert metadata["validation"]["valid"] is True
    assert "prompt_templates" in metadata
    assert created.run == ""


async def test_create_saves_a_definition_as_a_new_orchestration(org: Org) -> None:
    author = await org.gateway("author")
    created = await author.Invoke(
        request(
            "AGENT_MODE_ORCHESTRATE_CREATE",
            org.parent,
            agent_slug="helper",
            orchestration_id="weekly",
            definition=DEFINITION,
            prompt_templates=TEMPLATES,
            display_name="Weekly brief",
            label="1.0.0",
            comment="first cut",
        )
    )
    orchestration = f"{org.parent}/agents/helper/orchestrations/weekly"
    assert created.orchestration_version == f"{orchestration}/versions/1"
    metadata = meta(created)
    assert metadata["status"] == "ORCHESTRATION_STATUS_ACTIVE"
    assert metadata["created"] is True
    assert metadata["prompt_templates"] == ["summary"]
    assert metadata["parameters"][0]["name"] == "topic"
    assert metadata["validation"] == {"valid": True}
    saved = await org.registry.GetOrchestration(reg.GetOrchestrationRequest(name=orchestration))
    assert saved.orchestration.display_name == "Weekly brief"
    assert (saved.version.label, saved.version.change_note) == ("1.0.0", "first cut")


async def test_an_invalid_definition_gets_the_registrys_violations_unchanged(org: Org) -> None:
    author = await org.gateway("author")
    broken = {**DEFINITION, "phases": [{"id": "main", "steps": [{"id": "x", "kind": "teleport"}]}]}
    before = await org.counts()
    error = await expect(
        author.Invoke(
            request(
                "AGENT_MODE_ORCHESTRATE_CREATE",
                org.parent,
                agent_slug="helper",
                orchestration_id="broken",
                definition=broken,
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert error_info(error).reason == "VALIDATION_FAILED"
    assert any(f.startswith("version.definition") for f in bad_request_fields(error)), bad_request_fields(error)
    assert await org.counts() == before


# --- orchestrate_execute -------------------------------------------------------------------------------------------


async def test_execute_launches_an_orchestration_a_version_a_label_a_plan_and_ad_hoc(org: Org) -> None:
    orchestration = await saved_orchestration(org)
    plan = await approved_plan(org)
    operator = await org.gateway("operator")
    inputs = {"topic": "tides"}
    for target in (orchestration, f"{orchestration}/versions/1", f"{orchestration}/versions/1.0.0"):
        launched = await operator.Invoke(
            request("AGENT_MODE_ORCHESTRATE_EXECUTE", org.parent, target=target, prompt_inputs=inputs)
        )
        assert launched.orchestration_version == f"{orchestration}/versions/1", target
        assert meta(launched)["status"] in ("RUN_STATUS_PENDING", "RUN_STATUS_RUNNING", "RUN_STATUS_PAUSED")
        assert meta(launched)["origin_type"] == "ORIGIN_TYPE_SAVED_ORCHESTRATION"
    from_plan = await operator.Invoke(request("AGENT_MODE_ORCHESTRATE_EXECUTE", org.parent, target=plan))
    assert from_plan.plan == plan
    assert meta(from_plan)["origin_type"] == "ORIGIN_TYPE_PLAN"
    ad_hoc = await operator.Invoke(
        request(
            "AGENT_MODE_ORCHESTRATE_EXECUTE",
            org.parent,
            definition=DEFINITION,
            prompt_templates=TEMPLATES,
            prompt_inputs=inputs,
        )
    )
    assert meta(ad_hoc)["origin_type"] == "ORIGIN_TYPE_AD_HOC"
    paused = await wait_for_status(org.runs, ad_hoc.run, {run_pb2.RUN_STATUS_PAUSED})
    assert len(paused.open_checkpoints) == 1


async def test_execute_is_idempotent_per_request_id(org: Org) -> None:
    orchestration = await saved_orchestration(org)
    operator = await org.gateway("operator")
    call = request(
        "AGENT_MODE_ORCHESTRATE_EXECUTE",
        org.parent,
        target=orchestration,
        prompt_inputs={"topic": "x"},
        request_id="launch-1",
    )
    first = await operator.Invoke(call)
    before = await org.counts()
    second = await operator.Invoke(call)
    assert second.run == first.run
    assert await org.counts() == before


async def test_launch_errors_of_the_runs_service_come_back_unchanged(org: Org) -> None:
    orchestration = await saved_orchestration(org)
    operator = await org.gateway("operator")
    before = await org.counts()
    error = await expect(
        operator.Invoke(request("AGENT_MODE_ORCHESTRATE_EXECUTE", org.parent, target=orchestration)),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "prompt_inputs.topic" in bad_request_fields(error)
    missing = await expect(
        operator.Invoke(
            request("AGENT_MODE_ORCHESTRATE_EXECUTE", org.parent, target=f"{orchestration}/versions/no-such-label")
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert error_info(missing).reason == "NOT_FOUND"
    assert await org.counts() == before


# --- orchestrate_continue ------------------------------------------------------------------------------------------


async def paused_run(o: Org) -> run_pb2.Run:
    orchestration = await saved_orchestration(o, f"flow-{uuid.uuid4().hex[:6]}")
    launched = await o.runs.CreateRun(
        runs.CreateRunRequest(parent=o.parent, orchestration=orchestration, prompt_inputs=struct({"topic": "x"}))
    )
    return await wait_for_status(o.runs, launched.run.name, {run_pb2.RUN_STATUS_PAUSED})


async def test_continue_decides_a_checkpoint_and_the_run_completes(org: Org) -> None:
    run = await paused_run(org)
    (checkpoint,) = run.open_checkpoints
    approver = await org.gateway("approver", subject="boss@example.com")
    decided = await approver.Invoke(
        request("AGENT_MODE_ORCHESTRATE_CONTINUE", org.parent, checkpoint=checkpoint, decision="APPROVE", comment="go")
    )
    assert decided.run == run.name
    assert decided.open_checkpoints == []
    done = await wait_for_status(org.runs, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    assert {s.step_id: s.output.string_value for s in done.steps}["summary"] == "Summary of x"
    second = await expect(
        approver.Invoke(
            request("AGENT_MODE_ORCHESTRATE_CONTINUE", org.parent, checkpoint=checkpoint, decision="reject")
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_info(second).reason == "FAILED_PRECONDITION"


async def test_continue_resumes_an_operator_paused_run(org: Org) -> None:
    run = await paused_run(org)
    await org.runs.PauseRun(runs.PauseRunRequest(name=run.name))
    operator = await org.gateway("operator")
    for field in ("target", "checkpoint"):  # the run may be named in either
        resumed = await operator.Invoke(request("AGENT_MODE_ORCHESTRATE_CONTINUE", org.parent, **{field: run.name}))
        assert resumed.run == run.name
        assert meta(resumed)["status_reason"] != "operator"
        assert len(resumed.open_checkpoints) == 1
        await org.runs.PauseRun(runs.PauseRunRequest(name=run.name))


async def test_deciding_still_needs_the_checkpoints_role(org: Org) -> None:
    run = await paused_run(org)
    operator = await org.gateway("operator")
    error = await expect(
        operator.Invoke(
            request(
                "AGENT_MODE_ORCHESTRATE_CONTINUE", org.parent, checkpoint=run.open_checkpoints[0], decision="approve"
            )
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert error_info(error).metadata.get("enforced_by") != "gateway"  # the runs service said so


# --- orchestrate_save_recipe ---------------------------------------------------------------------------------------


async def test_save_recipe_from_a_plan(org: Org) -> None:
    plan = await approved_plan(org)
    author = await org.gateway("author")
    saved = await author.Invoke(
        request("AGENT_MODE_ORCHESTRATE_SAVE_RECIPE", org.parent, target=plan, orchestration_id="from-plan", label="v1")
    )
    assert saved.plan == plan
    assert saved.orchestration_version == f"{org.parent}/agents/helper/orchestrations/from-plan/versions/1"
    assert meta(saved)["source_plan"] == plan
    assert meta(saved)["created"] is True


async def test_save_recipe_from_a_run_keeps_its_templates_and_lineage(org: Org) -> None:
    run = await paused_run(org)
    author = await org.gateway("author")
    call = request(
        "AGENT_MODE_ORCHESTRATE_SAVE_RECIPE", org.parent, target=run.name, orchestration_id="recipe", comment="good one"
    )
    first = await author.Invoke(call)
    orchestration = f"{org.parent}/agents/helper/orchestrations/recipe"
    assert first.orchestration_version == f"{orchestration}/versions/1"
    assert first.run == run.name
    assert meta(first)["created"] is True
    assert meta(first)["lineage"] == {
        "source_run": run.name,
        "source_origin": run.origin,
        "source_origin_type": "ORIGIN_TYPE_SAVED_ORCHESTRATION",
    }
    version = (
        await org.registry.GetOrchestrationVersion(reg.GetOrchestrationVersionRequest(name=first.orchestration_version))
    ).version
    assert version.change_note == f"good one — saved from run {run.name} (origin {run.origin})"
    assert [t.name for t in version.prompt_templates] == ["summary"]
    assert json_format.MessageToDict(version.definition) == json_format.MessageToDict(run.definition)

    second = await author.Invoke(call)  # identical to the current version: answered with it, nothing saved
    assert second.orchestration_version == f"{orchestration}/versions/1"
    assert (meta(second)["created"], meta(second)["unchanged"]) == (False, True)
    call.label = "1.1.0"
    third = await author.Invoke(call)  # the orchestration exists now: a new label is a new version
    assert third.orchestration_version == f"{orchestration}/versions/2"
    assert (meta(third)["created"], meta(third)["unchanged"], meta(third)["label"]) == (False, False, "1.1.0")


async def test_save_recipe_from_an_ad_hoc_run_needs_an_agent(org: Org) -> None:
    simple = {"schema_version": 1, "phases": [{"id": "main", "steps": [{"id": "hi", "kind": "echo", "message": "hi"}]}]}
    launched = await org.runs.CreateRun(
        runs.CreateRunRequest(parent=org.parent, ad_hoc=runs.AdHocDefinition(definition=struct(simple)))
    )
    author = await org.gateway("author")
    before = await org.counts()
    error = await expect(
        author.Invoke(
            request(
                "AGENT_MODE_ORCHESTRATE_SAVE_RECIPE", org.parent, target=launched.run.name, orchestration_id="adhoc"
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_request_fields(error) == {"agent_slug"}
    assert await org.counts() == before
    saved = await author.Invoke(
        request(
            "AGENT_MODE_ORCHESTRATE_SAVE_RECIPE",
            org.parent,
            target=launched.run.name,
            orchestration_id="adhoc",
            agent_slug="helper",
        )
    )
    assert meta(saved)["lineage"]["source_origin_type"] == "ORIGIN_TYPE_AD_HOC"


async def test_an_ad_hoc_run_is_saved_as_a_recipe_with_its_pinned_templates(org: Org) -> None:
    launched = await org.runs.CreateRun(
        runs.CreateRunRequest(
            parent=org.parent,
            ad_hoc=runs.AdHocDefinition(
                definition=struct(DEFINITION),
                prompt_templates=[runs.AdHocPromptTemplate(name="summary", template="S")],
            ),
            prompt_inputs=struct({"topic": "x"}),
        )
    )
    assert [(t.name, t.template) for t in launched.run.prompt_templates] == [("summary", "S")]
    author = await org.gateway("author")
    reply = await author.Invoke(
        request(
            "AGENT_MODE_ORCHESTRATE_SAVE_RECIPE",
            org.parent,
            target=launched.run.name,
            orchestration_id="kept",
            agent_slug="helper",
        )
    )
    version = await org.registry.GetOrchestrationVersion(
        reg.GetOrchestrationVersionRequest(name=reply.orchestration_version)
    )
    assert [(t.name, t.template) for t in version.version.prompt_templates] == [("summary", "S")]
    assert launched.run.name in version.version.change_note


# --- invalid input: every mode names its fields and writes nothing ------------------------------------------------

RUN = f"/runs/{uuid.uuid4()}"
CHECKPOINT = f"{RUN}/checkpoints/{uuid.uuid4()}"
PLAN_NAME = f"/plans/{uuid.uuid4()}"
ORCHESTRATION = "/agents/helper/orchestrations/none"

INVALID: list[tuple[str, dict[str, Any], set[str]]] = [
    ("AGENT_MODE_UNSPECIFIED", {"agent_slug": "scout", "message": "hi"}, {"mode"}),
    ("AGENT_MODE_PLAN", {}, {"agent_slug", "message"}),
    ("AGENT_MODE_PLAN", {"agent_slug": "scout", "message": "hi", "parent": ""}, {"parent"}),
    ("AGENT_MODE_PLAN", {"agent_slug": "Not A Slug", "message": "hi", "target": "x"}, {"agent_slug", "target"}),
    ("AGENT_MODE_BUILD", {"agent_slug": "scout", "message": "hi", "decision": "approve"}, {"decision"}),
    (
        "AGENT_MODE_BUILD",
        {"agent_slug": "scout", "message": "hi", "credentials": ["ok", "has space"]},
        {"credentials[1]"},
    ),
    ("AGENT_MODE_ORCHESTRATE_EXECUTE", {"target": "{org}" + ORCHESTRATION, "credentials": ["a"]}, {"credentials"}),
    ("AGENT_MODE_ORCHESTRATE_CREATE", {"agent_slug": "helper"}, {"plan"}),
    ("AGENT_MODE_ORCHESTRATE_CREATE", {"agent_slug": "helper", "plan": PLAN, "definition": DEFINITION}, {"definition"}),
    ("AGENT_MODE_ORCHESTRATE_CREATE", {"plan": PLAN, "label": "1"}, {"agent_slug", "conversation_id", "label"}),
    (
        "AGENT_MODE_ORCHESTRATE_CREATE",
        {"agent_slug": "helper", "definition": DEFINITION, "conversation_id": "c"},
        {"orchestration_id", "conversation_id"},
    ),
    ("AGENT_MODE_ORCHESTRATE_EXECUTE", {}, {"target"}),
    ("AGENT_MODE_ORCHESTRATE_EXECUTE", {"target": "organizations/someone-else" + ORCHESTRATION}, {"target"}),
    ("AGENT_MODE_ORCHESTRATE_EXECUTE", {"target": "{org}" + RUN}, {"target"}),
    (
        "AGENT_MODE_ORCHESTRATE_EXECUTE",
        {"target": "{org}" + ORCHESTRATION, "decision": "approve", "message": "m"},
        {"decision", "message"},
    ),
    ("AGENT_MODE_ORCHESTRATE_EXECUTE", {"target": "{org}" + ORCHESTRATION, "definition": DEFINITION}, {"target"}),
    ("AGENT_MODE_ORCHESTRATE_CONTINUE", {}, {"checkpoint"}),
    ("AGENT_MODE_ORCHESTRATE_CONTINUE", {"checkpoint": "{org}" + CHECKPOINT}, {"decision"}),
    ("AGENT_MODE_ORCHESTRATE_CONTINUE", {"checkpoint": "{org}" + CHECKPOINT, "decision": "maybe"}, {"decision"}),
    ("AGENT_MODE_ORCHESTRATE_CONTINUE", {"decision": "approve"}, {"checkpoint"}),
    ("AGENT_MODE_ORCHESTRATE_CONTINUE", {"target": "{org}" + RUN, "comment": "x"}, {"comment"}),
    ("AGENT_MODE_ORCHESTRATE_CONTINUE", {"target": "{org}" + PLAN_NAME}, {"target"}),
    ("AGENT_MODE_ORCHESTRATE_SAVE_RECIPE", {}, {"target", "orchestration_id"}),
    (
        "AGENT_MODE_ORCHESTRATE_SAVE_RECIPE",
        {"target": "{org}" + PLAN_NAME, "orchestration_id": "ok", "agent_slug": "helper"},
        {"agent_slug"},
    ),
    (
        "AGENT_MODE_ORCHESTRATE_SAVE_RECIPE",
        {"target": "{org}" + RUN, "orchestration_id": "Bad Slug"},
        {"orchestration_id"},
    ),
    ("AGENT_MODE_ORCHESTRATE_SAVE_RECIPE", {"target": "{org}" + ORCHESTRATION, "orchestration_id": "x"}, {"target"}),
]


async def test_invalid_requests_name_their_fields_and_write_nothing(org: Org) -> None:
    admin = await org.gateway("admin")
    before = await org.counts()
    for mode, given, fields in INVALID:
        values = {k: v.replace("{org}", org.parent) if isinstance(v, str) else v for k, v in given.items()}
        parent = values.pop("parent", org.parent)
        error = await expect(admin.Invoke(request(mode, parent, **values)), grpc.StatusCode.INVALID_ARGUMENT)
        assert error_info(error).reason == "VALIDATION_FAILED", (mode, given)
        assert bad_request_fields(error) == fields, (mode, given, error.details())
    assert await org.counts() == before


# --- roles and tenancy ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "role", "below"),
    [*((m, "operator", "author") for m in OPERATOR_MODES), *((m, "author", "viewer") for m in AUTHOR_MODES)],
)
async def test_each_mode_needs_its_role_before_anything_else(org: Org, mode: str, role: str, below: str) -> None:
    short = await org.gateway(below)
    error = await expect(short.Invoke(request(mode, org.parent)), grpc.StatusCode.PERMISSION_DENIED)
    info = error_info(error)
    assert (info.reason, info.metadata["required_role"], info.metadata["enforced_by"]) == (
        "PERMISSION_DENIED",
        role,
        "gateway",
    )
    assert role in (error.details() or "")
    holder = await org.gateway(role)
    # With the role, the same (empty) request reaches validation.
    await expect(holder.Invoke(request(mode, org.parent)), grpc.StatusCode.INVALID_ARGUMENT)


async def test_another_organizations_resources_are_not_found(world: World, org: Org) -> None:
    run = await paused_run(org)
    plan = await approved_plan(org)
    stranger_org = new_org()
    stranger = gw_grpc.GatewayServiceStub(await world.platform.channel(mint(stranger_org, "admin")))
    before = await org.counts()
    calls = [
        request("AGENT_MODE_ORCHESTRATE_CONTINUE", org.parent, checkpoint=run.open_checkpoints[0], decision="approve"),
        request("AGENT_MODE_ORCHESTRATE_CONTINUE", org.parent, target=run.name),
        request("AGENT_MODE_ORCHESTRATE_SAVE_RECIPE", org.parent, target=run.name, orchestration_id="stolen"),
        request("AGENT_MODE_ORCHESTRATE_SAVE_RECIPE", org.parent, target=plan, orchestration_id="stolen"),
        request("AGENT_MODE_ORCHESTRATE_CREATE", org.parent, agent_slug="helper", conversation_id="c", plan=PLAN),
        request(
            "AGENT_MODE_ORCHESTRATE_CREATE",
            org.parent,
            agent_slug="helper",
            orchestration_id="stolen",
            definition=DEFINITION,
            prompt_templates=TEMPLATES,
        ),
    ]
    for call in calls:
        error = await expect(stranger.Invoke(call), grpc.StatusCode.NOT_FOUND)
        assert error_info(error).reason == "NOT_FOUND"
    # Launching in another organization: that organization is not found either.
    launch = request("AGENT_MODE_ORCHESTRATE_EXECUTE", org.parent, target=plan)
    await expect(stranger.Invoke(launch), grpc.StatusCode.NOT_FOUND)
    assert await org.counts() == before
