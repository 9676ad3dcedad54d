"""A closed-loop load: `concurrency` runs in flight at all times, each slot launching its next run as soon as its
previous one ended. Run completions are read from the runs table every few milliseconds (one indexed query for
all runs in flight, 40 times a second), not through WatchRun, so that measuring does not add watchers to the
system under test."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from agentorch.runs.v1 import run_pb2
from bench.platform import RunsCluster, run_id
from bench.stats import latency_ms

POLL_SECONDS = 0.025


@dataclass(frozen=True)
class Completed:
    run_id: str
    launched: float  # wall clock (time.time()) just before CreateRun was sent
    ended: float  # the run's ended_at (written by the replica that ended it; same host clock)
    status: str


@dataclass
class SteadyLoad:
    cluster: RunsCluster
    orchestration: str
    concurrency: int
    on_launch: Callable[[run_pb2.Run], None] | None = None
    completed: list[Completed] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._waiting: dict[str, tuple[float, asyncio.Future[None]]] = {}
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._poller: asyncio.Task[None] | None = None

    async def __aenter__(self) -> SteadyLoad:
        self._poller = asyncio.create_task(self._poll(), name="load-poller")
        self._tasks = [asyncio.create_task(self._slot(), name=f"load-slot-{i}") for i in range(self.concurrency)]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self, drain_seconds: float = 30.0) -> None:
        """Stop launching; let the runs in flight end (up to `drain_seconds`), then stop following them."""
        self._stopping = True
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=drain_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def _slot(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            launched = time.time()
            try:
                run = await self.cluster.launch(self.orchestration)
            except grpc.aio.AioRpcError as exc:
                key = f"CreateRun {exc.code().name}"
                self.errors[key] = self.errors.get(key, 0) + 1
                await asyncio.sleep(0.05)
                continue
            if self.on_launch is not None:
                self.on_launch(run)
            done: asyncio.Future[None] = loop.create_future()
            self._waiting[run_id(run)] = (launched, done)
            await done

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            if not self._waiting:
                continue
            for row in await self.cluster.ended(list(self._waiting)):
                launched, done = self._waiting.pop(row["id"])
                self.completed.append(Completed(row["id"], launched, row["ended_at"].timestamp(), row["status"]))
                if not done.done():
                    done.set_result(None)

    def window(self, start: dt.datetime, end: dt.datetime) -> tuple[int, dict[str, float | int | None], int]:
        """Runs that ended within [start, end): how many, their launch → end latency, how many did not complete."""
        lo, hi = start.timestamp(), end.timestamp()
        inside = [c for c in self.completed if lo <= c.ended < hi]
        failed = sum(1 for c in inside if c.status != "completed")
        return len(inside), latency_ms([c.ended - c.launched for c in inside]), failed
