"""One shared tail of a run's event log per replica, for all of that run's watchers on it.

Without it, every WatchRun stream read the log itself on every announcement: 20 watchers of a run turned one commit
into 20 queries. A feed keeps the most recent events of a watched run in memory — handed over by the committing
transaction when the commit happened in this process, read once from the log when another replica announced it —
and every watcher whose cursor falls inside it reads from there. A watcher behind the feed (a replay, a slow
client) reads the log at its own pace, as before; the feed never waits for anyone.

The feed only ever holds a contiguous run of sequence numbers: a batch that would leave a gap is not appended but
makes the feed refresh itself from the log, so what a watcher takes from it is exactly the log's content.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from itertools import islice
from typing import Any

from services.common.logs import get_logger
from services.runs.domain.records import StoredEvent

log = get_logger("agentorch.runs.feeds")

# Reads the log: (run id, after sequence, limit) → events in sequence order.
LogReader = Callable[[str, int, int], Coroutine[Any, Any, list[StoredEvent]]]

CAPACITY = 256  # events kept per watched run
REFRESH_PAGE = 500
START_WITH = 64  # events an empty feed reads before the announced one


class RunFeed:
    def __init__(self, run_id: str, on_change: Callable[[StoredEvent], None], capacity: int = CAPACITY) -> None:
        self.run_id = run_id
        self._on_change = on_change  # called with the newest event after every append
        self._events: deque[StoredEvent] = deque(maxlen=capacity)
        self._wanted = 0  # the highest sequence announced; above `last` means a refresh is due
        self._refresh: asyncio.Task[None] | None = None
        self._reads: dict[int, asyncio.Task[list[StoredEvent]]] = {}  # log reads in flight, by cursor
        self._organization: asyncio.Task[str | None] | None = None

    async def organization(self, lookup: Callable[[], Coroutine[Any, Any, str | None]]) -> str | None:
        """The run's organization (None: no such run), looked up once for all its watchers: it never changes."""
        if self._organization is None or (self._organization.done() and self._organization.exception()):
            self._organization = asyncio.get_running_loop().create_task(lookup())
        return await asyncio.shield(self._organization)

    async def read(self, cursor: int, reader: LogReader, page: int, *, use_feed: bool = True) -> list[StoredEvent]:
        """Up to `page` events after `cursor`: from the feed when it covers them (unless `use_feed` is False), else
        from the log — one read for all the watchers that ask for the same cursor at once (20 streams opening on a
        run replay it once). A read that reached the end of the log seeds or extends the feed."""
        covered = self.after(cursor) if use_feed else None
        if covered is not None:
            return covered[:page]
        pending = self._reads.get(cursor)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(reader(self.run_id, cursor, page))
            self._reads[cursor] = pending
            pending.add_done_callback(lambda _: self._reads.pop(cursor, None))
        events = await asyncio.shield(pending)
        if len(events) < page:
            self._absorb(events)
        return events

    def _absorb(self, events: Sequence[StoredEvent]) -> None:
        """Merge the log's last events (a read that reached its end) with what the feed holds, if contiguous."""
        if not events:
            return
        if not self._events or events[-1].sequence + 1 >= self._events[0].sequence:
            newer = [ev for ev in self._events if ev.sequence > events[-1].sequence]
            if not self._events or events[0].sequence <= self._events[0].sequence:
                self._events.clear()
                self._events.extend([*events, *newer])

    @property
    def last(self) -> int | None:
        return self._events[-1].sequence if self._events else None

    def ended_by(self, cursor: int) -> bool:
        """Whether the feed shows the run's final event at or before `cursor` (nothing more will come)."""
        return bool(self._events) and self._events[-1].sequence <= cursor and self._events[-1].final

    @property
    def refreshing(self) -> bool:
        return self._refresh is not None and not self._refresh.done()

    async def settled(self) -> None:
        """Wait for a refresh in progress (if any) to finish."""
        if self._refresh is not None:
            await asyncio.shield(self._refresh)

    def after(self, cursor: int) -> list[StoredEvent] | None:
        """The events after `cursor` if the feed covers them ([] if there are none yet), or None if the cursor is
        before what the feed holds (read the log instead)."""
        if not self._events:
            return None
        first, last = self._events[0].sequence, self._events[-1].sequence
        if cursor < first - 1:
            return None
        if cursor >= last:
            return []
        return list(islice(self._events, cursor - first + 1, None))

    def extend(self, batch: Sequence[StoredEvent]) -> bool:
        """Append the part of `batch` (in sequence order) that follows on; False if it would leave a gap."""
        last = self.last
        fresh = [ev for ev in batch if last is None or ev.sequence > last]
        if not fresh:
            return True
        if last is not None and fresh[0].sequence != last + 1:
            return False
        self._events.extend(fresh)
        self._on_change(fresh[-1])
        return True

    def want(self, sequence: int, reader: LogReader | None) -> None:
        """The log has events up to `sequence`: make sure the feed gets them (one read, however many watchers)."""
        self._wanted = max(self._wanted, sequence)
        last = self.last
        if reader is None or (last is not None and last >= self._wanted):
            return
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.get_running_loop().create_task(self._catch_up(reader))

    async def _catch_up(self, reader: LogReader) -> None:
        try:
            while True:
                last = self.last
                if last is not None and last >= self._wanted:
                    return
                # An empty feed starts with the log's last few events, not its whole history.
                after = last if last is not None else max(0, self._wanted - START_WITH)
                events = await reader(self.run_id, after, REFRESH_PAGE)
                if not events:
                    return
                if not self.extend(events):  # cannot happen when reading from `last`; be safe anyway
                    self._events.clear()
                    self.extend(events)
        except Exception:
            # Watchers still see everything: they fall back to reading the log on their next heartbeat.
            log.exception("could not refresh a run's feed", run=self.run_id)

    def close(self) -> None:
        """The last watcher left: stop refreshing (log reads in flight finish for whoever still awaits them)."""
        if self._refresh is not None:
            self._refresh.cancel()
            self._refresh = None
