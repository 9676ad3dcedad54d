"""GatewayService servicer."""

from __future__ import annotations

import asyncio

import grpc
from grpc.aio import ServicerContext
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentorch.gateway.v1 import gateway_service_pb2 as pb
from agentorch.gateway.v1 import gateway_service_pb2_grpc as pb_grpc


class GatewayServicer(pb_grpc.GatewayServiceServicer):
    def __init__(self, backends: dict[str, grpc.aio.Channel], targets: dict[str, str], timeout: float) -> None:
        self._backends = backends
        self._targets = targets
        self._timeout = timeout

    async def GetPlatformStatus(
        self, request: pb.GetPlatformStatusRequest, context: ServicerContext
    ) -> pb.GetPlatformStatusResponse:
        names = sorted(self._backends)
        statuses = await asyncio.gather(*(self._check(self._backends[n]) for n in names))
        backends = [
            pb.BackendStatus(service=n, target=self._targets[n], status=s) for n, s in zip(names, statuses, strict=True)
        ]
        return pb.GetPlatformStatusResponse(
            backends=backends, all_serving=all(s == pb.SERVING_STATUS_SERVING for s in statuses)
        )

    async def _check(self, channel: grpc.aio.Channel) -> pb.ServingStatus:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=self._timeout)
        except grpc.aio.AioRpcError:
            return pb.SERVING_STATUS_UNREACHABLE
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return pb.SERVING_STATUS_SERVING
        return pb.SERVING_STATUS_NOT_SERVING
