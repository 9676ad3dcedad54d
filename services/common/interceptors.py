"""The server interceptor: request id, access log and error mapping for every RPC, unary and streaming.

One interceptor rather than three keeps the per-call overhead to one wrapper on the hot path. The wrapper runs
inside the handler's task, so the request context it binds is visible to everything the handler calls.

Order, for every method: the caller is authenticated first (a call without a valid signed principal is
UNAUTHENTICATED whatever its request holds), then the request is checked (services.common.request_checks: a
request protobuf cannot parse is INVALID_ARGUMENT/MALFORMED_REQUEST instead of grpc's UNKNOWN, malformed enums,
Timestamps and over-deep JSON are INVALID_ARGUMENT naming the field), and only then does the handler run.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from grpc.aio import ServicerContext

from services.common import authz, context, errors, grpc_errors, principals, request_checks
from services.common.logs import get_logger
from services.common.principals import KeyRing

log = get_logger("agentorch.rpc")

Handler = Any  # grpc.RpcMethodHandler; grpcio ships no type stubs


DEFAULT_STREAM_SEND_TIMEOUT = 30.0


class ServerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """`key_ring` verifies the principal token a caller forwards; without one, any token is rejected.

    `principal_required` (every service: each of their methods acts for a principal): a call without one is refused
    before its handler runs, then its request is checked. False at the gateway, whose edge interceptor
    authenticates its callers by their bearer tokens and then calls `request_checks.check_request` itself.
    """

    def __init__(
        self,
        *,
        access_log: bool = True,
        key_ring: KeyRing | None = None,
        stream_send_timeout: float = DEFAULT_STREAM_SEND_TIMEOUT,
        principal_required: bool = True,
    ) -> None:
        self._access_log = access_log
        self._key_ring = key_ring
        self._send_timeout = stream_send_timeout
        self._principal_required = principal_required

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method: str = handler_call_details.method
        # grpc parses the request before any wrapper below runs: a parse failure must become a value they can refuse.
        deserializer = request_checks.tolerant(handler.request_deserializer)
        if method.startswith(("/grpc.health.", "/grpc.reflection.")):
            return _plumbing(handler, deserializer)
        call = _Call(method, self._access_log, self._key_ring, self._send_timeout, self._principal_required)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                call.unary(handler.unary_unary), deserializer, handler.response_serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                call.stream(handler.unary_stream), deserializer, handler.response_serializer
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                call.unary(_each_request_checked(handler.stream_unary)), deserializer, handler.response_serializer
            )
        return grpc.stream_stream_rpc_method_handler(
            call.stream(_each_request_checked(handler.stream_stream)), deserializer, handler.response_serializer
        )


def _each_request_checked(behavior: Callable[[Any, ServicerContext], Any]) -> Callable[[Any, ServicerContext], Any]:
    """A client-streaming behavior whose every request is checked as it is read (the error ends the call)."""

    async def checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in requests:
            request_checks.check_request(request)
            yield request

    return lambda requests, ctx: behavior(checked(requests), ctx)


def _plumbing(handler: Handler, deserializer: Callable[[bytes], Any] | None) -> Handler:
    """Health and reflection: no principal, no access log (probes call them constantly); a request that does not
    parse is refused as everywhere else (INVALID_ARGUMENT, MALFORMED_REQUEST) instead of grpc's UNKNOWN."""

    def guarded(behavior: Callable[[Any, ServicerContext], Any], client_streaming: bool) -> Callable[..., Any]:
        async def wrapper(request: Any, ctx: ServicerContext) -> Any:
            try:
                if client_streaming:
                    return await _finish(_each_request_checked(behavior)(request, ctx), ctx)
                request_checks.check_request(request)
                return await _finish(behavior(request, ctx), ctx)
            except errors.MalformedRequest as exc:
                status = grpc_errors.to_grpc_status(exc)
                await ctx.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)

        return wrapper

    serializer = handler.response_serializer
    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(guarded(handler.unary_unary, False), deserializer, serializer)
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(guarded(handler.unary_stream, False), deserializer, serializer)
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(guarded(handler.stream_unary, True), deserializer, serializer)
    return grpc.stream_stream_rpc_method_handler(guarded(handler.stream_stream, True), deserializer, serializer)


async def _finish(result: Any, ctx: ServicerContext) -> Any:
    """Await a coroutine behavior (a unary reply, or a stream written with ctx.write), or write what an async
    generator behavior yields."""
    if inspect.isasyncgen(result):
        async for response in result:
            await ctx.write(response)
        return None
    return await result


class _Call:
    def __init__(
        self, method: str, access_log: bool, key_ring: KeyRing | None, send_timeout: float, principal_required: bool
    ) -> None:
        self.method = method
        self.access_log = access_log
        self.key_ring = key_ring
        self.send_timeout = send_timeout
        self.principal_required = principal_required

    def unary(self, behavior: Callable[[Any, ServicerContext], Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(request: Any, ctx: ServicerContext) -> Any:
            request_id, token, started, auth_error = self._begin(ctx)
            code = grpc.StatusCode.OK
            try:
                if auth_error is not None:
                    raise auth_error
                if self.principal_required:
                    request_checks.check_request(request)
                return await behavior(request, ctx)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:
                code = ctx.code() or grpc.StatusCode.UNKNOWN
                status = self._status_for(exc, request_id)
                if status is None:
                    raise
                code = status.code
                await ctx.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)
            finally:
                self._end(code, started)
                context.reset(token)

        return wrapper

    def stream(self, behavior: Callable[[Any, ServicerContext], AsyncIterator[Any]]) -> Callable[..., Awaitable[None]]:
        """Server streams are written here (not yielded to grpc), each message with a deadline: flow control
        bounds what a client that stops reading holds (a window, one message), and after `send_timeout` its
        stream ends with ABORTED (CLIENT_TOO_SLOW) instead of holding a task and a subscription forever."""

        async def wrapper(request: Any, ctx: ServicerContext) -> None:
            request_id, token, started, auth_error = self._begin(ctx)
            code = grpc.StatusCode.OK
            try:
                if auth_error is not None:
                    raise auth_error
                if self.principal_required:
                    request_checks.check_request(request)
                responses = behavior(request, ctx)
                try:
                    async for response in responses:
                        await self._send(ctx, response)
                finally:
                    # Run the stream's own cleanup (subscriptions, backend calls) now, not when it is collected.
                    aclose = getattr(responses, "aclose", None)
                    if aclose is not None:
                        await aclose()
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:
                code = ctx.code() or grpc.StatusCode.UNKNOWN
                status = self._status_for(exc, request_id)
                if status is None:
                    raise
                code = status.code
                await ctx.abort(status.code, status.details, trailing_metadata=status.trailing_metadata)
            finally:
                self._end(code, started)
                # A cancelled stream is closed from another task (another context): nothing to restore there.
                with contextlib.suppress(ValueError):
                    context.reset(token)

        return wrapper

    async def _send(self, ctx: ServicerContext, response: Any) -> None:
        try:
            async with asyncio.timeout(self.send_timeout):  # one timer per message: no task, no extra future
                await ctx.write(response)
        except TimeoutError:
            # The pending message is still delivered if the client reads again, followed by this status.
            raise errors.ClientTooSlow(
                f"the client read nothing for {self.send_timeout:g} s; open the stream again from the last item "
                "it received (e.g. WatchRun after_sequence = the last sequence)"
            ) from None

    def _begin(self, ctx: ServicerContext) -> tuple[str, Any, float, errors.Unauthenticated | None]:
        started = time.perf_counter()
        incoming = dict(ctx.invocation_metadata() or ())
        request_id = context.sanitize_request_id(incoming.get(context.REQUEST_ID_HEADER))
        principal: context.Principal | None = None
        auth_error: errors.Unauthenticated | None = None
        raw = incoming.get(principals.METADATA_KEY)
        if raw is not None:
            try:
                if self.key_ring is None:
                    raise errors.Unauthenticated("this server has no principal key ring configured")
                principal = self.key_ring.verify(raw if isinstance(raw, bytes) else raw.encode())
            except errors.Unauthenticated as exc:
                auth_error = exc
        elif self.principal_required:
            auth_error = authz.no_principal()
        token = context.bind(context.RequestContext(request_id=request_id, principal=principal))
        ctx.set_trailing_metadata(((context.REQUEST_ID_HEADER, request_id),))
        return request_id, token, started, auth_error

    def _status_for(self, exc: Exception, request_id: str) -> _Status | None:
        """The status to send for an exception; None when the handler already aborted the call."""
        if isinstance(exc, grpc.aio.AbortError):
            return None
        if isinstance(exc, errors.ServiceError):
            status = grpc_errors.to_grpc_status(exc)
        elif grpc_errors.is_lost_database_connection(exc):
            log.warning("database unavailable", method=self.method, error=type(exc).__name__)
            status = grpc_errors.to_grpc_status(errors.DatabaseUnavailable())
        else:
            log.exception("unhandled error", method=self.method)
            status = grpc_errors.internal_status(request_id)
        trailing = (*tuple(status.trailing_metadata), (context.REQUEST_ID_HEADER, request_id))
        return _Status(status.code, status.details, trailing)

    def _end(self, code: grpc.StatusCode, started: float) -> None:
        if self.access_log:
            log.info(
                "rpc",
                method=self.method,
                code=code.name,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )


@dataclass(frozen=True)
class _Status:
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, str | bytes], ...]
