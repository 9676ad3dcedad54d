"""Wires the gateway: its database (API keys), one channel per backend, authentication, the edge interceptor, the
GatewayService servicer and a proxy per re-exposed service. Tests call `spec` with their settings.

Inbound principals: the shared server interceptor gets an EMPTY key ring here, so any `x-agentorch-principal-bin`
a client sends is rejected (UNAUTHENTICATED) instead of trusted; the gateway's own key ring (settings `auth`) is
used only to sign the principals it forwards.

The HTTP/JSON + SSE front (gateway.http, settings `http`) is a companion of the gRPC server: it starts once the
gRPC port is bound and relays every request to that port, so the edge interceptor enforces everything once.
"""

from __future__ import annotations

import secrets
from contextlib import AsyncExitStack
from pathlib import Path

import grpc

from agentorch.credentials.v1 import credentials_service_pb2
from agentorch.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from agentorch.registry.v1 import registry_service_pb2
from agentorch.runs.v1 import runs_service_pb2
from gateway.api.servicer import GatewayServicer
from gateway.app.api_keys import ApiKeyService
from gateway.app.identity import IdentityService
from gateway.app.invoke_service import InvokeService
from gateway.auth.api_keys import ApiKeyVerifier
from gateway.auth.authenticator import Authenticator
from gateway.auth.jwt import JwtVerifier
from gateway.auth.membership import MembershipDirectory
from gateway.auth.peppers import load_peppers
from gateway.clients.invoke import InvokeBackends
from gateway.config import GatewaySettings
from gateway.edge.authz_matrix import BLOCKED
from gateway.edge.failed_auth import FailedAttempts
from gateway.edge.interceptor import EdgeInterceptor
from gateway.edge.proxy import Proxy
from gateway.edge.ratelimit import RateLimiter, StreamSlots
from gateway.http.server import HttpFront
from gateway.store.uow import GatewayUnitOfWork
from services.common.bootstrap import open_database
from services.common.channels import internal_channel
from services.common.principals import KeyRing, KeyRingError
from services.common.server import GrpcService, ServiceSpec
from services.common.settings import AuthSettings
from services.common.supervisor import Supervisor

NAME = "gateway"
MIGRATIONS = Path(__file__).parent / "store" / "migrations"
DESCRIPTOR = gateway_service_pb2.DESCRIPTOR.services_by_name["GatewayService"]
REEXPOSED = {
    "registry": registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"],
    "runs": runs_service_pb2.DESCRIPTOR.services_by_name["RunsService"],
    "credentials": credentials_service_pb2.DESCRIPTOR.services_by_name["CredentialsService"],
}


def spec(settings: GatewaySettings) -> ServiceSpec:
    relay_token = secrets.token_urlsafe(32)  # in memory only: proves to the edge that a call came from the HTTP front
    edge = EdgeInterceptor(relay_token)

    async def build(stack: AsyncExitStack, supervisor: Supervisor) -> list[GrpcService]:
        signer = KeyRing.from_settings(settings.auth)
        if not signer.signing_key_id:
            raise KeyRingError(
                "the gateway signs the principals it forwards: set AGENTORCH_GATEWAY_AUTH__PRINCIPAL_KEYS_FILE"
            )
        peppers = load_peppers(settings.api_keys)
        jwt = JwtVerifier.from_settings(settings.jwt) if settings.jwt.enabled else None
        engine = await open_database(stack, supervisor, NAME, settings.database, MIGRATIONS)

        def uow() -> GatewayUnitOfWork:
            return GatewayUnitOfWork(engine)

        failures = FailedAttempts(settings.failed_auth)
        verifier = ApiKeyVerifier(uow, settings.api_keys, peppers, failures)
        directory = MembershipDirectory(uow, settings.identity.cache_seconds)
        limits = settings.rate_limit
        limiter = RateLimiter(limits.requests_per_second, limits.burst, max_tracked=limits.max_tracked)
        edge.configure(
            Authenticator(jwt, verifier, failures, directory),
            limiter if limits.enabled else None,
            StreamSlots(settings.streams.max_per_principal),
        )

        targets = settings.backends.model_dump(include={"registry", "runs", "credentials"})
        channels: dict[str, grpc.aio.Channel] = {}
        for name, target in targets.items():
            channel = internal_channel(target, max_message_bytes=settings.server.max_message_bytes)
            stack.push_async_callback(channel.close)
            channels[name] = channel

        api_keys = ApiKeyService(uow, peppers, on_revoke=verifier.invalidate)
        invoke = InvokeService(InvokeBackends(channels["registry"], channels["runs"], signer, settings.invoke))
        identity = IdentityService(uow, on_change=directory.invalidate)
        servicer = GatewayServicer(
            channels, targets, settings.backends.health_timeout_seconds, api_keys, invoke, identity
        )
        services = [GrpcService(DESCRIPTOR, servicer, gateway_service_pb2_grpc.add_GatewayServiceServicer_to_server)]
        for name, descriptor in REEXPOSED.items():
            proxy = Proxy(descriptor, channels[name], signer, blocked=BLOCKED)
            services.append(GrpcService(descriptor, proxy, Proxy.register))
        return services

    return ServiceSpec(
        name=NAME,
        server=settings.server,
        logging=settings.logging,
        auth=AuthSettings(),  # trust no inbound principal (see the module docstring)
        build=build,
        tasks=settings.tasks,
        extra_interceptors=(edge,),
        companions=(_http_front(settings, relay_token),) if settings.http.enabled else (),
        principal_required=False,  # the edge interceptor authenticates bearer tokens, then checks the request
    )


def _http_front(settings: GatewaySettings, relay_token: str) -> HttpFront:
    return HttpFront(
        settings.http,
        grpc_host=settings.server.host,
        max_message_bytes=settings.server.max_message_bytes,
        access_log=settings.logging.access_log,
        relay_token=relay_token,
    )
