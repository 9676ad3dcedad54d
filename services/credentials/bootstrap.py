"""Wires the credentials service: database → servicer. Tests call `spec` with their settings."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from agentorch.credentials.v1 import credentials_service_pb2, credentials_service_pb2_grpc
from services.common.bootstrap import open_database
from services.common.server import GrpcService, ServiceSpec
from services.credentials.api.servicer import CredentialsServicer
from services.credentials.config import CredentialsSettings

NAME = "credentials"
MIGRATIONS = Path(__file__).parent / "store" / "migrations"
DESCRIPTOR = credentials_service_pb2.DESCRIPTOR.services_by_name["CredentialsService"]


def spec(settings: CredentialsSettings) -> ServiceSpec:
    async def build(stack: AsyncExitStack) -> list[GrpcService]:
        await open_database(stack, NAME, settings.database, MIGRATIONS)
        servicer = CredentialsServicer()
        return [
            GrpcService(DESCRIPTOR, servicer, credentials_service_pb2_grpc.add_CredentialsServiceServicer_to_server)
        ]

    return ServiceSpec(name=NAME, server=settings.server, logging=settings.logging, auth=settings.auth, build=build)
