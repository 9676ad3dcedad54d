"""`agentorch up` keeping its services alive: the crash window, the back-off, and the keeper that restarts a child
until it crash-loops (with a stand-in child; the real processes are in tests/e2e/test_up.py)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pytest
from tenacity import RetryCallState

from cli.output import Console
from cli.restart import CrashHistory, CrashLoop, CrashPolicy, backoff, keep_alive


def test_crashes_count_within_the_window_only() -> None:
    now = [1000.0]  # the history's clock, moved by the test
    history = CrashHistory(60, lambda: now[0])
    assert [history.record() for _ in range(3)] == [1, 2, 3]
    now[0] += 59
    assert history.record() == 4
    now[0] += 2  # the first three are more than a minute old
    assert history.count == 1


def test_the_back_off_doubles_with_the_recent_crashes_and_starts_over_after_a_quiet_window() -> None:
    now = [1000.0]
    policy = CrashPolicy(max_crashes=10, window_seconds=60, initial_backoff=0.5, max_backoff=5)
    history = CrashHistory(policy.window_seconds, lambda: now[0])
    wait = backoff(policy, history)
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    delays = []
    for attempt in range(1, 7):
        history.record()
        state.attempt_number = attempt
        delays.append(wait(state))
    assert delays == [0.5, 1, 2, 4, 5, 5]
    now[0] += 61
    history.record()
    state.attempt_number = 7  # tenacity's own count goes on; the window's started over
    assert wait(state) == 0.5


@pytest.mark.parametrize(("max_crashes", "window"), [(0, 60), (1, 0)])
def test_a_policy_needs_a_crash_and_a_window(max_crashes: int, window: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        CrashPolicy(max_crashes=max_crashes, window_seconds=window)


class Stub:
    """A child that exits as soon as it is waited on (exit code 3), `starts` times started again."""

    def __init__(self) -> None:
        self.name = "runs"
        self.pid = 100
        self.last_words = "RuntimeError: boom"
        self.starts = 0

    async def wait(self) -> int:
        await asyncio.sleep(0)
        return 3

    async def start(self) -> None:
        self.starts += 1
        self.pid += 1

    async def drained(self, within: float) -> None:
        return None


async def test_the_keeper_restarts_a_crashed_child_until_it_crash_loops() -> None:
    child, err = Stub(), io.BytesIO()
    console = Console(["runs"], out=io.BytesIO(), err=err)
    announced: list[int] = []

    async def ready(_: Any) -> None:
        return None

    policy = CrashPolicy(max_crashes=3, window_seconds=600, initial_backoff=0.001, max_backoff=0.002)
    with pytest.raises(CrashLoop) as stopped:
        await asyncio.wait_for(keep_alive(child, policy, console, ready, lambda c: announced.append(c.pid)), 5)  # type: ignore[arg-type]
    assert (stopped.value.crashes, stopped.value.code) == (3, 3)
    assert child.starts == 2  # crash 1 → restart, crash 2 → restart, crash 3: a loop
    assert announced == [101, 102]  # each restart's new pid
    logged = err.getvalue().decode().splitlines()
    assert logged == [
        "agentorch up: runs exited unexpectedly (exit code 3); restarting in 0.0s (crash 1 of 3 allowed within 600s); "
        "last output: RuntimeError: boom",
        "agentorch up: runs exited unexpectedly (exit code 3); restarting in 0.0s (crash 2 of 3 allowed within 600s); "
        "last output: RuntimeError: boom",
    ]
