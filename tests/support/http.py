"""Calling the gateway's HTTP front as a browser or curl would: its URL, clients with a bearer token, and a
Server-Sent Events reader that keeps comments (heartbeats) and `retry:` hints visible to tests, and a run to watch
(launched over HTTP, it pauses at a human checkpoint)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.http.server import HttpFront
from tests.support.servers import RunningServer


def http_url(gateway: RunningServer) -> str:
    (front,) = [c for c in gateway.companions if isinstance(c, HttpFront)]
    return f"http://127.0.0.1:{front.port}"


def client(gateway: RunningServer, token: str | None = None, **headers: str) -> httpx.AsyncClient:
    """An HTTP client of the gateway; with `token`, every request carries `authorization: Bearer <token>`."""
    values = dict(headers)
    if token is not None:
        values["authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(base_url=http_url(gateway), headers=values, timeout=20)


DEFINITION: dict[str, Any] = {
    "schema_version": 1,
    "parameters": [],
    "phases": [
        {
            "id": "main",
            "steps": [
                {"id": "hello", "kind": "echo", "message": "hello"},
                {"id": "review", "kind": "checkpoint", "depends_on": ["hello"], "checkpoint": {"title": "Approve?"}},
                {"id": "bye", "kind": "echo", "message": "bye", "depends_on": ["review"]},
            ],
        }
    ],
}


async def orchestration(http: httpx.AsyncClient, org: str) -> str:
    saved = await save_orchestration(http, org, DEFINITION)
    return str(saved["orchestration"]["name"])


async def save_orchestration(
    http: httpx.AsyncClient, org: str, definition: dict[str, Any], **version: Any
) -> dict[str, Any]:
    """The `helper` agent and its orchestration `flow` with `definition` (and `version` fields, e.g. a label),
    created over HTTP; the CreateOrchestration reply as JSON."""
    created = await http.post(f"/v1/organizations/{org}/agents", json={"slug": "helper", "displayName": "Helper"})
    assert created.status_code == 200, created.text
    saved = await http.post(
        f"/v1/organizations/{org}/agents/helper/orchestrations",
        json={
            "orchestrationId": "flow",
            "orchestration": {"displayName": "Flow"},
            "version": {"definition": definition, **version},
        },
    )
    assert saved.status_code == 200, saved.text
    reply: dict[str, Any] = saved.json()
    return reply


async def launch(http: httpx.AsyncClient, org: str) -> str:
    name = await orchestration(http, org)
    run = await http.post(f"/v1/organizations/{org}/runs", json={"orchestration": name})
    assert run.status_code == 200, run.text
    return str(run.json()["run"]["name"])


@dataclass(frozen=True)
class SseMessage:
    """One dispatched SSE block: `comment` for `: ...` lines, otherwise the fields (data joined by newlines)."""

    event: str = ""
    data: str = ""
    id: str | None = None
    retry: int | None = None
    comment: str | None = None

    def json(self) -> Any:
        return json.loads(self.data)


async def sse_messages(response: httpx.Response) -> AsyncIterator[SseMessage]:
    """Parse a text/event-stream body as a browser would (blank line ends a block), plus comments and retries."""
    event, data, ident, retry = "", [], None, None
    async for line in response.aiter_lines():
        if line == "":
            if data or event or ident is not None or retry is not None:
                yield SseMessage(event, "\n".join(data), ident, retry)
            event, data, ident, retry = "", [], None, None
            continue
        if line.startswith(":"):
            yield SseMessage(comment=line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            ident = value
        elif name == "retry":
            retry = int(value)


class SseReader:
    """Reads one open SSE response piece by piece (httpx streams a body only once)."""

    def __init__(self, response: httpx.Response) -> None:
        self._messages = sse_messages(response).__aiter__()

    async def until(self, accept: Callable[[SseMessage], bool]) -> list[SseMessage]:
        """The messages up to and including the first one `accept`s; AssertionError if the stream ends first."""
        seen = []
        async for message in self._messages:
            seen.append(message)
            if accept(message):
                return seen
        raise AssertionError(f"the stream ended first: {seen}")

    async def rest(self) -> list[SseMessage]:
        """Everything until the server ends the response."""
        return [message async for message in self._messages]


def error_reason(body: dict[str, Any]) -> str:
    """ErrorInfo.reason of an HTTP error body."""
    for detail in body["error"]["details"]:
        if detail["@type"].endswith("google.rpc.ErrorInfo"):
            return str(detail["reason"])
    raise AssertionError(f"no ErrorInfo in {body}")


def violations(body: dict[str, Any]) -> set[str]:
    """The fields named by the BadRequest of an HTTP error body."""
    for detail in body["error"]["details"]:
        if detail["@type"].endswith("google.rpc.BadRequest"):
            return {v["field"] for v in detail["fieldViolations"]}
    raise AssertionError(f"no BadRequest in {body}")
