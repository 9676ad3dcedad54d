"""GatewayService servicer: what only makes sense at the edge. Proto → use case → proto; errors map in the shared
interceptor. Authentication, rate limits and the role check already happened in the edge interceptor."""

from __future__ import annotations

import asyncio

import grpc
from grpc.aio import ServicerContext
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentorch.gateway.v1 import gateway_service_pb2 as pb
from agentorch.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from gateway.api.convert import api_key_message, invoke_command, invoke_response, optional_time
from gateway.app.api_keys import ApiKeyService
from gateway.app.invoke_service import InvokeService
from gateway.auth import caller as caller_context
from gateway.edge.proxy import relay_error
from services.common import authz


class GatewayServicer(pb_grpc.GatewayServiceServicer):
    def __init__(
        self,
        backends: dict[str, grpc.aio.Channel],
        targets: dict[str, str],
        timeout: float,
        api_keys: ApiKeyService,
        invoke: InvokeService,
    ) -> None:
        self._backends = backends
        self._targets = targets
        self._timeout = timeout
        self._api_keys = api_keys
        self._invoke = invoke

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

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: ServicerContext) -> pb.WhoAmIResponse:
        caller = caller_context.require()
        principal = caller.principal
        return pb.WhoAmIResponse(
            subject=principal.subject,
            organization_slug=principal.organization_slug,
            roles=[r for r in authz.ROLES if r in principal.roles],
            authentication=caller.authentication,
        )

    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: ServicerContext) -> pb.CreateApiKeyResponse:
        caller = caller_context.require()
        created = await self._api_keys.create(
            caller.principal,
            caller.authentication,
            request.parent,
            request.api_key.display_name,
            list(request.api_key.roles),
            optional_time(request.api_key, "expire_time"),
        )
        return pb.CreateApiKeyResponse(api_key=api_key_message(created.key), secret=created.token)

    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context: ServicerContext) -> pb.ListApiKeysResponse:
        caller = caller_context.require()
        page = await self._api_keys.list_page(caller.principal, request.parent, request.page_size, request.page_token)
        return pb.ListApiKeysResponse(
            api_keys=[api_key_message(k) for k in page.keys], next_page_token=page.next_page_token
        )

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: ServicerContext) -> pb.RevokeApiKeyResponse:
        caller = caller_context.require()
        key = await self._api_keys.revoke(caller.principal, request.name)
        return pb.RevokeApiKeyResponse(api_key=api_key_message(key))

    async def Invoke(self, request: pb.InvokeRequest, context: ServicerContext) -> pb.InvokeResponse:
        caller = caller_context.require()
        try:
            result = await self._invoke.invoke(caller.principal, invoke_command(request), context.time_remaining())
        except grpc.aio.AioRpcError as exc:  # a backend's answer: relayed with its code and details unchanged
            await relay_error(context, exc)
            raise
        return invoke_response(result)

    async def _check(self, channel: grpc.aio.Channel) -> pb.ServingStatus:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=self._timeout)
        except grpc.aio.AioRpcError:
            return pb.SERVING_STATUS_UNREACHABLE
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return pb.SERVING_STATUS_SERVING
        return pb.SERVING_STATUS_NOT_SERVING
