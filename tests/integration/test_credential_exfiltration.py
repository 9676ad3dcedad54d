"""The exfiltration path of issue 12, end to end through the gateway, on SQLite and PostgreSQL: an operator (who is
also an author) tries to get an admin's credential sent to a server of their own, a real HTTP receiver that
records every header. Each way is refused, nothing reaches the receiver, and what reaches the vault is audited
for the admin; a properly bound credential still reaches its agent and is scrubbed from the step's output."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from starlette.applications import Starlette

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as cred
from agentorch.credentials.v1 import credentials_service_pb2_grpc as cred_grpc
from agentorch.registry.v1 import agent_pb2
from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as reg
from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from agentorch.runs.v1 import runs_service_pb2_grpc as runs_grpc
from reference_agents import serving
from services.common.settings import DatabaseSettings
from tests.support.gateway import Platform, mint, new_org, platform
from tests.support.receiver import create_receiver
from tests.support.registry import agent_message, struct
from tests.support.rpc import error_info
from tests.support.runs import FINAL, wait_for_status

SECRET = "sk-admins-" + uuid.uuid4().hex
ALIAS = "vendor.key"


@dataclass
class Receiver:
    app: Starlette
    url: str

    @property
    def received(self) -> list[dict[str, str]]:
        received: list[dict[str, str]] = self.app.state.received
        return received

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://").split("/")[0]


@dataclass
class Scene:
    org: str
    platform: Platform
    vendor: Receiver  # the agent the admin bound the credential to
    drain: Receiver  # the operator's own server
    admin: grpc.aio.Channel
    operator: grpc.aio.Channel

    @property
    def parent(self) -> str:
        return f"organizations/{self.org}"


def openai(url: str) -> Any:
    return struct({"protocol": "openai", "endpoint": f"{url}/v1", "model": "m", "stream": False, "max_attempts": 1})


@pytest.fixture
async def scene(database: DatabaseSettings) -> AsyncIterator[Scene]:
    org = new_org()
    async with AsyncExitStack() as stack:
        running = await stack.enter_async_context(platform(database, real_agents=True))
        receivers = []
        for name in ("vendor", "drain"):
            app = create_receiver(name)
            served = await stack.enter_async_context(serving(app))
            receivers.append(Receiver(app, served.url))
        vendor, drain = receivers
        admin = await running.channel(mint(org, "admin", subject="admin@example.com"))
        operator = await running.channel(mint(org, "operator", subject="mallory@example.com"))
        registry = reg_grpc.RegistryServiceStub(admin)
        # The admin's agents: `vendor` (the credential's), and `notes`, which happens to call the operator's server
        # (an agent that needs no credential).
        for slug, receiver in (("vendor", vendor), ("notes", drain)):
            await registry.CreateAgent(
                reg.CreateAgentRequest(agent=agent_message(org, slug, config=openai(receiver.url)))
            )
        await cred_grpc.CredentialsServiceStub(admin).CreateCredential(
            cred.CreateCredentialRequest(
                parent=f"organizations/{org}",
                alias=ALIAS,
                credential=cpb.Credential(
                    type=cpb.CREDENTIAL_TYPE_API_KEY, allowed_agents=["vendor"], allowed_hosts=[vendor.host_port]
                ),
                value=SECRET,
            )
        )
        yield Scene(org, running, vendor, drain, admin, operator)


def one_step(agent: str, *credentials: str) -> dict[str, Any]:
    step = {"id": "call", "kind": "agent", "agent": agent, "prompt": "hello", "credentials": list(credentials)}
    return {"schema_version": 1, "phases": [{"id": "main", "steps": [step]}]}


async def refused(call: Any, code: grpc.StatusCode = grpc.StatusCode.PERMISSION_DENIED) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    assert SECRET not in (caught.value.details() or "")
    return caught.value


async def resolutions(s: Scene) -> list[cpb.AuditEvent]:
    reply = await cred_grpc.CredentialsServiceStub(s.admin).ListAuditEvents(
        cred.ListAuditEventsRequest(parent=s.parent, action=cpb.AUDIT_ACTION_RESOLVE)
    )
    return list(reply.events)


async def save_and_launch(s: Scene, slug: str, agent: str) -> run_pb2.Run:
    """As the operator (an author too): save a one-step orchestration calling `agent` with the admin's credential,
    then launch it and wait for its end."""
    registry, runs_stub = reg_grpc.RegistryServiceStub(s.operator), runs_grpc.RunsServiceStub(s.operator)
    await registry.CreateOrchestration(
        reg.CreateOrchestrationRequest(
            parent=f"{s.parent}/agents/{agent}",
            orchestration_id=slug,
            orchestration=opb.Orchestration(display_name=slug),
            version=opb.OrchestrationVersion(definition=struct(one_step(agent, ALIAS))),
        )
    )
    run = (
        await runs_stub.CreateRun(
            runs.CreateRunRequest(parent=s.parent, orchestration=f"{s.parent}/agents/{agent}/orchestrations/{slug}")
        )
    ).run
    return await wait_for_status(runs_grpc.RunsServiceStub(s.admin), run.name, FINAL, timeout=30)


async def test_an_operator_cannot_point_an_agent_of_their_own_at_the_credential(scene: Scene) -> None:
    s = scene
    registry = reg_grpc.RegistryServiceStub(s.operator)
    error = await refused(
        registry.CreateAgent(reg.CreateAgentRequest(agent=agent_message(s.org, "exfil", config=openai(s.drain.url))))
    )
    assert dict(error_info(error).metadata) == {"required_role": "admin", "enforced_by": "gateway"}
    await refused(registry.GetAgent(reg.GetAgentRequest(name=f"{s.parent}/agents/exfil")), grpc.StatusCode.NOT_FOUND)
    # An ad hoc run naming the credential, to an agent that calls the operator's server: refused at the gateway.
    request = runs.CreateRunRequest(
        parent=s.parent, ad_hoc=runs.AdHocDefinition(definition=struct(one_step("notes", ALIAS)))
    )
    error = await refused(runs_grpc.RunsServiceStub(s.operator).CreateRun(request))
    assert (error_info(error).reason, error_info(error).metadata["required_role"]) == ("PERMISSION_DENIED", "admin")
    listed = await runs_grpc.RunsServiceStub(s.admin).ListRuns(runs.ListRunsRequest(parent=s.parent))
    assert list(listed.runs) == []
    assert s.drain.received == []
    assert await resolutions(s) == []  # refused before the vault was asked


async def test_a_saved_orchestration_sending_the_credential_elsewhere_is_refused_by_the_vault_and_audited(
    scene: Scene,
) -> None:
    s = scene
    done = await save_and_launch(s, "leak", "notes")
    assert done.status == run_pb2.RUN_STATUS_FAILED
    (step,) = done.steps
    assert step.attempt == 1
    assert f"credential '{ALIAS}': not bound to this agent" in step.error
    assert "the agent is not in its allowed_agents" in step.error
    assert SECRET not in str(done)
    assert s.drain.received == []  # not a single request: the value was never resolved
    (event,) = await resolutions(s)
    assert (event.outcome, event.actor, event.run, event.step, event.agent, event.destination) == (
        cpb.AUDIT_OUTCOME_DENIED,
        "service:runs",
        done.name,
        "call",
        f"{s.parent}/agents/notes",
        s.drain.host_port,
    )
    assert SECRET not in str(event)
    await refused(  # and the operator cannot read (or tidy) the audit log
        cred_grpc.CredentialsServiceStub(s.operator).ListAuditEvents(cred.ListAuditEventsRequest(parent=s.parent))
    )


async def test_the_bound_agent_cannot_be_moved_by_an_author_and_a_move_by_an_admin_stops_at_the_host(
    scene: Scene,
) -> None:
    s = scene
    name = f"{s.parent}/agents/vendor"
    before = (await reg_grpc.RegistryServiceStub(s.admin).GetAgent(reg.GetAgentRequest(name=name))).agent
    move = reg.UpdateAgentRequest(
        agent=agent_pb2.Agent(name=name, config=openai(s.drain.url)),
        update_mask=field_mask_pb2.FieldMask(paths=["config"]),
    )
    error = await refused(reg_grpc.RegistryServiceStub(s.operator).UpdateAgent(move))
    assert error_info(error).metadata["required_role"] == "admin"  # from the registry: the gateway cannot tell
    after = (await reg_grpc.RegistryServiceStub(s.admin).GetAgent(reg.GetAgentRequest(name=name))).agent
    assert after == before
    # An admin may move it; the credential's allowed_hosts still keeps the value at the vendor.
    await reg_grpc.RegistryServiceStub(s.admin).UpdateAgent(move)
    done = await save_and_launch(s, "moved", "vendor")
    assert done.status == run_pb2.RUN_STATUS_FAILED
    assert "the destination is not in its allowed_hosts" in done.steps[0].error
    assert s.drain.received == []
    (event,) = await resolutions(s)
    assert (event.outcome, event.agent, event.destination) == (cpb.AUDIT_OUTCOME_DENIED, name, s.drain.host_port)


async def test_a_bound_credential_reaches_its_agent_and_is_scrubbed_from_the_output(scene: Scene) -> None:
    s = scene
    done = await save_and_launch(s, "brief", "vendor")
    assert done.status == run_pb2.RUN_STATUS_COMPLETED, done.steps[0].error
    (received,) = s.vendor.received
    assert received["authorization"] == f"Bearer {SECRET}"
    assert done.steps[0].output.string_value == "vendor saw authorization='[redacted]'"
    assert SECRET not in str(done)
    events = await runs_grpc.RunsServiceStub(s.admin).ListRunEvents(
        runs.ListRunEventsRequest(name=done.name, page_size=1000)
    )
    assert SECRET not in str(events)
    assert s.drain.received == []
    (event,) = await resolutions(s)
    assert (event.outcome, event.agent, event.destination) == (
        cpb.AUDIT_OUTCOME_ALLOWED,
        f"{s.parent}/agents/vendor",
        s.vendor.host_port,
    )
