"""The gateway's HTTP/JSON + SSE front over real HTTP, in front of the real platform (SQLite and PostgreSQL):
resources through HTTP, a run followed over SSE and resumed, errors as HTTP statuses with their details, rate
limits, CORS, the access_token parameter, and a disconnect cancelling the backend stream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
import structlog

from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.runs.v1 import runs_service_pb2 as pb
from gateway.bootstrap import REEXPOSED
from gateway.bootstrap import spec as gateway_spec
from gateway.config import BackendSettings, HttpSettings, RateLimitSettings
from services.common.interceptors import ServerInterceptor
from services.common.server import GrpcService, Server
from services.common.settings import DatabaseSettings, ServerSettings
from tests.support.gateway import Platform, gateway_settings, mint, new_org, platform
from tests.support.http import SseMessage, SseReader, client, error_reason, http_url, launch, orchestration, violations
from tests.support.principals import KEY_RING
from tests.support.servers import RunningServer, running

LIMIT = 20.0  # a bound on how long a test waits for something that happens in milliseconds, never a sync point


@pytest.fixture
async def gateway(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database) as running_platform:
        yield running_platform


def backends(p: Platform) -> BackendSettings:
    return BackendSettings(registry=p.registry.target, runs=p.runs.target, credentials=p.credentials.target)


async def another_gateway(p: Platform, database: DatabaseSettings, **changes: Any) -> RunningServer:
    """A second gateway (with its HTTP front) in front of the same services, with other settings."""
    return await p.stack.enter_async_context(running(gateway_spec(gateway_settings(database, backends(p), **changes))))


async def read(stream: SseReader, until: Any) -> list[SseMessage]:
    """SSE messages of an open stream up to and including the first one `until` accepts (bounded by LIMIT)."""
    return await asyncio.wait_for(stream.until(until), LIMIT)


def events(messages: list[SseMessage]) -> list[SseMessage]:
    return [m for m in messages if m.id is not None]


def paused(message: SseMessage) -> bool:
    return message.id is not None and message.json()["runStatus"] == "RUN_STATUS_PAUSED"


def ended(message: SseMessage) -> bool:
    return message.event == "end"


# --- resources ------------------------------------------------------------------------------------------------------


async def test_an_agent_is_created_read_listed_updated_and_deleted_over_http(gateway: Platform) -> None:
    org = new_org()
    async with client(gateway.gateway, mint(org, "admin")) as http:  # an endpoint is an admin's to set
        created = await http.post(
            f"/v1/organizations/{org}/agents",
            json={"slug": "helper", "display_name": "Helper", "config": {"endpoint": "http://agent.example"}},
            headers={"x-request-id": "req-http-1"},
        )
        assert created.status_code == 200, created.text
        assert created.headers["x-request-id"] == "req-http-1"
        agent = created.json()["agent"]
        assert agent["name"] == f"organizations/{org}/agents/helper"
        assert (agent["displayName"], agent["organizationSlug"], agent["version"]) == ("Helper", org, "1")
        assert agent["description"] == ""  # fields without presence are always there, in camelCase
        assert agent["config"] == {"endpoint": "http://agent.example"}

        got = await http.get(f"/v1/{agent['name']}")
        assert got.status_code == 200
        assert got.json()["agent"] == agent
        assert got.headers["x-request-id"]  # minted when the client sends none

        await http.post(f"/v1/organizations/{org}/agents", json={"slug": "other", "displayName": "Other"})
        first = await http.get(f"/v1/organizations/{org}/agents", params={"pageSize": 1})
        assert [a["slug"] for a in first.json()["agents"]] == ["helper"]
        token = first.json()["nextPageToken"]
        second = await http.get(f"/v1/organizations/{org}/agents", params={"page_size": "1", "page_token": token})
        assert [a["slug"] for a in second.json()["agents"]] == ["other"]

        updated = await http.patch(
            f"/v1/{agent['name']}",
            params={"update_mask": "display_name,description", "etag": agent["etag"]},
            json={"displayName": "Helper 2", "description": "now described"},
        )
        assert updated.status_code == 200, updated.text
        assert (updated.json()["agent"]["displayName"], updated.json()["agent"]["version"]) == ("Helper 2", "2")
        camel = await http.patch(
            f"/v1/{agent['name']}", params={"updateMask": "displayName"}, json={"displayName": "H3"}
        )
        assert camel.json()["agent"]["displayName"] == "H3"

        deleted = await http.delete(f"/v1/{agent['name']}")
        assert (deleted.status_code, deleted.json()) == (200, {})
        gone = await http.get(f"/v1/{agent['name']}")
        assert gone.status_code == 404
        assert error_reason(gone.json()) == "NOT_FOUND"


# --- runs over SSE --------------------------------------------------------------------------------------------------


async def test_a_run_is_followed_over_sse_decided_over_http_and_resumed_without_gap_or_duplicate(
    gateway: Platform,
) -> None:
    org = new_org()
    operator = client(gateway.gateway, mint(org, "operator", "author"))
    approver = client(gateway.gateway, mint(org, "approver", subject="boss@example.com"))
    viewer = client(gateway.gateway, mint(org, "viewer"))
    async with operator, approver, viewer:
        run = await launch(operator, org)
        watch = f"/v1/{run}:watch"

        # A first connection reads two events and goes away; the reconnection resumes from its Last-Event-ID.
        async with viewer.stream("GET", watch) as response:
            stream = SseReader(response)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            first = await read(stream, lambda m: m.id == "2")
        assert first[0].retry is not None  # the reconnection hint comes first
        before = events(first)
        assert [m.id for m in before] == ["1", "2"]
        async with viewer.stream("GET", watch, headers={"last-event-id": before[-1].id or ""}) as response:
            stream = SseReader(response)
            until_paused = events(await read(stream, paused))
            (checkpoint,) = (await viewer.get(f"/v1/{run}")).json()["run"]["openCheckpoints"]
            decision = {"decision": "DECISION_APPROVE", "comment": "ship it"}
            refused = await operator.post(f"/v1/{checkpoint}:decide", json=decision)
            assert refused.status_code == 403
            decided = await approver.post(f"/v1/{checkpoint}:decide", json=decision)
            assert decided.status_code == 200, decided.text
            assert decided.json()["checkpoint"]["decidedBy"] == "boss@example.com"
            rest = await read(stream, ended)
        sequences = [int(m.id or 0) for m in [*before, *until_paused, *events(rest)]]
        assert sequences == list(range(1, sequences[-1] + 1))  # no gap, no duplicate across the reconnection
        for message in [*before, *until_paused, *events(rest)]:
            payload = message.json()
            assert message.event == payload["type"]
            assert payload["sequence"] == message.id
        assert events(rest)[-1].json()["runStatus"] == "RUN_STATUS_COMPLETED"
        assert rest[-1].event == "end"

        done = (await viewer.get(f"/v1/{run}")).json()["run"]
        assert done["status"] == "RUN_STATUS_COMPLETED"
        assert done["lastEventSequence"] == str(sequences[-1])

        # A new EventSource resumes with after_sequence; a header, when both are sent, wins.
        middle = sequences[len(sequences) // 2]
        async with viewer.stream("GET", watch, params={"after_sequence": middle}) as response:
            stream = SseReader(response)
            resumed = await read(stream, ended)
        assert [int(m.id or 0) for m in events(resumed)] == list(range(middle + 1, sequences[-1] + 1))
        headers = {"last-event-id": str(middle)}
        async with viewer.stream("GET", watch, params={"afterSequence": 1}, headers=headers) as response:
            stream = SseReader(response)
            both = await read(stream, ended)
        assert [int(m.id or 0) for m in events(both)] == list(range(middle + 1, sequences[-1] + 1))
        bad = await viewer.get(watch, headers={"last-event-id": "not-a-number"})
        assert bad.status_code == 400
        assert violations(bad.json()) == {"after_sequence"}


async def test_heartbeats_keep_an_idle_stream_alive(gateway: Platform, database: DatabaseSettings) -> None:
    org = new_org()
    fast = await another_gateway(gateway, database, http=HttpSettings(port=0, sse_heartbeat_seconds=0.05))
    async with client(fast, mint(org, "operator", "author")) as http:
        run = await launch(http, org)
        async with http.stream("GET", f"/v1/{run}:watch") as response:
            stream = SseReader(response)
            await read(stream, paused)
        last = (await http.get(f"/v1/{run}")).json()["run"]["lastEventSequence"]  # it waits for a human now
        # Resumed at the end of a paused run: nothing to send, so the gateway's keep-alive comments come, and the
        # runs service's own heartbeat carries the cursor.
        async with http.stream("GET", f"/v1/{run}:watch", headers={"last-event-id": last}) as response:
            stream = SseReader(response)
            seen = await read(stream, lambda m: m.event == "heartbeat")
        assert seen[0].retry is not None
        assert any(m.comment == "keep-alive" for m in seen)
        assert events(seen) == []
        assert seen[-1].json()["lastSequence"] == last


async def test_an_organizations_runs_are_watched_over_sse(gateway: Platform) -> None:
    org = new_org()
    async with client(gateway.gateway, mint(org, "operator", "author")) as http:
        await orchestration(http, org)
        async with http.stream("GET", f"/v1/organizations/{org}/runs:watch") as response:
            stream = SseReader(response)
            assert response.status_code == 200
            # The service's first heartbeat proves the watch is subscribed; a run launched after it is seen.
            await read(stream, lambda m: m.event == "heartbeat")
            created = await http.post(
                f"/v1/organizations/{org}/runs",
                json={"orchestration": f"organizations/{org}/agents/helper/orchestrations/flow"},
            )
            name = created.json()["run"]["name"]
            seen = await read(stream, lambda m: m.event == "run" and m.json()["name"] == name)
        assert seen[-1].id is None  # WatchRuns has no cursor to resume from
        assert seen[-1].json()["status"].startswith("RUN_STATUS_")


async def test_the_access_token_parameter_works_on_the_sse_routes_only_and_is_never_logged(
    gateway: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    org = new_org()
    token = mint(org, "operator", "author")
    async with client(gateway.gateway, token) as http:
        run = await launch(http, org)
    async with client(gateway.gateway) as anonymous:
        with structlog.testing.capture_logs() as logs:
            async with anonymous.stream("GET", f"/v1/{run}:watch", params={"access_token": token}) as response:
                stream = SseReader(response)
                assert response.status_code == 200
                await read(stream, paused)
            watched = await anonymous.get(f"/v1/organizations/{org}/runs:watch", params={"access_token": "nope"})
            assert watched.status_code == 401
            elsewhere = await anonymous.get(f"/v1/{run}", params={"access_token": token})
            assert elsewhere.status_code == 400
            assert violations(elsewhere.json()) == {"access_token"}
            assert token not in elsewhere.text
            both = await anonymous.get(
                f"/v1/{run}:watch", params={"access_token": token}, headers={"authorization": f"Bearer {token}"}
            )
            assert both.status_code == 401  # one credential per call, as over gRPC
    lines = [e for e in logs if e.get("event") == "http"]
    assert {line["path"] for line in lines} == {f"/v1/{run}:watch", f"/v1/organizations/{org}/runs:watch", f"/v1/{run}"}
    assert {line["status"] for line in lines} == {200, 401, 400}
    assert all(line["request_id"] for line in lines)
    haystack = "\n".join([repr(logs), caplog.text, *(r.getMessage() for r in caplog.records)])
    assert token not in haystack
    assert "access_token" not in haystack


async def test_a_draining_gateway_closes_its_streams_without_end(gateway: Platform, database: DatabaseSettings) -> None:
    org = new_org()
    spare = await another_gateway(gateway, database)
    (front,) = spare.companions
    async with client(spare, mint(org, "operator", "author")) as http:
        run = await launch(http, org)
        async with http.stream("GET", f"/v1/{run}:watch") as response:
            stream = SseReader(response)
            await read(stream, paused)
            stopping = asyncio.ensure_future(front.stop(5))
            rest = await asyncio.wait_for(stream.rest(), LIMIT)  # the response ends: the client will reconnect
            await asyncio.wait_for(stopping, LIMIT)
    assert [m for m in rest if m.event in ("end", "error")] == []


# --- errors ---------------------------------------------------------------------------------------------------------


async def test_grpc_errors_become_http_statuses_with_their_details(gateway: Platform) -> None:
    org, other = new_org(), new_org()
    async with (
        client(gateway.gateway) as anonymous,
        client(gateway.gateway, "not-a-jwt") as forged,
        client(gateway.gateway, mint(org, "operator", "author")) as operator,
        client(gateway.gateway, mint(org, "viewer")) as viewer,
        client(gateway.gateway, mint(other, "admin")) as stranger,
    ):
        for response in (await anonymous.get("/v1/whoami"), await forged.get("/v1/whoami")):
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            body = response.json()["error"]
            assert (body["code"], body["status"], error_reason(response.json())) == (
                401,
                "UNAUTHENTICATED",
                "UNAUTHENTICATED",
            )

        run = await launch(operator, org)
        denied = await viewer.post(f"/v1/organizations/{org}/runs", json={"orchestration": "x"})
        assert denied.status_code == 403
        (info,) = [d for d in denied.json()["error"]["details"] if d["reason"] == "PERMISSION_DENIED"]
        assert info["metadata"] == {"required_role": "operator", "enforced_by": "gateway"}

        hidden = await stranger.get(f"/v1/{run}")
        assert (hidden.status_code, error_reason(hidden.json())) == (404, "NOT_FOUND")
        hidden_stream = await stranger.get(f"/v1/{run}:watch")  # an error before the stream opens is plain HTTP
        assert hidden_stream.status_code == 404
        assert hidden_stream.headers["content-type"] == "application/json"
        assert error_reason(hidden_stream.json()) == "NOT_FOUND"

        duplicate = await operator.post(f"/v1/organizations/{org}/agents", json={"slug": "helper", "displayName": "H"})
        assert (duplicate.status_code, error_reason(duplicate.json())) == (409, "ALREADY_EXISTS")
        agent = (await operator.get(f"/v1/organizations/{org}/agents/helper")).json()["agent"]
        stale = await operator.patch(
            f"/v1/{agent['name']}", params={"update_mask": "display_name", "etag": "stale"}, json={"displayName": "X"}
        )
        assert (stale.status_code, stale.json()["error"]["status"], error_reason(stale.json())) == (
            409,
            "ABORTED",
            "ETAG_MISMATCH",
        )
        retry = await operator.post(f"/v1/{run}:retry", json={})
        assert (retry.status_code, retry.json()["error"]["status"]) == (400, "FAILED_PRECONDITION")
        (refused,) = [d for d in retry.json()["error"]["details"] if d["@type"].endswith("common.v1.InvalidTransition")]
        assert (refused["resource"], refused["action"]) == (run, "retry")  # the typed detail, as JSON


async def test_bad_input_names_every_field_and_writes_nothing(gateway: Platform) -> None:
    org = new_org()
    async with client(gateway.gateway, mint(org, "author")) as http:
        agents = f"/v1/organizations/{org}/agents"
        cases = [
            ({"slug": "Not A Slug", "displayName": ""}, {"agent.slug", "agent.display_name"}),  # the registry's
            ({"slug": "ok", "displayName": "Ok", "bogus": 1, "config": []}, {"agent.bogus", "agent.config"}),
            ({"slug": "ok", "display_name": "a", "displayName": "b"}, {"agent.display_name"}),
            (
                {"slug": 7, "version": "x", "createTime": "yesterday"},
                {"agent.slug", "agent.version", "agent.create_time"},
            ),
            (["not", "an", "object"], {"agent"}),
        ]
        for body, fields in cases:
            response = await http.post(agents, json=body)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
            assert error_reason(response.json()) == "VALIDATION_FAILED"
            assert violations(response.json()) == fields, body

        query = await http.get(agents, params={"pageSize": "many", "colour": "red"})
        assert violations(query.json()) == {"page_size", "colour"}
        watch = await http.get(
            f"/v1/organizations/{org}/runs:watch", params={"statuses": ["RUN_STATUS_RUNNING", "NOPE"]}
        )
        assert violations(watch.json()) == {"statuses[1]"}
        conflict = await http.post(
            f"/v1/organizations/{org}/runs", json={"parent": "organizations/someone-else", "orchestration": "x"}
        )
        assert violations(conflict.json()) == {"parent"}

        malformed = await http.post(agents, content=b'{"slug": ', headers={"content-type": "application/json"})
        assert (malformed.status_code, error_reason(malformed.json())) == (400, "MALFORMED_REQUEST")
        form = await http.post(agents, content=b"slug=x", headers={"content-type": "application/x-www-form-urlencoded"})
        assert (form.status_code, error_reason(form.json())) == (415, "MALFORMED_REQUEST")
        too_big = await http.post(agents, json={"slug": "big", "displayName": "x" * (9 * 1024 * 1024)})
        assert (too_big.status_code, error_reason(too_big.json())) == (413, "MALFORMED_REQUEST")

        listed = await http.get(agents)
        assert listed.status_code == 200
        assert listed.json()["agents"] == []  # nothing was written


async def test_unknown_routes_and_methods(gateway: Platform) -> None:
    org = new_org()
    async with client(gateway.gateway, mint(org, "admin")) as http:
        missing = await http.get("/v2/organizations")
        assert (missing.status_code, error_reason(missing.json())) == (404, "ROUTE_NOT_FOUND")
        wrong = await http.put(f"/v1/organizations/{org}/agents/helper", json={})
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "GET, PATCH, DELETE"
        assert (wrong.json()["error"]["status"], error_reason(wrong.json())) == ("UNIMPLEMENTED", "METHOD_NOT_ALLOWED")
        # (`organizations/{org}:explode` itself now reads as an organization id: GetOrganization's GET, so a 405)
        verb = await http.post(f"/v1/organizations/{org}/agents:explode", json={})
        assert (verb.status_code, error_reason(verb.json())) == (404, "ROUTE_NOT_FOUND")
        foreign = await http.get("/v1/organizations/x/credentials/y")  # another organization's: hidden
        assert foreign.status_code == 404
        health = await http.get("/healthz")
        assert (health.status_code, health.json()) == (200, {"status": "SERVING"})


async def test_past_the_rate_limit_http_gets_429_with_retry_after(
    gateway: Platform, database: DatabaseSettings
) -> None:
    org = new_org()
    strict = RateLimitSettings(requests_per_second=0.001, burst=2)
    limited = await another_gateway(gateway, database, rate_limit=strict)
    async with client(limited, mint(org, "viewer")) as http:
        assert [(await http.get("/v1/whoami")).status_code for _ in range(2)] == [200, 200]
        refused = await http.get("/v1/whoami")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert (refused.json()["error"]["status"], error_reason(refused.json())) == (
        "RESOURCE_EXHAUSTED",
        "RESOURCE_EXHAUSTED",
    )
    assert any(d["@type"].endswith("google.rpc.RetryInfo") for d in refused.json()["error"]["details"])

    # The public status method is limited per HTTP client address (not per the front's loopback connection), and
    # a gRPC caller cannot claim another address.
    def from_address(address: str) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(base_url=http_url(limited), transport=transport, timeout=LIMIT)

    async with from_address("127.0.0.2") as busy, from_address("127.0.0.3") as calm:
        assert [(await busy.get("/v1/status")).status_code for _ in range(3)] == [200, 200, 429]
        assert (await calm.get("/v1/status")).status_code == 200
    status = gw_grpc.GatewayServiceStub(limited.channel).GetPlatformStatus
    await status(gw.GetPlatformStatusRequest())  # the gRPC peer 127.0.0.1 has a bucket of its own
    await status(gw.GetPlatformStatusRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await status(gw.GetPlatformStatusRequest(), metadata=(("x-agentorch-client-address", "ipv4:127.0.0.9"),))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_cors_is_answered_for_configured_origins_only(gateway: Platform, database: DatabaseSettings) -> None:
    allowed = "https://app.example.com"
    cors = await another_gateway(gateway, database, http=HttpSettings(port=0, cors_origins=[allowed]))
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type, last-event-id, x-request-id",
    }
    async with client(cors) as http:
        ok = await http.options("/v1/organizations/x/runs", headers={"origin": allowed, **preflight})
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == allowed
        assert {"authorization", "content-type", "last-event-id", "x-request-id"} <= {
            h.strip().lower() for h in ok.headers["access-control-allow-headers"].split(",")
        }
        denied = await http.options("/v1/organizations/x/runs", headers={"origin": "https://evil.example", **preflight})
        assert denied.status_code == 400
        assert "access-control-allow-origin" not in denied.headers
        actual = await http.get("/v1/status", headers={"origin": allowed})
        assert actual.headers["access-control-allow-origin"] == allowed
        assert "x-request-id" in actual.headers["access-control-expose-headers"].lower()
    async with client(gateway.gateway) as plain:  # no origins configured: no CORS at all
        none = await plain.options("/v1/organizations/x/runs", headers={"origin": allowed, **preflight})
        assert none.status_code == 405
        assert "access-control-allow-origin" not in none.headers


# --- a disconnect cancels the backend stream (a scripted runs service that sees the cancellation) ------------------


@dataclass
class EndlessRuns:
    """A RunsService whose WatchRun sends one event, then waits until it is cancelled."""

    watching: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    async def watch_run(self, request: bytes, ctx: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        name = pb.WatchRunRequest.FromString(request).name
        event = pb.WatchRunResponse()
        event.event.run, event.event.sequence = name, 1
        yield event.SerializeToString()
        self.watching.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "agentorch.runs.v1.RunsService", {"WatchRun": grpc.unary_stream_rpc_method_handler(self.watch_run)}
        )


async def test_a_client_that_disconnects_cancels_the_backend_stream(database: DatabaseSettings) -> None:
    backend = EndlessRuns()
    server = Server(
        "endless-runs",
        ServerSettings(port=0),
        [GrpcService(REEXPOSED["runs"], backend, lambda s, srv: srv.add_generic_rpc_handlers((s.handler(),)))],
        interceptors=[ServerInterceptor(access_log=False, key_ring=KEY_RING)],
    )
    await server.start()
    org = new_org()
    targets = BackendSettings(registry="127.0.0.1:1", runs=f"127.0.0.1:{server.port}", credentials="127.0.0.1:1")
    try:
        async with AsyncExitStack() as stack:
            relay = await stack.enter_async_context(running(gateway_spec(gateway_settings(database, targets))))
            http = await stack.enter_async_context(client(relay, mint(org, "viewer")))
            async with http.stream("GET", f"/v1/organizations/{org}/runs/{uuid.uuid4()}:watch") as response:
                stream = SseReader(response)
                (first,) = events(await read(stream, lambda m: m.id is not None))
                assert first.id == "1"
                await asyncio.wait_for(backend.watching.wait(), LIMIT)
                assert not backend.cancelled.is_set()
            await asyncio.wait_for(backend.cancelled.wait(), LIMIT)  # the browser went away: so did the stream
    finally:
        await server.stop(0)
