"""The agent executors against the reference agents served by uvicorn on loopback (real HTTP), and credentials
resolved from a real vault over gRPC: happy paths, streaming, retries, timeouts, malformed answers, a dead agent,
cancellation, input-required / auth-required, and no secret in any log line or error text."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
import structlog
from starlette.applications import Starlette

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as pb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as pb_grpc
from reference_agents import Served, a2a_agent, openai_agent, serving
from services.common.principals import KeyRing
from services.common.settings import DatabaseSettings
from services.credentials.bootstrap import spec as credentials_spec
from services.credentials.config import CredentialsSettings
from services.runs.app.executor import InputRequired, StepFailed, StepRequest, StepResult
from services.runs.clients.credentials import CredentialsClient, CredentialUnavailable, ResolvedCredential, Secret
from services.runs.executors.dispatch import AgentExecutor
from tests.support.egress import LOOPBACK_POLICY
from tests.support.principals import AUTH, as_member
from tests.support.rpc import channel_as
from tests.support.servers import running
from tests.support.vault import VAULT

SECRET = "sk-ref-" + uuid.uuid4().hex  # searched for in every log line and error text
FAST = {"backoff_seconds": 0.01, "max_backoff_seconds": 1}


@dataclass
class Agent:
    app: Starlette
    served: Served

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def requests(self) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = self.app.state.requests
        return requests

    @property
    def connections(self) -> int:
        return len(self.served.server.server_state.connections)


@contextlib.asynccontextmanager
async def agent(app: Starlette) -> AsyncIterator[Agent]:
    async with serving(app) as served:
        yield Agent(app, served)


@pytest.fixture
async def scout() -> AsyncIterator[Agent]:
    async with agent(a2a_agent.create_app("scout")) as running_agent:
        yield running_agent


@pytest.fixture
async def llm() -> AsyncIterator[Agent]:
    async with agent(openai_agent.create_app("llm", api_key=SECRET)) as running_agent:
        yield running_agent


@pytest.fixture
async def executor() -> AsyncIterator[AgentExecutor]:
    instance = AgentExecutor(FakeVault({"llm.key": SECRET}), egress=LOOPBACK_POLICY)
    yield instance
    await instance.aclose()


@dataclass
class FakeVault:
    values: dict[str, str] = field(default_factory=dict)

    async def resolve(
        self, organization_slug: str, alias: str, *, run: str, step: str, agent: str, destination: str
    ) -> ResolvedCredential:
        if alias not in self.values:
            raise CredentialUnavailable(alias, "no such credential", retryable=False)
        return ResolvedCredential(alias=alias, version=1, type="api_key", secret=Secret(self.values[alias]))


async def card_of(a2a: Agent) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        card: dict[str, Any] = (await client.get(f"{a2a.url}/.well-known/agent-card.json")).json()
    return card


def step(agent_config: dict[str, Any], prompt: str, card: dict[str, Any] | None = None, **fields: Any) -> StepRequest:
    values: dict[str, Any] = {
        "run": "organizations/acme/runs/r1",
        "organization_slug": "acme",
        "step_id": "plan",
        "attempt": 1,
        "idempotency_key": f"r1/plan/{uuid.uuid4().hex[:6]}",
        "agent_slug": "helper",
        "agent": {
            "name": f"organizations/{fields.get('organization_slug', 'acme')}/agents/helper",
            "version": 1,
            "config": agent_config,
            "agent_card": card or {},
        },
        "prompt": prompt,
    }
    values.update(fields)
    return StepRequest(**values)


def openai_config(llm: Agent, **fields: Any) -> dict[str, Any]:
    return {"protocol": "openai", "endpoint": f"{llm.url}/v1", "model": "ref-model", **FAST, **fields}


@dataclass
class Deltas:
    items: list[str] = field(default_factory=list)

    async def __call__(self, delta: str) -> None:
        self.items.append(delta)


async def execute(executor: AgentExecutor, request: StepRequest, deltas: Deltas | None = None) -> StepResult:
    return await executor.execute(request, deltas or Deltas())


async def fails(executor: AgentExecutor, request: StepRequest) -> StepFailed:
    with pytest.raises(StepFailed) as caught:
        await execute(executor, request)
    assert caught.value.message.startswith("agent 'helper' (step 'plan'): "), caught.value.message
    assert SECRET not in caught.value.message
    return caught.value


# --- A2A ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_a2a_agent_answers_through_the_card_endpoint(executor: AgentExecutor, scout: Agent, stream: bool) -> None:
    deltas = Deltas()
    request = step({"protocol": "a2a", "stream": stream}, "Plan the launch", await card_of(scout))
    result = await execute(executor, request, deltas)
    assert result.output == "scout received: Plan the launch"
    assert result.metadata["protocol"] == "a2a"
    assert result.metadata["state"] == "completed"
    assert result.metadata["streamed"] is stream
    assert result.metadata["task_id"]
    (seen,) = scout.requests
    assert seen["method"] == ("SendStreamingMessage" if stream else "SendMessage")
    assert seen["idempotency_key"] == request.idempotency_key
    assert seen["a2a_version"] == "1.0"
    assert seen["message"]["metadata"]["idempotencyKey"] == request.idempotency_key
    assert seen["message"]["messageId"] == request.idempotency_key
    if stream:
        assert len(deltas.items) > 1
        assert "".join(deltas.items) == result.output
    else:
        assert deltas.items == []


async def test_a2a_streaming_deltas_arrive_in_order_as_they_are_sent(executor: AgentExecutor) -> None:
    answer = "one two three four five six seven eight nine"
    async with agent(a2a_agent.create_app("scout", answers={"count": answer}, chunk_delay=0.05)) as slow_scout:
        received: list[tuple[float, str]] = []

        async def emit(delta: str) -> None:
            received.append((time.monotonic(), delta))

        result = await executor.execute(step({"protocol": "a2a"}, "count", await card_of(slow_scout)), emit)
    assert result.output == answer
    assert "".join(d for _, d in received) == answer
    assert len(received) == 3
    assert received[-1][0] - received[0][0] >= 0.08  # streamed while the agent was still talking


async def test_a2a_card_without_streaming_uses_send_message(executor: AgentExecutor) -> None:
    async with agent(a2a_agent.create_app("quiet", streaming=False)) as quiet:
        result = await execute(executor, step({"protocol": "a2a"}, "hi", await card_of(quiet)))
        assert quiet.requests[0]["method"] == "SendMessage"
    assert result.output == "quiet received: hi"


async def test_a2a_direct_message_and_a_task_finished_later(executor: AgentExecutor, scout: Agent) -> None:
    card = await card_of(scout)
    for stream in (False, True):
        direct = await execute(executor, step({"protocol": "a2a", "stream": stream}, "[message] hi", card))
        assert direct.output == "scout received: [message] hi"
        later = await execute(executor, step({"protocol": "a2a", "stream": stream}, "[working] hi", card))
        assert (later.output, later.metadata["state"]) == ("scout received: [working] hi", "completed")


async def test_a2a_input_required_raises_input_required(executor: AgentExecutor, scout: Agent) -> None:
    for stream in (False, True):
        request = step(
            {"protocol": "a2a", "stream": stream}, "[input-required:Which quarter?] report", await card_of(scout)
        )
        with pytest.raises(InputRequired) as caught:
            await execute(executor, request)
        assert caught.value.question == "Which quarter?"
        assert caught.value.context["task_id"]
        assert caught.value.context["agent"] == "helper"
        assert not caught.value.retryable


@pytest.mark.parametrize(
    ("prompt", "message", "retryable"),
    [
        ("[auth-required]", "the agent requires authentication (auth-required): Sign in", False),
        ("[fail]", "the agent reported the task failed: the reference agent failed as asked", True),
        ("[reject]", "the agent rejected the task: the reference agent rejects this task", False),
        ("[rpc-error]", "the agent answered JSON-RPC error -32602: the reference agent refuses these params", False),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_a2a_unsuccessful_tasks_fail_the_step(
    executor: AgentExecutor, scout: Agent, prompt: str, message: str, retryable: bool, stream: bool
) -> None:
    error = await fails(executor, step({"protocol": "a2a", "stream": stream}, prompt, await card_of(scout)))
    assert message in error.message
    assert error.retryable is retryable


async def test_a2a_503_once_is_retried_with_the_same_idempotency_key(executor: AgentExecutor, scout: Agent) -> None:
    request = step({"protocol": "a2a", **FAST}, "[fail-once:flaky] go", await card_of(scout))
    result = await execute(executor, request)
    assert result.output == "scout received: [fail-once:flaky] go"
    assert [r["idempotency_key"] for r in scout.requests] == [request.idempotency_key] * 2


async def test_a2a_bearer_credential_is_injected(executor: AgentExecutor) -> None:
    async with agent(a2a_agent.create_app("guarded", api_key=SECRET)) as guarded:
        card = await card_of(guarded)
        result = await execute(executor, step({"protocol": "a2a"}, "hi", card, credentials=("llm.key",)))
        assert result.output == "guarded received: hi"
        error = await fails(executor, step({"protocol": "a2a"}, "hi", card))
    assert "HTTP 401" in error.message
    assert not error.retryable


# --- OpenAI-compatible ----------------------------------------------------------------------------------------------


async def test_openai_agent_answers_with_usage(executor: AgentExecutor, llm: Agent) -> None:
    config = openai_config(
        llm, stream=False, system_prompt="Be terse.", parameters={"temperature": 0.2, "max_tokens": 50}
    )
    request = step(config, "Summarise the plan", credentials=("llm.key",))
    result = await execute(executor, request)
    assert result.output == "llm received: Summarise the plan"
    assert result.metadata["usage"] == {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    assert (result.metadata["model"], result.metadata["finish_reason"]) == ("ref-model", "stop")
    (seen,) = llm.requests
    assert seen["authorized"] is True
    assert seen["idempotency_key"] == request.idempotency_key
    assert seen["body"]["messages"][0] == {"role": "system", "content": "Be terse."}
    assert (seen["body"]["temperature"], seen["body"]["max_tokens"], seen["body"]["stream"]) == (0.2, 50, False)


async def test_openai_streaming_emits_deltas_in_order_and_collects_usage(executor: AgentExecutor, llm: Agent) -> None:
    deltas = Deltas()
    result = await execute(executor, step(openai_config(llm), "Stream it please", credentials=("llm.key",)), deltas)
    assert result.output == "llm received: Stream it please"
    # Three pieces were sent; with a credential the scrubber holds back a secret's length, so they may arrive merged.
    assert 1 <= len(deltas.items) <= 3
    assert all(deltas.items)
    assert "".join(deltas.items) == result.output
    assert result.metadata["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert result.metadata["streamed"] is True


async def test_openai_without_the_key_is_refused(executor: AgentExecutor, llm: Agent) -> None:
    error = await fails(executor, step(openai_config(llm), "hi"))
    assert "the agent refused the request (HTTP 401): Incorrect API key provided." in error.message
    assert not error.retryable


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_429_is_retried_after_retry_after(executor: AgentExecutor, llm: Agent, stream: bool) -> None:
    request = step(openai_config(llm, stream=stream), "[429-once:burst] hi", credentials=("llm.key",))
    result = await execute(executor, request)
    assert result.output == "llm received: [429-once:burst] hi"
    assert [r["idempotency_key"] for r in llm.requests] == [request.idempotency_key] * 2


async def test_openai_persistent_500_gives_up_retryably(executor: AgentExecutor, llm: Agent) -> None:
    error = await fails(executor, step(openai_config(llm, max_attempts=3), "[500]", credentials=("llm.key",)))
    assert "agent error (HTTP 500)" in error.message
    assert "gave up after 3 tries" in error.message
    assert error.retryable
    assert len(llm.requests) == 3


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_malformed_answers_fail_without_retry(executor: AgentExecutor, llm: Agent, stream: bool) -> None:
    error = await fails(executor, step(openai_config(llm, stream=stream), "[malformed]", credentials=("llm.key",)))
    assert "malformed response" in error.message
    assert not error.retryable
    assert len(llm.requests) == 1


async def test_a2a_malformed_answers_fail_without_retry(executor: AgentExecutor, scout: Agent) -> None:
    for stream in (False, True):
        error = await fails(executor, step({"protocol": "a2a", "stream": stream}, "[malformed]", await card_of(scout)))
        assert "malformed response" in error.message
        assert not error.retryable


async def test_openai_stream_cut_short_is_retryable(executor: AgentExecutor, llm: Agent) -> None:
    error = await fails(executor, step(openai_config(llm), "[cut] a long answer", credentials=("llm.key",)))
    assert "the stream ended before the answer was complete" in error.message
    assert error.retryable


@pytest.mark.parametrize("stream", [False, True])
async def test_answers_beyond_max_response_bytes_are_refused(
    executor: AgentExecutor, llm: Agent, scout: Agent, stream: bool
) -> None:
    limit = {"max_response_bytes": 4096, "stream": stream}
    for request in (
        step(openai_config(llm, **limit), "[big:20000]", credentials=("llm.key",)),
        step({"protocol": "a2a", **limit}, "[big:20000]", await card_of(scout)),
    ):
        error = await fails(executor, request)
        assert "larger than max_response_bytes (4096 bytes)" in error.message
        assert not error.retryable


# --- time, failure of the agent, cancellation -----------------------------------------------------------------------


@pytest.mark.parametrize(("config_timeout", "step_timeout"), [(0.3, None), (30, 0.3)])
async def test_a_slow_agent_times_out_retryably(
    executor: AgentExecutor, llm: Agent, config_timeout: float, step_timeout: float | None
) -> None:
    started = time.monotonic()
    request = step(
        openai_config(llm, timeout_seconds=config_timeout),
        "[slow:3] hi",
        credentials=("llm.key",),
        timeout_seconds=step_timeout,
    )
    error = await fails(executor, request)
    assert time.monotonic() - started < 2
    assert error.message == "agent 'helper' (step 'plan'): no complete answer within 0.3s"
    assert error.retryable


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_agent_that_is_down_is_a_retryable_failure(executor: AgentExecutor) -> None:
    port = closed_port()
    for config in (
        {"protocol": "a2a", "endpoint": f"http://127.0.0.1:{port}", "max_attempts": 2, **FAST},
        {"protocol": "openai", "endpoint": f"http://127.0.0.1:{port}/v1", "model": "m", "max_attempts": 2, **FAST},
    ):
        error = await fails(executor, step(config, "anyone there?"))
        assert f"cannot reach the agent at http://127.0.0.1:{port}" in error.message
        assert "gave up after 2 tries" in error.message
        assert error.retryable


@pytest.mark.parametrize("stream", [False, True])
async def test_cancelling_the_step_closes_the_request_promptly(
    executor: AgentExecutor, llm: Agent, scout: Agent, stream: bool
) -> None:
    for target, request in (
        (llm, step(openai_config(llm, stream=stream), "[slow:10] hi", credentials=("llm.key",))),
        (scout, step({"protocol": "a2a", "stream": stream}, "[slow:10] hi", await card_of(scout))),
    ):
        task = asyncio.create_task(execute(executor, request))
        deadline = time.monotonic() + 5
        while not target.requests and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert target.connections >= 1
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.5
        while target.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert target.connections == 0, "the agent still holds the cancelled call's connection"


# --- credentials from the real vault, and secrets in logs -----------------------------------------------------------


async def create_credential(target: str, org: str, alias: str, value: str, agents: tuple[str, ...]) -> None:
    async with channel_as(target, as_member(org, "admin")) as channel:
        await pb_grpc.CredentialsServiceStub(channel).CreateCredential(
            pb.CreateCredentialRequest(
                parent=f"organizations/{org}",
                alias=alias,
                credential=cpb.Credential(
                    provider="openai", type=cpb.CREDENTIAL_TYPE_API_KEY, allowed_agents=list(agents)
                ),
                value=value,
            )
        )


async def resolve_events(target: str, org: str) -> list[cpb.AuditEvent]:
    async with channel_as(target, as_member(org, "admin")) as channel:
        reply = await pb_grpc.CredentialsServiceStub(channel).ListAuditEvents(
            pb.ListAuditEventsRequest(parent=f"organizations/{org}", action=cpb.AUDIT_ACTION_RESOLVE)
        )
    return list(reply.events)


async def test_credentials_are_resolved_from_the_vault_as_the_runs_service_and_audited(
    database: DatabaseSettings, llm: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    org = f"org-{uuid.uuid4().hex[:10]}"
    run = f"organizations/{org}/runs/r-{uuid.uuid4().hex[:8]}"
    errors: list[str] = []
    with structlog.testing.capture_logs() as captured:
        settings = CredentialsSettings(database=database, auth=AUTH, vault=VAULT)
        async with running(credentials_spec(settings)) as vault:
            await create_credential(vault.target, org, "llm.api-key", SECRET, agents=("helper",))
            channel = grpc.aio.insecure_channel(vault.target)
            executor = AgentExecutor(CredentialsClient(channel, KeyRing.from_settings(AUTH)), egress=LOOPBACK_POLICY)
            try:
                config = openai_config(llm)
                common: dict[str, Any] = {"run": run, "organization_slug": org, "step_id": "draft"}
                result = await execute(executor, step(config, "Draft it", credentials=("llm.api-key",), **common))
                for request in (
                    step(config, "hi", credentials=("missing",), **common),
                    step(config, "[500]", credentials=("llm.api-key",), **{**common, "step_id": "plan"}),
                    step(config, "[malformed]", credentials=("llm.api-key",), **{**common, "step_id": "plan"}),
                ):
                    with pytest.raises(StepFailed) as caught:
                        await execute(executor, request)
                    errors.append(caught.value.message)
            finally:
                await executor.aclose()
                await channel.close()
            events = await resolve_events(vault.target, org)
    assert result.output == "llm received: Draft it"
    assert llm.requests[0]["authorized"] is True
    assert (
        errors[0] == f"agent 'helper' (step 'draft'): credential 'missing': no such credential in organization {org!r}"
    )
    allowed = [e for e in events if e.outcome == cpb.AUDIT_OUTCOME_ALLOWED]
    assert len(allowed) == 3
    assert (allowed[0].alias, allowed[0].actor, allowed[0].run, allowed[0].step) == (
        "llm.api-key",
        "service:runs",
        run,
        "draft",
    )
    assert SECRET not in caplog.text
    assert SECRET not in repr(captured)
    assert all(SECRET not in e for e in errors)


async def test_no_secret_in_logs_errors_or_results(
    executor: AgentExecutor, llm: Agent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    encoded = base64.b64encode(SECRET.encode()).decode()
    texts: list[str] = []
    with structlog.testing.capture_logs() as captured:
        async with (
            agent(openai_agent.create_app("leaky", answers={"tell me": f"the key is {SECRET}"})) as leaky,
            agent(a2a_agent.create_app("guarded", api_key=SECRET)) as guarded,
            agent(openai_agent.create_app("other", api_key="a-different-key")) as other,
        ):
            card = await card_of(guarded)
            requests = [
                step(openai_config(llm), "fine", credentials=("llm.key",)),
                step(openai_config(llm, stream=False), "[500]", credentials=("llm.key",)),
                step(openai_config(llm), "[malformed]", credentials=("llm.key",)),
                step(openai_config(llm, timeout_seconds=0.2), "[slow:2]", credentials=("llm.key",)),
                step(openai_config(other), "wrong key", credentials=("llm.key",)),
                step(openai_config(leaky), "tell me", credentials=("llm.key",)),
                step({"protocol": "a2a", "credential_scheme": "Basic"}, "basic", card, credentials=("llm.key",)),
                step({"protocol": "a2a"}, "[input-required] x", card, credentials=("llm.key",)),
                step({"protocol": "a2a"}, "fine", card, credentials=("llm.key",)),
                step(
                    {**openai_config(llm), "endpoint": f"http://127.0.0.1:{closed_port()}/v1"},
                    "x",
                    credentials=("llm.key",),
                ),
            ]
            for request in requests:
                deltas = Deltas()
                try:
                    result = await execute(executor, request, deltas)
                except StepFailed as exc:
                    texts += [exc.message, str(exc), repr(exc)]
                else:
                    texts += [repr(result), *deltas.items]
    assert any("[redacted]" in text for text in texts)  # the leaky agent's answer
    haystack = "\n".join([caplog.text, repr(captured), *texts])
    assert SECRET not in haystack
    assert encoded not in haystack


# --- where calls may go: checked on the address connected to (SSRF, DNS rebinding) ----------------------------------


@contextlib.contextmanager
def listening() -> Iterator[socket.socket]:
    """A socket listening on loopback that nobody accepts on: a connection attempt would be queued in its backlog."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def connections_seen(sock: socket.socket) -> int:
    seen = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return seen
        conn.close()
        seen += 1


async def rebinding_resolver(host: str, port: int) -> list[str]:
    """A name that looked harmless when the agent was saved, resolving to loopback when it is called."""
    if host == "agent.rebind.test":
        return ["127.0.0.1"]
    if host == "split.rebind.test":
        return ["93.184.215.14", "127.0.0.1"]  # one public address and one inside: refused as a whole
    raise OSError("unknown host")


@pytest.mark.parametrize("host", ["agent.rebind.test", "split.rebind.test", "localhost", "127.0.0.1"])
async def test_a_host_that_resolves_inside_is_refused_before_connecting(host: str) -> None:
    vault = FakeVault({"llm.key": SECRET})
    executor = AgentExecutor(vault, resolver=rebinding_resolver if "rebind" in host else None)
    try:
        with listening() as sock:
            port = sock.getsockname()[1]
            for config in (
                {"protocol": "openai", "endpoint": f"http://{host}:{port}/v1", "model": "m", **FAST},
                {"protocol": "a2a", "endpoint": f"http://{host}:{port}/", **FAST},
            ):
                error = await fails(executor, step(config, "hi", credentials=("llm.key",)))
                assert "which agent calls may not reach" in error.message
                assert "a loopback address" in error.message
                assert not error.retryable
            assert connections_seen(sock) == 0
    finally:
        await executor.aclose()


async def test_the_refusal_is_the_same_whether_the_port_is_open_or_not() -> None:
    executor = AgentExecutor(resolver=rebinding_resolver)
    try:
        with listening() as sock:
            messages = []
            for port in (sock.getsockname()[1], closed_port()):
                config = {"protocol": "a2a", "endpoint": f"http://agent.rebind.test:{port}/", "max_attempts": 3}
                messages.append((await fails(executor, step(config, "hi"))).message)
            assert connections_seen(sock) == 0
    finally:
        await executor.aclose()
    assert messages[0] == messages[1]
    assert messages[0] == (
        "agent 'helper' (step 'plan'): the agent's host agent.rebind.test resolves to a loopback address, which "
        "agent calls may not reach (allow it with AGENTS__ALLOWED_NETWORKS)"
    )


async def test_an_allowlisted_loopback_name_is_connected_to_its_checked_address(scout: Agent) -> None:
    port = httpx.URL(scout.url).port
    executor = AgentExecutor(egress=LOOPBACK_POLICY, resolver=rebinding_resolver)
    try:
        result = await execute(
            executor, step({"protocol": "a2a", "endpoint": f"http://agent.rebind.test:{port}/"}, "hi")
        )
    finally:
        await executor.aclose()
    assert result.output == "scout received: hi"
    assert scout.requests[0]["host"] == f"agent.rebind.test:{port}"  # the Host header keeps the name
