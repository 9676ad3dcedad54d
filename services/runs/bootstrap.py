"""Wires the runs service: database → servicer. Tests call `spec` with their settings."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from agentorch.runs.v1 import runs_service_pb2, runs_service_pb2_grpc
from services.common.bootstrap import open_database
from services.common.server import GrpcService, ServiceSpec
from services.runs.api.servicer import RunsServicer
from services.runs.config import RunsSettings

NAME = "runs"
MIGRATIONS = Path(__file__).parent / "store" / "migrations"
DESCRIPTOR = runs_service_pb2.DESCRIPTOR.services_by_name["RunsService"]


def spec(settings: RunsSettings) -> ServiceSpec:
    async def build(stack: AsyncExitStack) -> list[GrpcService]:
        await open_database(stack, NAME, settings.database, MIGRATIONS)
        servicer = RunsServicer()
        return [GrpcService(DESCRIPTOR, servicer, runs_service_pb2_grpc.add_RunsServiceServicer_to_server)]

    return ServiceSpec(name=NAME, server=settings.server, logging=settings.logging, auth=settings.auth, build=build)
