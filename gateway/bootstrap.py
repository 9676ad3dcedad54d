"""Wires the gateway: one channel per backend, the gateway servicer."""

from __future__ import annotations

from contextlib import AsyncExitStack

import grpc

from agentorch.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from gateway.api.servicer import GatewayServicer
from gateway.config import GatewaySettings
from services.common.server import GrpcService, ServiceSpec

NAME = "gateway"
DESCRIPTOR = gateway_service_pb2.DESCRIPTOR.services_by_name["GatewayService"]


def spec(settings: GatewaySettings) -> ServiceSpec:
    async def build(stack: AsyncExitStack) -> list[GrpcService]:
        targets = settings.backends.model_dump(include={"registry", "runs", "credentials"})
        channels: dict[str, grpc.aio.Channel] = {}
        for name, target in targets.items():
            channel = grpc.aio.insecure_channel(target)
            stack.push_async_callback(channel.close)
            channels[name] = channel
        servicer = GatewayServicer(channels, targets, settings.backends.health_timeout_seconds)
        return [GrpcService(DESCRIPTOR, servicer, gateway_service_pb2_grpc.add_GatewayServiceServicer_to_server)]

    return ServiceSpec(name=NAME, server=settings.server, logging=settings.logging, auth=settings.auth, build=build)
