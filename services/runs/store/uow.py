"""The runs service's unit of work on SQLAlchemy (SQLite or PostgreSQL): one transaction, with its repositories.

It implements `services.runs.app.unit_of_work.RunsUnitOfWork`, the protocol the use cases are written against.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.db import UnitOfWork
from services.runs.store.checkpoints import SqlCheckpointRepository
from services.runs.store.pinned import PinnedCache
from services.runs.store.runs import SqlRunRepository
from services.runs.store.votes import SqlVoteRepository


class SqlRunsUnitOfWork(UnitOfWork):
    runs: SqlRunRepository
    checkpoints: SqlCheckpointRepository
    votes: SqlVoteRepository

    def __init__(self, engine: AsyncEngine, *, read_only: bool = False, pinned: PinnedCache | None = None) -> None:
        super().__init__(engine, read_only=read_only)
        self._pinned = pinned

    def _open(self) -> None:
        self.runs = SqlRunRepository(self.connection, self._pinned)
        self.checkpoints = SqlCheckpointRepository(self.connection)
        self.votes = SqlVoteRepository(self.connection)
