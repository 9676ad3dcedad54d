"""The registry's unit of work: one transaction, with its repositories."""

from __future__ import annotations

from services.common.db import UnitOfWork
from services.registry.store.agents import AgentRepository
from services.registry.store.orchestrations import OrchestrationRepository
from services.registry.store.plans import PlanRepository


class RegistryUnitOfWork(UnitOfWork):
    agents: AgentRepository
    orchestrations: OrchestrationRepository
    plans: PlanRepository

    def _open(self) -> None:
        self.agents = AgentRepository(self.connection)
        self.orchestrations = OrchestrationRepository(self.connection)
        self.plans = PlanRepository(self.connection)
