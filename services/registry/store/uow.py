"""The registry's unit of work: one transaction, with its repositories."""

from __future__ import annotations

from services.common.db import UnitOfWork
from services.registry.store.agents import AgentRepository
from services.registry.store.orchestrations import OrchestrationRepository


class RegistryUnitOfWork(UnitOfWork):
    agents: AgentRepository
    orchestrations: OrchestrationRepository

    def _open(self) -> None:
        self.agents = AgentRepository(self.connection)
        self.orchestrations = OrchestrationRepository(self.connection)
