"""A deterministic OpenAI-compatible chat completions server: POST `/v1/chat/completions` (and `/chat/completions`).

It answers `"<name> received: <last user message>"` (or the scripted answer for it) with token usage counted in
words; with `"stream": true` it sends `chat.completion.chunk` events (role, a few content pieces, finish_reason,
a usage chunk when `stream_options.include_usage`) and `data: [DONE]`.

Markers in the last user message switch behaviour:
  [429-once:<label>]   HTTP 429 with Retry-After: 0 the first time per idempotency key
  [500]                HTTP 500, always
  [slow:<seconds>]     wait that long first
  [malformed]          a body (or stream chunk) that is not JSON
  [cut]                the stream stops after the first piece, without finish_reason or [DONE]
  [big:<bytes>]        the answer is that many `x`

With `api_key`, requests must carry `Authorization: Bearer <api_key>` (else HTTP 401, as OpenAI answers).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reference_agents import Markers, Once, pause, pieces

log = logging.getLogger("reference_agents.openai")


def _error(status: int, message: str, kind: str, code: str | None = None, **headers: str) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers or None)


def _content(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _words(text: str) -> int:
    return len(text.split())


def create_app(
    name: str = "reference-openai",
    *,
    api_key: str | None = None,
    answers: Mapping[str, str] | None = None,
    chunk_delay: float = 0.01,
) -> Starlette:
    scripted = dict(answers or {})
    once = Once()
    counter = itertools.count(1)
    requests: list[dict[str, Any]] = []  # what each call carried (never its credential), for tests

    async def completions(request: Request) -> Response:
        key = request.headers.get("idempotency-key", "")
        authorized = _authorized(request, api_key)
        log.info("chat completion idempotency_key=%s authorized=%s", key, authorized)
        if not authorized:
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "the body is not JSON", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            return _error(400, "`model` and `messages` are required", "invalid_request_error")
        requests.append({"idempotency_key": key, "body": body, "authorized": authorized})
        user_turns = [m for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        text = _content(user_turns[-1]) if user_turns else ""
        markers = Markers.of(text)
        if markers.seconds("slow") and not await pause(request, markers.seconds("slow")):
            log.info("the caller went away; idempotency_key=%s", key)
            return Response(status_code=499)
        label = markers.get("429-once")
        if label is not None and once.first(label, key):
            return _error(429, "Rate limit reached; retry shortly.", "rate_limit_error", **{"Retry-After": "0"})
        if "500" in markers:
            return _error(500, "The server had an error while processing your request.", "server_error")
        answer = "x" * markers.size("big") if markers.size("big") else scripted.get(text, f"{name} received: {text}")
        prompt_tokens = sum(_words(_content(m)) for m in body["messages"])
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _words(answer),
            "total_tokens": prompt_tokens + _words(answer),
        }
        completion_id = f"chatcmpl-ref-{next(counter)}"
        model = str(body["model"])
        if body.get("stream"):
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            chunks = _chunks(completion_id, model, answer, usage if include_usage else None, markers, chunk_delay)
            return StreamingResponse(chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        if "malformed" in markers:
            return Response('{"choices": [', media_type="application/json")
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                "usage": usage,
            }
        )

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": name, "object": "model", "owned_by": "agentorch"}]})

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", completions, methods=["POST"]),
            Route("/chat/completions", completions, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )
    app.state.requests = requests
    return app


def _authorized(request: Request, api_key: str | None) -> bool:
    if not api_key:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode())


async def _chunks(
    completion_id: str, model: str, answer: str, usage: dict[str, int] | None, markers: Markers, delay: float
) -> AsyncIterator[str]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choices = [{"index": 0, "delta": delta, "finish_reason": finish}]
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        return f"data: {json.dumps({**body, 'choices': choices})}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    if "malformed" in markers:
        yield "data: {not json\n\n"
        return
    for piece in pieces(answer):
        await asyncio.sleep(delay)
        yield chunk({"content": piece})
        if "cut" in markers:
            return
    yield chunk({}, "stop")
    if usage is not None:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        yield f"data: {json.dumps({**body, 'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"
