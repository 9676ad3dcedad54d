"""RegistryService servicer: proto → use case → proto, one mixin per resource. No business logic here; domain
errors become statuses in the shared interceptor (services.common.grpc_errors)."""

from __future__ import annotations

from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from services.registry.api.agents import AgentsApi
from services.registry.api.orchestrations import OrchestrationsApi
from services.registry.api.plans import PlansApi
from services.registry.app.agents import AgentService
from services.registry.app.orchestrations import OrchestrationService
from services.registry.app.plans import PlanService


class RegistryServicer(AgentsApi, OrchestrationsApi, PlansApi, pb_grpc.RegistryServiceServicer):
    def __init__(self, agents: AgentService, orchestrations: OrchestrationService, plans: PlanService) -> None:
        self._agents = agents
        self._orchestrations = orchestrations
        self._plans = plans
