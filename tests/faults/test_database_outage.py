"""The database is stopped for a while, then started again, under the whole platform behind the gateway.

While it is down every call that needs it answers UNAVAILABLE (reason UNAVAILABLE, a RetryInfo saying when to try
again, metadata `dependency: database`), over gRPC and HTTP (503 with Retry-After), never INTERNAL. Once it has
been down longer than TASKS__UNHEALTHY_AFTER_SECONDS each process reports NOT_SERVING (so an orchestrator stops
routing to it, and restarts it if it stays so). When the database is back, every process reports SERVING again on
its own and the paused run can be decided and completes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as vpb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as vpb_grpc
from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.registry.v1 import registry_service_pb2_grpc as rpb_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings, TaskSettings
from tests.support.gateway import Platform, mint, new_org, platform
from tests.support.http import client
from tests.support.postgres import Cluster
from tests.support.registry import agent_message
from tests.support.rpc import error_info, retry_delay
from tests.support.runs import checkpoint_step, definition, launch_ad_hoc, step, wait_for_status
from tests.support.servers import RunningServer

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]
TASKS = TaskSettings(
    restart_initial_seconds=0.05, restart_max_seconds=0.3, unhealthy_after_seconds=1.0, check_interval_seconds=0.1
)


@pytest.fixture
async def plat(cluster: Cluster) -> AsyncIterator[Platform]:
    database = DatabaseSettings(
        url=SecretStr(cluster.url), schema_name="runs", probe_interval_seconds=0.2, probe_timeout_seconds=1
    )
    async with platform(database, tasks=TASKS) as p:
        yield p


def processes(p: Platform) -> dict[str, RunningServer]:
    return {"gateway": p.gateway, "registry": p.registry, "runs": p.runs, "credentials": p.credentials}


async def wait_for_health(server: RunningServer, wanted: int, timeout: float = 20) -> None:
    """Follow the health service's Watch stream until the process reports `wanted`."""

    async def follow() -> None:
        async for reply in health_pb2_grpc.HealthStub(server.channel).Watch(health_pb2.HealthCheckRequest()):
            if reply.status == wanted:
                return

    await asyncio.wait_for(follow(), timeout)


def assert_database_unavailable(error: grpc.aio.AioRpcError, method: str) -> None:
    assert error.code() == grpc.StatusCode.UNAVAILABLE, (method, error.code(), error.details())
    info = error_info(error)
    assert info.reason == "UNAVAILABLE"
    assert info.metadata["dependency"] == "database"
    assert retry_delay(error) > 0


async def test_a_stopped_database_is_unavailable_then_not_serving_then_recovers_by_itself(
    plat: Platform, cluster: Cluster
) -> None:
    org = new_org()
    token = mint(org, "admin")
    channel = await plat.channel(token)
    registry, runs = rpb_grpc.RegistryServiceStub(channel), pb_grpc.RunsServiceStub(channel)
    vault, gateway = vpb_grpc.CredentialsServiceStub(channel), gw_grpc.GatewayServiceStub(channel)
    parent = f"organizations/{org}"
    await registry.CreateAgent(rpb.CreateAgentRequest(agent=agent_message(org, "helper")))
    await vault.CreateCredential(
        vpb.CreateCredentialRequest(
            parent=parent, alias="k", credential=cpb.Credential(type=cpb.CREDENTIAL_TYPE_API_KEY), value="v"
        )
    )
    run = await launch_ad_hoc(runs, org, definition([step("a")], [checkpoint_step("review")]))
    paused = await wait_for_status(runs, run.name, {run_pb2.RUN_STATUS_PAUSED})
    (checkpoint,) = paused.open_checkpoints

    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "ListAgents": lambda: registry.ListAgents(rpb.ListAgentsRequest(parent=parent)),
        "ListRuns": lambda: runs.ListRuns(pb.ListRunsRequest(parent=parent)),
        "GetRun": lambda: runs.GetRun(pb.GetRunRequest(name=run.name)),
        "ListCheckpoints": lambda: runs.ListCheckpoints(pb.ListCheckpointsRequest(parent=parent)),
        "DecideCheckpoint": lambda: runs.DecideCheckpoint(
            pb.DecideCheckpointRequest(name=checkpoint, decision=run_pb2.DECISION_APPROVE)
        ),
        "WatchRun": lambda: _first_item(runs.WatchRun(pb.WatchRunRequest(name=run.name))),
        "ListCredentials": lambda: vault.ListCredentials(vpb.ListCredentialsRequest(parent=parent)),
        "ListApiKeys": lambda: gateway.ListApiKeys(gw.ListApiKeysRequest(parent=parent)),
    }

    await asyncio.to_thread(cluster.stop)
    for method, call in calls.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call()
        assert_database_unavailable(caught.value, method)

    async with client(plat.gateway, token) as http:
        answer = await http.get(f"/v1/{parent}/agents")
    assert answer.status_code == 503
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.json()["error"]["status"] == "UNAVAILABLE"

    for server in processes(plat).values():  # the probes keep failing: each process stops reporting SERVING
        await wait_for_health(server, health_pb2.HealthCheckResponse.NOT_SERVING)

    await asyncio.to_thread(cluster.start)
    for server in processes(plat).values():  # and comes back with no one doing anything
        await wait_for_health(server, health_pb2.HealthCheckResponse.SERVING)
    for method in ("ListAgents", "ListRuns", "ListCredentials", "ListApiKeys"):
        await _until_served(calls[method])
    await calls["DecideCheckpoint"]()  # nothing was written by the refused decision: it is still open
    done = await wait_for_status(runs, run.name, {run_pb2.RUN_STATUS_COMPLETED, run_pb2.RUN_STATUS_FAILED})
    assert done.status == run_pb2.RUN_STATUS_COMPLETED


async def _first_item(call: Any) -> Any:
    async for item in call:
        return item
    return None


async def _until_served(call: Callable[[], Awaitable[Any]]) -> None:
    """A pool may still hold a connection from before the restart: its first use answers UNAVAILABLE, then the pool
    reconnects. Anything other than UNAVAILABLE fails the test."""
    refusals: list[grpc.StatusCode] = []
    for _ in range(20):
        try:
            await call()
            break
        except grpc.aio.AioRpcError as exc:
            refusals.append(exc.code())
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the call never succeeded after the database came back: {refusals}")
    assert set(refusals) <= {grpc.StatusCode.UNAVAILABLE}, refusals


async def test_a_call_right_after_a_restart_is_retried_for_the_client(cluster: Cluster) -> None:
    """The services' pools still hold connections from before the restart; the first call on one answers
    UNAVAILABLE (nothing written), and the gateway's channel retries it (services.common.channels), so the client
    sees an answer, not an error. The probes are slowed down here so that they do not refresh the pools first."""
    database = DatabaseSettings(url=SecretStr(cluster.url), schema_name="runs", probe_interval_seconds=300)
    async with platform(database) as p:
        org = new_org()
        channel = await p.channel(mint(org, "admin"))
        registry = rpb_grpc.RegistryServiceStub(channel)
        parent = f"organizations/{org}"
        await registry.CreateAgent(rpb.CreateAgentRequest(agent=agent_message(org, "helper")))
        for _ in range(3):  # warm the registry's pool
            await registry.ListAgents(rpb.ListAgentsRequest(parent=parent))
        await asyncio.to_thread(cluster.restart)
        listed = await registry.ListAgents(rpb.ListAgentsRequest(parent=parent))
        assert [a.slug for a in listed.agents] == ["helper"]
        created = await registry.CreateAgent(rpb.CreateAgentRequest(agent=agent_message(org, "second")))
        assert created.agent.slug == "second"  # a write too: the refused attempt wrote nothing, the retry did
