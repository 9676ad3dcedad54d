"""Resource limits at the gateway's edge, over real sockets: failed authentications refused before any work, the
HTTP front's header deadline, keep-alive and connection cap, the streams one principal may hold, and the pepper
the gateway needs to start."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from pydantic import SecretStr

from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from gateway.auth.peppers import PepperConfigError
from gateway.bootstrap import spec as gateway_spec
from gateway.config import ApiKeySettings, BackendSettings, FailedAuthSettings, HttpSettings, StreamLimitSettings
from services.common.settings import DatabaseSettings
from tests.support.gateway import SECRET, bearer, gateway_settings, mint, new_org, platform
from tests.support.http import SseReader, client, error_reason, http_url, launch
from tests.support.rpc import channel_as, error_info, retry_delay
from tests.support.servers import RunningServer, running

NOWHERE = BackendSettings(registry="127.0.0.1:1", runs="127.0.0.1:1", credentials="127.0.0.1:1")
LIMIT = 20.0  # a bound on how long a test waits for something that happens in well under a second
HEAD = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: "  # a request head that never ends


@pytest.fixture
def sqlite(tmp_path: Path) -> DatabaseSettings:
    """The tests that only need a gateway (WhoAmI, API keys, the HTTP front's own limits) run on SQLite only."""
    return DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"))


async def expect(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, (caught.value.code(), caught.value.details())
    return caught.value


async def who_am_i(gateway: RunningServer, token: str) -> gw.WhoAmIResponse:
    async with channel_as(gateway.target, bearer(token)) as channel:
        reply: gw.WhoAmIResponse = await gw_grpc.GatewayServiceStub(channel).WhoAmI(gw.WhoAmIRequest())
        return reply


async def who_am_i_error(gateway: RunningServer, token: str, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    async with channel_as(gateway.target, bearer(token)) as channel:
        return await expect(gw_grpc.GatewayServiceStub(channel).WhoAmI(gw.WhoAmIRequest()), code)


# --- start-up -------------------------------------------------------------------------------------------------------


async def test_the_gateway_refuses_to_start_without_an_api_key_pepper(sqlite: DatabaseSettings) -> None:
    settings = gateway_settings(sqlite, NOWHERE, api_keys=ApiKeySettings())
    with pytest.raises(PepperConfigError, match="AGENTORCH_GATEWAY_API_KEYS__PEPPERS_FILE"):
        async with running(gateway_spec(settings)):
            pass


# --- failed authentications -----------------------------------------------------------------------------------------


async def test_failed_jwts_from_one_address_are_refused_before_verification(sqlite: DatabaseSettings) -> None:
    limits = FailedAuthSettings(per_client_burst=2, per_client_per_minute=0.001)
    async with running(gateway_spec(gateway_settings(sqlite, NOWHERE, failed_auth=limits))) as gateway:
        org = new_org()
        now = int(time.time())
        expired = mint(org, "viewer", exp=now - 3600, iat=now - 7200)
        for _ in range(3):  # well signed, only expired: not a guess, never counted
            await who_am_i_error(gateway, expired, grpc.StatusCode.UNAUTHENTICATED)
        forged = mint(org, "admin", secret=SECRET[::-1])
        for _ in range(2):
            await who_am_i_error(gateway, forged, grpc.StatusCode.UNAUTHENTICATED)
        good = mint(org, "viewer")
        error = await who_am_i_error(gateway, good, grpc.StatusCode.RESOURCE_EXHAUSTED)  # not even looked at
        assert error_info(error).reason == "TOO_MANY_FAILED_AUTHENTICATIONS"
        assert error_info(error).metadata["scope"] == "client"
        assert retry_delay(error) > 0
        assert good not in (error.details() or "")

        # Over HTTP the HTTP client's address counts (the front relays it), so other addresses are unaffected.
        def from_address(address: str) -> httpx.AsyncClient:
            transport = httpx.AsyncHTTPTransport(local_address=address)
            return httpx.AsyncClient(base_url=http_url(gateway), transport=transport, timeout=LIMIT)

        async with from_address("127.0.0.2") as attacker, from_address("127.0.0.3") as bystander:
            headers = {"authorization": f"Bearer {forged}"}
            assert [(await attacker.get("/v1/whoami", headers=headers)).status_code for _ in range(2)] == [401, 401]
            refused = await attacker.get("/v1/whoami", headers={"authorization": f"Bearer {good}"})
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert error_reason(refused.json()) == "TOO_MANY_FAILED_AUTHENTICATIONS"
            served = await bystander.get("/v1/whoami", headers={"authorization": f"Bearer {good}"})
            assert served.status_code == 200


async def test_wrong_secrets_for_a_key_are_refused_and_its_owner_keeps_working(sqlite: DatabaseSettings) -> None:
    limits = FailedAuthSettings(per_key_burst=2, per_key_per_minute=0.001)
    async with running(gateway_spec(gateway_settings(sqlite, NOWHERE, failed_auth=limits))) as gateway:
        org = new_org()
        async with channel_as(gateway.target, bearer(mint(org, "admin"))) as channel:
            created = await gw_grpc.GatewayServiceStub(channel).CreateApiKey(
                gw.CreateApiKeyRequest(
                    parent=f"organizations/{org}", api_key=gw.ApiKey(display_name="ci", roles=["viewer"])
                )
            )
        key = created.secret
        assert (await who_am_i(gateway, key)).subject == f"apikey:{created.api_key.key_id}"
        guess = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
        for _ in range(2):
            await who_am_i_error(gateway, guess, grpc.StatusCode.UNAUTHENTICATED)
        error = await who_am_i_error(gateway, guess, grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert (error_info(error).reason, error_info(error).metadata["scope"]) == (
            "TOO_MANY_FAILED_AUTHENTICATIONS",
            "api_key",
        )
        # The owner's key, which this replica verified before the attack, is never held back.
        assert (await who_am_i(gateway, key)).subject == f"apikey:{created.api_key.key_id}"


# --- the HTTP front's connections -----------------------------------------------------------------------------------


async def trickle_until_closed(port: int, *, first: bytes = HEAD, before: bytes = b"") -> bytes | None:
    """Send `before` (complete requests, answered first), then `first`, then one more header byte every 50 ms
    until the server closes the connection; returns what the server sent after `before`'s answers (b"" for a
    close without an answer), or None if it was still open after 400 bytes (20 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if before:
            writer.write(before)
            await reader.readuntil(b'{"status":"SERVING"}')  # the /healthz answer's body
        writer.write(first)
        for _ in range(400):
            try:
                answer = await asyncio.wait_for(reader.read(1024), 0.05)
            except TimeoutError:
                try:
                    writer.write(b"a")
                    await writer.drain()
                except ConnectionError:
                    return b""
                continue
            return answer
        return None
    finally:
        writer.close()


def front_port(gateway: RunningServer) -> int:
    return int(http_url(gateway).rsplit(":", 1)[1])


async def test_connections_trickling_header_bytes_are_closed_while_others_are_served(
    sqlite: DatabaseSettings,
) -> None:
    http = HttpSettings(port=0, header_timeout_seconds=0.5)
    async with running(gateway_spec(gateway_settings(sqlite, NOWHERE, http=http))) as gateway:
        port = front_port(gateway)
        request = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
        trickling = [asyncio.ensure_future(trickle_until_closed(port)) for _ in range(5)]
        silent = asyncio.ensure_future(trickle_until_closed(port, first=b""))  # connects and sends nothing yet
        kept_alive = asyncio.ensure_future(trickle_until_closed(port, before=request))  # its second head trickles
        async with httpx.AsyncClient(base_url=http_url(gateway), timeout=LIMIT) as normal:
            assert (await normal.get("/healthz")).status_code == 200
        outcomes = await asyncio.wait_for(asyncio.gather(*trickling, silent, kept_alive), LIMIT * 2)
        assert outcomes == [b""] * 7  # each closed by the server (EOF) without an answer


async def test_an_idle_keep_alive_connection_is_closed(sqlite: DatabaseSettings) -> None:
    http = HttpSettings(port=0, keep_alive_seconds=1)
    async with running(gateway_spec(gateway_settings(sqlite, NOWHERE, http=http))) as gateway:
        reader, writer = await asyncio.open_connection("127.0.0.1", front_port(gateway))
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
            await reader.readuntil(b'{"status":"SERVING"}')
            assert await asyncio.wait_for(reader.read(), LIMIT) == b""  # EOF: closed by the server
        finally:
            writer.close()


async def test_past_the_connection_cap_requests_are_answered_503(sqlite: DatabaseSettings) -> None:
    http = HttpSettings(port=0, max_connections=2, keep_alive_seconds=600)
    async with running(gateway_spec(gateway_settings(sqlite, NOWHERE, http=http))) as gateway:
        held = []
        for _ in range(2):  # two kept-alive connections, each answered once (so the server has them)
            reader, writer = await asyncio.open_connection("127.0.0.1", front_port(gateway))
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
            await reader.readuntil(b'{"status":"SERVING"}')
            held.append(writer)
        try:
            async with httpx.AsyncClient(base_url=http_url(gateway), timeout=LIMIT) as third:
                assert (await third.get("/healthz")).status_code == 503
        finally:
            for writer in held:
                writer.close()


# --- streams per principal ------------------------------------------------------------------------------------------


@pytest.fixture
async def capped(database: DatabaseSettings) -> AsyncIterator[tuple[RunningServer, str, str]]:
    """A platform whose gateway lets a principal hold 2 streams; a run of a new organization, paused at its
    checkpoint (its watch streams stay open), and the organization."""
    async with platform(database, streams=StreamLimitSettings(max_per_principal=2)) as running_platform:
        org = new_org()
        async with client(running_platform.gateway, mint(org, "operator", "author")) as http:
            run = await launch(http, org)
        yield running_platform.gateway, run, org


async def cancel(gateway: RunningServer, run: str, org: str) -> None:
    async with client(gateway, mint(org, "operator")) as http:
        assert (await http.post(f"/v1/{run}:cancel", json={"reason": "done"})).status_code == 200


async def test_a_principal_holds_at_most_its_cap_of_grpc_streams(capped: tuple[RunningServer, str, str]) -> None:
    gateway, run, org = capped
    async with (
        channel_as(gateway.target, bearer(mint(org, "viewer"))) as mine,
        channel_as(gateway.target, bearer(mint(org, "viewer", subject="bob@example.com"))) as bobs,
    ):
        stub = pb_grpc.RunsServiceStub(mine)
        request = pb.WatchRunRequest(name=run, after_sequence=0)
        held = [stub.WatchRun(request) for _ in range(2)]
        for call in held:
            assert (await call.read()).HasField("event")  # open: each holds a slot
        refused = await expect(stub.WatchRun(request).read(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert error_info(refused).reason == "TOO_MANY_STREAMS"
        assert error_info(refused).metadata["max_streams"] == "2"
        assert "(2)" in (refused.details() or "")
        assert retry_delay(refused) > 0
        other = pb_grpc.RunsServiceStub(bobs).WatchRun(request)  # another principal has slots of its own
        assert (await other.read()).HasField("event")
        other.cancel()

        await cancel(gateway, run, org)  # the run ends, so do its streams: their slots are free again
        for call in held:
            async for _ in call:
                pass
        again = stub.WatchRun(request)
        assert (await again.read()).HasField("event")
        again.cancel()


async def test_a_principal_holds_at_most_its_cap_of_sse_streams(capped: tuple[RunningServer, str, str]) -> None:
    gateway, run, org = capped
    async with client(gateway, mint(org, "viewer")) as http:
        async with http.stream("GET", f"/v1/{run}:watch") as first, http.stream("GET", f"/v1/{run}:watch") as second:
            streams = [SseReader(first), SseReader(second)]
            for stream in streams:
                await asyncio.wait_for(stream.until(lambda m: m.id is not None), LIMIT)
            refused = await asyncio.wait_for(http.get(f"/v1/{run}:watch"), LIMIT)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            assert error_reason(refused.json()) == "TOO_MANY_STREAMS"
            assert "(2)" in refused.json()["error"]["message"]

            await cancel(gateway, run, org)
            for stream in streams:
                await asyncio.wait_for(stream.until(lambda m: m.event == "end"), LIMIT)
        served = await asyncio.wait_for(http.get(f"/v1/{run}:watch"), LIMIT)  # replayed to its end: slot free
        assert served.status_code == 200
