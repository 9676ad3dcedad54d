"""The step executor interface: how the engine hands an `agent` step to whatever calls the agent.

The engine renders the prompt and inputs, then calls `execute` with everything the call needs and nothing it
should not see (credentials are aliases, resolved by the executor at call time, never stored in run state).
Executors raise StepFailed; `retryable=False` for errors that another attempt cannot fix; InputRequired when the
agent asks a person a question (the engine turns it into a human checkpoint).
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
    # After a reviewer requested changes (issue 14): the revision (number, comment, payload, previous_output; the
    # prompt already carries it) and the A2A task/context ids of the step's previous answer, to continue it.
    revision: dict[str, Any] | None = None
    previous_context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    output: Any
    metadata: dict[str, Any] = field(default_factory=dict)


class StepFailed(Exception):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class InputRequired(StepFailed):
    """The agent needs an answer from a person before it can finish (A2A `input-required`).

    `question` is what the agent asked; `context` says where to send the answer (agent, protocol, task and context
    ids). It is a non-retryable StepFailed, so an engine that does not know it fails the step with a clear message;
    the engine turns it into a human checkpoint.
    """

    def __init__(self, question: str, context: dict[str, Any], *, message: str | None = None) -> None:
        super().__init__(message or f"the agent needs input: {question}", retryable=False)
        self.question = question
        self.context = context


Emit = Callable[[str], Awaitable[None]]


class StepExecutor(Protocol):
    async def execute(self, request: StepRequest, emit: Emit) -> StepResult: ...
