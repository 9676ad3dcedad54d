"""The proxy against a scripted backend: bytes relayed unchanged, a signed principal instead of the client's
credentials, deadlines passed on, streams relayed and cancelled with the client, errors passed through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from agentorch.runs.v1 import runs_service_pb2 as pb
from gateway.bootstrap import REEXPOSED
from gateway.bootstrap import spec as gateway_spec
from gateway.config import BackendSettings
from services.common import context
from services.common.errors import FailedPrecondition, NotFound
from services.common.interceptors import ServerInterceptor
from services.common.server import GrpcService, Server
from services.common.settings import DatabaseSettings, ServerSettings
from tests.support.gateway import bearer, gateway_settings, mint, new_org
from tests.support.principals import KEY_RING, as_member
from tests.support.rpc import DETAILS_KEY, error_info
from tests.support.servers import RunningServer, running

RUNS = "/agentorch.runs.v1.RunsService"
UNKNOWN_FIELD = b"\xf8\x06\x2a"  # field 111, varint 42: no proto of ours has it
REPLY = pb.GetRunResponse().SerializeToString() + b"\x0a\x03abc" + UNKNOWN_FIELD


@dataclass
class Seen:
    request: bytes
    principal: context.Principal | None
    metadata: dict[str, Any]
    time_remaining: float | None


@dataclass
class ScriptedRuns:
    """A RunsService that records what reaches it (generic handlers: raw bytes in and out)."""

    seen: list[Seen] = field(default_factory=list)
    watching: asyncio.Event = field(default_factory=asyncio.Event)
    watch_cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    def _record(self, request: bytes, ctx: grpc.aio.ServicerContext) -> None:
        metadata = dict(ctx.invocation_metadata() or ())
        self.seen.append(Seen(request, context.current().principal, metadata, ctx.time_remaining()))

    async def get_run(self, request: bytes, ctx: grpc.aio.ServicerContext) -> bytes:
        self._record(request, ctx)
        return REPLY

    async def list_runs(self, request: bytes, ctx: grpc.aio.ServicerContext) -> bytes:
        raise FailedPrecondition("the run is in a state that forbids it", metadata={"state": "paused"})

    async def watch_run(self, request: bytes, ctx: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        self._record(request, ctx)
        try:
            for sequence in (1, 2, 3):
                yield pb.WatchRunResponse(heartbeat=pb.Heartbeat(last_sequence=sequence)).SerializeToString()
            self.watching.set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.watch_cancelled.set()
            raise

    async def watch_runs(self, request: bytes, ctx: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        yield pb.WatchRunsResponse(heartbeat=pb.Heartbeat(last_sequence=7)).SerializeToString()
        raise NotFound("organization went away", metadata={"resource": "organizations/x"})

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            "agentorch.runs.v1.RunsService",
            {
                "GetRun": grpc.unary_unary_rpc_method_handler(self.get_run),
                "ListRuns": grpc.unary_unary_rpc_method_handler(self.list_runs),
                "WatchRun": grpc.unary_stream_rpc_method_handler(self.watch_run),
                "WatchRuns": grpc.unary_stream_rpc_method_handler(self.watch_runs),
            },
        )


@dataclass
class Setup:
    backend: ScriptedRuns
    backend_channel: grpc.aio.Channel
    gateway: RunningServer


@pytest.fixture
async def setup(database: DatabaseSettings) -> AsyncIterator[Setup]:
    backend = ScriptedRuns()
    server = Server(
        "scripted-runs",
        ServerSettings(port=0),
        [GrpcService(REEXPOSED["runs"], backend, lambda s, srv: srv.add_generic_rpc_handlers((s.handler(),)))],
        interceptors=[ServerInterceptor(access_log=False, key_ring=KEY_RING)],
    )
    await server.start()
    target = f"127.0.0.1:{server.port}"
    backends = BackendSettings(registry="127.0.0.1:1", runs=target, credentials="127.0.0.1:1")
    try:
        async with (
            running(gateway_spec(gateway_settings(database, backends))) as gateway,
            grpc.aio.insecure_channel(target) as channel,
        ):
            yield Setup(backend, channel, gateway)
    finally:
        await server.stop(0)


async def test_bytes_are_relayed_unchanged_with_a_signed_principal(setup: Setup) -> None:
    org = new_org()
    token = mint(org, "viewer", "operator", subject="user-7")
    request = pb.GetRunRequest(name=f"organizations/{org}/runs/x").SerializeToString() + UNKNOWN_FIELD
    metadata = (*bearer(token), (context.REQUEST_ID_HEADER, "req-123"), ("x-custom", "not forwarded"))
    reply = await setup.gateway.channel.unary_unary(f"{RUNS}/GetRun")(request, metadata=metadata, timeout=5)
    assert reply == REPLY
    (seen,) = setup.backend.seen
    assert seen.request == request
    assert seen.principal is not None
    assert (seen.principal.subject, seen.principal.organization_slug, seen.principal.kind) == ("user-7", org, "user")
    assert seen.principal.roles == {"viewer", "operator"}
    assert seen.principal.signed_by == "test-key"
    assert seen.metadata[context.REQUEST_ID_HEADER] == "req-123"
    assert "authorization" not in seen.metadata
    assert "x-custom" not in seen.metadata
    assert token not in str(seen.metadata)


async def test_the_clients_deadline_is_passed_on(setup: Setup) -> None:
    org = new_org()
    call = setup.gateway.channel.unary_unary(f"{RUNS}/GetRun")
    await call(b"", metadata=bearer(mint(org, "viewer")), timeout=3)
    await call(b"", metadata=bearer(mint(org, "viewer")))
    with_deadline, without = setup.backend.seen
    assert with_deadline.time_remaining is not None
    assert 0 < with_deadline.time_remaining < 3.5  # the wire format rounds the timeout up a little
    assert without.time_remaining is None


async def test_a_stream_is_relayed_item_by_item_and_cancelled_with_the_client(setup: Setup) -> None:
    org = new_org()
    call = setup.gateway.channel.unary_stream(f"{RUNS}/WatchRun")(b"", metadata=bearer(mint(org, "viewer")))
    items = [pb.WatchRunResponse.FromString(await call.read()) for _ in range(3)]
    assert [i.heartbeat.last_sequence for i in items] == [1, 2, 3]
    await asyncio.wait_for(setup.backend.watching.wait(), 5)
    call.cancel()
    await asyncio.wait_for(setup.backend.watch_cancelled.wait(), 5)


async def test_backend_errors_pass_through_unchanged(setup: Setup) -> None:
    org = new_org()
    with pytest.raises(grpc.aio.AioRpcError) as direct:
        await setup.backend_channel.unary_unary(f"{RUNS}/ListRuns")(b"", metadata=as_member(org, "viewer"))
    with pytest.raises(grpc.aio.AioRpcError) as relayed:
        await setup.gateway.channel.unary_unary(f"{RUNS}/ListRuns")(b"", metadata=bearer(mint(org, "viewer")))
    assert relayed.value.code() == direct.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert relayed.value.details() == direct.value.details()
    relayed_details = dict(relayed.value.trailing_metadata() or ())[DETAILS_KEY]
    assert relayed_details == dict(direct.value.trailing_metadata() or ())[DETAILS_KEY]
    info = error_info(relayed.value)
    assert (info.reason, dict(info.metadata)) == ("FAILED_PRECONDITION", {"state": "paused"})


async def test_an_error_in_the_middle_of_a_stream_passes_through(setup: Setup) -> None:
    org = new_org()
    call = setup.gateway.channel.unary_stream(f"{RUNS}/WatchRuns")(b"", metadata=bearer(mint(org, "viewer")))
    first = pb.WatchRunsResponse.FromString(await call.read())
    assert first.heartbeat.last_sequence == 7
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value).reason == "NOT_FOUND"


async def test_an_unreachable_backend_is_unavailable(setup: Setup) -> None:
    org = new_org()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await setup.gateway.channel.unary_unary("/agentorch.registry.v1.RegistryService/ListAgents")(
            b"", metadata=bearer(mint(org, "viewer")), timeout=5
        )
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
