"""Connection limits every service's gRPC server applies (ServerSettings): idle connections closed, old ones told to
go away, while calls in flight are never cut. Real servers on loopback; each client channel has its own connection
(`grpc.use_local_subchannel_pool`), since channels to one target otherwise share one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.server import Server
from services.common.settings import ServerSettings

LIMIT = 20.0  # a bound on waits for things that take about a second, never a sync point
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
READY = grpc.ChannelConnectivity.READY


@pytest.fixture
async def channels() -> AsyncIterator[list[grpc.aio.Channel]]:
    opened: list[grpc.aio.Channel] = []
    yield opened
    for channel in opened:
        await channel.close()


async def serve(settings: ServerSettings) -> Server:
    server = Server("connections", settings, [])
    await server.start()
    return server


def connect(server: Server, channels: list[grpc.aio.Channel]) -> grpc.aio.Channel:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=OWN_CONNECTION)
    channels.append(channel)
    return channel


async def left_ready(channel: grpc.aio.Channel) -> grpc.ChannelConnectivity:
    """Wait until the channel's connection is gone (the server's GOAWAY turns a READY channel IDLE)."""
    await asyncio.wait_for(channel.wait_for_state_change(READY), LIMIT)
    return channel.get_state()


async def test_an_idle_connection_is_closed_and_a_stream_in_flight_is_not(channels: list[grpc.aio.Channel]) -> None:
    server = await serve(ServerSettings(port=0, max_connection_idle_seconds=0.5))
    try:
        idle, busy = connect(server, channels), connect(server, channels)
        await health_pb2_grpc.HealthStub(idle).Check(health_pb2.HealthCheckRequest())
        assert idle.get_state() == READY
        watch = health_pb2_grpc.HealthStub(busy).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING

        assert await left_ready(idle) != READY  # closed by the server after the idle time
        # By now the busy connection is as old as the idle one was: its stream is still served.
        assert busy.get_state() == READY
        await server.begin_drain()  # health changes: the open stream is told
        assert (await asyncio.wait_for(watch.read(), LIMIT)).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()
        assert await left_ready(busy) != READY  # and once it has no call in flight, it is idle too
        # A closed connection costs the client nothing: its next call reconnects.
        await health_pb2_grpc.HealthStub(idle).Check(health_pb2.HealthCheckRequest(), timeout=LIMIT)
    finally:
        await server.stop(0)


async def test_an_old_connection_is_told_to_go_away_and_its_stream_continues(
    channels: list[grpc.aio.Channel],
) -> None:
    server = await serve(ServerSettings(port=0, max_connection_age_seconds=0.5, max_connection_idle_seconds=0))
    try:
        busy = connect(server, channels)
        watch = health_pb2_grpc.HealthStub(busy).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
        assert await left_ready(busy) != READY  # GOAWAY: new calls go to a new connection
        await server.begin_drain()
        assert (await asyncio.wait_for(watch.read(), LIMIT)).status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()
    finally:
        await server.stop(0)
