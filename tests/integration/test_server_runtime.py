"""The shared server runtime: health, reflection, error mapping, request ids, graceful drain."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pydantic import SecretStr

from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from gateway.bootstrap import spec as gateway_spec
from gateway.config import BackendSettings, GatewaySettings, HttpSettings
from services.common.errors import ResourceExhausted
from services.common.interceptors import ServerInterceptor
from services.common.server import GrpcService, Server
from services.common.settings import DatabaseSettings, ServerSettings
from services.credentials.bootstrap import spec as credentials_spec
from services.credentials.config import CredentialsSettings
from services.registry.bootstrap import DESCRIPTOR
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from services.runs.bootstrap import spec as runs_spec
from services.runs.config import RunsSettings
from tests.support.gateway import API_KEYS
from tests.support.principals import AUTH
from tests.support.rpc import error_info, retry_delay
from tests.support.servers import running
from tests.support.vault import VAULT


class ScriptedRegistry(pb_grpc.RegistryServiceServicer):
    """A registry whose handlers misbehave on purpose, to test the runtime around them."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def GetAgent(self, request: pb.GetAgentRequest, context: grpc.aio.ServicerContext) -> pb.GetAgentResponse:
        if request.name == "boom":
            raise RuntimeError("database password is hunter2")
        if request.name == "slow-down":
            raise ResourceExhausted("too many requests", retry_after_seconds=1.5)
        self.entered.set()
        await self.release.wait()
        return pb.GetAgentResponse()


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Server, ScriptedRegistry, grpc.aio.Channel]]:
    servicer = ScriptedRegistry()
    server = Server(
        "scripted",
        ServerSettings(port=0, grace_seconds=5),
        [GrpcService(DESCRIPTOR, servicer, pb_grpc.add_RegistryServiceServicer_to_server)],
        interceptors=[ServerInterceptor(access_log=False, principal_required=False)],  # the runtime, not auth
    )
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    yield server, servicer, channel
    await channel.close()
    await server.stop(0)


async def test_unexpected_exception_is_internal_and_sanitized(
    scripted: tuple[Server, ScriptedRegistry, grpc.aio.Channel],
) -> None:
    _, _, channel = scripted
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pb_grpc.RegistryServiceStub(channel).GetAgent(
            pb.GetAgentRequest(name="boom"), metadata=(("x-request-id", "rid-boom"),)
        )
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "hunter2" not in (caught.value.details() or "")
    assert "rid-boom" in (caught.value.details() or "")
    assert error_info(caught.value).reason == "INTERNAL"


async def test_resource_exhausted_carries_retry_info(
    scripted: tuple[Server, ScriptedRegistry, grpc.aio.Channel],
) -> None:
    _, _, channel = scripted
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await pb_grpc.RegistryServiceStub(channel).GetAgent(pb.GetAgentRequest(name="slow-down"))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert retry_delay(caught.value) == 1.5


async def test_stop_drains_in_flight_calls_and_reports_not_serving(
    scripted: tuple[Server, ScriptedRegistry, grpc.aio.Channel],
) -> None:
    server, servicer, channel = scripted
    health = health_pb2_grpc.HealthStub(channel)
    assert (await health.Check(health_pb2.HealthCheckRequest())).status == health_pb2.HealthCheckResponse.SERVING
    in_flight = asyncio.ensure_future(pb_grpc.RegistryServiceStub(channel).GetAgent(pb.GetAgentRequest(name="x")))
    await servicer.entered.wait()
    stopping = asyncio.ensure_future(server.stop(5))
    await asyncio.sleep(0)  # let stop() flip health and close the listener
    servicer.release.set()
    assert await in_flight == pb.GetAgentResponse()
    await stopping
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def list_services(channel: grpc.aio.Channel) -> set[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    async for reply in call:
        return {s.name for s in reply.list_services_response.service}
    raise AssertionError("no reflection reply")


@pytest.mark.parametrize(
    ("make_spec", "service_name"),
    [
        (lambda d: registry_spec(RegistrySettings(database=d)), "agentorch.registry.v1.RegistryService"),
        (lambda d: runs_spec(RunsSettings(database=d)), "agentorch.runs.v1.RunsService"),
        (
            lambda d: credentials_spec(CredentialsSettings(database=d, vault=VAULT)),
            "agentorch.credentials.v1.CredentialsService",
        ),
    ],
    ids=["registry", "runs", "credentials"],
)
async def test_every_service_answers_health_and_reflection(
    database: DatabaseSettings, make_spec: object, service_name: str
) -> None:
    async with running(make_spec(database)) as srv:  # type: ignore[operator]
        health = health_pb2_grpc.HealthStub(srv.channel)
        for name in ("", service_name):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        assert {
            service_name,
            "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection",
        } <= await list_services(srv.channel)


async def test_gateway_reports_backend_health(tmp_path: Path) -> None:
    def sqlite(name: str) -> DatabaseSettings:
        return DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{tmp_path / name}.db"))

    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(running(registry_spec(RegistrySettings(database=sqlite("r")))))
        runs = await stack.enter_async_context(running(runs_spec(RunsSettings(database=sqlite("u")))))
        backends = BackendSettings(
            registry=registry.target, runs=runs.target, credentials="127.0.0.1:1", health_timeout_seconds=1
        )
        settings = GatewaySettings(
            backends=backends, database=sqlite("g"), auth=AUTH, api_keys=API_KEYS, http=HttpSettings(port=0)
        )
        gateway = await stack.enter_async_context(running(gateway_spec(settings)))
        assert "agentorch.gateway.v1.GatewayService" in await list_services(gateway.channel)
        reply = await gw_grpc.GatewayServiceStub(gateway.channel).GetPlatformStatus(gw.GetPlatformStatusRequest())
        statuses = {b.service: b.status for b in reply.backends}
        assert statuses == {
            "credentials": gw.SERVING_STATUS_UNREACHABLE,
            "registry": gw.SERVING_STATUS_SERVING,
            "runs": gw.SERVING_STATUS_SERVING,
        }
        assert reply.all_serving is False
