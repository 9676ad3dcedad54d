"""The `config` of a registry agent — how the runs service calls it (docs/agents.md).

The schema is `services.common.agent_config`, shared with the registry, which validates a config when the agent is
saved. A config saved before it did is caught here: the step fails at call time with every problem listed (paths and
reasons, never values), as a non-retryable StepFailed — another attempt would meet the same config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.common.agent_config import AgentConfig, InvalidAgentConfig, parse_agent_config
from services.runs.app.executor import StepFailed

__all__ = ["AgentConfig", "parse_config"]


def parse_config(label: str, raw: Mapping[str, Any]) -> AgentConfig:
    """The agent's config, or a non-retryable StepFailed listing every problem (paths and reasons, no values)."""
    try:
        return parse_agent_config(raw)
    except InvalidAgentConfig as exc:
        problems = "; ".join(
            f"config.{p.path}: {p.message}" if p.path else f"config: {p.message}" for p in exc.problems
        )
        raise StepFailed(f"{label}: invalid agent config: {problems}", retryable=False) from None
