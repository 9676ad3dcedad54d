"""The step executor interface: how the engine hands an `agent` step to whatever calls the agent.

The engine renders the prompt and inputs, then calls `execute` with everything the call needs and nothing it
should not see (credentials are aliases, resolved by the executor at call time, never stored in run state).
Executors raise StepFailed; `retryable=False` for errors that another attempt cannot fix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class StepRequest:
    run: str
    organization_slug: str
    step_id: str
    attempt: int
    idempotency_key: str
    agent_slug: str
    agent: dict[str, Any]  # the agent's snapshot pinned at launch: config, agent_card, version
    prompt: str
    inputs: dict[str, str] = field(default_factory=dict)
    credentials: tuple[str, ...] = ()
    timeout_seconds: float | None = None
    # After the agent asked for input (A2A input-required): the person's answer, and where to send it.
    reply: str = ""
    agent_context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    output: Any
    metadata: dict[str, Any] = field(default_factory=dict)


class StepFailed(Exception):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


Emit = Callable[[str], Awaitable[None]]


class StepExecutor(Protocol):
    async def execute(self, request: StepRequest, emit: Emit) -> StepResult: ...


class UnconfiguredExecutor:
    """Used until agent protocols are wired: every agent step fails with a clear, non-retryable error."""

    async def execute(self, request: StepRequest, emit: Emit) -> StepResult:
        raise StepFailed(f"agent {request.agent_slug!r}: no executor is configured for its protocol", retryable=False)
