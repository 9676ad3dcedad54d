"""Deterministic reference agents for development and tests: an A2A 1.0 agent and an OpenAI-compatible one.

Both are Starlette apps (`a2a_agent.create_app`, `openai_agent.create_app`) served by uvicorn; `serving(app)` runs
one on a loopback port inside the current event loop. Their behaviour is driven by markers in the prompt text,
so tests need no configuration (see each module). They log each request's idempotency key and never a
credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from starlette.requests import Request
from starlette.types import ASGIApp

LOOPBACK = "127.0.0.1"
MAX_SLOW_SECONDS = 30.0
MAX_BIG_BYTES = 16 * 1024 * 1024
_MARKER = re.compile(r"\[([a-z0-9-]+)(?::([^\]]*))?\]")


@dataclass(frozen=True)
class Markers:
    """The `[name]` / `[name:value]` markers of a prompt."""

    found: dict[str, str]

    @classmethod
    def of(cls, text: str) -> Markers:
        return cls({m.group(1): (m.group(2) or "") for m in _MARKER.finditer(text)})

    def __contains__(self, name: str) -> bool:
        return name in self.found

    def get(self, name: str) -> str | None:
        return self.found.get(name)

    def seconds(self, name: str) -> float:
        try:
            return min(max(float(self.found.get(name) or 0), 0.0), MAX_SLOW_SECONDS)
        except ValueError:
            return 0.0

    def size(self, name: str) -> int:
        try:
            return min(max(int(self.found.get(name) or 0), 0), MAX_BIG_BYTES)
        except ValueError:
            return 0


class Once:
    """Remembers which (marker value, idempotency key) pairs already had their one failure."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()

    def first(self, marker_value: str, idempotency_key: str) -> bool:
        key = (marker_value, idempotency_key)
        if key in self._seen:
            return False
        self._seen.add(key)
        return True


async def pause(request: Request, seconds: float) -> bool:
    """Sleep up to `seconds`, stopping early if the caller goes away; True when the caller is still there."""
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        await asyncio.sleep(min(left, 0.05))
        if await request.is_disconnected():
            return False
    return True


@dataclass
class Served:
    server: uvicorn.Server
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, *, host: str = LOOPBACK, port: int = 0) -> AsyncIterator[Served]:
    """Serve `app` with uvicorn on host:port (0: a free port) in this event loop until the block ends."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]  # caller owns signals
    task = asyncio.create_task(server.serve(), name=f"reference agent on {host}:{port}")
    try:
        while not server.started:
            if task.done():
                await task  # raises what stopped it (e.g. the port is taken)
                raise RuntimeError(f"the server on {host}:{port} stopped before it started")
            await asyncio.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()
        yield Served(server, host, int(bound[1]))
    finally:
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), 3)
        except TimeoutError:
            server.force_exit = True
            await task


def pieces(text: str, count: int = 3) -> list[str]:
    """`text` cut into at most `count` non-empty consecutive pieces (the chunks a streaming agent sends)."""
    if not text:
        return []
    size = max(1, -(-len(text) // count))
    return [text[i : i + size] for i in range(0, len(text), size)]
