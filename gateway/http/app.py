"""The ASGI application of the HTTP front: request ids and the access log (outermost), CORS, then dispatch.

Dispatch: route → protobuf request (translate) → the gRPC call on the gateway's own port with the client's
`authorization` (or, on the two SSE routes only, the `access_token` query parameter as a bearer token, since a
browser's EventSource cannot set headers) and `x-request-id` → JSON reply, SSE stream or error. Nothing else from
the client is forwarded. A client that disconnects cancels its call.

Logging: one line per request (`http`: method, path without the query string, route, gRPC method, status, gRPC
code, duration, frames for streams), with the request id like every other line of the request. The query string
and the authorization header are never logged, so neither is a token.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.config import HttpSettings
from gateway.edge.interceptor import CLIENT_ADDRESS_HEADER, RELAY_HEADER
from gateway.http import errors, sse, translate
from gateway.http.routes import Match, Route, Router
from services.common import context
from services.common.errors import FieldViolation
from services.common.logs import get_logger

log = get_logger("agentorch.http")

ACCESS_TOKEN_PARAMETER = "access_token"  # noqa: S105  (a parameter name, not a secret)
ALLOWED_HEADERS = ["authorization", "content-type", "last-event-id", "x-request-id"]
EXPOSED_HEADERS = ["x-request-id", "retry-after"]
OFFLOAD_BYTES = 256 * 1024  # bodies and replies above this are (de)serialized in a thread
_EXCHANGE = "agentorch.exchange"


@dataclass
class Exchange:
    """One request as the access log sees it."""

    request_id: str
    route: str = ""
    rpc: str = ""
    status: int = 0
    code: str = ""
    frames: int | None = None
    outcome: str = ""


def build_app(
    settings: HttpSettings,
    channel: grpc.aio.Channel,
    draining: asyncio.Event,
    *,
    access_log: bool = True,
    relay_token: str = "",
    router: Router | None = None,
) -> ASGIApp:
    app: ASGIApp = Dispatcher(settings, channel, draining, relay_token=relay_token, router=router or Router())
    if settings.cors_origins:
        app = CORSMiddleware(
            app,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=ALLOWED_HEADERS,
            expose_headers=EXPOSED_HEADERS,
            max_age=600,
        )
    return RequestLog(app, access_log=access_log)


class RequestLog:
    """Request id (the client's `x-request-id` if sane, else a new one; echoed on every response) and the access
    log line. Bound as the request context, so every log line of the request carries the id."""

    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self._app = app
        self._access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request_id = context.sanitize_request_id(_header(scope, context.REQUEST_ID_HEADER))
        exchange = Exchange(request_id)
        scope[_EXCHANGE] = exchange
        token = context.bind(context.RequestContext(request_id=request_id))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            context.reset(token)
            if self._access_log:
                fields = {
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": exchange.route,
                    "rpc": exchange.rpc,
                    "status": exchange.status or 499,
                    "code": exchange.code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "client": (scope.get("client") or ("", 0))[0],
                    "request_id": request_id,
                }
                if exchange.frames is not None:
                    fields.update(frames=exchange.frames, outcome=exchange.outcome)
                log.info("http", **fields)


class Dispatcher:
    def __init__(
        self,
        settings: HttpSettings,
        channel: grpc.aio.Channel,
        draining: asyncio.Event,
        *,
        relay_token: str,
        router: Router,
    ) -> None:
        self._settings = settings
        self._channel = channel
        self._draining = draining
        self._relay_token = relay_token
        self._router = router
        self._relay = sse.Relay(
            heartbeat_seconds=settings.sse_heartbeat_seconds,
            retry_seconds=settings.sse_retry_seconds,
            draining=draining,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange: Exchange = scope[_EXCHANGE]
        method: str = scope["method"]
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        try:
            if path == "/healthz" and method == "GET":
                await self._health(send)
                return
            found = self._router.match(method, path)
            if found is None:
                allowed = self._router.allowed(path)
                raise errors.method_not_allowed(method, allowed) if allowed else errors.no_route(method, scope["path"])
            exchange.route, exchange.rpc = f"{method} {found.route.template.text}", found.route.rpc
            if found.route.streaming:
                await self._stream(found, scope, receive, send, exchange)
            else:
                await self._unary(found, scope, receive, send, exchange)
        except errors.HttpError as error:
            await _respond_error(send, error, exchange)
        except _ClientGone:
            exchange.outcome = "disconnected"
        except Exception:
            log.exception("unhandled error in the HTTP front", route=exchange.route)
            if exchange.status == 0:  # nothing sent yet
                await _respond_error(send, errors.internal(exchange.request_id), exchange)

    async def _health(self, send: Send) -> None:
        serving = not self._draining.is_set()
        body = {"status": "SERVING" if serving else "NOT_SERVING"}
        await _respond(send, 200 if serving else 503, body)

    async def _unary(self, found: Match, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        route = found.route
        body = await self._body(route, scope, receive)
        query = _query(scope)

        def translated() -> bytes:
            request = translate.build_request(route, found.bindings, query, _json(body))
            return bytes(request.SerializeToString())

        payload = bytes(await _offload(len(body), translated))
        call = self._channel.unary_unary(route.grpc_path)(
            payload, metadata=self._metadata(scope, exchange), timeout=self._settings.request_timeout_seconds
        )
        pending = asyncio.ensure_future(_await(call))
        gone = asyncio.ensure_future(sse.disconnected(receive))
        try:
            done, _ = await asyncio.wait({pending, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not pending.done():
                call.cancel()
                pending.cancel()
            await asyncio.gather(gone, pending, return_exceptions=True)
        if pending not in done:  # the client went away: its call was cancelled
            exchange.code, exchange.outcome = "CANCELLED", "disconnected"
            return
        try:
            reply: bytes = pending.result()
        except grpc.aio.AioRpcError as exc:
            raise errors.from_rpc_error(exc) from None
        exchange.code = "OK"

        def rendered() -> bytes:
            return sse.dumps(translate.reply_json(route, reply)).encode()

        await _respond_bytes(send, 200, bytes(await _offload(len(reply), rendered)))

    async def _stream(self, found: Match, scope: Scope, receive: Receive, send: Send, exchange: Exchange) -> None:
        route = found.route
        if _has_body(scope):
            raise errors.malformed(f"{route.method} {route.template.text} takes no request body")
        query = _query(scope)
        tokens = [value for key, value in query if key == ACCESS_TOKEN_PARAMETER]
        query = [(key, value) for key, value in query if key != ACCESS_TOKEN_PARAMETER]
        overrides: dict[str, Any] = {}
        last_event_id = (_header(scope, "last-event-id") or "").strip()  # empty: none (as browsers treat it)
        if route.resume and last_event_id:
            if not last_event_id.isdigit():
                raise errors.invalid(
                    [FieldViolation(route.resume, "Last-Event-ID must be the sequence number of an event")],
                    "invalid request: Last-Event-ID must be the sequence number of an event",
                )
            overrides[route.resume] = int(last_event_id)
        request = translate.build_request(route, found.bindings, query, None, overrides)
        metadata = self._metadata(scope, exchange, extra_tokens=tokens)
        call = self._channel.unary_stream(route.grpc_path)(request.SerializeToString(), metadata=metadata)
        stats = sse.StreamStats()
        exchange.frames = 0
        try:
            refused = await self._relay.run(route, call, receive, send, stats)
        finally:
            exchange.frames, exchange.outcome, exchange.code = stats.frames, stats.outcome, stats.code
        if refused is not None:
            raise refused

    async def _body(self, route: Route, scope: Scope, receive: Receive) -> bytes:
        limit = self._settings.max_body_bytes
        declared = _header(scope, "content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise errors.malformed(f"the request body is larger than {limit} bytes", http=413)
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise errors.malformed(f"the request body is larger than {limit} bytes", http=413)
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not body.strip():
            return b""
        if not route.body:
            raise errors.malformed(f"{route.method} {route.template.text} takes no request body")
        media = (_header(scope, "content-type") or "application/json").split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise errors.malformed("send the body as JSON with `content-type: application/json`", http=415)
        return body

    def _metadata(
        self, scope: Scope, exchange: Exchange, *, extra_tokens: list[str] | None = None
    ) -> tuple[tuple[str, str], ...]:
        """The client's credentials and request id, and (to the gateway's own edge only, proven by a per-process
        token) the client's address, which public methods are rate limited by."""
        metadata: list[tuple[str, str]] = [(context.REQUEST_ID_HEADER, exchange.request_id)]
        for key, value in scope["headers"]:
            if key == b"authorization":
                metadata.append(("authorization", _metadata_value(value.decode("latin-1"))))
        for token in extra_tokens or ():
            metadata.append(("authorization", _metadata_value(f"Bearer {token}")))
        if self._relay_token:
            client = scope.get("client") or ("unknown", 0)
            family = "ipv6" if ":" in client[0] else "ipv4"
            metadata += [(RELAY_HEADER, self._relay_token), (CLIENT_ADDRESS_HEADER, f"{family}:{client[0]}")]
        return tuple(metadata)


def _metadata_value(value: str) -> str:
    """gRPC metadata holds printable ASCII only; anything else is replaced by a value the edge refuses as a
    credential (UNAUTHENTICATED), rather than failing the call here."""
    return value if value.isascii() and value.isprintable() else "invalid"


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope["headers"]:
        if key == wanted:
            return str(value.decode("latin-1"))
    return None


def _has_body(scope: Scope) -> bool:
    length = _header(scope, "content-length")
    return (length is not None and length.strip() not in ("", "0")) or _header(scope, "transfer-encoding") is not None


def _query(scope: Scope) -> list[tuple[str, str]]:
    raw = scope.get("query_string", b"").decode("utf-8", errors="replace")
    return urllib.parse.parse_qsl(raw, keep_blank_values=True)


def _json(body: bytes) -> Any:
    if not body:
        return None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"the key {key!r} appears twice in one object")
            result[key] = value
        return result

    try:
        return json.loads(body, object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError) as exc:
        raise errors.malformed(f"the request body is not valid JSON: {exc}") from None


async def _offload(size: int, function: Callable[..., Any], *args: Any) -> Any:
    """Run a (de)serialization in a thread when the payload is large, so the event loop is not held up."""
    if size > OFFLOAD_BYTES:
        return await asyncio.to_thread(function, *args)
    return function(*args)


class _ClientGone(Exception):
    """The client disconnected before its request was complete."""


async def _await(call: Awaitable[bytes]) -> bytes:
    return await call


async def _respond(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    await _respond_bytes(send, status, sse.dumps(body).encode(), headers)


async def _respond_bytes(send: Send, status: int, content: bytes, headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content, "more_body": False})


async def _respond_error(send: Send, error: errors.HttpError, exchange: Exchange) -> None:
    exchange.code = exchange.code or error.code
    await _respond(send, error.status, error.body, error.headers)
