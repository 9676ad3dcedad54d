"""Rendering a step's templates without holding up the event loop.

A template with loops, macros, calls or filters may take up to its time limit (`TemplateLimits.max_seconds`) to
render, or to fail: it renders on a small pool of worker threads, so that the replica keeps answering RPCs, health
checks and streams meanwhile; the deadline checked inside the render guarantees the thread ends. A template of
text, variables and conditions renders in microseconds and stays inline: the thread hop would cost more than the
render. The engine awaits renders inside its claiming transaction, so it also keeps count of the time its
threaded renders took (`spent`) to stop starting new ones in a transaction that has rendered for long enough.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from services.common.templating import DEFAULT_LIMITS, TemplateLimits, needs_thread

T = TypeVar("T")


class Renderer:
    def __init__(self, limits: TemplateLimits = DEFAULT_LIMITS, threads: int = 2) -> None:
        self.limits = limits
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self.spent = 0.0  # seconds of threaded renders so far (the engine reads differences)

    @staticmethod
    def threaded(sources: Sequence[str]) -> bool:
        """Whether rendering `sources` goes to a worker thread."""
        return any(needs_thread(source) for source in sources)

    async def run(self, sources: Sequence[str], work: Callable[[], T]) -> T:
        """`work()` (which renders `sources`), inline or on a worker thread."""
        if not self.threaded(sources):
            return work()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._threads, thread_name_prefix="template-render")
        started = time.monotonic()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        finally:
            self.spent += time.monotonic() - started

    def close(self) -> None:
        """Stop the threads once their renders end (each within its deadline)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
