"""The gateway's edge interceptor: authenticate, rate limit and authorize every call before its handler runs.

It sits inside the shared server interceptor (request id, access log, error mapping), so the errors it raises
(UNAUTHENTICATED, RESOURCE_EXHAUSTED with RetryInfo, PERMISSION_DENIED) become statuses in the one usual place.
The caller it establishes is bound for the handler (gateway.auth.caller); the proxy signs it for the backend.

Order: a public method (GetPlatformStatus) is only rate limited, per client address. Any other call is
authenticated (failed authentications are limited per client address before any verification work: see
gateway.edge.failed_auth), then rate limited per principal (so a flood of denied calls is limited too), then checked
against the matrix (the method's role, then the request's escalation for unary relayed calls: an ad hoc CreateRun
naming credentials, a CreateAgent with a destination); a method missing from the matrix is denied. A server stream
then takes one of its principal's stream slots (`streams.max_per_principal` on this replica) until it ends, however
it ends. Only then is the request itself checked (services.common.request_checks: unparsable, unknown enum values,
out-of-range Timestamps, over-deep JSON), so an anonymous caller learns nothing about its request. Relayed methods
arrive as raw bytes: their backend checks them.

Calls relayed by the gateway's own HTTP front all come from loopback; it names the HTTP client's address in
`x-agentorch-client-address`, which counts only together with the process's relay token (random per process,
shared with the front in memory), so no other caller can pick its rate-limit bucket.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc.aio import ServicerContext

from gateway.auth import caller as caller_context
from gateway.auth.authenticator import Authenticator
from gateway.auth.caller import Caller
from gateway.edge.authz_matrix import Rule, rule_for
from gateway.edge.ratelimit import RateLimiter, StreamSlots
from services.common.context import Principal
from services.common.errors import PermissionDenied, Unavailable
from services.common.request_checks import check_request

Handler = Any  # grpc.RpcMethodHandler; grpcio ships no type stubs
_UNCHECKED = ("/grpc.health.", "/grpc.reflection.")
RELAY_HEADER = "x-agentorch-relay"
CLIENT_ADDRESS_HEADER = "x-agentorch-client-address"


class EdgeInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Created with the server spec; `configure` hands it the authenticator once the database is open.

    `relay_token`: the token the gateway's HTTP front sends with the client addresses it vouches for.
    """

    def __init__(self, relay_token: str = "") -> None:
        self._authenticator: Authenticator | None = None
        self._limiter: RateLimiter | None = None
        self._streams = StreamSlots(0)
        self._relay_token = relay_token

    def configure(
        self, authenticator: Authenticator, limiter: RateLimiter | None, streams: StreamSlots | None = None
    ) -> None:
        self._authenticator = authenticator
        self._limiter = limiter
        self._streams = streams or StreamSlots(0)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(_UNCHECKED):
            return handler
        rule = rule_for(method)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, rule, handler.unary_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(method, rule, handler.unary_stream),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, rule, handler.stream_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._stream(method, rule, handler.stream_stream), handler.request_deserializer, handler.response_serializer
        )

    def _unary(
        self, method: str, rule: Rule | None, behavior: Callable[[Any, ServicerContext], Awaitable[Any]]
    ) -> Callable[[Any, ServicerContext], Awaitable[Any]]:
        async def wrapper(request: Any, ctx: ServicerContext) -> Any:
            token = caller_context.bind(await self._admit(method, rule, ctx, request))
            try:
                check_request(request)
                return await behavior(request, ctx)
            finally:
                caller_context.reset(token)

        return wrapper

    def _stream(
        self, method: str, rule: Rule | None, behavior: Callable[[Any, ServicerContext], AsyncIterator[Any]]
    ) -> Callable[[Any, ServicerContext], AsyncIterator[Any]]:
        async def wrapper(request: Any, ctx: ServicerContext) -> AsyncIterator[Any]:
            caller = await self._admit(method, rule, ctx)
            slot = bucket_key(caller.principal) if caller is not None else None
            if slot is not None:
                self._streams.take(slot)
            token = caller_context.bind(caller)
            try:
                check_request(request)
                async for response in behavior(request, ctx):
                    yield response
            finally:
                if slot is not None:
                    self._streams.release(slot)
                # A cancelled stream is closed from another task (another context): nothing to restore there.
                with contextlib.suppress(ValueError):
                    caller_context.reset(token)

        return wrapper

    async def _admit(self, method: str, rule: Rule | None, ctx: ServicerContext, request: Any = None) -> Caller | None:
        if self._authenticator is None:
            raise Unavailable("the gateway is starting")
        if rule is not None and rule.public:
            self._limit(f"peer:{self._client(ctx)}")
            return None
        caller = await self._authenticator.authenticate(ctx.invocation_metadata() or (), self._client(ctx))
        self._limit(bucket_key(caller.principal))
        if rule is None:
            raise PermissionDenied("this method is not served by the gateway", metadata={"enforced_by": "gateway"})
        if not rule.allows(caller.principal):
            raise PermissionDenied(
                denied_message(rule), metadata={"required_role": rule.role or "", "enforced_by": "gateway"}
            )
        escalation = rule.escalated(caller.principal, request)
        if escalation is not None:
            raise PermissionDenied(
                f"{escalation.what} needs the {escalation.role} role",
                metadata={"required_role": escalation.role, "enforced_by": "gateway"},
            )
        return caller

    def _client(self, ctx: ServicerContext) -> str:
        if self._relay_token:
            metadata = dict(ctx.invocation_metadata() or ())
            token, address = metadata.get(RELAY_HEADER), metadata.get(CLIENT_ADDRESS_HEADER)
            if isinstance(token, str) and isinstance(address, str) and hmac.compare_digest(token, self._relay_token):
                return address
        return peer_host(ctx.peer())

    def _limit(self, key: str) -> None:
        if self._limiter is not None:
            self._limiter.acquire(key)


def denied_message(rule: Rule) -> str:
    if rule.platform:
        return f"this call needs a platform principal with the {rule.role} role"
    return f"this call needs the {rule.role} role"


def bucket_key(principal: Principal) -> str:
    return f"{principal.kind}:{principal.organization_slug}:{principal.subject}"


def peer_host(peer: str | None) -> str:
    """`ipv4:10.0.0.1:5000` → `ipv4:10.0.0.1` (the port changes with every connection)."""
    return (peer or "unknown").rsplit(":", 1)[0]
