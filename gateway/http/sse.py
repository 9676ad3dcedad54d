"""The watch streams as Server-Sent Events (text/event-stream), relayed item by item from the gRPC stream.

Frames: a run event is `id: <sequence>`, `event: <its type>` (`EVENT_TYPE_STEP_SUCCEEDED`, the `type` of the JSON)
and `data: <RunEvent JSON>`, so a browser's EventSource resumes by itself: it sends the last id back as
`Last-Event-ID` when it reconnects, and the route turns that into `after_sequence` (no gap, no duplicate: the
runs service replays from the cursor). Any other item is `event: <its oneof case>` (`run` for WatchRuns, and
`heartbeat` for the service's own heartbeats, whose data carries the cursor and the server time). The response
opens with a `retry:` hint; after `sse_heartbeat_seconds` without output a comment line (`: keep-alive`) keeps
proxies from closing an idle connection. When the service ends the stream (a run's final event was sent) the last
frame is `event: end`; clients should then close their EventSource, or it reconnects and gets `end` again. An
error after the stream opened is an `event: error` frame with the same JSON body as an error response.

Status first: the HTTP status is sent with the first item or the first heartbeat, whichever comes first, so an
error the call ends with before that (401, 403, 404...) is an ordinary HTTP error response, which also makes an
EventSource give up instead of reconnecting.

Back-pressure: the next item is read from the gRPC stream only once the previous frame was handed to the
connection, and uvicorn's send waits while the socket's buffer is full, so a slow client holds at most one item
here (HTTP/2 flow control holds the rest back on the gRPC side). The call is cancelled the moment the client
disconnects, which the gateway's proxy passes on to the runs service. While the gateway drains, open streams are
closed without `end`: clients reconnect, to another replica, with their Last-Event-ID.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from starlette.types import Receive, Send

from agentorch.runs.v1 import run_pb2
from gateway.http import errors
from gateway.http.routes import Route
from gateway.http.translate import message_class, to_json

CONTENT_TYPE = b"text/event-stream; charset=utf-8"
KEEP_ALIVE = b": keep-alive\n\n"


@dataclass(frozen=True)
class Frame:
    data: str
    event: str = ""
    id: str = ""

    def encode(self) -> bytes:
        lines = [f"id: {self.id}"] if self.id else []
        if self.event:
            lines.append(f"event: {self.event}")
        lines += [f"data: {line}" for line in self.data.split("\n")]
        return ("\n".join(lines) + "\n\n").encode()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def frame_for(item: Message) -> Frame | None:
    """The SSE frame of one stream item (a message with a oneof `item`); None for an empty item."""
    case = item.WhichOneof("item")
    if case is None:
        return None
    payload = getattr(item, case)
    data = to_json(payload)
    if isinstance(payload, run_pb2.RunEvent):
        return Frame(dumps(data), event=str(data.get("type", "")), id=str(payload.sequence))
    return Frame(dumps(data), event=case)


def error_frame(error: errors.HttpError) -> Frame:
    return Frame(dumps(error.body), event="error")


@dataclass
class StreamStats:
    """What the access log says about a stream."""

    frames: int = 0
    outcome: str = ""
    code: str = ""


class Relay:
    """Relays one gRPC server stream to one SSE response (see the module docstring)."""

    def __init__(self, *, heartbeat_seconds: float, retry_seconds: float, draining: asyncio.Event) -> None:
        self._heartbeat = heartbeat_seconds
        self._retry = f"retry: {round(retry_seconds * 1000)}\n\n".encode()
        self._draining = draining

    async def run(
        self, route: Route, call: Any, receive: Receive, send: Send, stats: StreamStats
    ) -> errors.HttpError | None:
        """Relay until the stream ends, the client goes away or the gateway drains. Returns the error to answer
        with when the call failed before anything was sent (nothing was sent then); None otherwise."""
        output = message_class(route.output)
        gone = asyncio.ensure_future(disconnected(receive))
        draining = asyncio.ensure_future(self._draining.wait())
        read: asyncio.Future[Any] = asyncio.ensure_future(call.read())
        opened = False

        async def write(chunk: bytes) -> None:
            nonlocal opened
            if not opened:
                headers = [
                    (b"content-type", CONTENT_TYPE),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ]
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": self._retry, "more_body": True})
                opened = True
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        try:
            while True:
                done, _ = await asyncio.wait(
                    {read, gone, draining}, timeout=self._heartbeat, return_when=asyncio.FIRST_COMPLETED
                )
                if gone in done:
                    stats.code, stats.outcome = "CANCELLED", "disconnected"
                    return None
                if read in done:
                    try:
                        item = read.result()
                    except grpc.aio.AioRpcError as exc:
                        error = errors.from_rpc_error(exc)
                        stats.code, stats.outcome = error.code, "error"
                        if not opened:
                            return error
                        await write(error_frame(error).encode())
                        return None
                    if item is grpc.aio.EOF:
                        await write(Frame("{}", event="end").encode())
                        stats.code, stats.outcome = "OK", "end"
                        return None
                    frame = frame_for(output.FromString(item))
                    if frame is not None:
                        await write(frame.encode())
                        stats.frames += 1
                    read = asyncio.ensure_future(call.read())
                    continue
                if draining in done:
                    stats.code, stats.outcome = "UNAVAILABLE", "drained"
                    if not opened:
                        return errors.refusal(
                            503, grpc.StatusCode.UNAVAILABLE, "the gateway is shutting down; retry", "UNAVAILABLE"
                        )
                    return None
                await write(KEEP_ALIVE)
        finally:
            call.cancel()
            for task in (read, gone, draining):
                task.cancel()
            await asyncio.gather(read, gone, draining, return_exceptions=True)
            if opened:
                await send({"type": "http.response.body", "body": b"", "more_body": False})


async def disconnected(receive: Receive) -> None:
    """Returns once the client has disconnected (the request body, if any, was read before)."""
    while (await receive())["type"] != "http.disconnect":
        pass
