"""The shared per-run feed of a replica: contiguous, bounded, refreshed from the log once per announcement."""

from __future__ import annotations

import datetime as dt

from services.runs.app.broker import Announcement, Broker, RunFeed
from services.runs.domain.records import StoredEvent

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def ev(seq: int, run: str = "r1", status: str = "running") -> StoredEvent:
    return StoredEvent(run, "acme", seq, "step_started", "s", {}, status, NOW)


class Log:
    """A run's log as the store would return it, counting the reads."""

    def __init__(self, last: int) -> None:
        self.last = last
        self.reads: list[tuple[str, int, int]] = []

    async def __call__(self, run_id: str, after: int, limit: int) -> list[StoredEvent]:
        self.reads.append((run_id, after, limit))
        return [ev(n, run_id) for n in range(after + 1, min(self.last, after + limit) + 1)]


def feed(capacity: int = 8) -> tuple[RunFeed, list[int]]:
    changes: list[int] = []
    return RunFeed("r1", lambda latest: changes.append(latest.sequence), capacity), changes


def test_an_empty_feed_covers_nothing_so_watchers_read_the_log() -> None:
    f, _ = feed()
    assert f.after(0) is None
    assert f.last is None


def test_after_returns_what_follows_the_cursor_inside_the_feed_only() -> None:
    f, changes = feed()
    assert f.extend([ev(3), ev(4), ev(5)])
    assert [e.sequence for e in f.after(2) or []] == [3, 4, 5]
    assert [e.sequence for e in f.after(4) or []] == [5]
    assert f.after(5) == []
    assert f.after(1) is None  # event 2 is not in the feed: the log has it
    assert changes == [5]


def test_extend_skips_what_it_has_and_refuses_a_gap() -> None:
    f, changes = feed()
    f.extend([ev(1), ev(2)])
    assert f.extend([ev(2), ev(3)])  # overlap: only 3 is new
    assert [e.sequence for e in f.after(0) or []] == [1, 2, 3]
    assert not f.extend([ev(5)])  # 4 missing
    assert f.last == 3
    assert f.extend([ev(1)])  # all known: nothing to do
    assert changes == [2, 3]


def test_the_feed_keeps_only_its_capacity_of_recent_events() -> None:
    f, _ = feed(capacity=4)
    f.extend([ev(n) for n in range(1, 11)])
    assert [e.sequence for e in f.after(6) or []] == [7, 8, 9, 10]
    assert f.after(5) is None


async def test_an_announcement_is_read_once_from_the_log_whatever_the_number_of_watchers() -> None:
    log = Log(last=100)
    broker = Broker(log)
    subs = [broker.subscribe_run("r1") for _ in range(20)]
    broker.announce([Announcement("r1", "acme", 100, "running")])
    for sub in subs:
        assert await sub.wait(1)  # woken by the announcement (and again once the feed has the events)
    feed_ = subs[0].feed
    assert feed_ is not None
    await feed_.settled()
    assert feed_.last == 100
    assert len(log.reads) == 1
    assert log.reads[0][1] == 36  # an empty feed starts with the last 64 events before the announced one
    broker.announce([Announcement("r1", "acme", 100, "running")])  # already there: no read
    assert not feed_.refreshing
    assert len(log.reads) == 1
    for sub in subs:
        sub.close()


async def test_local_commits_go_straight_into_the_feed_and_a_gap_is_filled_from_the_log() -> None:
    log = Log(last=7)
    broker = Broker(log)
    sub = broker.subscribe_run("r1")
    assert sub.feed is not None
    broker.publish([ev(1), ev(2)])
    assert [e.sequence for e in sub.feed.after(0) or []] == [1, 2]
    assert log.reads == []
    assert await sub.wait(1)
    broker.publish([ev(6), ev(7)])  # 3-5 were committed elsewhere and not announced yet
    assert sub.feed.refreshing
    await sub.feed.settled()
    assert [e.sequence for e in sub.feed.after(0) or []] == [1, 2, 3, 4, 5, 6, 7]
    assert log.reads == [("r1", 2, 500)]
    sub.close()


async def test_the_feed_goes_when_its_last_watcher_leaves() -> None:
    broker = Broker(Log(last=0))
    first, second = broker.subscribe_run("r1"), broker.subscribe_run("r1")
    assert first.feed is second.feed
    first.close()
    broker.publish([ev(1)])
    assert second.feed is not None
    assert second.feed.last == 1
    second.close()
    third = broker.subscribe_run("r1")
    assert third.feed is not None
    assert third.feed.last is None  # a new feed: the old one was dropped
    third.close()
    assert broker.watcher_count == 0
