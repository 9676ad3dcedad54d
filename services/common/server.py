"""gRPC server bootstrap shared by every service: interceptors, health, reflection, graceful drain.

A service describes itself as a `ServiceSpec`; `run(spec)` is its whole `__main__`:
logging → engine → migrations → servicers → serve until SIGTERM/SIGINT → drain → dispose.

Background tasks are started through the process's `Supervisor` (passed to `build`), and health follows it: the
server reports SERVING only while every supervised task is well (services/common/supervisor.py).

A spec may name companions: other listeners of the same process that call into its gRPC server (the gateway's
HTTP/JSON front). They start once the gRPC port is bound and before health reports SERVING, and on SIGTERM they
drain first (health already NOT_SERVING), within the same grace period, while the gRPC server still serves the
calls they relay; then the gRPC server drains with what is left of the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.interceptors import ServerInterceptor
from services.common.logs import configure_logging, get_logger
from services.common.principals import KeyRing
from services.common.settings import AuthSettings, LoggingSettings, ServerSettings, TaskSettings
from services.common.supervisor import Supervisor

log = get_logger("agentorch.server")


@dataclass(frozen=True)
class GrpcService:
    """A servicer to mount: its proto descriptor (named in health and reflection) and the generated add function."""

    descriptor: ServiceDescriptor
    servicer: Any
    add: Callable[[Any, grpc.aio.Server], None]

    @property
    def full_name(self) -> str:
        return str(self.descriptor.full_name)


class Companion(Protocol):
    """Another listener of the process, relaying to the gRPC server on `grpc_port` (see the module docstring)."""

    async def start(self, grpc_port: int, supervisor: Supervisor) -> None: ...

    async def stop(self, grace: float) -> None: ...


@dataclass
class ServiceSpec:
    """What a service process consists of. `build` opens its resources on the exit stack, starts its background
    tasks with the supervisor, and returns servicers."""

    name: str
    server: ServerSettings
    logging: LoggingSettings
    auth: AuthSettings
    build: Callable[[AsyncExitStack, Supervisor], Awaitable[Sequence[GrpcService]]]
    extra_interceptors: Sequence[grpc.aio.ServerInterceptor] = field(default_factory=tuple)
    # Every call must carry a signed principal (the services); the gateway authenticates its own callers instead.
    principal_required: bool = True
    companions: Sequence[Companion] = field(default_factory=tuple)
    tasks: TaskSettings = field(default_factory=TaskSettings)

    def supervisor(self) -> Supervisor:
        return Supervisor(self.name, self.tasks)


class Server:
    """A started grpc.aio server with health and reflection; `port` is the bound port (useful with port 0)."""

    def __init__(
        self,
        name: str,
        settings: ServerSettings,
        services: Sequence[GrpcService],
        *,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        supervisor: Supervisor | None = None,
    ) -> None:
        self.name = name
        self._settings = settings
        self._services = services
        self._health = health.aio.HealthServicer()
        self._serving = False  # set_serving was called and no drain began
        self._supervisor = supervisor
        if supervisor is not None:
            supervisor.on_health_change(self._on_tasks_health)
        self._server = grpc.aio.server(
            interceptors=list(interceptors),
            options=[
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                ("grpc.max_send_message_length", settings.max_message_bytes),
                ("grpc.so_reuseport", 0),
                *settings.connection_options(),
            ],
        )
        self.port = 0

    async def start(self, *, serving: bool = True) -> int:
        """Bind and start; health reports SERVING now, or (`serving=False`) once `set_serving` is called."""
        for service in self._services:
            service.add(service.servicer, self._server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        names = [s.full_name for s in self._services]
        reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], self._server)
        self.port = self._server.add_insecure_port(f"{self._settings.host}:{self._settings.port}")
        if self.port == 0:
            raise RuntimeError(f"{self.name}: could not bind {self._settings.host}:{self._settings.port}")
        await self._server.start()
        if serving:
            await self.set_serving()
        return self.port

    async def set_serving(self) -> None:
        """Report SERVING from now on, as long as the supervised tasks are healthy (NOT_SERVING while they are not)."""
        self._serving = True
        healthy = self._supervisor is None or self._supervisor.healthy
        await self._report(healthy)
        names = [s.full_name for s in self._services]
        log.info("serving", server=self.name, host=self._settings.host, port=self.port, services=names, healthy=healthy)

    async def _on_tasks_health(self, healthy: bool) -> None:
        if self._serving:
            await self._report(healthy)

    async def _report(self, healthy: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if healthy else health_pb2.HealthCheckResponse.NOT_SERVING
        for service_name in ("", *(s.full_name for s in self._services)):
            await self._health.set(service_name, status)

    async def begin_drain(self) -> None:
        """Report NOT_SERVING (load balancers stop sending new calls); calls are still served until `stop`."""
        self._serving = False
        await self._health.enter_graceful_shutdown()

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING (so load balancers drain us), then let in-flight RPCs finish for `grace` seconds."""
        self._serving = False
        await self._health.enter_graceful_shutdown()
        seconds = self._settings.grace_seconds if grace is None else grace
        log.info("draining", server=self.name, grace_seconds=seconds)
        await self._server.stop(seconds)

    async def wait(self) -> None:
        await self._server.wait_for_termination()


async def serve(spec: ServiceSpec) -> None:
    """Run a service until SIGTERM or SIGINT, then drain and release its resources."""
    configure_logging(spec.logging, spec.name)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with AsyncExitStack() as stack:
        supervisor = spec.supervisor()
        stack.push_async_callback(supervisor.stop)  # runs last: after the resources' own stop callbacks
        services = await spec.build(stack, supervisor)
        key_ring = KeyRing.from_settings(spec.auth)
        interceptor = ServerInterceptor(
            access_log=spec.logging.access_log,
            key_ring=key_ring,
            stream_send_timeout=spec.server.stream_send_timeout_seconds,
            principal_required=spec.principal_required,
        )
        interceptors = [interceptor, *spec.extra_interceptors]
        server = Server(spec.name, spec.server, services, interceptors=interceptors, supervisor=supervisor)
        await server.start(serving=False)
        started: list[Companion] = []
        grace = spec.server.grace_seconds
        try:
            for companion in spec.companions:
                await companion.start(server.port, supervisor)
                started.append(companion)
            await server.set_serving()
            await stopping.wait()
        finally:
            await server.begin_drain()
            deadline = loop.time() + grace
            for companion in reversed(started):
                await companion.stop(max(0.0, deadline - loop.time()))
            await server.stop(round(max(0.0, deadline - loop.time()), 3))
    log.info("stopped", server=spec.name)


def run(spec: ServiceSpec) -> None:
    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while draining
        asyncio.run(serve(spec))
