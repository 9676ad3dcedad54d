"""The HTTP front's own answers, through the ASGI app in-process (no gRPC call is made for any of them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from gateway.config import HttpSettings
from gateway.http.app import build_app
from tests.support.http import error_reason


@pytest.fixture
async def draining() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
async def http(draining: asyncio.Event) -> AsyncIterator[httpx.AsyncClient]:
    channel = grpc.aio.insecure_channel("127.0.0.1:1")  # never dialled by these requests
    app = build_app(HttpSettings(port=0, max_body_bytes=1024), channel, draining, access_log=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://front") as client:
        yield client
    await channel.close()


async def test_health_follows_the_drain(http: httpx.AsyncClient, draining: asyncio.Event) -> None:
    assert (await http.get("/healthz")).json() == {"status": "SERVING"}
    draining.set()
    answer = await http.get("/healthz")
    assert (answer.status_code, answer.json()) == (503, {"status": "NOT_SERVING"})


async def test_requests_that_never_become_calls(http: httpx.AsyncClient) -> None:
    agents = "/v1/organizations/acme/agents"
    cases = [
        (await http.get("/v1/nowhere"), 404, "ROUTE_NOT_FOUND"),
        (await http.put(agents), 405, "METHOD_NOT_ALLOWED"),
        (await http.post(agents, content=b"{", headers={"content-type": "application/json"}), 400, "MALFORMED_REQUEST"),
        (await http.post(agents, content=b'{"a": 1, "a": 2}'), 400, "MALFORMED_REQUEST"),
        (await http.post(agents, content=b"<agent/>", headers={"content-type": "text/xml"}), 415, "MALFORMED_REQUEST"),
        (await http.post(agents, json={"displayName": "x" * 2000}), 413, "MALFORMED_REQUEST"),
        (await http.get(agents, params={"access_token": "t"}), 400, "VALIDATION_FAILED"),
        (await http.request("GET", agents, content=b'{"x": 1}'), 400, "MALFORMED_REQUEST"),
    ]
    for response, status, reason in cases:
        assert (response.status_code, error_reason(response.json())) == (status, reason), response.text
        assert response.headers["content-type"] == "application/json"
        assert response.headers["x-request-id"]
    assert cases[1][0].headers["allow"] == "GET, POST"


async def test_a_request_id_is_kept_if_sane_and_minted_otherwise(http: httpx.AsyncClient) -> None:
    kept = await http.get("/healthz", headers={"x-request-id": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    replaced = await http.get("/healthz", headers={"x-request-id": "x" * 500})
    assert replaced.headers["x-request-id"] != "x" * 500
    assert len(replaced.headers["x-request-id"]) == 32


@pytest.mark.parametrize("origin", ["app.example.com", "https://app.example.com/", "ftp://x", "https://"])
def test_cors_origins_are_bare_origins(origin: str) -> None:
    with pytest.raises(ValueError, match="CORS origin"):
        HttpSettings(cors_origins=[origin])
    assert HttpSettings(cors_origins=["*", "http://localhost:5173"]).cors_origins == ["*", "http://localhost:5173"]
