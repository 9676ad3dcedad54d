"""The runs service's unit of work: one transaction, with its repositories."""

from __future__ import annotations

from services.common.db import UnitOfWork
from services.runs.store.checkpoints import CheckpointRepository
from services.runs.store.runs import RunRepository


class RunsUnitOfWork(UnitOfWork):
    runs: RunRepository
    checkpoints: CheckpointRepository

    def _open(self) -> None:
        self.runs = RunRepository(self.connection)
        self.checkpoints = CheckpointRepository(self.connection)
