"""Supervised background tasks: a process never answers SERVING while a worker it depends on is dead.

Every long-lived task of a service (the engine's loops, the LISTEN connection, heartbeats, retention, the database
probe, the gateway's HTTP front) is started here instead of with a bare `create_task`:

- an exception, or an unexpected return, is logged and the task is started again after a back-off that grows from
  `restart_initial_seconds` to `restart_max_seconds` (tenacity's exponential back-off with jitter) and starts over
  once the task reports progress again;
- a task reports progress with `Liveness.alive()` after each unit of work. A task that has been failing, or that
  declared a `stall_seconds` and reported nothing for that long (a query hung on a half-open connection), for more
  than `unhealthy_after_seconds` makes the supervisor unhealthy; the server then reports NOT_SERVING, so that load
  balancers stop sending calls and Kubernetes' liveness probe restarts the pod if it does not recover;
- a task that cannot be restarted (`watch`: the HTTP front's server task) makes the supervisor unhealthy for good
  when it ends unexpectedly.

When every task is well again, health returns to SERVING on its own: a database restart needs no manual action.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tenacity import RetryCallState, wait_exponential_jitter

from services.common.logs import get_logger
from services.common.settings import TaskSettings

log = get_logger("agentorch.supervisor")

HealthListener = Callable[[bool], Awaitable[None]]


class TaskExited(RuntimeError):
    """A supervised task returned although it should run until the process stops."""


@dataclass
class Liveness:
    """What a supervised task tells its supervisor; `alive()` after each unit of work that went well."""

    name: str
    stall_seconds: float | None
    clock: Callable[[], float]
    last_alive: float = 0.0
    failing_since: float | None = None
    failures: int = 0  # consecutive failures since the task last reported progress
    last_error: str = ""
    restarts: int = 0
    gave_up: bool = False

    def alive(self) -> None:
        self.last_alive = self.clock()
        if self.failing_since is not None:
            log.info("task recovered", task=self.name, after_failures=self.failures)
        self.failing_since = None
        self.failures = 0

    def problem(self, now: float, unhealthy_after: float) -> str | None:
        """Why this task makes the process unhealthy now, or None."""
        if self.gave_up:
            return f"{self.name}: stopped ({self.last_error})"
        if self.failing_since is not None and now - self.failing_since >= unhealthy_after:
            return f"{self.name}: failing for {now - self.failing_since:.0f}s ({self.last_error})"
        if self.stall_seconds is not None and now - self.last_alive >= self.stall_seconds + unhealthy_after:
            return f"{self.name}: no progress for {now - self.last_alive:.0f}s"
        return None


TaskBody = Callable[[Liveness], Awaitable[None]]


@dataclass
class _Supervised:
    liveness: Liveness
    body: TaskBody | None  # None: watched only, never restarted
    task: asyncio.Task[None] | None = None
    stopping: bool = False


@dataclass
class Supervisor:
    """Starts, restarts and watches a process's background tasks; `healthy` feeds the gRPC health service."""

    service: str
    settings: TaskSettings = field(default_factory=TaskSettings)
    clock: Callable[[], float] = time.monotonic
    _tasks: dict[str, _Supervised] = field(default_factory=dict, init=False)
    _listeners: list[HealthListener] = field(default_factory=list, init=False)
    _healthy: bool = field(default=True, init=False)
    _watchdog: asyncio.Task[None] | None = field(default=None, init=False)

    # --- starting tasks -----------------------------------------------------------------------------------------

    def spawn(self, name: str, body: TaskBody, *, stall_seconds: float | None = None) -> Liveness:
        """Run `body(liveness)` until `cancel(name)` or `stop()`, restarting it whenever it fails or returns."""
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        liveness = Liveness(name, stall_seconds, self.clock, last_alive=self.clock())
        entry = _Supervised(liveness, body)
        entry.task = asyncio.get_running_loop().create_task(self._keep_running(entry), name=f"supervised {name}")
        self._tasks[name] = entry
        self._ensure_watchdog()
        return liveness

    def watch(self, name: str, task: asyncio.Task[None]) -> None:
        """Watch a task that cannot be restarted: its unexpected end makes the process unhealthy for good."""
        liveness = Liveness(name, None, self.clock, last_alive=self.clock())
        entry = _Supervised(liveness, None, task)
        self._tasks[name] = entry

        def ended(finished: asyncio.Task[None]) -> None:
            if entry.stopping or finished.cancelled():
                return
            error = finished.exception()
            liveness.gave_up = True
            liveness.last_error = _describe(error) if error else "exited"
            log.error("unrestartable task ended; reporting NOT_SERVING", task=name, error=liveness.last_error)
            self._schedule_evaluation()

        task.add_done_callback(ended)
        self._ensure_watchdog()

    def forget(self, name: str) -> None:
        """Stop watching or restarting `name` without cancelling it (it is about to end on purpose)."""
        entry = self._tasks.pop(name, None)
        if entry is not None:
            entry.stopping = True

    async def cancel(self, name: str) -> None:
        entry = self._tasks.pop(name, None)
        if entry is None:
            return
        entry.stopping = True
        if entry.task is None:
            return
        entry.task.cancel()
        # A watched task's own failure was reported when it ended; a supervised one never ends with an error.
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await entry.task

    async def stop(self) -> None:
        for name in list(self._tasks):
            await self.cancel(name)
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None

    # --- health ---------------------------------------------------------------------------------------------------

    def on_health_change(self, listener: HealthListener) -> None:
        self._listeners.append(listener)

    @property
    def healthy(self) -> bool:
        return self._healthy

    def problems(self) -> list[str]:
        now = self.clock()
        unhealthy_after = self.settings.unhealthy_after_seconds
        return [p for e in self._tasks.values() if (p := e.liveness.problem(now, unhealthy_after)) is not None]

    def status(self) -> dict[str, Liveness]:
        return {name: entry.liveness for name, entry in self._tasks.items()}

    async def evaluate(self) -> bool:
        """Recompute health now (the watchdog does it every `check_interval_seconds`) and tell the listeners."""
        problems = self.problems()
        healthy = not problems
        if healthy != self._healthy:
            self._healthy = healthy
            if healthy:
                log.info("all supervised tasks healthy again; reporting SERVING", service=self.service)
            else:
                log.error("supervised tasks unhealthy; reporting NOT_SERVING", service=self.service, problems=problems)
            for listener in self._listeners:
                await listener(healthy)
        return healthy

    # --- internals ------------------------------------------------------------------------------------------------

    async def _keep_running(self, entry: _Supervised) -> None:
        liveness, body = entry.liveness, entry.body
        assert body is not None
        first = self.settings.restart_initial_seconds
        backoff = wait_exponential_jitter(multiplier=first, jitter=first, max=self.settings.restart_max_seconds)
        while True:
            try:
                await body(liveness)
                raise TaskExited("returned")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if entry.stopping:  # it was being stopped, and ended (or swallowed the cancellation) on its own
                    return
                now = self.clock()
                liveness.failures += 1
                liveness.restarts += 1
                liveness.last_error = _describe(exc)
                if liveness.failing_since is None:
                    liveness.failing_since = now
                delay = backoff(_attempt(liveness.failures))
                log.warning(
                    "supervised task failed; restarting",
                    task=liveness.name,
                    error=liveness.last_error,
                    failures=liveness.failures,
                    restart_in_seconds=round(delay, 3),
                    exc_info=liveness.failures == 1,  # the first traceback of a streak, not one per retry
                )
                self._schedule_evaluation()
                await asyncio.sleep(delay)

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(self._watch(), name=f"{self.service} watchdog")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.check_interval_seconds)
            try:
                await self.evaluate()
            except Exception:  # a listener failing must not stop the checks
                log.exception("health evaluation failed")

    def _schedule_evaluation(self) -> None:
        """Evaluate soon (from a callback or a failing task) without waiting for the next watchdog tick."""
        if self._watchdog is not None and not self._watchdog.done():
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._evaluate_quietly()))

    async def _evaluate_quietly(self) -> None:
        with contextlib.suppress(Exception):
            await self.evaluate()


def _attempt(number: int) -> RetryCallState:
    """A tenacity retry state carrying only the attempt number its wait strategies read."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = number
    return state


def _describe(error: BaseException) -> str:
    """A short description for logs and health: the type and first line, never a traceback."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__
