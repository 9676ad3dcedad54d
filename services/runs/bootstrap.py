"""Wires the runs service: database → write path and engine (with its executor and announcer) → use cases → servicer.

`spec(settings)` is what `__main__` serves. Tests call `spec(settings, executor=...)` to plug in a scripted agent
executor, and read what was wired from `RunsSpec.service` (the engine, the use cases) instead of reaching into the
server's private attributes.
"""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from agentorch.runs.v1 import runs_service_pb2, runs_service_pb2_grpc
from services.common.bootstrap import open_database
from services.common.channels import internal_channel
from services.common.principals import KeyRing
from services.common.server import GrpcService, ServiceSpec
from services.common.supervisor import Supervisor
from services.runs.api.servicer import RunsServicer
from services.runs.app.broker import Broker, reannounce
from services.runs.app.checkpoint_routing import CheckpointRouting
from services.runs.app.checkpoints import CheckpointService
from services.runs.app.engine import Engine
from services.runs.app.executor import StepExecutor
from services.runs.app.launch import Launcher
from services.runs.app.runs import RunControls, RunQueries
from services.runs.app.transitions import Transitions
from services.runs.app.unit_of_work import Notify
from services.runs.app.watch import Watcher
from services.runs.clients.credentials import CredentialDirectoryClient, CredentialsClient
from services.runs.clients.registry import RegistryClient
from services.runs.config import RunsSettings
from services.runs.domain.records import StoredEvent
from services.runs.executors.dispatch import AgentExecutor
from services.runs.store.listener import PgAnnouncer
from services.runs.store.pinned import PinnedCache
from services.runs.store.uow import SqlRunsUnitOfWork

NAME = "runs"
LISTENER_TASK = "LISTEN connection"
MIGRATIONS = Path(__file__).parent / "store" / "migrations"
DESCRIPTOR = runs_service_pb2.DESCRIPTOR.services_by_name["RunsService"]


@dataclass(frozen=True)
class RunsService:
    """What `build` wired for one process: the write path, the engine (worker) and the use cases behind the servicer."""

    broker: Broker
    transitions: Transitions
    engine: Engine
    launcher: Launcher
    queries: RunQueries
    controls: RunControls
    checkpoints: CheckpointService
    watcher: Watcher
    routing: CheckpointRouting | None = None  # reassign / extend (issue 14, i14-routing)


@dataclass
class RunsSpec(ServiceSpec):
    """The runs service's ServiceSpec; once built (the server started), `service` holds what was wired."""

    wired: RunsService | None = None

    @property
    def service(self) -> RunsService:
        if self.wired is None:
            raise RuntimeError("the runs service is not built yet: start a server with this spec first")
        return self.wired


def spec(settings: RunsSettings, *, executor: StepExecutor | None = None, worker_id: str | None = None) -> RunsSpec:
    async def build(stack: AsyncExitStack, supervisor: Supervisor) -> list[GrpcService]:
        engine_db = await open_database(stack, supervisor, NAME, settings.database, MIGRATIONS)

        pinned = PinnedCache(settings.engine.pinned_cache_size)

        def uow() -> SqlRunsUnitOfWork:
            return SqlRunsUnitOfWork(engine_db, pinned=pinned)

        def reader() -> SqlRunsUnitOfWork:  # watch streams only read: no write lock on SQLite
            return SqlRunsUnitOfWork(engine_db, read_only=True)

        keys = KeyRing.from_settings(settings.auth)

        async def read_log(run_id: str, after: int, limit: int) -> list[StoredEvent]:
            async with reader() as uow:
                return await uow.runs.events(run_id, after=after, limit=limit)

        broker = Broker(read_log)
        config = settings.engine
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
        notify: Notify | None = None
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
        transitions = Transitions(uow, broker, notify)
        engine = Engine(
            uow,
            transitions,
            step_executor,
            broker,
            config,
            template_limits=settings.templates.limits(),
            worker_id=worker,
        )
        registry_channel = internal_channel(settings.clients.registry)
        stack.push_async_callback(registry_channel.close)
        vault_channel = internal_channel(settings.clients.credentials)  # launch checks credential aliases exist
        stack.push_async_callback(vault_channel.close)
        registry = RegistryClient(registry_channel, keys)
        queries = RunQueries(uow, registry)
        service = RunsService(
            broker=broker,
            transitions=transitions,
            engine=engine,
            launcher=Launcher(uow, registry, transitions, CredentialDirectoryClient(vault_channel, keys)),
            queries=queries,
            controls=RunControls(transitions, queries, uow),
            checkpoints=CheckpointService(uow, transitions, queries),
            watcher=Watcher(reader, broker, RunQueries(reader), heartbeat_seconds=config.heartbeat_seconds),
            routing=CheckpointRouting(uow, transitions),
        )
        servicer = RunsServicer(
            launcher=service.launcher,
            queries=service.queries,
            controls=service.controls,
            checkpoints=service.checkpoints,
            watcher=service.watcher,
            routing=service.routing,
        )
        await engine.start(supervisor)
        stack.push_async_callback(engine.stop)
        runs_spec.wired = service
        return [GrpcService(DESCRIPTOR, servicer, runs_service_pb2_grpc.add_RunsServiceServicer_to_server)]

    runs_spec = RunsSpec(
        name=NAME,
        server=settings.server,
        logging=settings.logging,
        auth=settings.auth,
        build=build,
        tasks=settings.tasks,
    )
    return runs_spec
