"""Server-Sent Events from an agent (A2A SendStreamingMessage, OpenAI `stream: true`): incremental decoding of the
WHATWG framing, and the events of a response read within `max_response_bytes`."""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from services.runs.executors.transport import AgentCall, too_large


def is_event_stream(response: httpx.Response) -> bool:
    content_type = str(response.headers.get("content-type", ""))
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Incremental Server-Sent Events decoder (the WHATWG framing: `field: value` lines, a blank line dispatches;
    CRLF, LF or CR line ends; `:` comments). Text is fed as it arrives; events come out when complete."""

    _LINE_END = re.compile(r"\r\n|\r|\n")

    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, text: str) -> list[SSEEvent]:
        self._buffer += text
        events: list[SSEEvent] = []
        position = 0
        while match := self._LINE_END.search(self._buffer, position):
            if match.group() == "\r" and match.end() == len(self._buffer):
                break  # a CR at the end may be the first half of a CRLF: wait for more
            event = self._line(self._buffer[position : match.start()])
            if event is not None:
                events.append(event)
            position = match.end()
        self._buffer = self._buffer[position:]
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: a last event without its blank line is still dispatched (lenient with servers)."""
        events = self.feed("\n") if self._buffer else []
        end = self._line("")
        return [*events, end] if end is not None else events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


async def iter_sse(call: AgentCall, response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """The events of an SSE response, stopping with a non-retryable StepFailed beyond max_response_bytes."""
    decoder = SSEDecoder()
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > call.config.max_response_bytes:
            raise too_large(call)
        for event in decoder.feed(text.decode(chunk)):
            yield event
    for event in decoder.feed(text.decode(b"", final=True)) + decoder.close():
        yield event
