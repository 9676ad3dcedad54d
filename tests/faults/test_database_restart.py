"""PostgreSQL restarted (pg_ctl restart -m fast, several times) under load, with watch streams open.

Two runs replicas and a registry share a cluster of the test's own; runs with agent steps (a real streaming agent
over HTTP) and built-in steps are under way, a client keeps reading, and every run is followed by a client that
resumes its stream from its cursor when it is cut. Nobody does anything by hand: every run completes, every stream
delivers each event exactly once in order, calls made meanwhile answer OK or UNAVAILABLE (never INTERNAL), and the
replicas report SERVING again.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr

from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.registry.v1 import registry_service_pb2_grpc as rpb_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from reference_agents import openai_agent, serving
from services.common.settings import DatabaseSettings, TaskSettings
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from services.runs.bootstrap import LISTENER_TASK
from services.runs.bootstrap import spec as runs_spec
from services.runs.config import ClientsConfig, EngineConfig, RunsSettings
from tests.support.egress import LOOPBACK
from tests.support.postgres import Cluster
from tests.support.principals import AUTH, as_member
from tests.support.registry import agent_message, new_org, struct
from tests.support.rpc import channel_as
from tests.support.runs import all_events, definition, launch_ad_hoc, step
from tests.support.servers import RunningServer, running
from tests.support.watching import ResumingWatcher

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]

RUNS = 12
RESTARTS = 3
TASKS = TaskSettings(
    restart_initial_seconds=0.05, restart_max_seconds=0.5, unhealthy_after_seconds=60, check_interval_seconds=0.2
)


def schema(cluster: Cluster, name: str) -> DatabaseSettings:
    return DatabaseSettings(
        url=SecretStr(cluster.url), schema_name=name, probe_interval_seconds=0.5, probe_timeout_seconds=2
    )


@dataclass
class Deployment:
    org: str
    registry: rpb_grpc.RegistryServiceStub
    replicas: list[RunningServer]
    runs: list[pb_grpc.RunsServiceStub]


@pytest.fixture
async def deployment(cluster: Cluster) -> AsyncIterator[Deployment]:
    org = new_org()
    member = as_member(org, "admin")
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(
            running(
                registry_spec(
                    RegistrySettings(database=schema(cluster, "registry"), auth=AUTH, tasks=TASKS, agents=LOOPBACK)
                )
            )
        )
        replicas = []
        for worker in ("a", "b"):
            settings = RunsSettings(
                database=schema(cluster, "runs"),
                auth=AUTH,
                tasks=TASKS,
                clients=ClientsConfig(registry=registry.target, credentials="127.0.0.1:1"),
                engine=EngineConfig(lease_seconds=5, idle_wait_seconds=0.5),
                agents=LOOPBACK,
            )
            replicas.append(await stack.enter_async_context(running(runs_spec(settings, worker_id=worker))))
        agent = await stack.enter_async_context(serving(openai_agent.create_app("writer", chunk_delay=0.05)))
        registry_channel = await stack.enter_async_context(channel_as(registry.target, member))
        registry_stub = rpb_grpc.RegistryServiceStub(registry_channel)
        config = {"protocol": "openai", "endpoint": f"{agent.url}/v1", "model": "m", "timeout_seconds": 20}
        writer = agent_message(org, "writer", config=struct(config))
        await registry_stub.CreateAgent(rpb.CreateAgentRequest(agent=writer))
        stubs = [
            pb_grpc.RunsServiceStub(await stack.enter_async_context(channel_as(r.target, member))) for r in replicas
        ]
        yield Deployment(org, registry_stub, replicas, stubs)


def flow() -> dict[str, object]:
    slow = "[slow:0.4]"
    return definition(
        [step("draft", "agent", agent="writer", prompt=f"draft {slow}"), step("note", message="noted")],
        [step("revise", "agent", agent="writer", prompt="revise {{ steps.draft.output }} " + slow), step("n", "noop")],
        [step("final", "agent", agent="writer", prompt=f"final {slow}"), step("done", message="done")],
    )


async def keep_reading(d: Deployment, stop: asyncio.Event, codes: Counter[grpc.StatusCode]) -> None:
    """Load while the database restarts: reads on every replica and the registry, each answer's code counted."""
    parent = f"organizations/{d.org}"
    while not stop.is_set():
        for call in (
            d.runs[0].ListRuns(pb.ListRunsRequest(parent=parent)),
            d.runs[1].ListCheckpoints(pb.ListCheckpointsRequest(parent=parent)),
            d.registry.ListAgents(rpb.ListAgentsRequest(parent=parent)),
        ):
            try:
                await call
                codes[grpc.StatusCode.OK] += 1
            except grpc.aio.AioRpcError as exc:
                codes[exc.code()] += 1
        await asyncio.sleep(0.01)


async def test_runs_and_streams_survive_repeated_database_restarts(deployment: Deployment, cluster: Cluster) -> None:
    d = deployment
    runs = [await launch_ad_hoc(d.runs[i % 2], d.org, flow()) for i in range(RUNS)]
    watchers = [ResumingWatcher(d.runs[i % 2], run.name) for i, run in enumerate(runs)]
    following = [asyncio.create_task(w.follow(give_up_after=90)) for w in watchers]
    stop, codes = asyncio.Event(), Counter[grpc.StatusCode]()
    reader = asyncio.create_task(keep_reading(d, stop, codes))

    for _ in range(RESTARTS):
        await asyncio.sleep(0.6)  # let work progress between restarts
        await asyncio.to_thread(cluster.restart)

    await asyncio.wait_for(asyncio.gather(*following), 120)
    stop.set()
    await reader

    for run, watcher in zip(runs, watchers, strict=True):
        final = (await d.runs[0].GetRun(pb.GetRunRequest(name=run.name))).run
        assert final.status == run_pb2.RUN_STATUS_COMPLETED, (run.name, final.status_reason)
        logged = [e.sequence for e in await all_events(d.runs[0], run.name)]
        received = [e.sequence for e in watcher.events]
        assert received == logged == list(range(1, final.last_event_sequence + 1)), run.name  # no gap, no duplicate
        assert set(watcher.cuts) <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED}

    assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}, codes
    assert codes[grpc.StatusCode.OK] > 0
    # The restarts really hit the replicas: both lost their LISTEN connection and reconnected without help.
    for replica in d.replicas:
        assert replica.supervisor is not None
        assert replica.supervisor.status()[LISTENER_TASK].restarts >= 1
        reply = await health_pb2_grpc.HealthStub(replica.channel).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_run_launched_right_after_a_restart_completes(deployment: Deployment, cluster: Cluster) -> None:
    """The first calls after a restart hold dead pooled connections: they answer UNAVAILABLE (retry), and the
    pools and the engines recover by themselves."""
    d = deployment
    await asyncio.to_thread(cluster.restart)
    run, refusals = None, Counter[grpc.StatusCode]()
    for _ in range(50):
        try:
            run = await launch_ad_hoc(d.runs[0], d.org, definition([step("only", message="hello")]))
            break
        except grpc.aio.AioRpcError as exc:
            refusals[exc.code()] += 1
        await asyncio.sleep(0.1)
    assert run is not None
    assert set(refusals) <= {grpc.StatusCode.UNAVAILABLE}, refusals
    watcher = ResumingWatcher(d.runs[1], run.name)
    await asyncio.wait_for(watcher.follow(), 30)
    assert watcher.events[-1].run_status == run_pb2.RUN_STATUS_COMPLETED
