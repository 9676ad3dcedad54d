"""OpenAI-compatible chat completions: POST `{endpoint}/chat/completions`.

The request has the config's model and parameters, an optional system message and the prompt as the user
message. Non-streaming, the output is `choices[0].message.content`; streaming (`stream: true`), the SSE `data:`
chunks' `choices[0].delta.content` are emitted as they come and joined, until `data: [DONE]`. Token usage
(`usage`, requested with `stream_options.include_usage` when streaming) goes into the result's metadata.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.runs.app.executor import Emit, StepResult
from services.runs.executors.sse import is_event_stream, iter_sse
from services.runs.executors.transport import AgentCall, malformed, parse_json, post, read_limited

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")


def chat_url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    return base if base.endswith("/chat/completions") else f"{base}/chat/completions"


def request_body(call: AgentCall, streaming: bool) -> dict[str, Any]:
    config = call.config
    messages: list[dict[str, str]] = []
    if config.system_prompt:
        messages.append({"role": "system", "content": config.system_prompt})
    messages.append({"role": "user", "content": call.request.prompt})
    parameters = {k: v for k, v in config.parameters.items() if k != "stream_options"}
    body: dict[str, Any] = {"model": config.model, "messages": messages, **parameters, "stream": streaming}
    if streaming:
        body["stream_options"] = {"include_usage": True, **dict(config.parameters.get("stream_options") or {})}
    return body


def usage_of(document: Mapping[str, Any]) -> dict[str, int] | None:
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    counts = {k: int(usage[k]) for k in USAGE_KEYS if isinstance(usage.get(k), int | float)}
    return counts or None


@dataclass
class Completion:
    text: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    model: str | None = None
    response_id: str | None = None
    done: bool = False  # `data: [DONE]` seen

    def metadata(self, streamed: bool) -> dict[str, Any]:
        metadata: dict[str, Any] = {"protocol": "openai", "streamed": streamed}
        for key in ("model", "finish_reason", "usage", "response_id"):
            value = getattr(self, key)
            if value is not None:
                metadata[key] = value
        return metadata


def parse_completion(call: AgentCall, document: Any) -> Completion:
    """A non-streaming chat completion: choices[0].message.content, finish_reason, usage."""
    if not isinstance(document, dict):
        raise malformed(call, "the completion is not a JSON object")
    _raise_error(call, document)
    choices = document.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise malformed(call, "the completion has no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise malformed(call, "choices[0] has no message")
    content = message.get("content")
    if content is None and isinstance(message.get("refusal"), str):
        raise call.fail(f"the model refused: {message['refusal'][:300]}", retryable=False)
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise malformed(call, "choices[0].message.content is not text")
    return Completion(
        text=[content],
        finish_reason=_str(choices[0].get("finish_reason")),
        usage=usage_of(document),
        model=_str(document.get("model")),
        response_id=_str(document.get("id")),
    )


def apply_chunk(call: AgentCall, completion: Completion, chunk: Any) -> str:
    """Fold one streamed chunk into `completion`; return its text delta."""
    if not isinstance(chunk, dict):
        raise malformed(call, "a stream chunk is not a JSON object")
    _raise_error(call, chunk)
    completion.model = _str(chunk.get("model")) or completion.model
    completion.response_id = _str(chunk.get("id")) or completion.response_id
    completion.usage = usage_of(chunk) or completion.usage
    choices = chunk.get("choices")
    if choices is None or choices == []:  # the usage-only chunk
        return ""
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise malformed(call, "a stream chunk has invalid choices")
    choice = choices[0]
    completion.finish_reason = _str(choice.get("finish_reason")) or completion.finish_reason
    delta = choice.get("delta")
    if delta is None:
        return ""
    if not isinstance(delta, dict):
        raise malformed(call, "a stream chunk's delta is not an object")
    content = delta.get("content")
    if content is None:
        return ""
    if not isinstance(content, str):
        raise malformed(call, "a stream chunk's delta.content is not text")
    completion.text.append(content)
    return content


def _raise_error(call: AgentCall, document: Mapping[str, Any]) -> None:
    error = document.get("error")
    if error is None:
        return
    message = error.get("message") if isinstance(error, dict) else error
    raise call.fail(f"the model answered with an error: {str(message)[:300]}", retryable=False)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class OpenAIProtocol:
    name = "openai"

    def url(self, call: AgentCall) -> str:
        assert call.config.endpoint is not None  # the config validator requires it for openai
        return chat_url(call.config.endpoint)

    async def call(self, client: httpx.AsyncClient, call: AgentCall, emit: Emit) -> StepResult:
        url = call.url or self.url(call)
        streaming = call.config.stream
        body = request_body(call, streaming)

        async def consume(response: httpx.Response) -> Completion:
            if streaming and is_event_stream(response):
                return await read_stream(call, response, emit)
            return parse_completion(call, parse_json(call, await read_limited(call, response)))

        accept = "text/event-stream, application/json" if streaming else "application/json"
        completion = await post(call, client, url, body, accept=accept, consume=consume)
        return StepResult(output="".join(completion.text), metadata=completion.metadata(streaming))


async def read_stream(call: AgentCall, response: httpx.Response, emit: Emit) -> Completion:
    completion = Completion()
    async for event in iter_sse(call, response):
        data = event.data.strip()
        if not data:
            continue
        if data == "[DONE]":
            completion.done = True
            break
        delta = apply_chunk(call, completion, parse_json(call, data, "a stream chunk"))
        if delta:
            await emit(delta)
    if not completion.done and completion.finish_reason is None:
        raise call.fail("the stream ended before the answer was complete (no finish_reason, no [DONE])", retryable=True)
    return completion
