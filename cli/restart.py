"""Keeping `agentorch up`'s services running: a child that exits on its own once the platform is up is restarted
after a back-off, unless it keeps crashing.

Each child has a keeper: tenacity runs "the child, until it exits" as its attempt and retries it on every exit.
The back-off is tenacity's exponential wait (`initial_backoff`, doubling, at most `max_backoff`) counted over the
crashes within the window, so a service that ran well for a while is restarted quickly again. A child that has
crashed `max_crashes` times within `window_seconds` is a crash loop: its keeper gives up with CrashLoop, and `up`
stops everything and says which service and what it printed last. Restarted children keep their ports, so the
gateway and the runs service (which dial lazily and reconnect) carry on without noticing more than the gap.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from cli.output import Console
from cli.process import Child, describe_exit


@dataclass(frozen=True)
class CrashPolicy:
    max_crashes: int = 5  # crashes of one service within window_seconds that stop the platform
    window_seconds: float = 60.0
    initial_backoff: float = 0.5
    max_backoff: float = 5.0

    def __post_init__(self) -> None:
        if self.max_crashes < 1:
            raise ValueError("max_crashes must be at least 1")
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")


class CrashLoop(Exception):
    """A child crashed `crashes` times within the policy's window; `code` is how it exited the last time."""

    def __init__(self, child: Child, crashes: int, code: int) -> None:
        super().__init__(f"{child.name} crashed {crashes} times")
        self.child = child
        self.crashes = crashes
        self.code = code


class Crashed(Exception):
    """One unexpected exit of a child (what the keeper's attempts end with)."""

    def __init__(self, code: int) -> None:
        super().__init__(describe_exit(code))
        self.code = code


class CrashHistory:
    """When a child crashed, as far back as the window reaches."""

    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_seconds
        self._clock = clock
        self._times: deque[float] = deque()

    def record(self) -> int:
        """Note a crash now; the number of crashes within the window, this one included."""
        self._times.append(self._clock())
        return self.count

    @property
    def count(self) -> int:
        horizon = self._clock() - self._window
        while self._times and self._times[0] <= horizon:
            self._times.popleft()
        return len(self._times)


def backoff(policy: CrashPolicy, history: CrashHistory) -> Callable[[RetryCallState], float]:
    """tenacity's exponential wait, with the attempts counted as the crashes within the window."""
    exponential = wait_exponential(multiplier=policy.initial_backoff, max=policy.max_backoff)

    def wait(state: RetryCallState) -> float:
        recent = copy.copy(state)
        recent.attempt_number = max(history.count, 1)
        return float(exponential(recent))

    return wait


Ready = Callable[[Child], Awaitable[None]]
Restarted = Callable[[Child], None]


async def keep_alive(
    child: Child,
    policy: CrashPolicy,
    console: Console,
    ready: Ready,
    restarted: Restarted,
    history: CrashHistory | None = None,
) -> NoReturn:
    """Run until cancelled, restarting `child` whenever it exits; raise CrashLoop once it crashed too often.
    `ready(child)` returns once a restarted child serves; `restarted(child)` then announces it (its new pid)."""
    crashes = history or CrashHistory(policy.window_seconds)

    def crash_loop(state: RetryCallState) -> bool:
        return crashes.count >= policy.max_crashes

    def announce(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        how = str(error) if error is not None else "exited"
        last = f"; last output: {child.last_words}" if child.last_words else ""
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        console.error(
            f"{child.name} exited unexpectedly ({how}); restarting in {delay:.1f}s "
            f"(crash {crashes.count} of {policy.max_crashes} allowed within {policy.window_seconds:g}s){last}"
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(Crashed),
        wait=backoff(policy, crashes),
        stop=crash_loop,
        before_sleep=announce,
        reraise=True,
    )
    first = True
    try:
        async for attempt in retrying:
            with attempt:
                if not first:
                    await _restart(child, ready, restarted)
                first = False
                code = await child.wait()
                crashes.record()
                raise Crashed(code)
    except Crashed as exc:
        raise CrashLoop(child, crashes.count, exc.code) from None
    raise AssertionError("unreachable: every attempt ends with Crashed")


async def _restart(child: Child, ready: Ready, restarted: Restarted) -> None:
    await child.drained(within=2.0)  # the dead process's last lines come before the new one's
    starting = asyncio.ensure_future(child.start())
    try:
        await asyncio.shield(starting)
    except asyncio.CancelledError:  # stopping: let the spawn finish, so that the stop finds the process and ends it
        await starting
        raise
    serving = asyncio.ensure_future(ready(child))
    exited = asyncio.ensure_future(child.wait())
    try:
        await asyncio.wait({serving, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in (serving, exited):
            future.cancel()
        await asyncio.gather(serving, exited, return_exceptions=True)
    if serving.done() and not serving.cancelled() and serving.exception() is None:
        restarted(child)
    # else it exited before serving: the caller's wait() returns at once and counts the crash
