"""Streamed output of an agent call, on its way into the run's log.

An agent that streams (A2A SendStreamingMessage, OpenAI `stream: true`) hands its text over piece by piece; the
pieces become STEP_OUTPUT_DELTA events, so watchers see an answer as it is written. Writing one transaction per piece
would cost the database more than the agent call: pieces are gathered and written at most once per `interval` per
step, and what remains when the call ends goes into the result's own transaction.
"""

from __future__ import annotations

import asyncio

from services.common.db import is_connection_failure
from services.common.logs import get_logger
from services.runs.app.executor import StepRequest
from services.runs.app.transitions import Transitions
from services.runs.domain import machine
from services.runs.domain.model import EventType, NewEvent, RunState

log = get_logger("agentorch.runs.engine")


class DeltaStream:
    def __init__(
        self, transitions: Transitions, worker_id: str, run_id: str, request: StepRequest, interval: float
    ) -> None:
        self._transitions, self._worker_id = transitions, worker_id
        self._run_id, self._request, self._interval = run_id, request, interval
        self._pending: list[str] = []
        self._taken = 0
        self._last_flush = 0.0

    async def emit(self, delta: str) -> None:
        if not delta:
            return
        self._pending.append(delta)
        now = asyncio.get_running_loop().time()
        if now - self._last_flush >= self._interval:
            self._last_flush = now
            try:
                self._taken = 0
                await self._transitions.apply(self._run_id, lambda run, _: self.flush_into(run))
                del self._pending[: self._taken]
            except Exception as exc:
                if not is_connection_failure(exc):
                    raise
                # The database is away: keep the text; the next flush (or the result's transaction) writes it.
                log.warning("could not write streamed output yet; keeping it", step=self._request.idempotency_key)

    def flush_into(self, run: RunState) -> bool:
        """Append the pending text as one event if this worker still holds the attempt; False writes nothing."""
        request = self._request
        if not self._pending or not machine.holds(run, request.step_id, request.attempt, self._worker_id):
            return False
        text, self._taken = "".join(self._pending), len(self._pending)  # dropped from pending once committed
        run.events.append(
            NewEvent(EventType.STEP_OUTPUT_DELTA, request.step_id, {"attempt": request.attempt, "delta": text})
        )
        return True
