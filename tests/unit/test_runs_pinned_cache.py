"""The replica's cache of what active runs were launched with: bounded, least recently used out."""

from __future__ import annotations

from services.runs.domain.model import RunSpec
from services.runs.store.pinned import Pinned, PinnedCache

SPEC = RunSpec(phases=("main",), steps=())


def entry(org: str = "acme") -> Pinned:
    return Pinned(org, SPEC, {"topic": "x"}, {})


def test_keeps_at_most_capacity_entries_dropping_the_least_recently_used() -> None:
    cache = PinnedCache(2)
    cache.put("a", entry())
    cache.put("b", entry())
    assert cache.get("a") is not None  # a is now the most recently used
    cache.put("c", entry())
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert len(cache) == 2


def test_discard_forgets_and_zero_capacity_keeps_nothing() -> None:
    cache = PinnedCache(5)
    cache.put("a", entry())
    cache.discard("a")
    cache.discard("never-there")
    assert cache.get("a") is None
    off = PinnedCache(0)
    off.put("a", entry())
    assert off.get("a") is None
    assert len(off) == 0
