"""Announcing committed events: to the engine (new work) and to watchers (new events), in-process and across
replicas.

An announcement carries no event data, only "run R of organization O has events up to sequence N": watchers read
the events from the log themselves, at their own pace, so a slow watcher never holds anything up and never
misses an event. Across replicas, announcements travel over PostgreSQL LISTEN/NOTIFY (`pg_listener.py`); on the
embedded database there is one process, and the in-process broker is all there is.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from services.runs.store.runs import StoredEvent


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
    """A coalescing wake-up: `wait()` returns once something was announced since the last wait."""

    def __init__(self, on_close: Callable[[Subscription], None]) -> None:
        self._event = asyncio.Event()
        self._on_close = on_close
        self._pending: dict[str, Announcement] = {}

    def notify(self, announcement: Announcement) -> None:
        self._pending[announcement.run_id] = announcement  # one entry per run: bounded, however slow the reader
        self._event.set()

    def drain(self) -> list[Announcement]:
        """The latest announcement of every run announced since the last drain."""
        pending, self._pending = list(self._pending.values()), {}
        return pending

    async def wait(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._event.wait(), seconds)
        except TimeoutError:
            return False
        self._event.clear()
        return True

    def close(self) -> None:
        self._on_close(self)


class Broker:
    """In-process fan-out of announcements to run watchers, organization watchers and the engine."""

    def __init__(self) -> None:
        self._by_run: dict[str, set[Subscription]] = defaultdict(set)
        self._by_org: dict[str, set[Subscription]] = defaultdict(set)
        self._work_listeners: list[Callable[[], None]] = []

    def on_work(self, callback: Callable[[], None]) -> None:
        self._work_listeners.append(callback)

    def subscribe_run(self, run_id: str) -> Subscription:
        subscription = Subscription(lambda sub: self._drop(self._by_run, run_id, sub))
        self._by_run[run_id].add(subscription)
        return subscription

    def subscribe_organization(self, organization_slug: str) -> Subscription:
        subscription = Subscription(lambda sub: self._drop(self._by_org, organization_slug, sub))
        self._by_org[organization_slug].add(subscription)
        return subscription

    def announce(self, announcements: Iterable[Announcement]) -> None:
        any_work = False
        for announcement in announcements:
            any_work = True
            for subscription in tuple(self._by_run.get(announcement.run_id, ())):
                subscription.notify(announcement)
            for subscription in tuple(self._by_org.get(announcement.organization_slug, ())):
                subscription.notify(announcement)
        if any_work:
            self.wake_workers()

    def wake_workers(self) -> None:
        for callback in self._work_listeners:
            callback()

    @property
    def watcher_count(self) -> int:
        return sum(len(v) for v in self._by_run.values()) + sum(len(v) for v in self._by_org.values())

    @staticmethod
    def _drop(index: dict[str, set[Subscription]], key: str, subscription: Subscription) -> None:
        subscribers = index.get(key)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del index[key]
