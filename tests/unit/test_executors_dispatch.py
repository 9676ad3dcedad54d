"""The dispatching executor without a network: protocol choice, config errors, which credentials are resolved and
how they are presented, the time budget, redaction of secrets, and the retry policy of the shared HTTP layer
(through httpx.MockTransport)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from services.runs.app.executor import Emit, InputRequired, StepFailed, StepRequest, StepResult
from services.runs.clients.credentials import CredentialUnavailable, ResolvedCredential, Secret
from services.runs.executors.dispatch import AgentExecutor
from services.runs.executors.transport import AgentCall

SECRET = "sk-unit-7f3a9c1e5b2d4f60"


@dataclass
class FakeVault:
    values: dict[str, tuple[str, str]] = field(default_factory=dict)  # alias → (value, type)
    calls: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)

    async def resolve(
        self, organization_slug: str, alias: str, *, run: str, step: str, agent: str, destination: str
    ) -> ResolvedCredential:
        self.calls.append((organization_slug, alias, run, step, agent, destination))
        if alias not in self.values:
            raise CredentialUnavailable(
                alias, f"no such credential in organization {organization_slug!r}", retryable=False
            )
        value, kind = self.values[alias]
        return ResolvedCredential(alias=alias, version=1, type=kind, secret=Secret(value))


@dataclass
class FakeProtocol:
    """Stands in for a2a/openai: records the call, then runs `behaviour`."""

    behaviour: Callable[[AgentCall, Emit], Any] = lambda call, emit: StepResult(output="ok")
    name: str = "a2a"
    calls: list[AgentCall] = field(default_factory=list)
    endpoint: str = "https://Agent.Example.com/a2a"

    def url(self, call: AgentCall) -> str:
        return self.endpoint

    async def call(self, client: httpx.AsyncClient, call: AgentCall, emit: Emit) -> StepResult:
        self.calls.append(call)
        result = self.behaviour(call, emit)
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, StepResult)
        return result


def request(config: dict[str, Any] | None = None, **fields: Any) -> StepRequest:
    values: dict[str, Any] = {
        "run": "organizations/acme/runs/r1",
        "organization_slug": "acme",
        "step_id": "plan",
        "attempt": 1,
        "idempotency_key": "r1/plan/1",
        "agent_slug": "helper",
        "agent": {"name": "organizations/acme/agents/helper", "config": config or {"protocol": "a2a"}},
        "prompt": "Plan the work",
    }
    values.update(fields)
    return StepRequest(**values)


async def no_emit(delta: str) -> None:
    return None


async def run(executor: AgentExecutor, req: StepRequest, emit: Emit = no_emit) -> StepResult:
    try:
        return await executor.execute(req, emit)
    finally:
        await executor.aclose()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "agent 'helper' (step 'plan') has no config.protocol; config.protocol must be one of 'a2a', 'openai'"),
        (
            {"protocol": "grpc"},
            "agent 'helper' (step 'plan') has unknown protocol 'grpc'; config.protocol must be one of 'a2a', 'openai'",
        ),
    ],
)
async def test_an_unknown_protocol_fails_without_retry_naming_agent_and_protocol(
    config: dict[str, Any], message: str
) -> None:
    req = request()
    req.agent["config"] = config
    with pytest.raises(StepFailed) as caught:
        await run(AgentExecutor(), req)
    assert caught.value.message == message
    assert not caught.value.retryable


async def test_the_protocol_named_in_the_config_gets_the_call() -> None:
    a2a, other = FakeProtocol(name="a2a"), FakeProtocol(name="openai")
    result = await run(AgentExecutor(protocols=(a2a, other)), request())
    assert result.output == "ok"
    assert (len(a2a.calls), len(other.calls)) == (1, 0)
    assert a2a.calls[0].headers == {}


@pytest.mark.parametrize("where", ["output", "metadata"])
async def test_an_answer_nested_too_deep_to_store_fails_without_retry(where: str) -> None:
    deep: Any = "bottom"
    for _ in range(40):  # past MAX_JSON_DEPTH (32): stored, the run would become unreadable for clients
        deep = {"a": [deep]}
    answer = StepResult(output=deep) if where == "output" else StepResult(output="ok", metadata=deep)
    executor = AgentExecutor(protocols=(FakeProtocol(lambda call, emit: answer),))
    with pytest.raises(StepFailed) as caught:
        await run(executor, request())
    assert caught.value.message.startswith(f"agent 'helper' (step 'plan'): malformed response: the answer's {where}")
    assert "nested too deep" in caught.value.message
    assert not caught.value.retryable
    shallow = StepResult(output={"a": [{"b": 1}]})
    assert (await run(AgentExecutor(protocols=(FakeProtocol(lambda c, e: shallow),)), request())).output == {
        "a": [{"b": 1}]
    }


async def test_the_first_credential_goes_in_the_credential_header_others_only_when_mapped() -> None:
    vault = FakeVault(
        {
            "main": (SECRET, "api_key"),
            "basic": ("user:pw", "basic_auth"),
            "unused": ("never-fetched", "generic_secret"),
        }
    )
    protocol = FakeProtocol()
    config = {"protocol": "a2a", "credential_headers": {"basic": "X-Upstream-Auth"}}
    await run(
        AgentExecutor(vault, protocols=(protocol,)),
        request(config, credentials=("main", "unused", "basic")),
    )
    assert protocol.calls[0].headers == {"Authorization": f"Bearer {SECRET}", "X-Upstream-Auth": "Basic dXNlcjpwdw=="}
    assert [c[1] for c in vault.calls] == ["main", "basic"]
    # the vault is told which agent the value is for and where it will be sent (host:port of the call's URL)
    assert vault.calls[0] == (
        "acme",
        "main",
        "organizations/acme/runs/r1",
        "plan",
        "organizations/acme/agents/helper",
        "agent.example.com:443",
    )
    assert protocol.calls[0].url == "https://Agent.Example.com/a2a"
    assert SECRET not in repr(protocol.calls[0])


async def test_header_and_scheme_of_the_first_credential_are_configurable() -> None:
    vault, protocol = FakeVault({"main": (SECRET, "api_key")}), FakeProtocol()
    config = {"protocol": "a2a", "credential_header": "X-Api-Key"}
    await run(AgentExecutor(vault, protocols=(protocol,)), request(config, credentials=("main",)))
    assert protocol.calls[0].headers == {"X-Api-Key": SECRET}
    config = {"protocol": "a2a", "credential_scheme": "Token"}
    await run(AgentExecutor(vault, protocols=(protocol,)), request(config, credentials=("main",)))
    assert protocol.calls[1].headers == {"Authorization": f"Token {SECRET}"}


@pytest.mark.parametrize(
    ("vault", "config", "message", "retryable"),
    [
        (None, {"protocol": "a2a"}, "the step needs credentials but no credential vault is configured", False),
        (FakeVault(), {"protocol": "a2a"}, "credential 'main': no such credential in organization 'acme'", False),
        (
            FakeVault({"main": ("a", "api_key"), "b": ("b", "api_key")}),
            {"protocol": "a2a", "credential_headers": {"b": "authorization"}},
            "credentials 'main' and 'b' both map to header 'authorization'",
            False,
        ),
    ],
)
async def test_credential_problems_fail_the_step(
    vault: FakeVault | None, config: dict[str, Any], message: str, retryable: bool
) -> None:
    with pytest.raises(StepFailed) as caught:
        await run(AgentExecutor(vault, protocols=(FakeProtocol(),)), request(config, credentials=("main", "b")))
    assert caught.value.message == f"agent 'helper' (step 'plan'): {message}"
    assert caught.value.retryable is retryable


async def test_an_unavailable_vault_is_retryable() -> None:
    class DownVault(FakeVault):
        async def resolve(
            self, organization_slug: str, alias: str, *, run: str, step: str, agent: str, destination: str
        ) -> ResolvedCredential:
            raise CredentialUnavailable(alias, "the vault is unavailable (UNAVAILABLE); retry later", retryable=True)

    with pytest.raises(StepFailed) as caught:
        await run(AgentExecutor(DownVault(), protocols=(FakeProtocol(),)), request(credentials=("main",)))
    assert caught.value.retryable


async def test_a_secret_echoed_by_the_agent_is_scrubbed_from_output_metadata_deltas_and_errors() -> None:
    vault = FakeVault({"main": (SECRET, "api_key")})

    async def leaky(call: AgentCall, emit: Emit) -> StepResult:
        await emit(f"delta {SECRET}")
        return StepResult(output={"text": f"I got {SECRET}"}, metadata={"echo": [call.headers["Authorization"]]})

    deltas: list[str] = []

    async def emit(delta: str) -> None:
        deltas.append(delta)

    result = await run(AgentExecutor(vault, protocols=(FakeProtocol(leaky),)), request(credentials=("main",)), emit)
    assert result.output == {"text": "I got [redacted]"}
    assert result.metadata == {"echo": ["[redacted]"]}
    assert deltas == ["delta [redacted]"]

    def failing(call: AgentCall, emit: Emit) -> StepResult:
        raise StepFailed(f"agent said {SECRET}", retryable=False)

    with pytest.raises(StepFailed) as caught:
        await run(AgentExecutor(vault, protocols=(FakeProtocol(failing),)), request(credentials=("main",)))
    assert caught.value.message == "agent said [redacted]"

    def asking(call: AgentCall, emit: Emit) -> StepResult:
        raise InputRequired(f"is {SECRET} right?", {"hint": SECRET})

    with pytest.raises(InputRequired) as asked:
        await run(AgentExecutor(vault, protocols=(FakeProtocol(asking),)), request(credentials=("main",)))
    assert (asked.value.question, asked.value.context) == ("is [redacted] right?", {"hint": "[redacted]"})
    assert SECRET not in asked.value.message

    def buggy(call: AgentCall, emit: Emit) -> StepResult:
        raise KeyError(SECRET)

    with pytest.raises(StepFailed) as bug:
        await run(AgentExecutor(vault, protocols=(FakeProtocol(buggy),)), request(credentials=("main",)))
    assert bug.value.message == "agent 'helper' (step 'plan'): executor error (KeyError)"
    assert bug.value.retryable


@pytest.mark.parametrize(
    ("config_timeout", "step_timeout", "budget"), [(0.2, None, 0.2), (60, 0.2, 0.2), (0.2, 60, 0.2)]
)
async def test_the_call_is_bounded_by_the_config_and_the_step_timeout(
    config_timeout: float, step_timeout: float | None, budget: float
) -> None:
    async def slow(call: AgentCall, emit: Emit) -> StepResult:
        await asyncio.sleep(5)
        raise AssertionError("not cancelled")

    protocol = FakeProtocol(slow)
    started = time.monotonic()
    with pytest.raises(StepFailed) as caught:
        await run(
            AgentExecutor(protocols=(protocol,)),
            request({"protocol": "a2a", "timeout_seconds": config_timeout}, timeout_seconds=step_timeout),
        )
    assert time.monotonic() - started < 2
    assert caught.value.message == f"agent 'helper' (step 'plan'): no complete answer within {budget:g}s"
    assert caught.value.retryable
    assert protocol.calls[0].timeout == budget


# --- the shared HTTP layer ------------------------------------------------------------------------------------------

OPENAI = {"protocol": "openai", "endpoint": "http://agent.test/v1", "model": "m", "stream": False, "backoff_seconds": 0}


def completion(text: str) -> httpx.Response:
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
    return httpx.Response(200, json=body)


def mocked(*responses: httpx.Response | Exception) -> tuple[AgentExecutor, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return AgentExecutor(client=httpx.AsyncClient(transport=httpx.MockTransport(handler))), seen


async def test_429_and_5xx_are_retried_with_the_same_idempotency_key() -> None:
    executor, seen = mocked(
        httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(502, text="bad gateway"), completion("hi")
    )
    result = await run(executor, request(OPENAI))
    assert result.output == "hi"
    assert [r.headers["Idempotency-Key"] for r in seen] == ["r1/plan/1"] * 3
    assert json.loads(seen[0].content)["messages"] == [{"role": "user", "content": "Plan the work"}]


async def test_retry_after_is_honoured() -> None:
    executor, _ = mocked(httpx.Response(429, headers={"Retry-After": "0.3"}), completion("hi"))
    started = time.monotonic()
    await run(executor, request(OPENAI))
    assert time.monotonic() - started >= 0.3


async def test_a_retry_after_longer_than_max_backoff_is_not_waited_for() -> None:
    executor, seen = mocked(httpx.Response(429, headers={"Retry-After": "120"}), completion("hi"))
    started = time.monotonic()
    with pytest.raises(StepFailed) as caught:
        await run(executor, request(OPENAI))
    assert time.monotonic() - started < 1
    assert len(seen) == 1
    assert "rate limited (HTTP 429)" in caught.value.message
    assert "asked to retry after 120s, more than max_backoff_seconds" in caught.value.message
    assert caught.value.retryable


async def test_attempts_are_bounded_and_the_failure_stays_retryable() -> None:
    executor, seen = mocked(httpx.Response(503, json={"error": {"message": "overloaded"}}))
    with pytest.raises(StepFailed) as caught:
        await run(executor, request({**OPENAI, "max_attempts": 4}))
    assert len(seen) == 4
    assert caught.value.message == (
        "agent 'helper' (step 'plan'): agent error (HTTP 503): overloaded (gave up after 4 tries)"
    )
    assert caught.value.retryable


async def test_connection_errors_are_retried() -> None:
    executor, seen = mocked(httpx.ConnectError("connection refused"), completion("back"))
    assert (await run(executor, request(OPENAI))).output == "back"
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "the agent rejected the request (HTTP 400): bad things"),
        (401, "the agent refused the request (HTTP 401): bad things; check the step's credentials"),
        (404, "no such endpoint (HTTP 404 at http://agent.test/v1/chat/completions): bad things"),
    ],
)
async def test_other_statuses_are_not_retried(status: int, message: str) -> None:
    executor, seen = mocked(httpx.Response(status, json={"error": {"message": "bad things"}}))
    with pytest.raises(StepFailed) as caught:
        await run(executor, request(OPENAI))
    assert len(seen) == 1
    assert caught.value.message.startswith(f"agent 'helper' (step 'plan'): {message}")
    assert not caught.value.retryable


async def test_a_declared_or_actual_body_beyond_the_limit_is_refused() -> None:
    big = {**OPENAI, "max_response_bytes": 1024}
    for response in (
        completion("x" * 2000),
        httpx.Response(200, headers={"Content-Length": "999999"}, content=b"{}"),
    ):
        executor, _ = mocked(response)
        with pytest.raises(StepFailed, match="larger than max_response_bytes \\(1024 bytes\\)") as caught:
            await run(executor, request(big))
        assert not caught.value.retryable


async def test_an_error_body_echoing_the_credential_is_redacted() -> None:
    vault = FakeVault({"main": (SECRET, "api_key")})

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": f"bad header: {request.headers['authorization']}"}})

    executor = AgentExecutor(vault, client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    with pytest.raises(StepFailed) as caught:
        await run(executor, request(OPENAI, credentials=("main",)))
    assert SECRET not in caught.value.message
    assert "bad header: [redacted]" in caught.value.message


BANNER = "SSH-2.0-OpenSSH_9.6 internal-host-7"


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, text=BANNER),
        httpx.Response(403, html=f"<html><title>{BANNER}</title></html>"),
        httpx.Response(400, text=json.dumps({"error": {"message": BANNER}})),  # JSON, but not declared as JSON
        httpx.Response(404, json={"detail": BANNER}),  # JSON without an error message
    ],
)
async def test_an_error_body_is_quoted_only_as_a_json_error_message(response: httpx.Response) -> None:
    executor, _ = mocked(response)
    with pytest.raises(StepFailed) as caught:
        await run(executor, request({**OPENAI, "max_attempts": 1}))
    assert f"HTTP {response.status_code}" in caught.value.message
    assert "OpenSSH" not in caught.value.message


@pytest.mark.parametrize(
    ("error", "phrase"),
    [
        (httpx.RemoteProtocolError(f"illegal status line: bytearray(b'{BANNER}')"), "no valid HTTP answer from"),
        (httpx.ConnectError(f"[Errno 111] {BANNER}"), "cannot reach"),
        (httpx.ReadError(BANNER), "the connection to"),
    ],
)
async def test_transport_errors_are_fixed_phrases_that_never_quote_the_peer(
    error: httpx.TransportError, phrase: str
) -> None:
    executor, _ = mocked(error)
    with pytest.raises(StepFailed) as caught:
        await run(executor, request({**OPENAI, "max_attempts": 1}))
    assert caught.value.message.startswith(
        f"agent 'helper' (step 'plan'): {phrase} the agent at http://agent.test/v1/chat/completions"
    ), caught.value.message
    assert "OpenSSH" not in caught.value.message
    assert "Errno" not in caught.value.message


@pytest.mark.parametrize("endpoint", ["ftp://files.example.com/x", "agents.example.com/a2a", "http://"])
async def test_a_url_that_is_not_http_fails_before_any_credential_is_resolved(endpoint: str) -> None:
    vault, protocol = FakeVault({"main": (SECRET, "api_key")}), FakeProtocol(endpoint=endpoint)
    with pytest.raises(StepFailed) as caught:
        await run(AgentExecutor(vault, protocols=(protocol,)), request(credentials=("main",)))
    assert caught.value.message.startswith(f"agent 'helper' (step 'plan'): the agent's URL {endpoint!r} ")
    assert not caught.value.retryable
    assert (vault.calls, protocol.calls) == ([], [])
