"""Wires the registry: database → unit of work → use cases → servicer. Tests call `build` with their settings."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from agentorch.registry.v1 import registry_service_pb2, registry_service_pb2_grpc
from services.common.bootstrap import open_database
from services.common.server import GrpcService, ServiceSpec
from services.common.supervisor import Supervisor
from services.registry.api.servicer import RegistryServicer
from services.registry.app.agents import AgentService
from services.registry.app.orchestrations import OrchestrationService
from services.registry.app.plans import PlanService
from services.registry.config import RegistrySettings
from services.registry.store.uow import RegistryUnitOfWork

NAME = "registry"
MIGRATIONS = Path(__file__).parent / "store" / "migrations"
DESCRIPTOR = registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"]


def spec(settings: RegistrySettings) -> ServiceSpec:
    async def build(stack: AsyncExitStack, supervisor: Supervisor) -> list[GrpcService]:
        engine = await open_database(stack, supervisor, NAME, settings.database, MIGRATIONS)

        def uow() -> RegistryUnitOfWork:
            return RegistryUnitOfWork(engine)

        agents = AgentService(uow, settings.agents.policy("AGENTORCH_REGISTRY_AGENTS__ALLOWED_NETWORKS"))
        servicer = RegistryServicer(agents, OrchestrationService(uow), PlanService(uow))
        return [GrpcService(DESCRIPTOR, servicer, registry_service_pb2_grpc.add_RegistryServiceServicer_to_server)]

    return ServiceSpec(
        name=NAME,
        server=settings.server,
        logging=settings.logging,
        auth=settings.auth,
        build=build,
        tasks=settings.tasks,
    )
