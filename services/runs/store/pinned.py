"""What a run was launched with — its parsed definition, inputs and agent snapshot — kept in memory while it is active.

These never change after launch (a run is pinned), so a replica can keep them instead of reading and parsing the
definition in every transition: the hot path then locks and reads only the run's few mutable columns. The cache is
bounded (least recently used out) and a run leaves it as soon as it waits (paused, at a checkpoint) or ends, so a
waiting run holds no memory in any replica. Any replica can (re)load an entry from the `runs` row at any time.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from services.runs.domain.model import RunSpec


@dataclass(frozen=True)
class Pinned:
    organization_slug: str
    spec: RunSpec
    inputs: dict[str, Any]
    agents: dict[str, Any]
    forbid_self_approval: bool = False  # i14-decisions: the launcher's organization default, pinned at launch


class PinnedCache:
    def __init__(self, capacity: int = 1000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, Pinned] = OrderedDict()

    def get(self, run_id: str) -> Pinned | None:
        entry = self._entries.get(run_id)
        if entry is not None:
            self._entries.move_to_end(run_id)
        return entry

    def put(self, run_id: str, entry: Pinned) -> None:
        if self._capacity <= 0:
            return
        self._entries[run_id] = entry
        self._entries.move_to_end(run_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def discard(self, run_id: str) -> None:
        self._entries.pop(run_id, None)

    def __len__(self) -> int:
        return len(self._entries)
