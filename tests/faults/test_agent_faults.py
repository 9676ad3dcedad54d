"""Agents that misbehave, called by the real runs service over HTTP, with a real vault credential.

- an agent that echoes its key in pieces, split at every offset: no stored, served or streamed event holds it;
- an agent that hangs, or drips a byte at a time forever: the step times out (retried by its policy, then failed),
  and the replica goes on serving other runs;
- every failure is a readable step error, never a crash of the engine.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as vpb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as vpb_grpc
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.registry.v1 import registry_service_pb2_grpc as rpb_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from reference_agents import serving
from services.common.db import create_engine
from services.common.settings import DatabaseSettings
from services.credentials.bootstrap import spec as credentials_spec
from services.credentials.config import CredentialsSettings
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from services.runs.bootstrap import spec as runs_spec
from services.runs.config import ClientsConfig, EngineConfig, RunsSettings
from tests.support.egress import LOOPBACK
from tests.support.faulty_agents import garbage_server, misbehaving_openai
from tests.support.principals import AUTH, as_member
from tests.support.registry import agent_message, new_org, struct
from tests.support.rpc import channel_as
from tests.support.runs import FINAL, all_events, definition, launch_ad_hoc, sibling, step, wait_for_status
from tests.support.servers import running
from tests.support.vault import VAULT

SECRET = "sk-fault-" + uuid.uuid4().hex
FORMS = (SECRET, base64.b64encode(SECRET.encode()).decode(), f"Bearer {SECRET}")
REFLECTED = f"key={SECRET}."


@dataclass
class World:
    org: str
    runs: pb_grpc.RunsServiceStub
    database: DatabaseSettings
    registry: rpb_grpc.RegistryServiceStub


@pytest.fixture
async def world(database: DatabaseSettings) -> AsyncIterator[World]:
    org = new_org()
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
            engine=EngineConfig(lease_seconds=10, idle_wait_seconds=0.5),
            agents=LOOPBACK,
        )
        runs = await stack.enter_async_context(running(runs_spec(settings)))
        agent = await stack.enter_async_context(serving(misbehaving_openai()))
        registry_channel = await stack.enter_async_context(channel_as(registry.target, member))
        registry_stub = rpb_grpc.RegistryServiceStub(registry_channel)
        config = {
            "protocol": "openai",
            "endpoint": f"{agent.url}/v1",
            "model": "m",
            "timeout_seconds": 30,  # the hanging steps set their own, shorter timeout
            "max_attempts": 1,
        }
        await registry_stub.CreateAgent(rpb.CreateAgentRequest(agent=agent_message(org, "odd", config=struct(config))))
        vault_stub = vpb_grpc.CredentialsServiceStub(await stack.enter_async_context(channel_as(vault.target, member)))
        await vault_stub.CreateCredential(
            vpb.CreateCredentialRequest(
                parent=f"organizations/{org}",
                alias="odd.key",
                credential=cpb.Credential(type=cpb.CREDENTIAL_TYPE_API_KEY, allowed_agents=["odd"]),
                value=SECRET,
            )
        )
        runs_stub = pb_grpc.RunsServiceStub(await stack.enter_async_context(channel_as(runs.target, member)))
        yield World(org, runs_stub, database, registry_stub)


def agent_step(step_id: str, prompt: str, **fields: Any) -> dict[str, Any]:
    return step(step_id, "agent", agent="odd", prompt=prompt, credentials=["odd.key"], **fields)


def leaks(text: str) -> list[str]:
    return [form for form in FORMS if form in text]


async def stored_event_data(database: DatabaseSettings, run_id: str) -> list[str]:
    """The run's events as the database holds them (not as the API renders them)."""
    engine = create_engine(database, "runs")
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.text("SELECT data FROM run_events WHERE run_id = :r ORDER BY sequence"), {"r": run_id}
            )
            return [str(row.data) for row in rows]
    finally:
        await engine.dispose()


async def test_a_key_echoed_in_pieces_split_anywhere_is_never_stored_or_served(world: World) -> None:
    offsets = range(1, len(REFLECTED))
    steps = [agent_step(f"at{k}", f"reflect:{k}") for k in offsets]
    steps.append(agent_step("chars", "reflect:" + ",".join(str(k) for k in offsets)))  # one character per piece
    run = await launch_ad_hoc(world.runs, world.org, definition(steps))
    done = await wait_for_status(world.runs, run.name, FINAL, timeout=60)
    assert done.status == run_pb2.RUN_STATUS_COMPLETED, done.status_reason

    events = await all_events(world.runs, run.name)
    deltas: dict[str, str] = {}
    for event in events:
        if event.type == run_pb2.EVENT_TYPE_STEP_OUTPUT_DELTA:
            piece = event.data["delta"]
            assert not leaks(piece), event.step_id
            deltas[event.step_id] = deltas.get(event.step_id, "") + piece
    assert set(deltas) == {s["id"] for s in steps}  # every step streamed
    assert set(deltas.values()) == {"key=[redacted]."}  # joined across events: still nothing
    for state in done.steps:
        assert not leaks(str(state.output))
    watched = [item async for item in world.runs.WatchRun(pb.WatchRunRequest(name=run.name))]
    assert not leaks(str(watched))
    assert not any(leaks(data) for data in await stored_event_data(world.database, done.run_id))


@pytest.mark.parametrize("behaviour", ["hang", "drip"])
async def test_an_agent_that_hangs_or_drips_times_out_by_its_policy_and_the_replica_goes_on(
    world: World, behaviour: str
) -> None:
    retry = {"max_attempts": 2, "initial_backoff_seconds": 0.1}
    stuck = await launch_ad_hoc(
        world.runs, world.org, definition([agent_step("slow", behaviour, timeout_seconds=1, retry=retry)])
    )
    meanwhile = await launch_ad_hoc(world.runs, world.org, definition([agent_step("quick", "hello")]))
    assert (await wait_for_status(world.runs, meanwhile.name, FINAL)).status == run_pb2.RUN_STATUS_COMPLETED

    done = await wait_for_status(world.runs, stuck.name, FINAL, timeout=30)
    assert done.status == run_pb2.RUN_STATUS_FAILED
    (slow,) = done.steps
    assert slow.attempt == 2  # the retry policy ran its course
    assert slow.error in {"timed out after 1s", "agent 'odd' (step 'slow'): no complete answer within 1s"}
    failures = [e for e in await all_events(world.runs, stuck.name) if e.type == run_pb2.EVENT_TYPE_STEP_FAILED]
    assert len(failures) == 2


async def test_an_agent_that_answers_garbage_fails_its_step_without_echoing_the_bytes(world: World) -> None:
    async with garbage_server() as port:
        config = {"protocol": "openai", "endpoint": f"http://127.0.0.1:{port}/v1", "model": "m", "max_attempts": 1}
        agent = agent_message(world.org, "banner", config=struct(config))
        await world.registry.CreateAgent(rpb.CreateAgentRequest(agent=agent))
        run = await launch_ad_hoc(
            world.runs, world.org, definition([step("probe", "agent", agent="banner", prompt="hello")])
        )
        done = await wait_for_status(world.runs, run.name, FINAL)
    assert done.status == run_pb2.RUN_STATUS_FAILED
    (probe,) = done.steps
    assert probe.error.startswith("agent 'banner' (step 'probe'): ")
    text = str(await all_events(world.runs, run.name))
    for fragment in ("SSH-2.0", "OpenSSH", "internal-banner", "\\x00"):  # what the peer sent: never echoed
        assert fragment not in probe.error
        assert fragment not in text
