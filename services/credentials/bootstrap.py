"""Wires the vault: key ring → database → use cases → servicer. Tests call `spec` with their settings.

A missing or malformed key ring stops the process at start-up with a message naming what to configure.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from agentorch.credentials.v1 import credentials_service_pb2, credentials_service_pb2_grpc
from services.common.bootstrap import open_database
from services.common.server import GrpcService, ServiceSpec
from services.common.supervisor import Supervisor
from services.credentials.api.servicer import CredentialsServicer
from services.credentials.app.vault import VaultService
from services.credentials.config import CredentialsSettings
from services.credentials.store.uow import VaultUnitOfWork

NAME = "credentials"
MIGRATIONS = Path(__file__).parent / "store" / "migrations"
DESCRIPTOR = credentials_service_pb2.DESCRIPTOR.services_by_name["CredentialsService"]


def spec(settings: CredentialsSettings) -> ServiceSpec:
    async def build(stack: AsyncExitStack, supervisor: Supervisor) -> list[GrpcService]:
        keys = settings.vault.key_ring()
        engine = await open_database(stack, supervisor, NAME, settings.database, MIGRATIONS)
        vault = VaultService(lambda: VaultUnitOfWork(engine), keys, settings.vault)
        servicer = CredentialsServicer(vault)
        return [
            GrpcService(DESCRIPTOR, servicer, credentials_service_pb2_grpc.add_CredentialsServiceServicer_to_server)
        ]

    return ServiceSpec(
        name=NAME,
        server=settings.server,
        logging=settings.logging,
        auth=settings.auth,
        build=build,
        tasks=settings.tasks,
    )
