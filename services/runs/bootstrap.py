"""Wires the runs service: database → engine (with its executor and announcer) → use cases → servicer.

Tests call `spec(settings, executor=...)` to plug in a scripted agent executor.
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from pathlib import Path

from agentorch.runs.v1 import runs_service_pb2, runs_service_pb2_grpc
from services.common.bootstrap import open_database
from services.common.channels import internal_channel
from services.common.principals import KeyRing
from services.common.server import GrpcService, ServiceSpec
from services.common.supervisor import Supervisor
from services.runs.api.servicer import RunsServicer
from services.runs.app.checkpoints import CheckpointService
from services.runs.app.engine import Engine, EngineSettings
from services.runs.app.executor import StepExecutor
from services.runs.app.launch import Launcher
from services.runs.app.notify import Broker, reannounce
from services.runs.app.pg_listener import PgAnnouncer
from services.runs.app.runs import RunControls, RunQueries
from services.runs.app.watch import Watcher
from services.runs.clients.credentials import CredentialsClient
from services.runs.clients.registry import RegistryClient
from services.runs.config import RunsSettings
from services.runs.executors.dispatch import AgentExecutor
from services.runs.store.pinned import PinnedCache
from services.runs.store.runs import StoredEvent
from services.runs.store.uow import RunsUnitOfWork

NAME = "runs"
LISTENER_TASK = "LISTEN connection"
MIGRATIONS = Path(__file__).parent / "store" / "migrations"
DESCRIPTOR = runs_service_pb2.DESCRIPTOR.services_by_name["RunsService"]


def spec(settings: RunsSettings, *, executor: StepExecutor | None = None, worker_id: str | None = None) -> ServiceSpec:
    async def build(stack: AsyncExitStack, supervisor: Supervisor) -> list[GrpcService]:
        engine_db = await open_database(stack, supervisor, NAME, settings.database, MIGRATIONS)

        pinned = PinnedCache(settings.engine.pinned_cache_size)

        def uow() -> RunsUnitOfWork:
            return RunsUnitOfWork(engine_db, pinned=pinned)

        def reader() -> RunsUnitOfWork:  # watch streams only read: no write lock on SQLite
            return RunsUnitOfWork(engine_db, read_only=True)

        keys = KeyRing.from_settings(settings.auth)

        async def read_log(run_id: str, after: int, limit: int) -> list[StoredEvent]:
            async with reader() as uow:
                return await uow.runs.events(run_id, after=after, limit=limit)

        broker = Broker(read_log)
        config = settings.engine
        engine_settings = EngineSettings(
            lease_seconds=config.lease_seconds,
            batch_size=config.batch_size,
            max_concurrency=config.max_concurrency,
            idle_wait_seconds=config.idle_wait_seconds,
            retention_days=config.retention_days,
            template_limits=settings.templates.limits(),
        )
        step_executor = executor
        if step_executor is None:
            credentials_channel = internal_channel(settings.clients.credentials)
            stack.push_async_callback(credentials_channel.close)
            agent_executor = AgentExecutor(
                CredentialsClient(credentials_channel, keys),
                max_connections=config.max_concurrency,
                egress=settings.agents.policy("AGENTORCH_RUNS_AGENTS__ALLOWED_NETWORKS"),
            )
            stack.push_async_callback(agent_executor.aclose)  # closes after the engine stopped (stack order)
            step_executor = agent_executor
        worker = worker_id or f"runs-{uuid.uuid4().hex[:12]}"
        notify = None
        if settings.database.is_postgresql:
            announcer = PgAnnouncer(
                settings.database.url.get_secret_value(),
                broker,
                worker,
                resync=lambda since: reannounce(broker, reader, since),
                keepalive_seconds=settings.database.probe_interval_seconds,
                timeout_seconds=settings.database.probe_timeout_seconds,
            )
            supervisor.spawn(LISTENER_TASK, announcer.run, stall_seconds=settings.database.probe_interval_seconds * 2)
            stack.push_async_callback(supervisor.cancel, LISTENER_TASK)
            notify = announcer.payloads
        engine = Engine(uow, step_executor, broker, engine_settings, worker_id=worker, notify=notify)
        registry_channel = internal_channel(settings.clients.registry)
        stack.push_async_callback(registry_channel.close)
        registry = RegistryClient(registry_channel, keys)
        queries = RunQueries(uow, registry)
        servicer = RunsServicer(
            launcher=Launcher(uow, registry, engine),
            queries=queries,
            controls=RunControls(engine, queries, uow),
            checkpoints=CheckpointService(uow, engine, queries),
            watcher=Watcher(reader, broker, RunQueries(reader), heartbeat_seconds=config.heartbeat_seconds),
        )
        await engine.start(supervisor)
        stack.push_async_callback(engine.stop)
        return [GrpcService(DESCRIPTOR, servicer, runs_service_pb2_grpc.add_RunsServiceServicer_to_server)]

    return ServiceSpec(
        name=NAME,
        server=settings.server,
        logging=settings.logging,
        auth=settings.auth,
        build=build,
        tasks=settings.tasks,
    )
