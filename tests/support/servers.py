"""Start a service in-process on 127.0.0.1:0, exactly as its __main__ would, and talk to it over real gRPC.

Companions (the gateway's HTTP front) start after the gRPC server, as in `services.common.server.serve`; they
listen where their own settings say (tests configure port 0) and are stopped first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import grpc

from services.common.interceptors import ServerInterceptor
from services.common.principals import KeyRing
from services.common.server import Companion, Server, ServiceSpec
from services.common.supervisor import Supervisor


@dataclass
class RunningServer:
    server: Server
    channel: grpc.aio.Channel
    companions: Sequence[Companion] = ()
    supervisor: Supervisor | None = None
    spec: ServiceSpec | None = None  # what it was built from (a service's spec may expose what it wired)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@asynccontextmanager
async def running(spec: ServiceSpec, *, access_log: bool = False) -> AsyncIterator[RunningServer]:
    async with AsyncExitStack() as stack:
        supervisor = spec.supervisor()
        stack.push_async_callback(supervisor.stop)
        services = await spec.build(stack, supervisor)
        server = Server(
            spec.name,
            spec.server.model_copy(update={"port": 0, "host": "127.0.0.1"}),
            services,
            interceptors=[
                ServerInterceptor(
                    access_log=access_log,
                    key_ring=KeyRing.from_settings(spec.auth),
                    stream_send_timeout=spec.server.stream_send_timeout_seconds,
                    principal_required=spec.principal_required,
                ),
                *spec.extra_interceptors,
            ],
            supervisor=supervisor,
        )
        await server.start()
        stack.push_async_callback(server.stop, 0)
        for companion in spec.companions:
            await companion.start(server.port, supervisor)
            stack.push_async_callback(companion.stop, 0)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        stack.push_async_callback(channel.close)
        yield RunningServer(server, channel, tuple(spec.companions), supervisor, spec)
