"""The platform through the gateway only: a run launched, watched and approved; tenancy on every resource kind;
internal methods not served; reflection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as cred
from agentorch.credentials.v1 import credentials_service_pb2_grpc as cred_grpc
from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import plan_pb2
from agentorch.registry.v1 import registry_service_pb2 as reg
from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from agentorch.runs.v1 import runs_service_pb2_grpc as runs_grpc
from services.common.settings import DatabaseSettings, ServerSettings
from tests.support.gateway import JWT, Platform, mint, new_org, platform
from tests.support.registry import agent_message, struct
from tests.support.rpc import STALLING_CHANNEL_OPTIONS, bad_request_fields, error_info, event_sequences_until_error

DEFINITION: dict[str, Any] = {
    "schema_version": 1,
    "parameters": [],
    "phases": [
        {
            "id": "main",
            "steps": [
                {"id": "hello", "kind": "echo", "message": "hello"},
                {"id": "review", "kind": "checkpoint", "depends_on": ["hello"], "checkpoint": {"title": "Approve?"}},
                {"id": "bye", "kind": "echo", "message": "bye", "depends_on": ["review"]},
            ],
        }
    ],
}
PLAN: dict[str, Any] = {
    "title": "Research",
    "summary": "Research, then write",
    "parameters": [],
    "steps": [{"title": "Research", "instructions": "Research it"}],
}
FINAL = {run_pb2.RUN_STATUS_COMPLETED, run_pb2.RUN_STATUS_FAILED, run_pb2.RUN_STATUS_CANCELLED}


@pytest.fixture
async def gateway(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, jwt=JWT.model_copy(update={"platform_organization": "platform-ops"})) as running:
        yield running


async def expect(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, (caught.value.code(), caught.value.details())
    return caught.value


async def read_until(call: Any, statuses: set[int]) -> list[run_pb2.RunEvent]:
    """Read a WatchRun stream (relayed by the gateway) until an event reports one of `statuses`; the stream stays
    open. Tests let every stream on the real runs service end by itself (after the run's final event) instead of
    cancelling it: cancellation is tested against a scripted backend (test_gateway_proxy)."""
    seen: list[run_pb2.RunEvent] = []

    async def follow() -> None:
        while True:
            item = await call.read()
            if item is grpc.aio.EOF:
                raise AssertionError("the watch ended first")
            if item.HasField("event"):
                seen.append(item.event)
                if item.event.run_status in statuses:
                    return

    await asyncio.wait_for(follow(), 20)
    return seen


async def read_to_the_end(call: Any) -> list[run_pb2.RunEvent]:
    """The rest of a stream that the server ends (after the run's final event)."""

    async def rest() -> list[run_pb2.RunEvent]:
        return [item.event async for item in call if item.HasField("event")]

    return await asyncio.wait_for(rest(), 20)


async def test_a_run_is_launched_watched_and_approved_through_the_gateway(gateway: Platform) -> None:
    org = new_org()
    author = reg_grpc.RegistryServiceStub(await gateway.channel(mint(org, "author")))
    operator = runs_grpc.RunsServiceStub(await gateway.channel(mint(org, "operator", subject="ops@example.com")))
    viewer = runs_grpc.RunsServiceStub(await gateway.channel(mint(org, "viewer")))
    approver = runs_grpc.RunsServiceStub(await gateway.channel(mint(org, "approver", subject="boss@example.com")))

    await author.CreateAgent(reg.CreateAgentRequest(agent=agent_message(org)))
    saved = await author.CreateOrchestration(
        reg.CreateOrchestrationRequest(
            parent=f"organizations/{org}/agents/helper",
            orchestration_id="flow",
            orchestration=opb.Orchestration(display_name="Flow"),
            version=opb.OrchestrationVersion(definition=struct(DEFINITION)),
        )
    )
    request = runs.CreateRunRequest(parent=f"organizations/{org}", orchestration=saved.orchestration.name)
    await expect(viewer.CreateRun(request), grpc.StatusCode.PERMISSION_DENIED)
    run = (await operator.CreateRun(request)).run
    assert run.created_by == "ops@example.com"

    watch = viewer.WatchRun(runs.WatchRunRequest(name=run.name))
    events = await read_until(watch, {run_pb2.RUN_STATUS_PAUSED})
    sequences = [e.sequence for e in events]
    assert sequences == sorted(set(sequences)), sequences
    assert sequences[0] == 1, sequences
    paused = (await viewer.GetRun(runs.GetRunRequest(name=run.name))).run
    (checkpoint,) = paused.open_checkpoints

    decision = runs.DecideCheckpointRequest(name=checkpoint, decision=run_pb2.DECISION_APPROVE, comment="ok")
    await expect(operator.DecideCheckpoint(decision), grpc.StatusCode.PERMISSION_DENIED)
    await approver.DecideCheckpoint(decision)
    rest = await read_to_the_end(watch)  # the same stream carries the run to its end, then the server closes it
    assert rest[-1].run_status == run_pb2.RUN_STATUS_COMPLETED
    sequences += [e.sequence for e in rest]
    assert sequences == list(range(1, sequences[-1] + 1))
    done = (await viewer.GetRun(runs.GetRunRequest(name=run.name))).run
    assert done.status == run_pb2.RUN_STATUS_COMPLETED
    decided = (await viewer.GetCheckpoint(runs.GetCheckpointRequest(name=checkpoint))).checkpoint
    assert decided.decided_by == "boss@example.com"

    # A watcher that reconnects after a sequence misses nothing and repeats nothing.
    middle = sequences[len(sequences) // 2]
    call = viewer.WatchRun(runs.WatchRunRequest(name=run.name, after_sequence=middle))
    resumed = [item.event.sequence async for item in call if item.HasField("event")]
    assert resumed == list(range(middle + 1, resumed[-1] + 1))
    assert resumed[-1] == sequences[-1]


async def test_resolving_a_credential_is_not_served_by_the_gateway(gateway: Platform) -> None:
    org = new_org()
    request = cred.ResolveCredentialRequest(name=f"organizations/{org}/credentials/x", run="r", step="s")
    for token in (mint(org, "admin"), mint("platform-ops", "admin")):
        vault = cred_grpc.CredentialsServiceStub(await gateway.channel(token))
        await expect(vault.ResolveCredential(request), grpc.StatusCode.UNIMPLEMENTED)


async def test_reflection_lists_the_reexposed_services(gateway: Platform) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(gateway.gateway.channel)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {s.name async for reply in replies for s in reply.list_services_response.service}
    assert {
        "agentorch.gateway.v1.GatewayService",
        "agentorch.registry.v1.RegistryService",
        "agentorch.runs.v1.RunsService",
        "agentorch.credentials.v1.CredentialsService",
        "grpc.health.v1.Health",
    } <= names


async def test_backend_errors_come_through_with_their_details(gateway: Platform) -> None:
    org = new_org()
    author = reg_grpc.RegistryServiceStub(await gateway.channel(mint(org, "author")))
    error = await expect(
        author.CreateAgent(reg.CreateAgentRequest(agent=agent_message(org, slug="Not A Slug", display_name=""))),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert error_info(error).reason == "VALIDATION_FAILED"
    assert bad_request_fields(error) == {"agent.slug", "agent.display_name"}
    assert dict(error.trailing_metadata() or ()).get("x-request-id")


# --- tenancy --------------------------------------------------------------------------------------------------------


async def resources_of(gateway: Platform, org: str) -> dict[str, str]:
    """One resource of every kind in `org`: agent, orchestration, plan, run, checkpoint, credential."""
    admin = await gateway.channel(mint(org, "admin"))
    registry = reg_grpc.RegistryServiceStub(admin)
    agent = (await registry.CreateAgent(reg.CreateAgentRequest(agent=agent_message(org)))).agent.name
    orchestration = (
        await registry.CreateOrchestration(
            reg.CreateOrchestrationRequest(
                parent=agent,
                orchestration_id="flow",
                orchestration=opb.Orchestration(display_name="Flow"),
                version=opb.OrchestrationVersion(definition=struct(DEFINITION)),
            )
        )
    ).orchestration.name
    plan = (
        await registry.CreatePlan(
            reg.CreatePlanRequest(
                parent=f"organizations/{org}",
                plan=plan_pb2.ConversationPlan(conversation_id="c1", agent_slug="helper", plan=struct(PLAN)),
            )
        )
    ).plan.name
    runs_stub = runs_grpc.RunsServiceStub(admin)
    run = (
        await runs_stub.CreateRun(runs.CreateRunRequest(parent=f"organizations/{org}", orchestration=orchestration))
    ).run.name
    watch = runs_stub.WatchRun(runs.WatchRunRequest(name=run))
    await read_until(watch, {run_pb2.RUN_STATUS_PAUSED})
    (checkpoint,) = (await runs_stub.GetRun(runs.GetRunRequest(name=run))).run.open_checkpoints
    decision = runs.DecideCheckpointRequest(name=checkpoint, decision=run_pb2.DECISION_APPROVE, comment="fine")
    await runs_stub.DecideCheckpoint(decision)
    await read_to_the_end(watch)
    credential = (
        await cred_grpc.CredentialsServiceStub(admin).CreateCredential(
            cred.CreateCredentialRequest(
                parent=f"organizations/{org}",
                alias="openai.api-key",
                credential=cpb.Credential(type=cpb.CREDENTIAL_TYPE_API_KEY, retained_versions=1),
                value="sk-secret",
            )
        )
    ).credential.name
    return {
        "agent": agent,
        "orchestration": orchestration,
        "plan": plan,
        "run": run,
        "checkpoint": checkpoint,
        "credential": credential,
    }


def foreign_calls(channel: grpc.aio.Channel, r: dict[str, str]) -> dict[str, Any]:
    registry = reg_grpc.RegistryServiceStub(channel)
    runs_stub = runs_grpc.RunsServiceStub(channel)
    vault = cred_grpc.CredentialsServiceStub(channel)
    mask = field_mask_pb2.FieldMask(paths=["display_name"])
    return {
        "GetAgent": lambda: registry.GetAgent(reg.GetAgentRequest(name=r["agent"])),
        "UpdateAgent": lambda: registry.UpdateAgent(
            reg.UpdateAgentRequest(agent=agent_message("x", name=r["agent"], display_name="Mine"), update_mask=mask)
        ),
        "DeleteAgent": lambda: registry.DeleteAgent(reg.DeleteAgentRequest(name=r["agent"])),
        "GetOrchestration": lambda: registry.GetOrchestration(reg.GetOrchestrationRequest(name=r["orchestration"])),
        "DeleteOrchestration": lambda: registry.DeleteOrchestration(
            reg.DeleteOrchestrationRequest(name=r["orchestration"])
        ),
        "ListOrchestrationVersions": lambda: registry.ListOrchestrationVersions(
            reg.ListOrchestrationVersionsRequest(parent=r["orchestration"])
        ),
        "GetPlan": lambda: registry.GetPlan(reg.GetPlanRequest(name=r["plan"])),
        "ApprovePlan": lambda: registry.ApprovePlan(reg.ApprovePlanRequest(name=r["plan"])),
        "GetRun": lambda: runs_stub.GetRun(runs.GetRunRequest(name=r["run"])),
        "CancelRun": lambda: runs_stub.CancelRun(runs.CancelRunRequest(name=r["run"])),
        "ListRunEvents": lambda: runs_stub.ListRunEvents(runs.ListRunEventsRequest(name=r["run"])),
        "WatchRun": lambda: runs_stub.WatchRun(runs.WatchRunRequest(name=r["run"])).read(),
        "GetCheckpoint": lambda: runs_stub.GetCheckpoint(runs.GetCheckpointRequest(name=r["checkpoint"])),
        "DecideCheckpoint": lambda: runs_stub.DecideCheckpoint(
            runs.DecideCheckpointRequest(name=r["checkpoint"], decision=run_pb2.DECISION_APPROVE)
        ),
        "GetCredential": lambda: vault.GetCredential(cred.GetCredentialRequest(name=r["credential"])),
        "RotateCredentialValue": lambda: vault.RotateCredentialValue(
            cred.RotateCredentialValueRequest(name=r["credential"], value="mine")
        ),
        "DeleteCredential": lambda: vault.DeleteCredential(cred.DeleteCredentialRequest(name=r["credential"])),
    }


def foreign_lists(channel: grpc.aio.Channel, org: str, r: dict[str, str]) -> dict[str, Any]:
    registry = reg_grpc.RegistryServiceStub(channel)
    runs_stub = runs_grpc.RunsServiceStub(channel)
    vault = cred_grpc.CredentialsServiceStub(channel)
    parent = f"organizations/{org}"
    return {
        "ListAgents": lambda: registry.ListAgents(reg.ListAgentsRequest(parent=parent)),
        "ListOrchestrations": lambda: registry.ListOrchestrations(reg.ListOrchestrationsRequest(parent=r["agent"])),
        "ListPlans": lambda: registry.ListPlans(reg.ListPlansRequest(parent=parent)),
        "ListRuns": lambda: runs_stub.ListRuns(runs.ListRunsRequest(parent=parent)),
        "WatchRuns": lambda: runs_stub.WatchRuns(runs.WatchRunsRequest(parent=parent)).read(),
        "ListCheckpoints": lambda: runs_stub.ListCheckpoints(runs.ListCheckpointsRequest(parent=parent)),
        "ListCredentials": lambda: vault.ListCredentials(cred.ListCredentialsRequest(parent=parent)),
        "ListAuditEvents": lambda: vault.ListAuditEvents(cred.ListAuditEventsRequest(parent=parent)),
    }


async def test_another_organizations_resources_do_not_exist(gateway: Platform) -> None:
    a, b = new_org(), new_org()
    owned = await resources_of(gateway, a)
    intruder = await gateway.channel(mint(b, "admin", subject="mallory@example.com"))
    for method, attempt in foreign_calls(intruder, owned).items():
        error = await expect(attempt(), grpc.StatusCode.NOT_FOUND)
        assert error_info(error).reason == "NOT_FOUND", method
    for method, attempt in foreign_lists(intruder, a, owned).items():
        error = await expect_any(attempt(), {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND})
        assert error_info(error).reason in ("PERMISSION_DENIED", "NOT_FOUND"), method

    # Nothing changed for the owner.
    owner = await gateway.channel(mint(a, "viewer"))
    assert (
        await reg_grpc.RegistryServiceStub(owner).GetAgent(reg.GetAgentRequest(name=owned["agent"]))
    ).agent.display_name == "Helper"
    run = (await runs_grpc.RunsServiceStub(owner).GetRun(runs.GetRunRequest(name=owned["run"]))).run
    assert run.status == run_pb2.RUN_STATUS_COMPLETED
    checkpoint = (
        await runs_grpc.RunsServiceStub(owner).GetCheckpoint(runs.GetCheckpointRequest(name=owned["checkpoint"]))
    ).checkpoint
    assert (checkpoint.decided_by, checkpoint.comment) == ("alice@example.com", "fine")
    credential = (
        await cred_grpc.CredentialsServiceStub(owner).GetCredential(cred.GetCredentialRequest(name=owned["credential"]))
    ).credential
    assert credential.version == 1


async def expect_any(call: object, codes: set[grpc.StatusCode]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() in codes, (caught.value.code(), caught.value.details())
    return caught.value


async def test_an_unknown_resource_and_a_foreign_one_look_the_same(gateway: Platform) -> None:
    a, b = new_org(), new_org()
    owned = await resources_of(gateway, a)
    intruder = runs_grpc.RunsServiceStub(await gateway.channel(mint(b, "admin")))
    foreign = await expect(intruder.GetRun(runs.GetRunRequest(name=owned["run"])), grpc.StatusCode.NOT_FOUND)
    missing_name = f"organizations/{a}/runs/{uuid.uuid4()}"
    missing = await expect(intruder.GetRun(runs.GetRunRequest(name=missing_name)), grpc.StatusCode.NOT_FOUND)
    assert error_info(foreign).reason == error_info(missing).reason == "NOT_FOUND"


async def test_a_client_that_stops_reading_a_relayed_watch_is_told_to_resume(database: DatabaseSettings) -> None:
    """The gateway writes relayed streams with the same send deadline as the services: a stalled client gets
    ABORTED (CLIENT_TOO_SLOW) and the relay's backend stream goes with it."""
    big = {
        "schema_version": 1,
        "parameters": [],
        "phases": [
            {"id": "main", "steps": [{"id": f"s{n}", "kind": "echo", "message": "x" * 4000} for n in range(40)]}
        ],
    }
    async with platform(database, server=ServerSettings(stream_send_timeout_seconds=1.0)) as running:
        org = new_org()
        token = mint(org, "admin")
        author = reg_grpc.RegistryServiceStub(await running.channel(token))
        operator = runs_grpc.RunsServiceStub(await running.channel(token))
        await author.CreateAgent(reg.CreateAgentRequest(agent=agent_message(org)))
        saved = await author.CreateOrchestration(
            reg.CreateOrchestrationRequest(
                parent=f"organizations/{org}/agents/helper",
                orchestration_id="big",
                orchestration=opb.Orchestration(display_name="Big"),
                version=opb.OrchestrationVersion(definition=struct(big)),
            )
        )
        run = (
            await operator.CreateRun(
                runs.CreateRunRequest(parent=f"organizations/{org}", orchestration=saved.orchestration.name)
            )
        ).run
        done = await read_to_the_end(operator.WatchRun(runs.WatchRunRequest(name=run.name)))
        assert done[-1].run_status == run_pb2.RUN_STATUS_COMPLETED
        async with grpc.aio.insecure_channel(running.gateway.target, options=STALLING_CHANNEL_OPTIONS) as channel:
            call = runs_grpc.RunsServiceStub(channel).WatchRun(
                runs.WatchRunRequest(name=run.name), metadata=(("authorization", f"Bearer {token}"),)
            )
            await asyncio.sleep(3)  # the client does not read (the scenario itself, not a synchronisation)
            received, ended = await event_sequences_until_error(call)
        assert ended.code() == grpc.StatusCode.ABORTED
        assert error_info(ended).reason == "CLIENT_TOO_SLOW"
        assert received == list(range(1, len(received) + 1))
        assert received[-1] < done[-1].sequence
