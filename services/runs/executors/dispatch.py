"""The StepExecutor for `agent` steps: picks the protocol from the agent's pinned config and makes the call.

For each step it: validates the config (docs/agents.md); fixes the URL the call goes to; resolves the step's
credentials through the vault for that agent and destination (the first alias into `credential_header`, others
only where `credential_headers` maps them; the vault refuses a credential not bound to them); bounds the call by
`timeout_seconds` (and the step's own timeout); and scrubs every resolved secret from the output, metadata,
streamed deltas, errors and logs. Connections go only where the egress policy allows (executors.egress). Failures
are StepFailed naming the agent and the step.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import Protocol

import httpx

from services.common.agent_config import AgentConfig
from services.common.jsondepth import depth_violation
from services.common.logs import get_logger
from services.common.netpolicy import EgressPolicy
from services.runs.app.executor import Emit, StepFailed, StepRequest, StepResult
from services.runs.clients.credentials import CredentialResolver, CredentialUnavailable
from services.runs.executors import InputRequired
from services.runs.executors.a2a import A2AProtocol
from services.runs.executors.egress import Resolver
from services.runs.executors.http import (
    AgentCall,
    Redactor,
    credential_value,
    destination,
    new_client,
    parse_config,
    secret_forms,
)
from services.runs.executors.openai import OpenAIProtocol

log = get_logger("agentorch.runs.executors")


class AgentProtocol(Protocol):
    name: str

    def url(self, call: AgentCall) -> str:
        """Where the call goes (raises a non-retryable StepFailed when the agent has no endpoint)."""
        ...

    async def call(self, client: httpx.AsyncClient, call: AgentCall, emit: Emit) -> StepResult: ...


class AgentExecutor:
    """Calls A2A and OpenAI-compatible agents over one pooled HTTP client; close it with `aclose()`.

    `egress` says which addresses the client may connect to (default: public ones only); `resolver` replaces the
    system's name resolution (tests). Both are ignored when `client` is given.
    """

    def __init__(
        self,
        credentials: CredentialResolver | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        max_connections: int = 100,
        protocols: tuple[AgentProtocol, ...] | None = None,
        egress: EgressPolicy | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._credentials = credentials
        self._client = client or new_client(max_connections, egress, resolver)
        self._owns_client = client is None
        self._protocols = {p.name: p for p in (protocols or (A2AProtocol(), OpenAIProtocol()))}

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def execute(self, request: StepRequest, emit: Emit) -> StepResult:
        label = f"agent {request.agent_slug!r} (step {request.step_id!r})"
        raw = request.agent.get("config") or {}
        if not isinstance(raw, dict):
            raise StepFailed(f"{label}: the agent's config is not an object", retryable=False)
        protocol_name = raw.get("protocol")
        protocol = self._protocols.get(protocol_name) if isinstance(protocol_name, str) else None
        if protocol is None:
            known = ", ".join(repr(p) for p in sorted(self._protocols))
            found = "has no config.protocol" if protocol_name is None else f"has unknown protocol {protocol_name!r}"
            raise StepFailed(f"{label} {found}; config.protocol must be one of {known}", retryable=False)
        config = parse_config(label, raw)
        budget = min(config.timeout_seconds, request.timeout_seconds or config.timeout_seconds)
        url = protocol.url(AgentCall(request=request, config=config, headers={}, timeout=budget))
        try:
            where = destination(url)
        except ValueError as exc:
            raise StepFailed(f"{label}: the agent's URL {url!r} {exc}", retryable=False) from None
        headers, redactor = await self._credential_headers(request, config, label, where)
        call = AgentCall(request=request, config=config, headers=headers, redactor=redactor, timeout=budget, url=url)

        scrubber = redactor.stream()  # a secret split across streamed pieces is still caught

        async def scrubbed_emit(delta: str) -> None:
            if safe := scrubber.feed(delta):
                await emit(safe)

        async def emit_rest() -> None:
            if rest := scrubber.flush():
                await emit(rest)

        fields = {
            "agent": request.agent_slug,
            "step": request.step_id,
            "run": request.run,
            "attempt": request.attempt,
            "idempotency_key": request.idempotency_key,
            "protocol": protocol.name,
        }
        started = time.monotonic()
        try:
            async with asyncio.timeout(budget):
                result = await protocol.call(self._client, call, scrubbed_emit)
                await emit_rest()  # a failed call's held-back tail (shorter than a secret) is dropped with it
        except TimeoutError:
            failure: StepFailed = call.fail(f"no complete answer within {budget:g}s", retryable=True)
        except InputRequired as exc:
            log.info("agent needs input", **fields, duration_ms=_ms(started))
            raise InputRequired(
                redactor.text(exc.question), redactor.scrub(exc.context), message=redactor.text(exc.message)
            ) from None
        except StepFailed as exc:
            failure = StepFailed(redactor.text(exc.message), retryable=exc.retryable)
        except Exception as exc:  # a bug here must not leak a secret through a traceback's text
            log.error(
                "agent executor error", **fields, error=type(exc).__name__, trace=redactor.text(traceback.format_exc())
            )
            failure = StepFailed(f"{label}: executor error ({type(exc).__name__})", retryable=True)
        else:
            too_deep = depth_violation(result.output, "output") or depth_violation(result.metadata, "metadata")
            if too_deep is None:
                log.info("agent call done", **fields, duration_ms=_ms(started))
                return StepResult(output=redactor.scrub(result.output), metadata=redactor.scrub(result.metadata))
            # Stored, such an answer would make the run unreadable (GetRun, WatchRun) for every client.
            failure = call.fail(
                f"malformed response: the answer's {too_deep.field} {too_deep.description}", retryable=False
            )
        log.warning(
            "agent call failed", **fields, duration_ms=_ms(started), error=failure.message, retryable=failure.retryable
        )
        raise failure

    async def _credential_headers(
        self, request: StepRequest, config: AgentConfig, label: str, where: str
    ) -> tuple[dict[str, str], Redactor]:
        """Resolve the aliases the call presents and build their headers; unmapped extra aliases are not fetched.

        The vault is told the agent (its pinned resource name) and the destination (`where`: `host:port` of the
        call's URL), and hands out only credentials bound to them."""
        wanted: list[tuple[str, str, str | None]] = []  # alias, header, scheme (None: by credential type)
        for index, alias in enumerate(request.credentials):
            if alias in config.credential_headers:
                wanted.append((alias, config.credential_headers[alias], None))
            elif index == 0:
                wanted.append((alias, config.credential_header, config.credential_scheme))
        if not wanted:
            return {}, Redactor()
        if self._credentials is None:
            raise StepFailed(
                f"{label}: the step needs credentials but no credential vault is configured", retryable=False
            )
        seen: dict[str, str] = {}
        for alias, header, _ in wanted:
            if header.lower() in seen:
                raise StepFailed(
                    f"{label}: credentials {seen[header.lower()]!r} and {alias!r} both map to header {header!r}",
                    retryable=False,
                )
            seen[header.lower()] = alias
        headers: dict[str, str] = {}
        secrets: list[str] = []
        agent = str(
            request.agent.get("name") or f"organizations/{request.organization_slug}/agents/{request.agent_slug}"
        )
        for alias, header, scheme in wanted:
            try:
                credential = await self._credentials.resolve(
                    request.organization_slug,
                    alias,
                    run=request.run,
                    step=request.step_id,
                    agent=agent,
                    destination=where,
                )
            except CredentialUnavailable as exc:
                raise StepFailed(f"{label}: {exc}", retryable=exc.retryable) from None
            value = credential_value(header, scheme, credential)
            headers[header] = value
            secrets += secret_forms(credential, value)
        return headers, Redactor(secrets)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
