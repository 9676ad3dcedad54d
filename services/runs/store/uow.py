"""The runs service's unit of work: one transaction, with its repositories."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import UnitOfWork
from services.runs.store.checkpoints import CheckpointRepository
from services.runs.store.pinned import PinnedCache
from services.runs.store.runs import RunRepository


class RunsUnitOfWork(UnitOfWork):
    runs: RunRepository
    checkpoints: CheckpointRepository

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False, pinned: PinnedCache | None = None) -> None:
        super().__init__(engine, read_only=read_only)
        self._pinned = pinned

    def _open(self) -> None:
        self.runs = RunRepository(self.connection, self._pinned)
        self.checkpoints = CheckpointRepository(self.connection)
