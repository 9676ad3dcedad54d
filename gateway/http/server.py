"""The HTTP front's listener: uvicorn inside the gateway process, a companion of its gRPC server.

`start(grpc_port, supervisor)` binds the HTTP socket itself (so port 0 works and a taken port fails the start with
the port in the message), opens the loopback channel to the gateway's own gRPC port and serves the ASGI app with
uvicorn's programmatic `Server`, whose task the supervisor watches (an HTTP front that died turns the gateway
NOT_SERVING). Its own access log and logging config are off (the app logs one structured line per request), and so
is its signal handling (the gateway's server owns SIGTERM/SIGINT). `stop(grace)` drains: /healthz turns 503,
open SSE streams are closed (clients reconnect elsewhere with Last-Event-ID), the listener closes, and requests in
flight get `grace` seconds (at least one, so closing streams can finish) before uvicorn cancels them.

Connection limits: a request head must arrive within `header_timeout_seconds` (gateway.http.protocol), an idle
keep-alive connection closes after `keep_alive_seconds`, and past `max_connections` open connections a request is
answered 503 by uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import Iterator

import grpc
import uvicorn

from gateway.config import HttpSettings
from gateway.http.app import build_app
from gateway.http.protocol import with_head_timeout
from services.common.logs import get_logger
from services.common.supervisor import Supervisor

log = get_logger("agentorch.http")
WATCHED_TASK = "http front"


class _Uvicorn(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the gateway's own server handles the signals
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class HttpFront:
    """Created with the gateway's spec; `port` is the bound port once started."""

    def __init__(
        self,
        settings: HttpSettings,
        *,
        grpc_host: str,
        max_message_bytes: int,
        access_log: bool,
        relay_token: str,
    ) -> None:
        self.settings = settings
        self._grpc_host = grpc_host
        self._max_message = max_message_bytes
        self._access_log = access_log
        self._relay_token = relay_token
        self._draining = asyncio.Event()
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._supervisor: Supervisor | None = None
        self._channel: grpc.aio.Channel | None = None
        self.port = 0

    async def start(self, grpc_port: int, supervisor: Supervisor) -> None:
        sock = bind(self.settings.host, self.settings.port)
        self.port = int(sock.getsockname()[1])
        options = [
            ("grpc.max_receive_message_length", self._max_message),
            ("grpc.max_send_message_length", self._max_message),
        ]
        target = f"{dial_host(self._grpc_host)}:{grpc_port}"
        self._channel = grpc.aio.insecure_channel(target, options=options)
        app = build_app(
            self.settings, self._channel, self._draining, access_log=self._access_log, relay_token=self._relay_token
        )
        config = uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            interface="asgi3",
            http=with_head_timeout(self.settings.header_timeout_seconds),
            ws="none",
            timeout_keep_alive=self.settings.keep_alive_seconds,
            # uvicorn answers 503 once its open connections (the new one included) reach the limit: + 1 makes
            # max_connections the number served.
            limit_concurrency=self.settings.max_connections + 1 if self.settings.max_connections else None,
            server_header=False,
            proxy_headers=False,
        )
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="gateway http front")
        ready = asyncio.ensure_future(self._server.ready.wait())
        await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            await self._close()
            await self._task  # raises what stopped it
            raise RuntimeError("the HTTP front stopped before it started")
        supervisor.watch(WATCHED_TASK, self._task)  # if uvicorn dies, the gateway must stop reporting SERVING
        self._supervisor = supervisor
        log.info("serving http", host=self.settings.host, port=self.port, grpc_target=target)

    async def stop(self, grace: float) -> None:
        self._draining.set()
        if self._supervisor is not None:
            self._supervisor.forget(WATCHED_TASK)  # it ends now on purpose
        if self._server is not None and self._task is not None:
            self._server.config.timeout_graceful_shutdown = max(1, math.ceil(grace))
            self._server.should_exit = True
            await self._task
        await self._close()

    async def _close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"the HTTP front cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def dial_host(host: str) -> str:
    """Where this process reaches its own gRPC server bound to `host` (a wildcard is not an address to dial)."""
    dial = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return f"[{dial}]" if ":" in dial else dial
