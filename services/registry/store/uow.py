"""The registry's unit of work: one transaction, with its repositories."""

from __future__ import annotations

from services.common.db import UnitOfWork
from services.registry.store.agents import AgentRepository


class RegistryUnitOfWork(UnitOfWork):
    agents: AgentRepository

    def _open(self) -> None:
        self.agents = AgentRepository(self.connection)
