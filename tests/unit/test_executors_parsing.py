"""Parsing of agent answers without a network: SSE framing, A2A task/message shapes, OpenAI completions and chunks,
the agent config, credential headers, redaction and Retry-After."""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from typing import Any

import httpx
import pytest

from services.runs.app.executor import InputRequired, StepFailed, StepRequest
from services.runs.clients.credentials import ResolvedCredential, Secret
from services.runs.executors import a2a, openai
from services.runs.executors.config import parse_config
from services.runs.executors.secrets import Redactor, credential_value
from services.runs.executors.sse import SSEDecoder, SSEEvent
from services.runs.executors.transport import AgentCall, retry_after


def request(agent: dict[str, Any] | None = None, **fields: Any) -> StepRequest:
    values: dict[str, Any] = {
        "run": "organizations/acme/runs/r1",
        "organization_slug": "acme",
        "step_id": "plan",
        "attempt": 1,
        "idempotency_key": "r1/plan/1",
        "agent_slug": "helper",
        "agent": agent or {"name": "organizations/acme/agents/helper", "config": {"protocol": "a2a"}},
        "prompt": "Plan the work",
    }
    values.update(fields)
    return StepRequest(**values)


def call(config: dict[str, Any] | None = None, **fields: Any) -> AgentCall:
    raw = config or {"protocol": "a2a", "endpoint": "http://127.0.0.1:9"}
    req = request({"name": "n", "config": raw, "agent_card": fields.pop("card", {})}, **fields)
    return AgentCall(request=req, config=parse_config("agent 'helper'", raw), headers={})


# --- SSE ------------------------------------------------------------------------------------------------------------


def decode(*chunks: str) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.close()


def test_sse_events_are_split_on_blank_lines_whatever_the_line_ends() -> None:
    assert decode("data: a\n\ndata: b\r\n\r\ndata: c\r\rdata: d\n\n") == [
        SSEEvent("a"),
        SSEEvent("b"),
        SSEEvent("c"),
        SSEEvent("d"),
    ]


def test_sse_handles_chunks_split_anywhere_including_inside_crlf() -> None:
    text = 'data: {"x": 1}\r\n\r\ndata: second\r\n\r\n'
    whole = decode(text)
    for cut in range(1, len(text)):
        assert decode(text[:cut], text[cut:]) == whole, cut
    assert whole == [SSEEvent('{"x": 1}'), SSEEvent("second")]


def test_sse_fields_comments_and_multiline_data() -> None:
    events = decode(": keep-alive\n\nevent: update\nid: 7\ndata: one\ndata:two\nretry: 10\nbogus\n\n")
    assert events == [SSEEvent("one\ntwo", event="update", id="7")]


def test_sse_last_event_without_blank_line_is_still_delivered() -> None:
    assert decode("data: a\n\ndata: [DONE]") == [SSEEvent("a"), SSEEvent("[DONE]")]
    assert decode("event: x\n\n") == []


# --- A2A ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("TASK_STATE_COMPLETED", "completed"),
        ("TASK_STATE_INPUT_REQUIRED", "input-required"),
        ("TASK_STATE_AUTH_REQUIRED", "auth-required"),
        ("input-required", "input-required"),
        ("cancelled", "canceled"),
        ("TASK_STATE_UNSPECIFIED", "unknown"),
        (None, "unknown"),
        (3, "unknown"),
    ],
)
def test_task_states_of_1_0_and_0_3_are_normalised(raw: Any, state: str) -> None:
    assert a2a.normalise_state(raw) == state


def completed_task(*texts: str) -> dict[str, Any]:
    return {
        "id": "t1",
        "contextId": "c1",
        "status": {"state": "TASK_STATE_COMPLETED"},
        "artifacts": [{"artifactId": f"a{i}", "parts": [{"text": t}]} for i, t in enumerate(texts)],
    }


def view_of(result: dict[str, Any]) -> a2a.TaskView:
    view = a2a.TaskView()
    a2a.apply_result(call(), view, result)
    return view


def test_a_completed_task_gives_the_text_of_its_artifacts() -> None:
    view = view_of({"task": completed_task("first", "second")})
    assert (view.state, view.task_id, view.context_id, view.output()) == ("completed", "t1", "c1", "first\nsecond")


def test_a_direct_message_is_a_completed_answer() -> None:
    message = {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": "hi"}, {"data": {"k": 1}}]}
    view = view_of({"message": message})
    assert (view.state, view.output(), view.done) == ("completed", 'hi\n{"k": 1}', True)


def test_0_3_shapes_with_kind_fields_are_understood() -> None:
    task = {
        "kind": "task",
        "id": "t",
        "contextId": "c",
        "status": {"state": "completed"},
        "artifacts": [{"artifactId": "a", "parts": [{"kind": "text", "text": "old style"}]}],
    }
    assert view_of(task).output() == "old style"
    assert view_of({"kind": "message", "role": "agent", "parts": [{"kind": "text", "text": "m"}]}).output() == "m"


def test_without_artifacts_the_status_message_or_the_last_agent_turn_is_the_output() -> None:
    status_message = {"role": "ROLE_AGENT", "parts": [{"text": "done: 42"}]}
    task = {"id": "t", "status": {"state": "TASK_STATE_COMPLETED", "message": status_message}}
    assert view_of({"task": task}).output() == "done: 42"
    history = [
        {"role": "ROLE_USER", "parts": [{"text": "question"}]},
        {"role": "ROLE_AGENT", "parts": [{"text": "answer"}]},
    ]
    assert view_of({"task": {"id": "t", "status": {"state": "TASK_STATE_COMPLETED"}, "history": history}}).output() == (
        "answer"
    )


def test_streamed_artifact_chunks_append_and_report_their_delta() -> None:
    view = a2a.TaskView()
    chunks = [("Hel", False), ("lo ", True), ("world", True)]
    deltas = [
        view.absorb_artifact_update(
            {"taskId": "t", "artifact": {"artifactId": "a", "parts": [{"text": text}]}, "append": append}
        )
        for text, append in chunks
    ]
    assert deltas == ["Hel", "lo ", "world"]
    view.absorb_status_update({"taskId": "t", "status": {"state": "TASK_STATE_COMPLETED"}})
    assert (view.done, view.output()) == (True, "Hello world")


def test_a_task_without_a_known_state_or_a_result_of_unknown_shape_is_malformed() -> None:
    with pytest.raises(StepFailed, match="agent 'helper' \\(step 'plan'\\): malformed response: the task has no known"):
        view_of({"task": {"id": "t", "status": {"state": "TASK_STATE_UNSPECIFIED"}}})
    with pytest.raises(StepFailed, match="neither a task nor a message") as caught:
        view_of({"surprise": 1})
    assert not caught.value.retryable


def test_json_rpc_errors_fail_the_step() -> None:
    expected = re.escape("JSON-RPC error -32601: nope (does the agent speak A2A 1.0?)")
    with pytest.raises(StepFailed, match=expected) as caught:
        a2a.rpc_result(call(), {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "nope"}})
    assert not caught.value.retryable
    with pytest.raises(StepFailed) as internal:
        a2a.rpc_result(call(), {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "oops"}})
    assert internal.value.retryable
    documents: list[Any] = [[], {"jsonrpc": "2.0", "id": 1}, {"result": "text"}]
    for document in documents:
        with pytest.raises(StepFailed, match="malformed response"):
            a2a.rpc_result(call(), document)


def finish(state: str, text: str = "") -> Any:
    view = a2a.TaskView(state=state, task_id="t1", context_id="c1", status_text=text)
    return a2a.finish(call(), view, streamed=False)


def test_input_required_raises_input_required_with_the_question_and_where_to_answer() -> None:
    with pytest.raises(InputRequired) as caught:
        finish("input-required", "Which year?")
    error = caught.value
    assert error.question == "Which year?"
    assert error.context["task_id"] == "t1"
    assert error.context["context_id"] == "c1"
    assert error.context["agent"] == "helper"
    assert error.message == "agent 'helper' (step 'plan'): the agent needs input: Which year?"
    assert isinstance(error, StepFailed)
    assert not error.retryable


@pytest.mark.parametrize(
    ("state", "message", "retryable"),
    [
        ("auth-required", "requires authentication (auth-required): sign in", False),
        ("failed", "reported the task failed: sign in", True),
        ("rejected", "rejected the task: sign in", False),
        ("canceled", "canceled the task: sign in", False),
        ("working", "with the task in state 'working', before it finished", True),
    ],
)
def test_other_final_states_fail_the_step(state: str, message: str, retryable: bool) -> None:
    with pytest.raises(StepFailed) as caught:
        finish(state, "sign in")
    assert caught.value.message.startswith("agent 'helper' (step 'plan'): ")
    assert message in caught.value.message
    assert caught.value.retryable is retryable


def test_the_endpoint_comes_from_the_config_then_the_card() -> None:
    assert a2a.endpoint(call()) == "http://127.0.0.1:9"
    interfaces = [
        {"url": "http://grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
        {"url": "http://jsonrpc", "protocolBinding": "JSONRPC", "protocolVersion": "1.0"},
    ]
    assert a2a.endpoint(call({"protocol": "a2a"}, card={"supportedInterfaces": interfaces})) == "http://jsonrpc"
    assert a2a.endpoint(call({"protocol": "a2a"}, card={"url": "http://legacy"})) == "http://legacy"
    with pytest.raises(StepFailed, match="no endpoint") as caught:
        a2a.endpoint(call({"protocol": "a2a"}))
    assert not caught.value.retryable


def test_the_request_is_an_a2a_1_0_send_message_carrying_the_idempotency_key() -> None:
    body = a2a.request_body(call({"protocol": "a2a", "parameters": {"depth": 2}}, inputs={"topic": "x"}), False)
    assert (body["jsonrpc"], body["method"]) == ("2.0", "SendMessage")
    message = body["params"]["message"]
    assert message["role"] == "ROLE_USER"
    assert message["parts"] == [{"text": "Plan the work", "mediaType": "text/plain"}]
    assert message["messageId"] == message["metadata"]["idempotencyKey"] == "r1/plan/1"
    assert message["metadata"]["inputs"] == {"topic": "x"}
    assert body["params"]["metadata"] == {"idempotencyKey": "r1/plan/1", "parameters": {"depth": 2}}
    assert a2a.request_body(call(), True)["method"] == "SendStreamingMessage"
    assert a2a.card_streams({"capabilities": {"streaming": True}})
    assert not a2a.card_streams({"capabilities": {}})


# --- OpenAI ---------------------------------------------------------------------------------------------------------

OPENAI = {"protocol": "openai", "endpoint": "http://127.0.0.1:9/v1", "model": "gpt-test"}


def test_the_chat_request_has_model_messages_and_parameters() -> None:
    config = {**OPENAI, "system_prompt": "Be brief.", "parameters": {"temperature": 0.2, "max_tokens": 64}}
    body = openai.request_body(call(config), streaming=True)
    assert body["model"] == "gpt-test"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Plan the work"},
    ]
    assert (body["temperature"], body["max_tokens"], body["stream"]) == (0.2, 64, True)
    assert body["stream_options"] == {"include_usage": True}
    assert "stream_options" not in openai.request_body(call(OPENAI), streaming=False)
    assert openai.chat_url("http://h/v1/") == "http://h/v1/chat/completions"
    assert openai.chat_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"


def test_a_completion_gives_content_finish_reason_and_usage() -> None:
    document = {
        "id": "chatcmpl-1",
        "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    completion = openai.parse_completion(call(OPENAI), document)
    assert completion.text == ["Hi"]
    assert completion.metadata(False) == {
        "protocol": "openai",
        "streamed": False,
        "model": "gpt-test",
        "finish_reason": "stop",
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        "response_id": "chatcmpl-1",
    }


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "malformed response: the completion is not a JSON object"),
        ({"choices": []}, "malformed response: the completion has no choices"),
        ({"choices": [{"index": 0}]}, "malformed response: choices[0] has no message"),
        ({"choices": [{"message": {"content": 5}}]}, "malformed response: choices[0].message.content is not text"),
        ({"choices": [{"message": {"content": None, "refusal": "no"}}]}, "the model refused: no"),
        ({"error": {"message": "bad model"}}, "the model answered with an error: bad model"),
    ],
)
def test_bad_completions_fail_naming_agent_and_step(document: Any, message: str) -> None:
    with pytest.raises(StepFailed) as caught:
        openai.parse_completion(call(OPENAI), document)
    assert caught.value.message == f"agent 'helper' (step 'plan'): {message}"
    assert not caught.value.retryable


def test_stream_chunks_fold_into_text_finish_reason_and_usage() -> None:
    completion = openai.Completion()
    chunks: list[dict[str, Any]] = [
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"content": "lo"}}], "usage": None},
        {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            "id": "c",
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
        },
    ]
    deltas = [openai.apply_chunk(call(OPENAI), completion, chunk) for chunk in chunks]
    assert deltas == ["", "Hel", "lo", "", ""]
    assert ("".join(completion.text), completion.finish_reason) == ("Hello", "stop")
    assert completion.usage == {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3}
    with pytest.raises(StepFailed, match=re.escape("a stream chunk's delta.content is not text")):
        openai.apply_chunk(call(OPENAI), completion, {"choices": [{"delta": {"content": ["x"]}}]})


# --- config, credentials, redaction ---------------------------------------------------------------------------------


def test_a_valid_config_gets_defaults() -> None:
    config = parse_config("agent 'a'", {"protocol": "openai", "endpoint": "https://api.example/v1", "model": "m"})
    assert (config.stream, config.timeout_seconds, config.max_response_bytes, config.max_attempts) == (
        True,
        60.0,
        1024 * 1024,
        3,
    )
    assert (config.credential_header, config.credential_scheme) == ("Authorization", None)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"protocol": "a2a", "endpont": "http://x"}, "config.endpont: Extra inputs are not permitted"),
        ({"protocol": "a2a", "endpoint": "ftp://x"}, "config.endpoint: Value error, must be an absolute http"),
        ({"protocol": "openai", "endpoint": "http://x"}, "the openai protocol needs `model`"),
        ({"protocol": "openai", "model": "m"}, "the openai protocol needs `endpoint`"),
        ({**OPENAI, "parameters": {"messages": []}}, "`parameters` cannot set messages"),
        ({"protocol": "a2a", "credential_header": "Bad Header"}, "'Bad Header' is not a valid HTTP header name"),
        ({"protocol": "a2a", "credential_headers": {"k": "Content-Type"}}, "is set by the executor"),
        ({"protocol": "a2a", "headers": {"Authorization": "x"}}, "`headers` cannot set authorization"),
        ({"protocol": "a2a", "timeout_seconds": 0}, "config.timeout_seconds: Input should be greater than 0"),
        ({"protocol": "a2a", "credential_scheme": "Bearer token"}, "config.credential_scheme: Value error"),
    ],
)
def test_an_invalid_config_is_a_non_retryable_failure_naming_the_fields(raw: dict[str, Any], problem: str) -> None:
    with pytest.raises(StepFailed) as caught:
        parse_config("agent 'helper' (step 'plan')", raw)
    assert caught.value.message.startswith("agent 'helper' (step 'plan'): invalid agent config: ")
    assert problem in caught.value.message
    assert not caught.value.retryable


def test_config_errors_do_not_echo_values() -> None:
    with pytest.raises(StepFailed) as caught:
        parse_config("agent 'a'", {"protocol": "a2a", "timeout_seconds": "sk-not-a-number"})
    assert "sk-not-a-number" not in caught.value.message


def resolved(value: str, kind: str = "api_key") -> ResolvedCredential:
    return ResolvedCredential(alias="key", version=1, type=kind, secret=Secret(value))


def test_credential_header_values() -> None:
    assert credential_value("Authorization", None, resolved("sk-1")) == "Bearer sk-1"
    assert credential_value("Authorization", None, resolved("u:p", "basic_auth")) == "Basic dTpw"
    assert credential_value("X-Api-Key", None, resolved("sk-1")) == "sk-1"
    assert credential_value("Authorization", "", resolved("sk-1")) == "sk-1"
    assert credential_value("Authorization", "Token", resolved("sk-1")) == "Token sk-1"
    assert credential_value("Authorization", "Basic", resolved("u:p")) == "Basic dTpw"


def test_secrets_never_print_themselves() -> None:
    secret = Secret("sk-very-secret")
    credential = resolved("sk-very-secret")
    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr(credential), str(credential)):
        assert "sk-very-secret" not in text
    assert secret.reveal() == "sk-very-secret"
    with pytest.raises(TypeError):
        secret.__reduce__()


def test_the_redactor_scrubs_nested_values() -> None:
    redactor = Redactor(["sk-1", "", "c2stMQ=="])
    value = {"text": "key sk-1 and c2stMQ==", "list": ["sk-1", 3], "sk-1": ("x", "sk-1")}
    assert redactor.scrub(value) == {
        "text": "key [redacted] and [redacted]",
        "list": ["[redacted]", 3],
        "[redacted]": ("x", "[redacted]"),
    }
    assert Redactor().scrub(value) is value


def test_retry_after_in_seconds_or_as_a_date() -> None:
    def of(value: str) -> float | None:
        return retry_after(httpx.Response(429, headers={"Retry-After": value}))

    assert of("3") == 3.0
    assert of("-1") == 0.0
    assert of("soon") is None
    assert retry_after(httpx.Response(429)) is None
    later = email.utils.format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30), usegmt=True)
    assert 25 < (of(later) or 0) <= 30
