"""A deterministic A2A 1.0 agent (JSON-RPC binding): the card at `/.well-known/agent-card.json`, JSON-RPC at `/`.

`SendMessage` answers with a completed Task whose artifact says `"<name> received: <prompt>"` (or the scripted
answer for that prompt); `SendStreamingMessage` sends the same as SSE: the task, `working`, the answer in a few
artifact chunks, then the final status. `GetTask` returns a stored task.

Markers in the prompt switch behaviour:
  [input-required] or [input-required:<question>]   the task stops in TASK_STATE_INPUT_REQUIRED asking a question
  [auth-required]                                   TASK_STATE_AUTH_REQUIRED
  [fail] / [reject]                                 TASK_STATE_FAILED / TASK_STATE_REJECTED
  [slow:<seconds>]                                  wait that long first
  [fail-once:<label>]                               HTTP 503 (Retry-After: 0) the first time per idempotency key
  [500]                                             HTTP 500, always
  [malformed]                                       a body (or stream event) that is not JSON
  [rpc-error]                                       a JSON-RPC error (-32602) instead of a result
  [message]                                         answer with a direct Message instead of a Task
  [working]                                         answer with a TASK_STATE_WORKING task; GetTask completes it
  [cut]                                             the stream stops after the first chunk, unfinished
  [big:<bytes>]                                     the answer is that many `x`

With `api_key`, requests must carry `Authorization: Bearer <api_key>` (else HTTP 401).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from reference_agents import Markers, Once, pause, pieces

log = logging.getLogger("reference_agents.a2a")

DEFAULT_QUESTION = "Which period should the report cover?"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rpc(rpc_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rpc_id, "result": result}


def _rpc_error(rpc_id: Any, code: int, message: str) -> JSONResponse:
    return JSONResponse({"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}})


def _agent_message(text: str, context_id: str, task_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "messageId": str(uuid.uuid4()),
        "contextId": context_id,
        "role": "ROLE_AGENT",
        "parts": [{"text": text}],
    }
    if task_id:
        message["taskId"] = task_id
    return message


def create_app(
    name: str = "reference-a2a",
    *,
    streaming: bool = True,
    answers: Mapping[str, str] | None = None,
    api_key: str | None = None,
    chunk_delay: float = 0.01,
) -> Starlette:
    scripted = dict(answers or {})
    once = Once()
    tasks: dict[str, dict[str, Any]] = {}
    requests: list[dict[str, Any]] = []  # what each call carried (never its credential), for tests

    async def card(request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        document: dict[str, Any] = {
            "name": name,
            "description": "A deterministic A2A reference agent for development and tests.",
            "version": "1.0.0",
            "supportedInterfaces": [{"url": base, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}],
            "capabilities": {"streaming": streaming},
            "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [{"id": "echo", "name": "Echo", "description": "Says what it received.", "tags": ["test"]}],
        }
        if api_key:
            document["securitySchemes"] = {"bearer": {"httpAuthSecurityScheme": {"scheme": "Bearer"}}}
            document["securityRequirements"] = [{"schemes": {"bearer": {"list": []}}}]
        return JSONResponse(document)

    async def rpc(request: Request) -> Response:
        authorized = _authorized(request, api_key)
        if not authorized:
            log.info("a2a request refused: missing or wrong credential")
            return JSONResponse({"error": {"message": "a valid bearer token is required"}}, status_code=401)
        try:
            document = json.loads(await request.body())
        except ValueError:
            return _rpc_error(None, -32700, "parse error")
        if not isinstance(document, dict) or document.get("jsonrpc") != "2.0":
            return _rpc_error(None, -32600, "invalid request")
        rpc_id, method, params = document.get("id"), document.get("method"), document.get("params")
        if not isinstance(params, dict):
            return _rpc_error(rpc_id, -32602, "params must be an object")
        if method == "GetTask":
            task = tasks.get(str(params.get("id")))
            if task is None:
                return _rpc_error(rpc_id, -32001, "task not found")
            if task["status"]["state"] == "TASK_STATE_WORKING":
                _complete(task, task.pop("pending_answer", ""))
            return JSONResponse(_rpc(rpc_id, _public(task)))
        if method not in ("SendMessage", "SendStreamingMessage"):
            return _rpc_error(rpc_id, -32601, f"method not found: {method}")
        message = params.get("message")
        if (
            not isinstance(message, dict)
            or message.get("role") != "ROLE_USER"
            or not isinstance(message.get("parts"), list)
            or not message.get("messageId")
        ):
            return _rpc_error(rpc_id, -32602, "params.message needs messageId, role ROLE_USER and parts")
        text = "\n".join(p["text"] for p in message["parts"] if isinstance(p, dict) and isinstance(p.get("text"), str))
        key = request.headers.get("idempotency-key") or str((message.get("metadata") or {}).get("idempotencyKey", ""))
        log.info("a2a request method=%s idempotency_key=%s", method, key)
        requests.append(
            {
                "method": method,
                "idempotency_key": key,
                "a2a_version": request.headers.get("a2a-version"),
                "host": request.headers.get("host"),
                "text": text,
                "message": message,
                "metadata": params.get("metadata"),
                "authorized": authorized,
            }
        )
        markers = Markers.of(text)
        if markers.seconds("slow") and not await pause(request, markers.seconds("slow")):
            log.info("the caller went away; idempotency_key=%s", key)
            return Response(status_code=499)
        label = markers.get("fail-once")
        if label is not None and once.first(label, key):
            return JSONResponse(
                {"error": {"message": "busy, try again"}}, status_code=503, headers={"Retry-After": "0"}
            )
        if "500" in markers:
            return JSONResponse({"error": {"message": "internal error"}}, status_code=500)
        if "rpc-error" in markers:
            return _rpc_error(rpc_id, -32602, "the reference agent refuses these params")
        answer = _answer(name, text, markers, scripted)
        context_id = str(message.get("contextId") or uuid.uuid4())
        task = _task(message, context_id, markers, answer)
        tasks[task["id"]] = task
        if method == "SendStreamingMessage":
            events = _stream(rpc_id, task, markers, answer, chunk_delay)
            return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        if "malformed" in markers:
            return Response("{not json", media_type="application/json")
        if "message" in markers:
            return JSONResponse(_rpc(rpc_id, {"message": _agent_message(answer, context_id)}))
        return JSONResponse(_rpc(rpc_id, {"task": _public(task)}))

    app = Starlette(
        routes=[
            Route("/.well-known/agent-card.json", card, methods=["GET"]),
            Route("/", rpc, methods=["POST"]),
        ]
    )
    app.state.requests = requests
    app.state.tasks = tasks
    return app


def _authorized(request: Request, api_key: str | None) -> bool:
    if not api_key:
        return True
    given = request.headers.get("authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode())


def _answer(name: str, text: str, markers: Markers, scripted: Mapping[str, str]) -> str:
    if markers.size("big"):
        return "x" * markers.size("big")
    return scripted.get(text, f"{name} received: {text}")


def _task(message: Mapping[str, Any], context_id: str, markers: Markers, answer: str) -> dict[str, Any]:
    task_id = str(uuid.uuid4())
    task: dict[str, Any] = {"id": task_id, "contextId": context_id, "history": [dict(message)]}
    if "input-required" in markers:
        question = markers.get("input-required") or DEFAULT_QUESTION
        task["status"] = _status("TASK_STATE_INPUT_REQUIRED", _agent_message(question, context_id, task_id))
    elif "auth-required" in markers:
        text = "Sign in to the reference service first."
        task["status"] = _status("TASK_STATE_AUTH_REQUIRED", _agent_message(text, context_id, task_id))
    elif "fail" in markers:
        text = "the reference agent failed as asked"
        task["status"] = _status("TASK_STATE_FAILED", _agent_message(text, context_id, task_id))
    elif "reject" in markers:
        text = "the reference agent rejects this task"
        task["status"] = _status("TASK_STATE_REJECTED", _agent_message(text, context_id, task_id))
    elif "working" in markers:
        task["status"] = _status("TASK_STATE_WORKING")
        task["pending_answer"] = answer
    else:
        _complete(task, answer)
    return task


def _complete(task: dict[str, Any], answer: str) -> None:
    task["status"] = _status("TASK_STATE_COMPLETED")
    task["artifacts"] = [{"artifactId": "answer", "name": "answer", "parts": [{"text": answer}]}]


def _status(state: str, message: dict[str, Any] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"state": state, "timestamp": _now()}
    if message is not None:
        status["message"] = message
    return status


def _public(task: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in task.items() if k != "pending_answer"}


async def _stream(rpc_id: Any, task: dict[str, Any], markers: Markers, answer: str, delay: float) -> AsyncIterator[str]:
    def event(result: Any) -> str:
        return f"data: {json.dumps(_rpc(rpc_id, result))}\n\n"

    ids = {"taskId": task["id"], "contextId": task["contextId"]}
    if "malformed" in markers:
        yield "data: {not json\n\n"
        return
    if "message" in markers:
        yield event({"message": _agent_message(answer, task["contextId"])})
        return
    yield event({"task": {"id": task["id"], "contextId": task["contextId"], "status": _status("TASK_STATE_SUBMITTED")}})
    yield event({"statusUpdate": {**ids, "status": _status("TASK_STATE_WORKING")}})
    if task["status"]["state"] != "TASK_STATE_COMPLETED":
        await asyncio.sleep(delay)
        yield event({"statusUpdate": {**ids, "status": task["status"]}})
        return
    chunks = pieces(answer)
    for index, chunk in enumerate(chunks):
        await asyncio.sleep(delay)
        artifact = {"artifactId": "answer", "name": "answer", "parts": [{"text": chunk}]}
        last = index == len(chunks) - 1
        yield event({"artifactUpdate": {**ids, "artifact": artifact, "append": index > 0, "lastChunk": last}})
        if "cut" in markers:
            return
    await asyncio.sleep(delay)
    yield event({"statusUpdate": {**ids, "status": _status("TASK_STATE_COMPLETED")}})
