"""A scripted agent executor for runs tests: deterministic answers, failures, slowness and barriers on demand."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from services.runs.app.executor import Emit, StepFailed, StepRequest, StepResult


@dataclass
class Script:
    """How one agent behaves: fail `failures` times (retryable or not), optionally wait on `gate`, then answer."""

    failures: int = 0
    retryable: bool = True
    gate: asyncio.Event | None = None
    hang: bool = False


@dataclass
class ScriptedExecutor:
    scripts: dict[str, Script] = field(default_factory=dict)
    calls: list[StepRequest] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    max_in_flight: int = 0
    _failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    async def execute(self, request: StepRequest, emit: Emit) -> StepResult:
        self.calls.append(request)
        self.started.set()
        script = self.scripts.get(request.agent_slug, Script())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if script.hang:
                await asyncio.Event().wait()
            if script.gate is not None:
                await script.gate.wait()
            key = f"{request.run}/{request.step_id}"
            if self._failed[key] < script.failures:
                self._failed[key] += 1
                raise StepFailed(f"{request.agent_slug} is having a bad day", retryable=script.retryable)
            return StepResult(output=f"{request.agent_slug} says: {request.prompt}")
        finally:
            self.in_flight -= 1

    def keys(self, step_id: str) -> list[str]:
        return [c.idempotency_key for c in self.calls if c.step_id == step_id]
