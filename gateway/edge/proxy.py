"""A generic proxy that re-exposes the services' own contracts on the gateway's port.

Why re-exposed contracts rather than a gateway-specific API: the services' protos already are the public API
(resource names, AIP-style methods, documented errors), so a second, hand-written copy would drift from them,
double the surface to version and review (`buf breaking` would have two contracts to guard), and force every
client to learn two sets of stubs, one for outside and one for inside. Re-exposing them means one set of stubs
works against the gateway and, inside the platform, against a service directly; a new RPC only needs a line in
the authorization matrix. What only makes sense at the edge (who am I, API keys, the agent-mode entry point)
lives in agentorch.gateway.v1.GatewayService. Internal RPCs are kept out by name (ResolveCredential: BLOCKED).

How: each method is a generic handler with no (de)serializers, so the request arrives as the client's bytes and
goes to the backend unchanged (no re-serialization, unknown fields preserved, no per-message cost beyond the
copy). The caller's identity travels as a freshly signed principal (never the client's metadata), with the
request id; the client's deadline is passed on. Server streams (WatchRun, WatchRuns) are relayed item by item,
each read from the backend only once the previous one was handed to the client (HTTP/2 flow control carries the
back-pressure to the backend), and the backend call is cancelled as soon as the client goes away. A backend error
is passed through unchanged: status code, message and trailers, including `grpc-status-details-bin` (so
NOT_FOUND for another organization's resource stays NOT_FOUND).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc.aio import ServicerContext

from gateway.auth import caller as caller_context
from services.common import context
from services.common.principals import KeyRing

ISSUER = "gateway"
# Trailers a server sets itself; everything else a backend sends back is relayed.
_RESERVED_TRAILERS = ("grpc-status", "grpc-message", "content-type", "te", "user-agent")


class Proxy:
    """Forwards every method of one service (except `blocked` full paths) to `channel`."""

    def __init__(
        self, descriptor: ServiceDescriptor, channel: grpc.aio.Channel, signer: KeyRing, blocked: Collection[str] = ()
    ) -> None:
        self.descriptor = descriptor
        self._channel = channel
        self._signer = signer
        self._blocked = frozenset(blocked)

    def paths(self) -> list[str]:
        """The full paths this proxy serves."""
        paths = (f"/{self.descriptor.full_name}/{m.name}" for m in self.descriptor.methods)
        return [p for p in paths if p not in self._blocked]

    def handler(self) -> grpc.GenericRpcHandler:
        handlers: dict[str, grpc.RpcMethodHandler] = {}
        for method in self.descriptor.methods:
            path = f"/{self.descriptor.full_name}/{method.name}"
            if path in self._blocked:
                continue
            if method.client_streaming:
                raise ValueError(f"{path}: client-streaming methods are not relayed")
            if method.server_streaming:
                handlers[method.name] = grpc.unary_stream_rpc_method_handler(self._stream(path))
            else:
                handlers[method.name] = grpc.unary_unary_rpc_method_handler(self._unary(path))
        return grpc.method_handlers_generic_handler(self.descriptor.full_name, handlers)

    def register(self, server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((self.handler(),))

    def _metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        principal = caller_context.require().principal
        return (
            (context.REQUEST_ID_HEADER, context.current().request_id),
            *self._signer.metadata(principal, issuer=ISSUER),
        )

    def _unary(self, path: str) -> Any:
        call = self._channel.unary_unary(path)

        async def forward(request: bytes, ctx: ServicerContext) -> bytes:
            try:
                response: bytes = await call(request, metadata=self._metadata(), timeout=ctx.time_remaining())
            except grpc.aio.AioRpcError as exc:
                await relay_error(ctx, exc)
                raise  # not reached: abort raises
            return response

        return forward

    def _stream(self, path: str) -> Any:
        open_stream = self._channel.unary_stream(path)

        async def forward(request: bytes, ctx: ServicerContext) -> AsyncIterator[bytes]:
            call = open_stream(request, metadata=self._metadata(), timeout=ctx.time_remaining())
            # The moment the client's call ends (it went away), not whenever this generator happens to be closed.
            ctx.add_done_callback(lambda _: call.cancel())
            try:
                async for item in call:
                    yield item
            except grpc.aio.AioRpcError as exc:
                await relay_error(ctx, exc)
            finally:
                call.cancel()

        return forward


async def relay_error(ctx: ServicerContext, error: grpc.aio.AioRpcError) -> None:
    """End the call with the backend's status, message and trailers (error details included), unchanged."""
    trailers = tuple((k, v) for k, v in (error.trailing_metadata() or ()) if k.lower() not in _RESERVED_TRAILERS)
    await ctx.abort(error.code(), error.details() or "", trailing_metadata=trailers)
