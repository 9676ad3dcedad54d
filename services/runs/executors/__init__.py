"""Executors that call real agents for `agent` steps.

`dispatch.AgentExecutor` is the StepExecutor the runs service plugs into its engine: it reads the protocol from the
agent's pinned config (`a2a` or `openai`), resolves the step's credentials through the vault at call time and hands
the call to `a2a.A2AProtocol` or `openai.OpenAIProtocol`; `http` holds what both share (config, HTTP plumbing,
retries, SSE, redaction). docs/agents.md describes the agent config format.
"""

from __future__ import annotations

from typing import Any

from services.runs.app.executor import StepFailed


class InputRequired(StepFailed):
    """The agent needs an answer from a person before it can finish (A2A `input-required`).

    `question` is what the agent asked; `context` says where to send the answer (agent, protocol, task and context
    ids). It is a non-retryable StepFailed, so an engine that does not know it fails the step with a clear message;
    an engine that does turns it into a human checkpoint.
    """

    def __init__(self, question: str, context: dict[str, Any], *, message: str | None = None) -> None:
        super().__init__(message or f"the agent needs input: {question}", retryable=False)
        self.question = question
        self.context = context


__all__ = ["InputRequired"]
