"""Committed events on their way out: the in-process broker (announcements to the engine and to watchers) and the
per-run feeds of recent events that the watchers of a run share.

`Broker.publish` takes the events a transaction of this process has just committed (`app/transitions.py` calls it
after every commit); `Broker.announce` takes what other replicas announced (the store's LISTEN connection calls it).
"""

from __future__ import annotations

from services.runs.app.broker.broker import Announcement, Broker, Subscription, announcements, reannounce
from services.runs.app.broker.feeds import LogReader, RunFeed

__all__ = ["Announcement", "Broker", "LogReader", "RunFeed", "Subscription", "announcements", "reannounce"]
