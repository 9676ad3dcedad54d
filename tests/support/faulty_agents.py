"""Agents that misbehave on purpose, for the fault-injection tests: real HTTP servers on loopback.

`misbehaving_openai()` is an OpenAI-compatible chat endpoint whose behaviour is picked by the prompt:

  reflect:<offsets>   streams back "key=<the bearer token it was sent>." cut at the given comma-separated offsets
                      (one SSE chunk per piece), as an agent that echoes its credential in pieces would
  hang                accepts the request and never answers
  drip                sends the response head, then one byte every 50 ms, forever
  anything else       a normal streamed answer "ok: <prompt>"

`garbage_server()` is a TCP server that answers any connection with bytes that are not HTTP (an SSH banner), as a
port scan would find on an internal address.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

GARBAGE = b"SSH-2.0-OpenSSH_9.6 internal-banner-7731\r\n\x00\xff\xfe"


def _chunk(content: str, finish: str | None = None) -> str:
    choice = {"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}
    return f"data: {json.dumps({'id': 'c1', 'object': 'chat.completion.chunk', 'choices': [choice]})}\n\n"


def misbehaving_openai() -> Starlette:
    async def completions(request: Request) -> Response:
        body: dict[str, Any] = json.loads(await request.body())
        prompt = str(body["messages"][-1]["content"])
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if prompt == "hang":
            await asyncio.Event().wait()
        if prompt == "drip":
            return StreamingResponse(_drip(), media_type="text/event-stream")
        if prompt.startswith("reflect:"):
            offsets = [int(o) for o in prompt.removeprefix("reflect:").split(",") if o]
            return StreamingResponse(_reflect(f"key={token}.", offsets), media_type="text/event-stream")
        return StreamingResponse(_reflect(f"ok: {prompt}", [2]), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


async def _reflect(text: str, offsets: list[int]) -> AsyncIterator[str]:
    bounds = sorted({0, len(text), *(o for o in offsets if 0 < o < len(text))})
    for start, end in itertools.pairwise(bounds):
        yield _chunk(text[start:end])
        await asyncio.sleep(0)  # each piece its own write
    yield _chunk("", "stop")
    yield "data: [DONE]\n\n"


async def _drip() -> AsyncIterator[bytes]:
    while True:
        yield b":"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def garbage_server() -> AsyncIterator[int]:
    """A TCP server answering every connection with non-HTTP bytes; yields its port."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GARBAGE)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
