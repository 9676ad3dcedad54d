"""A2A 1.0 over JSON-RPC: `SendMessage`, or `SendStreamingMessage` (SSE) when the agent card says it streams.

The prompt goes out as one text part of a ROLE_USER message whose messageId and metadata carry the idempotency
key. The answer is a Task (or a direct Message): `completed` gives the text of its artifacts (else of its status
message); `input-required` raises InputRequired with the agent's question; `auth-required`, `failed`, `rejected`
and `canceled` fail the step. A task returned unfinished (`submitted`/`working`) is polled with `GetTask` until
it ends, within the call's time budget. Parsing also accepts the 0.3 shapes (`kind` fields, lowercase states).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.runs.app.executor import Emit, InputRequired, StepFailed, StepResult
from services.runs.executors.sse import is_event_stream, iter_sse
from services.runs.executors.transport import AgentCall, malformed, parse_json, post, read_limited

A2A_VERSION = "1.0"
TERMINAL = frozenset({"completed", "failed", "canceled", "rejected"})
INTERRUPTED = frozenset({"input-required", "auth-required"})
UNFINISHED = frozenset({"submitted", "working"})
POLL_START_SECONDS = 0.2
POLL_MAX_SECONDS = 2.0
RETRYABLE_RPC_CODES = frozenset({-32603})  # internal error
HEADERS = {"A2A-Version": A2A_VERSION}


def normalise_state(raw: Any) -> str:
    """`TASK_STATE_INPUT_REQUIRED` (1.0) or `input-required` (0.3) → `input-required`; unknown → `unknown`."""
    if not isinstance(raw, str) or not raw:
        return "unknown"
    state = raw.strip().lower().removeprefix("task_state_").replace("_", "-")
    return {"cancelled": "canceled", "unspecified": "unknown"}.get(state, state)


def parts_text(parts: Any) -> str:
    """The text of a part list: text parts as they are, data parts as JSON; file parts are skipped."""
    if not isinstance(parts, list):
        return ""
    texts: list[str] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif "data" in part:
            data = part["data"]
            if isinstance(data, dict) and set(data) == {"data"} and part.get("kind") == "data":
                data = data["data"]
            texts.append(json.dumps(data, sort_keys=True))
    return "\n".join(texts)


def message_text(message: Any) -> str:
    return parts_text(message.get("parts")) if isinstance(message, dict) else ""


@dataclass
class TaskView:
    """What the executor knows about the agent's task so far."""

    state: str = "unknown"
    task_id: str = ""
    context_id: str = ""
    status_text: str = ""
    artifacts: dict[str, str] = field(default_factory=dict)  # artifact id → text, in order of appearance
    message: str | None = None  # a direct Message answer
    final: bool = False  # a 0.3 `final` status update, or a direct Message

    def output(self) -> str:
        if self.message is not None:
            return self.message
        if self.artifacts:
            return "\n".join(self.artifacts.values())
        return self.status_text

    def absorb_task(self, task: Mapping[str, Any]) -> None:
        self.task_id = str(task.get("id") or self.task_id)
        self.context_id = str(task.get("contextId") or self.context_id)
        self._status(task.get("status"))
        artifacts = task.get("artifacts")
        if isinstance(artifacts, list) and artifacts:
            self.artifacts = {
                str(a.get("artifactId") or i): parts_text(a.get("parts"))
                for i, a in enumerate(artifacts)
                if isinstance(a, dict)
            }
        if self.state == "completed" and not self.artifacts and not self.status_text:
            history = task.get("history")
            agent_turns = [m for m in history if _is_agent(m)] if isinstance(history, list) else []
            if agent_turns:
                self.status_text = message_text(agent_turns[-1])

    def absorb_status_update(self, update: Mapping[str, Any]) -> None:
        self.task_id = str(update.get("taskId") or self.task_id)
        self.context_id = str(update.get("contextId") or self.context_id)
        self._status(update.get("status"))
        if update.get("final") is True:
            self.final = True

    def absorb_artifact_update(self, update: Mapping[str, Any]) -> str:
        """Apply an artifact chunk; return the text it adds (the delta to stream)."""
        self.task_id = str(update.get("taskId") or self.task_id)
        self.context_id = str(update.get("contextId") or self.context_id)
        artifact = update.get("artifact")
        if not isinstance(artifact, dict):
            return ""
        key = str(artifact.get("artifactId") or len(self.artifacts))
        text = parts_text(artifact.get("parts"))
        if update.get("append") and key in self.artifacts:
            self.artifacts[key] += text
        else:
            self.artifacts[key] = text
        return text

    def absorb_message(self, message: Mapping[str, Any]) -> None:
        self.message = message_text(message)
        self.context_id = str(message.get("contextId") or self.context_id)
        self.task_id = str(message.get("taskId") or self.task_id)
        self.state, self.final = "completed", True

    def _status(self, status: Any) -> None:
        if not isinstance(status, dict):
            return
        self.state = normalise_state(status.get("state"))
        text = message_text(status.get("message"))
        if text or self.state != "completed":
            self.status_text = text

    @property
    def done(self) -> bool:
        return self.final or self.state in TERMINAL or self.state in INTERRUPTED


def _is_agent(message: Any) -> bool:
    return isinstance(message, dict) and str(message.get("role", "")).lower() in ("role_agent", "agent")


def classify(result: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The kind of a SendMessage/stream result: ('task'|'message'|'status'|'artifact', payload), 1.0 or 0.3."""
    for key, kind in (
        ("task", "task"),
        ("message", "message"),
        ("statusUpdate", "status"),
        ("artifactUpdate", "artifact"),
    ):
        value = result.get(key)
        if isinstance(value, dict):
            return kind, value
    legacy = {"task": "task", "message": "message", "status-update": "status", "artifact-update": "artifact"}
    if isinstance(result.get("kind"), str) and result["kind"] in legacy:
        return legacy[result["kind"]], result
    if "status" in result and "id" in result:
        return "task", result
    if "parts" in result and "role" in result:
        return "message", result
    return "", result


class A2AProtocol:
    name = "a2a"

    def url(self, call: AgentCall) -> str:
        return endpoint(call)

    async def call(self, client: httpx.AsyncClient, call: AgentCall, emit: Emit) -> StepResult:
        url = call.url or endpoint(call)
        card = call.request.agent.get("agent_card") or {}
        streaming = call.config.stream and card_streams(card)
        body = request_body(call, streaming)
        view = TaskView()
        if streaming:

            async def consume_stream(response: httpx.Response) -> None:
                await self._read_stream(call, response, view, emit)

            await post(
                call,
                client,
                url,
                body,
                accept="text/event-stream, application/json",
                consume=consume_stream,
                headers=HEADERS,
            )
        else:

            async def consume(response: httpx.Response) -> None:
                apply_result(call, view, rpc_result(call, parse_json(call, await read_limited(call, response))))

            await post(call, client, url, body, accept="application/json", consume=consume, headers=HEADERS)
        if not view.done and view.state in UNFINISHED | {"unknown"} and view.task_id:
            await self._poll(client, call, url, view)
        return finish(call, view, streamed=streaming)

    async def _read_stream(self, call: AgentCall, response: httpx.Response, view: TaskView, emit: Emit) -> None:
        if not is_event_stream(response):  # e.g. a JSON-RPC error, or an agent that answered without streaming
            apply_result(call, view, rpc_result(call, parse_json(call, await read_limited(call, response))))
            return
        async for event in iter_sse(call, response):
            if not event.data.strip():
                continue
            result = rpc_result(call, parse_json(call, event.data, "a stream event"))
            kind, payload = classify(result)
            if kind == "artifact":
                delta = view.absorb_artifact_update(payload)
                if delta:
                    await emit(delta)
            elif kind == "message":
                view.absorb_message(payload)
                if view.message:
                    await emit(view.message)
            elif kind in ("task", "status"):
                apply_result(call, view, result)
            else:
                raise malformed(call, f"unexpected stream event with keys {sorted(result)[:5]}")
            if view.done:
                return

    async def _poll(self, client: httpx.AsyncClient, call: AgentCall, url: str, view: TaskView) -> None:
        """GetTask until the task ends (the dispatcher's time budget bounds this loop)."""
        delay = POLL_START_SECONDS
        while not view.done:
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_SECONDS)
            body = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": "GetTask", "params": {"id": view.task_id}}

            async def consume(response: httpx.Response) -> None:
                result = rpc_result(call, parse_json(call, await read_limited(call, response)))
                apply_result(call, view, {"task": result} if "task" not in result else result)

            await post(call, client, url, body, accept="application/json", consume=consume, headers=HEADERS)


def endpoint(call: AgentCall) -> str:
    """config.endpoint, else the card's first JSON-RPC interface (1.0 `supportedInterfaces`), else its `url`."""
    if call.config.endpoint:
        return call.config.endpoint
    card = call.request.agent.get("agent_card") or {}
    interfaces = card.get("supportedInterfaces") or card.get("supported_interfaces") or []
    for interface in interfaces if isinstance(interfaces, list) else []:
        if not isinstance(interface, dict) or not isinstance(interface.get("url"), str):
            continue
        binding = str(interface.get("protocolBinding") or interface.get("protocol_binding") or "JSONRPC")
        if binding.upper().replace("-", "") == "JSONRPC":
            return str(interface["url"])
    if isinstance(card.get("url"), str) and card["url"]:
        return str(card["url"])
    raise call.fail(
        "no endpoint: set config.endpoint or give the agent card a JSONRPC supportedInterfaces entry (or url)",
        retryable=False,
    )


def card_streams(card: Mapping[str, Any]) -> bool:
    capabilities = card.get("capabilities")
    return isinstance(capabilities, dict) and capabilities.get("streaming") is True


def request_body(call: AgentCall, streaming: bool) -> dict[str, Any]:
    request = call.request
    key = request.idempotency_key
    metadata: dict[str, Any] = {"idempotencyKey": key, "run": request.run, "step": request.step_id}
    if request.inputs:
        metadata["inputs"] = dict(request.inputs)
    message: dict[str, Any] = {
        "messageId": key,
        "role": "ROLE_USER",
        "parts": [{"text": request.reply or request.prompt, "mediaType": "text/plain"}],
        "metadata": metadata,
    }
    if request.reply:  # the answer to the agent's input-required question continues its task
        for field, name in (("taskId", "task_id"), ("contextId", "context_id")):
            if request.agent_context.get(name):
                message[field] = request.agent_context[name]
    elif request.revision is not None:  # a reviewer's feedback: a follow-up in the same context (issue 14)
        revision_followup(message, request.revision, request.previous_context)
    params: dict[str, Any] = {
        "message": message,
        "metadata": {
            "idempotencyKey": key,
            **({"parameters": call.config.parameters} if call.config.parameters else {}),
        },
    }
    return {
        "jsonrpc": "2.0",
        "id": str(uuid.uuid4()),
        "method": "SendStreamingMessage" if streaming else "SendMessage",
        "params": params,
    }


def revision_followup(message: dict[str, Any], revision: Mapping[str, Any], previous: Mapping[str, Any]) -> None:
    """Make `message` (the revised prompt, which carries the feedback) a follow-up of the agent's previous answer:
    the same `contextId`, referencing the previous task (a completed task cannot take new messages, so the
    follow-up references it rather than reusing its id), with the revision in the message metadata."""
    if previous.get("context_id"):
        message["contextId"] = previous["context_id"]
    if previous.get("task_id"):
        message["referenceTaskIds"] = [previous["task_id"]]
    message["metadata"]["revision"] = {
        "number": revision.get("number", 1),
        "comment": revision.get("comment", ""),
        "payload": revision.get("payload") or {},
    }


def rpc_result(call: AgentCall, document: Any) -> dict[str, Any]:
    """The `result` of a JSON-RPC response; a JSON-RPC error becomes a StepFailed."""
    if not isinstance(document, dict):
        raise malformed(call, "the JSON-RPC response is not an object")
    error = document.get("error")
    if error is not None:
        raise rpc_error(call, error)
    result = document.get("result")
    if not isinstance(result, dict):
        raise malformed(call, "the JSON-RPC response has no result object")
    return result


def rpc_error(call: AgentCall, error: Any) -> StepFailed:
    if not isinstance(error, dict):
        return malformed(call, "the JSON-RPC error is not an object")
    code, message = error.get("code"), str(error.get("message") or "")[:300]
    hint = " (does the agent speak A2A 1.0?)" if code == -32601 else ""
    return call.fail(
        f"the agent answered JSON-RPC error {code}: {message}{hint}", retryable=code in RETRYABLE_RPC_CODES
    )


def apply_result(call: AgentCall, view: TaskView, result: Mapping[str, Any]) -> None:
    kind, payload = classify(result)
    if kind == "task":
        view.absorb_task(payload)
    elif kind == "message":
        view.absorb_message(payload)
    elif kind == "status":
        view.absorb_status_update(payload)
    elif kind == "artifact":
        view.absorb_artifact_update(payload)
    else:
        raise malformed(call, f"the result is neither a task nor a message (keys {sorted(result)[:5]})")
    if kind in ("task", "status") and view.state == "unknown":
        raise malformed(call, "the task has no known status.state")


def finish(call: AgentCall, view: TaskView, *, streamed: bool) -> StepResult:
    metadata: dict[str, Any] = {"protocol": "a2a", "state": view.state, "streamed": streamed}
    if view.task_id:
        metadata["task_id"] = view.task_id
    if view.context_id:
        metadata["context_id"] = view.context_id
    state, detail = view.state, f": {view.status_text}" if view.status_text else ""
    if state == "completed":
        return StepResult(output=view.output(), metadata=metadata)
    if state == "input-required":
        question = view.status_text or "(the agent did not say what it needs)"
        context = {
            "agent": call.request.agent_slug,
            "agent_name": call.request.agent.get("name", ""),
            "protocol": "a2a",
            "step": call.request.step_id,
            "task_id": view.task_id,
            "context_id": view.context_id,
        }
        raise InputRequired(
            question, context, message=call.fail(f"the agent needs input: {question}", retryable=False).message
        )
    if state == "auth-required":
        raise call.fail(
            f"the agent requires authentication (auth-required){detail}; give the step a credential the agent accepts",
            retryable=False,
        )
    if state == "failed":
        raise call.fail(f"the agent reported the task failed{detail}", retryable=True)
    if state == "rejected":
        raise call.fail(f"the agent rejected the task{detail}", retryable=False)
    if state == "canceled":
        raise call.fail(f"the agent canceled the task{detail}", retryable=False)
    ended = "the stream ended" if streamed else "the agent answered"
    raise call.fail(f"{ended} with the task in state {state!r}, before it finished", retryable=True)
