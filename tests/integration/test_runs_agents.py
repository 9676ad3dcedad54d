"""Runs calling real agents over HTTP (the local reference agents), with a real vault: streamed output as events,
input-required as a human checkpoint and its continuation, credentials resolved at call time and never leaked."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import structlog

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as vpb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as vpb_grpc
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.registry.v1 import registry_service_pb2_grpc as rpb_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from reference_agents import a2a_agent, openai_agent, serving
from services.common.settings import DatabaseSettings
from services.credentials.bootstrap import spec as credentials_spec
from services.credentials.config import CredentialsSettings
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from services.runs.bootstrap import spec as runs_spec
from services.runs.config import ClientsConfig, EngineConfig, RunsSettings
from tests.support.egress import LOOPBACK
from tests.support.principals import AUTH, as_member
from tests.support.registry import agent_message, struct
from tests.support.rpc import channel_as, error_info
from tests.support.runs import FINAL, sibling, wait_for_status
from tests.support.servers import running
from tests.support.vault import VAULT

SECRET = "sk-agent-" + uuid.uuid4().hex


@dataclass
class World:
    org: str
    registry: rpb_grpc.RegistryServiceStub
    runs: pb_grpc.RunsServiceStub
    vault: vpb_grpc.CredentialsServiceStub
    a2a_url: str
    openai_url: str
    openai_requests: list[dict[str, Any]]  # what the scribe agent received
    runs_target: str
    vault_target: str = ""
    a2a_requests: list[dict[str, Any]] | None = None  # what the scout agent received
    a2a_tasks: dict[str, Any] | None = None  # the scout agent's tasks, by id


@pytest.fixture
async def world(database: DatabaseSettings) -> AsyncIterator[World]:
    org = f"org-{uuid.uuid4().hex[:10]}"
    member = as_member(org, "admin")
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(
            running(registry_spec(RegistrySettings(database=sibling(database, "registry"), auth=AUTH, agents=LOOPBACK)))
        )
        vault = await stack.enter_async_context(
            running(credentials_spec(CredentialsSettings(database=sibling(database, "vault"), auth=AUTH, vault=VAULT)))
        )
        settings = RunsSettings(
            database=database,
            auth=AUTH,
            clients=ClientsConfig(registry=registry.target, credentials=vault.target),
            engine=EngineConfig(lease_seconds=10),
            agents=LOOPBACK,
        )
        runs = await stack.enter_async_context(running(runs_spec(settings), access_log=True))
        scout = a2a_agent.create_app("scout")
        a2a = await stack.enter_async_context(serving(scout))
        scribe = openai_agent.create_app("scribe", api_key=SECRET)
        llm = await stack.enter_async_context(serving(scribe))
        channels = [await stack.enter_async_context(channel_as(s.target, member)) for s in (registry, runs, vault)]
        yield World(
            org,
            rpb_grpc.RegistryServiceStub(channels[0]),
            pb_grpc.RunsServiceStub(channels[1]),
            vpb_grpc.CredentialsServiceStub(channels[2]),
            a2a.url,
            f"{llm.url}/v1",
            scribe.state.requests,
            runs.target,
            vault.target,
            scout.state.requests,
            scout.state.tasks,
        )


async def setup_agents(w: World) -> None:
    await w.registry.CreateAgent(
        rpb.CreateAgentRequest(
            agent=agent_message(
                w.org,
                "scout",
                config=struct({"protocol": "a2a", "endpoint": w.a2a_url}),
                agent_card=struct({"name": "scout", "url": w.a2a_url, "capabilities": {"streaming": True}}),
            )
        )
    )
    await w.registry.CreateAgent(
        rpb.CreateAgentRequest(
            agent=agent_message(
                w.org, "scribe", config=struct({"protocol": "openai", "endpoint": w.openai_url, "model": "m"})
            )
        )
    )
    await w.vault.CreateCredential(
        vpb.CreateCredentialRequest(
            parent=f"organizations/{w.org}",
            alias="scribe.key",
            credential=cpb.Credential(type=cpb.CREDENTIAL_TYPE_API_KEY, allowed_agents=["scribe"]),
            value=SECRET,
        )
    )


async def launch(w: World, steps: list[dict[str, Any]]) -> run_pb2.Run:
    document = {"schema_version": 1, "phases": [{"id": "main", "steps": steps}]}
    request = pb.CreateRunRequest(
        parent=f"organizations/{w.org}", ad_hoc=pb.AdHocDefinition(definition=struct(document))
    )
    return (await w.runs.CreateRun(request)).run


async def events(w: World, name: str) -> list[run_pb2.RunEvent]:
    return list((await w.runs.ListRunEvents(pb.ListRunEventsRequest(name=name, page_size=1000))).events)


async def test_a2a_and_openai_steps_with_a_vault_credential(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await setup_agents(world)
    with structlog.testing.capture_logs() as logs:
        run = await launch(
            world,
            [
                {"id": "find", "kind": "agent", "agent": "scout", "prompt": "find sources"},
                {
                    "id": "write",
                    "kind": "agent",
                    "agent": "scribe",
                    "prompt": "write from {{ steps.find.output }}",
                    "depends_on": ["find"],
                    "credentials": ["scribe.key"],
                },
            ],
        )
        done = await wait_for_status(world.runs, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED, done
    outputs = {s.step_id: s.output.string_value for s in done.steps}
    assert outputs["find"] == "scout received: find sources"
    assert outputs["write"] == "scribe received: write from scout received: find sources"
    log = await events(world, run.name)
    deltas = "".join(
        e.data["delta"] for e in log if e.type == run_pb2.EVENT_TYPE_STEP_OUTPUT_DELTA and e.step_id == "find"
    )
    assert deltas == outputs["find"]  # streamed by the A2A agent, forwarded in order
    audit = await world.vault.ListAuditEvents(
        vpb.ListAuditEventsRequest(parent=f"organizations/{world.org}", action=cpb.AUDIT_ACTION_RESOLVE)
    )
    assert [(e.run, e.step, e.outcome) for e in audit.events] == [(run.name, "write", cpb.AUDIT_OUTCOME_ALLOWED)]
    everything = [
        str(done),
        *(str(e) for e in log),
        *(str(entry) for entry in logs),
        *(r.getMessage() for r in caplog.records),
    ]
    assert all(SECRET not in text for text in everything)


async def test_input_required_becomes_a_checkpoint_and_the_answer_continues_the_task(world: World) -> None:
    await setup_agents(world)
    run = await launch(
        world, [{"id": "ask", "kind": "agent", "agent": "scout", "prompt": "[input-required:Which region?] plan"}]
    )
    paused = await wait_for_status(world.runs, run.name, {run_pb2.RUN_STATUS_PAUSED})
    assert paused.status_reason == "checkpoint"
    (checkpoint_name,) = paused.open_checkpoints
    checkpoint = (await world.runs.GetCheckpoint(pb.GetCheckpointRequest(name=checkpoint_name))).checkpoint
    assert checkpoint.title == "scout needs input"
    assert checkpoint.context == "Which region?"
    await world.runs.DecideCheckpoint(
        pb.DecideCheckpointRequest(name=checkpoint_name, decision=run_pb2.DECISION_APPROVE, comment="Europe")
    )
    done = await wait_for_status(world.runs, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED, done
    assert done.steps[0].output.string_value == "scout received: Europe"
    assert done.steps[0].attempt == 2


async def test_rejecting_the_question_fails_the_step(world: World) -> None:
    await setup_agents(world)
    run = await launch(world, [{"id": "ask", "kind": "agent", "agent": "scout", "prompt": "[input-required] go"}])
    paused = await wait_for_status(world.runs, run.name, {run_pb2.RUN_STATUS_PAUSED})
    await world.runs.DecideCheckpoint(
        pb.DecideCheckpointRequest(name=paused.open_checkpoints[0], decision=run_pb2.DECISION_REJECT, comment="no")
    )
    done = await wait_for_status(world.runs, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_FAILED


async def test_a_missing_credential_refuses_the_launch_clearly(world: World) -> None:
    """Issue 14: refused at launch, naming the alias, instead of failing at the step's first call."""
    await setup_agents(world)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await launch(
            world,
            [{"id": "write", "kind": "agent", "agent": "scribe", "prompt": "hi", "credentials": ["not.there"]}],
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not.there" in (caught.value.details() or "")
    listed = await world.runs.ListRuns(pb.ListRunsRequest(parent=f"organizations/{world.org}"))
    assert list(listed.runs) == []


async def test_an_operator_cannot_launch_an_ad_hoc_definition_that_names_credentials(world: World) -> None:
    """Defense in depth behind the gateway: the runs service itself refuses, before anything is written."""
    await setup_agents(world)
    async with channel_as(world.runs_target, as_member(world.org, "operator", "approver")) as channel:
        operator = pb_grpc.RunsServiceStub(channel)
        document = {
            "schema_version": 1,
            "phases": [
                {
                    "id": "main",
                    "steps": [
                        {"id": "leak", "kind": "agent", "agent": "scout", "prompt": "hi", "credentials": ["scribe.key"]}
                    ],
                }
            ],
        }
        request = pb.CreateRunRequest(
            parent=f"organizations/{world.org}", ad_hoc=pb.AdHocDefinition(definition=struct(document))
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await operator.CreateRun(request)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(caught.value)
    assert (info.reason, info.metadata["required_role"], info.metadata["credentials"]) == (
        "PERMISSION_DENIED",
        "admin",
        "scribe.key",
    )
    listed = await world.runs.ListRuns(pb.ListRunsRequest(parent=f"organizations/{world.org}"))
    assert list(listed.runs) == []


async def test_a_credential_not_bound_to_the_agent_fails_the_step_and_the_agent_gets_nothing(world: World) -> None:
    await setup_agents(world)
    await world.vault.CreateCredential(
        vpb.CreateCredentialRequest(
            parent=f"organizations/{world.org}",
            alias="loose.key",
            credential=cpb.Credential(type=cpb.CREDENTIAL_TYPE_API_KEY),  # unbound
            value=SECRET,
        )
    )
    run = await launch(
        world,
        [
            {
                "id": "write",
                "kind": "agent",
                "agent": "scribe",
                "prompt": "hi",
                "credentials": ["loose.key"],
                "retry": {"max_attempts": 3, "initial_backoff_seconds": 0.1},
            }
        ],
    )
    done = await wait_for_status(world.runs, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_FAILED
    (write,) = done.steps
    assert write.attempt == 1  # not retried: only an admin can fix it
    assert "credential 'loose.key': not bound to this agent" in write.error
    assert "it is bound to no agent and no host" in write.error
    assert SECRET not in str(done)
    assert world.openai_requests == []  # the call was never made
    audit = await world.vault.ListAuditEvents(
        vpb.ListAuditEventsRequest(parent=f"organizations/{world.org}", action=cpb.AUDIT_ACTION_RESOLVE)
    )
    (event,) = audit.events
    port = world.openai_url.split(":")[-1].split("/")[0]
    assert (event.outcome, event.run, event.step, event.agent, event.destination) == (
        cpb.AUDIT_OUTCOME_DENIED,
        run.name,
        "write",
        f"organizations/{world.org}/agents/scribe",
        f"127.0.0.1:{port}",
    )
