"""A header-recording HTTP receiver that answers as an OpenAI-compatible agent: where a credential would land if
it were sent. It records every request's headers and echoes the Authorization header in its answer (so tests can
see both that a bound credential arrived and that it was scrubbed from the step's output)."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_receiver(name: str) -> Starlette:
    received: list[dict[str, str]] = []

    async def chat(request: Request) -> JSONResponse:
        received.append(dict(request.headers))
        body: dict[str, Any] = await request.json()
        content = f"{name} saw authorization={request.headers.get('authorization', '')!r}"
        return JSONResponse(
            {
                "id": "chatcmpl-receiver",
                "object": "chat.completion",
                "model": body.get("model", ""),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
            }
        )

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
    app.state.received = received
    return app
