"""The gateway's edge limits without a network: the pepper settings, the failed-attempt buckets, the stream slots,
and a stream slot freed when its call is cancelled (as grpc.aio cancels the handler task of a call whose client
went away)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import grpc
import pytest
from pydantic import SecretStr

from gateway.auth.api_keys import ApiKeyVerifier
from gateway.auth.authenticator import Authenticator
from gateway.auth.jwt import JwtVerifier
from gateway.auth.peppers import PepperConfigError, load_peppers
from gateway.config import ApiKeySettings, FailedAuthSettings, GatewaySettings, HttpSettings
from gateway.domain.api_keys import PepperRing
from gateway.domain.errors import TooManyFailedAuthentications, TooManyStreams
from gateway.edge.failed_auth import FailedAttempts
from gateway.edge.interceptor import EdgeInterceptor
from gateway.edge.ratelimit import StreamSlots
from services.common.settings import ServerSettings
from tests.support.gateway import JWT, SECRET, mint

A, B = base64.b64encode(b"a" * 32).decode(), base64.b64encode(b"b" * 32).decode()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- peppers --------------------------------------------------------------------------------------------------------


def test_peppers_come_from_a_file_and_inline_and_the_file_names_the_active_one(tmp_path: Path) -> None:
    path = tmp_path / "peppers.json"
    path.write_text(json.dumps({"active": "p2", "keys": {"p1": A, "p2": B}}))
    ring = load_peppers(ApiKeySettings(peppers_file=path))
    assert (ring.active, set(ring.keys)) == ("p2", {"p1", "p2"})
    assert ring.keys["p1"] == b"a" * 32
    merged = load_peppers(ApiKeySettings(peppers_file=path, peppers={"p0": SecretStr(A)}, active_pepper_id="p1"))
    assert (merged.active, set(merged.keys)) == ("p1", {"p0", "p1", "p2"})
    assert load_peppers(ApiKeySettings(peppers={"only": SecretStr(A)})).active == "only"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (ApiKeySettings(), "AGENTORCH_GATEWAY_API_KEYS__PEPPERS_FILE"),
        (ApiKeySettings(peppers={"p1": SecretStr("not base64!")}), "'p1' is not valid base64"),
        (ApiKeySettings(peppers={"p1": SecretStr(base64.b64encode(b"short").decode())}), "at least 32 bytes"),
        (ApiKeySettings(peppers={"p1": SecretStr(A), "p2": SecretStr(B)}), "name the one new hashes use"),
        (ApiKeySettings(peppers={"p1": SecretStr(A)}, active_pepper_id="p9"), "'p9' is not among"),
        (ApiKeySettings(peppers_file=Path("/nonexistent/peppers.json")), "cannot read"),
    ],
)
def test_unusable_pepper_settings_stop_the_start_with_a_clear_message(settings: ApiKeySettings, message: str) -> None:
    with pytest.raises(PepperConfigError, match=message) as caught:
        load_peppers(settings)
    assert A not in str(caught.value)
    assert B not in str(caught.value)


def test_a_pepper_file_of_another_shape_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "peppers.json"
    path.write_text(json.dumps({"p1": A}))  # the principal key ring's shape, not this one's
    with pytest.raises(PepperConfigError, match="must hold"):
        load_peppers(ApiKeySettings(peppers_file=path))


# --- failed attempts ------------------------------------------------------------------------------------------------


def test_failed_attempts_are_limited_per_client_and_per_key_and_a_check_costs_nothing() -> None:
    clock = Clock()
    limits = FailedAuthSettings(per_client_burst=3, per_client_per_minute=60, per_key_burst=2, per_key_per_minute=6)
    failures = FailedAttempts(limits, clock=clock)
    for _ in range(10):
        failures.check("c1", "k1")  # checks alone never use the budget
    failures.failed("c1", "k1")
    failures.failed("c2", "k1")
    with pytest.raises(TooManyFailedAuthentications) as caught:
        failures.check("c3", "k1")
    assert (caught.value.metadata, round(caught.value.retry_after_seconds)) == ({"scope": "api_key"}, 10)
    failures.check("c1", "k2")  # another key id from the same client: within its budget (1 of 3 used)
    failures.failed("c1", "k2")
    failures.failed("c1", None)
    with pytest.raises(TooManyFailedAuthentications) as caught:
        failures.check("c1")
    assert caught.value.metadata == {"scope": "client"}
    clock.now += 1  # one per second for clients
    failures.check("c1")
    clock.now += 9  # one per 10 s for key ids
    failures.check("c3", "k1")


def test_disabled_failed_attempt_limits_refuse_nothing() -> None:
    failures = FailedAttempts(FailedAuthSettings(enabled=False, per_client_burst=1, per_key_burst=1))
    for _ in range(5):
        failures.failed("c", "k")
    failures.check("c", "k")


# --- stream slots ---------------------------------------------------------------------------------------------------


def test_stream_slots_cap_each_principal_and_free_on_release() -> None:
    slots = StreamSlots(2)
    slots.take("alice")
    slots.take("alice")
    slots.take("bob")
    with pytest.raises(TooManyStreams, match=r"holds 2 open streams.*\(2\)") as caught:
        slots.take("alice")
    assert caught.value.reason == "TOO_MANY_STREAMS"
    slots.release("alice")
    slots.take("alice")
    assert (slots.held("alice"), slots.held("bob")) == (2, 1)
    for _ in range(3):
        slots.release("bob")  # more releases than takes never go negative
    assert slots.held("bob") == 0
    unlimited = StreamSlots(0)
    for _ in range(1000):
        unlimited.take("alice")


async def test_a_cancelled_stream_frees_its_slot() -> None:
    slots = StreamSlots(1)
    edge = EdgeInterceptor()
    ring = PepperRing({"p": b"p" * 32}, "p")
    verifier = ApiKeyVerifier(lambda: None, ApiKeySettings(), ring)  # type: ignore[arg-type, return-value]
    edge.configure(Authenticator(JwtVerifier(JWT, hs256_secret=SECRET.encode()), verifier), None, slots)
    sent = asyncio.Event()

    async def watch(request: Any, ctx: Any) -> AsyncIterator[bytes]:
        yield b"first"
        sent.set()
        await asyncio.Event().wait()  # a run that never ends

    async def continuation(details: Any) -> Any:
        return grpc.unary_stream_rpc_method_handler(watch)

    method = "/agentorch.runs.v1.RunsService/WatchRun"
    handler = await edge.intercept_service(continuation, SimpleNamespace(method=method))
    ctx = SimpleNamespace(
        invocation_metadata=lambda: (("authorization", f"Bearer {mint('acme', 'viewer')}"),),
        peer=lambda: "ipv4:127.0.0.1:4242",
    )

    async def consume() -> None:
        async for _ in handler.unary_stream(b"", ctx):
            pass

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(sent.wait(), 5)
    principal = "user:acme:alice@example.com"
    assert slots.held(principal) == 1
    with pytest.raises(TooManyStreams):
        await handler.unary_stream(b"", ctx).__anext__()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert slots.held(principal) == 0


# --- settings that must agree ---------------------------------------------------------------------------------------


def test_a_stream_cap_per_connection_must_leave_room_for_the_http_front() -> None:
    with pytest.raises(ValueError, match="MAX_CONCURRENT_STREAMS"):
        GatewaySettings(server=ServerSettings(max_concurrent_streams=100), http=HttpSettings(max_connections=2000))
    GatewaySettings(server=ServerSettings(max_concurrent_streams=4000), http=HttpSettings(max_connections=2000))
    GatewaySettings(server=ServerSettings(max_concurrent_streams=100), http=HttpSettings(enabled=False))


def test_server_connection_limits_become_grpc_options() -> None:
    options = dict(ServerSettings().connection_options())
    assert options == {
        "grpc.keepalive_time_ms": 60_000,
        "grpc.keepalive_timeout_ms": 20_000,
        "grpc.http2.min_ping_interval_without_data_ms": 30_000,
        "grpc.max_connection_idle_ms": 300_000,
        "grpc.max_connection_age_ms": 1_800_000,
    }
    tuned = ServerSettings(
        max_connection_idle_seconds=0, max_connection_age_grace_seconds=30, max_concurrent_streams=500
    )
    options = dict(tuned.connection_options())
    assert "grpc.max_connection_idle_ms" not in options
    assert (options["grpc.max_connection_age_grace_ms"], options["grpc.max_concurrent_streams"]) == (30_000, 500)
