"""Announcing committed events: to the engine (new work) and to watchers (new events), in-process and across
replicas.

An announcement carries no event data, only "run R of organization O has events up to sequence N". Watchers take
the events from their run's shared feed (feeds.py: filled by the committing transaction in this process, or by one
log read per announcement from another replica) or, when behind it, from the log at their own pace: a slow
watcher never holds anything up and never misses an event. Across replicas, announcements travel over PostgreSQL
LISTEN/NOTIFY (`store/listener.py` feeds what other replicas announce into `Broker.announce`); on the embedded
database there is one process, and the in-process broker is all there is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from services.runs.app.broker.feeds import LogReader, RunFeed
from services.runs.app.unit_of_work import UnitOfWorkFactory
from services.runs.domain.records import StoredEvent


@dataclass(frozen=True)
class Announcement:
    run_id: str
    organization_slug: str
    sequence: int
    run_status: str


def announcements(events: Sequence[StoredEvent]) -> list[Announcement]:
    """The latest sequence of each run among `events`."""
    latest: dict[str, Announcement] = {}
    for ev in events:
        latest[ev.run_id] = Announcement(ev.run_id, ev.organization_slug, ev.sequence, ev.run_status)
    return list(latest.values())


class Subscription:
    """A coalescing wake-up: `wait()` returns once something was announced since the last wait. A run watcher's
    subscription also carries the run's shared feed (see feeds.py)."""

    def __init__(self, on_close: Callable[[Subscription], None], feed: RunFeed | None = None) -> None:
        self._event = asyncio.Event()
        self._on_close = on_close
        self._pending: dict[str, Announcement] = {}
        self.feed = feed

    def notify(self, announcement: Announcement) -> None:
        self._pending[announcement.run_id] = announcement  # one entry per run: bounded, however slow the reader
        self._event.set()

    def drain(self) -> list[Announcement]:
        """The latest announcement of every run announced since the last drain."""
        pending, self._pending = list(self._pending.values()), {}
        return pending

    async def wait(self, seconds: float) -> bool:
        if not self._event.is_set():
            try:
                async with asyncio.timeout(seconds):  # a timer, not a task per wait: watchers wait a lot
                    await self._event.wait()
            except TimeoutError:
                return False
        self._event.clear()
        return True

    def close(self) -> None:
        self._on_close(self)


class Broker:
    """In-process fan-out of committed events to run watchers (through one feed per watched run), organization
    watchers and the engine. `reader` lets a feed read what another replica announced from the log."""

    def __init__(self, reader: LogReader | None = None) -> None:
        self._reader = reader
        self._by_run: dict[str, set[Subscription]] = defaultdict(set)
        self._feeds: dict[str, RunFeed] = {}
        self._by_org: dict[str, set[Subscription]] = defaultdict(set)
        self._work_listeners: list[Callable[[], None]] = []
        self._announcement_listeners: list[Callable[[Announcement], None]] = []

    def on_work(self, callback: Callable[[], None]) -> None:
        self._work_listeners.append(callback)

    def on_announcement(self, callback: Callable[[Announcement], None]) -> None:
        """`callback` sees every announcement (a run's latest sequence and status), local or from another replica."""
        self._announcement_listeners.append(callback)

    def subscribe_run(self, run_id: str) -> Subscription:
        feed = self._feeds.get(run_id)
        if feed is None:
            feed = self._feeds[run_id] = RunFeed(run_id, lambda latest: self._notify_run(latest))
        subscription = Subscription(self._unsubscribe_run(run_id), feed)
        self._by_run[run_id].add(subscription)
        return subscription

    def subscribe_organization(self, organization_slug: str) -> Subscription:
        subscription = Subscription(lambda sub: self._drop(self._by_org, organization_slug, sub))
        self._by_org[organization_slug].add(subscription)
        return subscription

    def publish(self, events: Sequence[StoredEvent]) -> None:
        """Events this process has just committed: straight into the watched runs' feeds, then announced."""
        by_run: dict[str, list[StoredEvent]] = defaultdict(list)
        for ev in events:
            if ev.run_id in self._feeds:
                by_run[ev.run_id].append(ev)
        for run_id, batch in by_run.items():
            feed = self._feeds[run_id]
            if not feed.extend(batch):  # an earlier commit of the run is not in the feed yet: read the log
                feed.want(batch[-1].sequence, self._reader)
        self.announce(announcements(events))

    def announce(self, announcements: Iterable[Announcement]) -> None:
        """Runs that have new events up to the announced sequence (from this process or another replica)."""
        any_work = False
        for announcement in announcements:
            any_work = True
            feed = self._feeds.get(announcement.run_id)
            if feed is not None:
                feed.want(announcement.sequence, self._reader)  # nothing to do if the feed has it already
            for subscription in tuple(self._by_run.get(announcement.run_id, ())):
                subscription.notify(announcement)
            for subscription in tuple(self._by_org.get(announcement.organization_slug, ())):
                subscription.notify(announcement)
            for listener in self._announcement_listeners:
                listener(announcement)
        if any_work:
            self.wake_workers()

    def wake_workers(self) -> None:
        for callback in self._work_listeners:
            callback()

    def watched(self) -> tuple[list[str], list[str]]:
        """The runs and the organizations that have watchers on this replica."""
        return list(self._by_run), list(self._by_org)

    @property
    def watcher_count(self) -> int:
        return sum(len(v) for v in self._by_run.values()) + sum(len(v) for v in self._by_org.values())

    def _notify_run(self, latest: StoredEvent) -> None:
        announcement = Announcement(latest.run_id, latest.organization_slug, latest.sequence, latest.run_status)
        for subscription in tuple(self._by_run.get(latest.run_id, ())):
            subscription.notify(announcement)

    def _unsubscribe_run(self, run_id: str) -> Callable[[Subscription], None]:
        def unsubscribe(subscription: Subscription) -> None:
            self._drop(self._by_run, run_id, subscription)
            if run_id not in self._by_run:
                feed = self._feeds.pop(run_id, None)
                if feed is not None:
                    feed.close()

        return unsubscribe

    @staticmethod
    def _drop(index: dict[str, set[Subscription]], key: str, subscription: Subscription) -> None:
        subscribers = index.get(key)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del index[key]


async def reannounce(broker: Broker, uow_factory: UnitOfWorkFactory, since: dt.datetime) -> None:
    """Announce again the latest state of every watched run, and of the watched organizations' runs changed since
    `since`: what a replica whose LISTEN connection was lost may have missed from other replicas."""
    run_ids, organizations = broker.watched()
    if run_ids or organizations:
        async with uow_factory() as uow:
            found = await uow.runs.latest_sequences(run_ids, organizations, since)
        broker.announce(Announcement(*row) for row in found)
    broker.wake_workers()
