"""The supervisor of background tasks: restarts with back-off, health from failures and stalls, clean stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.common.settings import TaskSettings
from services.common.supervisor import Liveness, Supervisor

FAST = TaskSettings(
    restart_initial_seconds=0.001, restart_max_seconds=0.005, unhealthy_after_seconds=30, check_interval_seconds=60
)


class Clock:
    """The supervisor's notion of now, moved by the test (restart back-off still sleeps for real, briefly)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def supervisor(clock: Clock) -> AsyncIterator[Supervisor]:
    sup = Supervisor("test", FAST, clock=clock)
    yield sup
    await sup.stop()


async def test_a_failing_task_is_restarted_until_it_works(supervisor: Supervisor) -> None:
    runs = 0
    recovered = asyncio.Event()

    async def flaky(liveness: Liveness) -> None:
        nonlocal runs
        runs += 1
        if runs < 4:
            raise ConnectionError(f"database down (try {runs})")
        liveness.alive()
        recovered.set()
        await asyncio.Event().wait()  # then runs forever

    liveness = supervisor.spawn("flaky", flaky)
    await asyncio.wait_for(recovered.wait(), 5)
    assert runs == 4
    assert liveness.restarts == 3
    assert liveness.failures == 0  # progress reported: the streak is over
    assert liveness.failing_since is None
    assert await supervisor.evaluate() is True


async def test_a_task_that_returns_is_started_again(supervisor: Supervisor) -> None:
    starts = 0
    third = asyncio.Event()

    async def returns(liveness: Liveness) -> None:
        nonlocal starts
        starts += 1
        if starts == 3:
            third.set()
            await asyncio.Event().wait()

    liveness = supervisor.spawn("returns", returns)
    await asyncio.wait_for(third.wait(), 5)
    assert liveness.restarts == 2
    assert liveness.last_error == "TaskExited: returned"


async def test_failing_longer_than_the_limit_turns_unhealthy_then_recovers(
    supervisor: Supervisor, clock: Clock
) -> None:
    reported: list[bool] = []

    async def listener(healthy: bool) -> None:
        reported.append(healthy)

    supervisor.on_health_change(listener)
    database_up = asyncio.Event()
    failed_once = asyncio.Event()
    back = asyncio.Event()

    async def worker(liveness: Liveness) -> None:
        if not database_up.is_set():
            failed_once.set()
            raise OSError("connect call failed")
        liveness.alive()
        back.set()
        await asyncio.Event().wait()

    supervisor.spawn("worker", worker)
    await asyncio.wait_for(failed_once.wait(), 5)
    clock.now += 29
    assert await supervisor.evaluate() is True  # failing, but not for long enough yet
    clock.now += 2
    assert await supervisor.evaluate() is False
    assert "worker: failing for" in supervisor.problems()[0]
    assert "OSError: connect call failed" in supervisor.problems()[0]
    database_up.set()
    await asyncio.wait_for(back.wait(), 5)
    assert await supervisor.evaluate() is True
    assert reported == [False, True]


async def test_a_task_that_stops_making_progress_turns_unhealthy(supervisor: Supervisor, clock: Clock) -> None:
    started = asyncio.Event()

    async def hangs(liveness: Liveness) -> None:
        liveness.alive()
        started.set()
        await asyncio.Event().wait()  # a query on a half-open connection: never returns, never fails

    supervisor.spawn("hangs", hangs, stall_seconds=10)
    await asyncio.wait_for(started.wait(), 5)
    clock.now += 39
    assert await supervisor.evaluate() is True
    clock.now += 2
    assert await supervisor.evaluate() is False
    assert supervisor.problems() == ["hangs: no progress for 41s"]


async def test_an_unrestartable_task_that_ends_is_unhealthy_for_good(supervisor: Supervisor) -> None:
    crash = asyncio.Event()

    async def front() -> None:
        await crash.wait()
        raise RuntimeError("address already in use")

    task = asyncio.get_running_loop().create_task(front())
    supervisor.watch("http front", task)
    assert await supervisor.evaluate() is True
    crash.set()
    with pytest.raises(RuntimeError):
        await task
    assert await supervisor.evaluate() is False
    assert supervisor.problems() == ["http front: stopped (RuntimeError: address already in use)"]


async def test_a_forgotten_task_may_end_without_harm(supervisor: Supervisor) -> None:
    done = asyncio.Event()

    async def front() -> None:
        await done.wait()

    task = asyncio.get_running_loop().create_task(front())
    supervisor.watch("http front", task)
    supervisor.forget("http front")
    done.set()
    await task
    assert await supervisor.evaluate() is True


async def test_cancel_stops_a_task_even_if_it_swallows_the_cancellation(supervisor: Supervisor) -> None:
    entered = asyncio.Event()
    starts = 0

    async def stubborn(liveness: Liveness) -> None:
        nonlocal starts
        starts += 1
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return  # what asyncio.wait_for may do on Python 3.11 when its inner future completes at once

    supervisor.spawn("stubborn", stubborn)
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.wait_for(supervisor.cancel("stubborn"), 5)
    assert starts == 1
    assert supervisor.status() == {}


async def test_names_are_unique(supervisor: Supervisor) -> None:
    async def idle(liveness: Liveness) -> None:
        await asyncio.Event().wait()

    supervisor.spawn("loop", idle)
    with pytest.raises(ValueError, match="already supervised"):
        supervisor.spawn("loop", idle)
