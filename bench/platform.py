"""The platform under test: one registry process for the whole session, the local reference agents when a
scenario calls agents, and per scenario a fresh runs schema served by 1..n runs replicas (processes).

Clients sign their principal with the benchmark's own internal key ring, which every process is given
(`AGENTORCH_<SVC>_AUTH__PRINCIPAL_KEYS`), exactly as the gateway would sign it. The benchmark reads results (run
completions, event times) straight from the runs schema with asyncpg: the measuring apparatus should not load
the system under test through its own API.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from google.protobuf import struct_pb2
from pydantic import SecretStr

from agentorch.registry.v1 import agent_pb2, orchestration_pb2
from agentorch.registry.v1 import registry_service_pb2 as reg_pb
from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from bench.postgres import BenchError, Database
from bench.processes import Process, free_port
from services.common.context import Principal
from services.common.principals import KeyRing
from services.common.settings import AuthSettings

AGENT = "bench-agent"
JWT_ISSUER = "agentorch-bench"
JWT_AUDIENCE = "agentorch"
Metadata = tuple[tuple[str, str | bytes], ...]

# Settings of every runs replica, as deploy/k8s/base/configmaps.yaml sets them in production (pool of 20, INFO logs,
# access log on); scenarios add their own ENGINE__* settings, and --runs-env overrides any of them.
LOOPBACK_NETWORKS = '["127.0.0.0/8", "::1/128"]'
RUNS_PRODUCTION_ENV = {
    "DATABASE__POOL_SIZE": "20",
    "LOGGING__LEVEL": "INFO",
    "LOGGING__FORMAT": "json",
    "SERVER__GRACE_SECONDS": "1",
}


def hs256_jwt(secret: str, claims: Mapping[str, Any], ttl_seconds: int = 3600) -> str:
    """A compact HS256 JWT (the gateway verifies it with the same secret)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    body = {**claims, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "iat": now, "exp": now + ttl_seconds}
    head = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + part(json.dumps(body).encode())
    signature = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return f"{head}.{part(signature)}"


def struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(value))
    return message


# --- definitions ----------------------------------------------------------------------------------------------------


def chain(prefix: str, count: int, **fields: Any) -> list[dict[str, Any]]:
    """`count` steps, each depending on the previous one: every step is its own engine transaction."""
    steps = []
    for i in range(count):
        step: dict[str, Any] = {"id": f"{prefix}{i}", **{k: (v(i) if callable(v) else v) for k, v in fields.items()}}
        if i:
            step["depends_on"] = [f"{prefix}{i - 1}"]
        steps.append(step)
    return steps


def definition(*phases: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "parameters": [],
        "phases": [{"id": f"p{i}", "steps": steps} for i, steps in enumerate(phases)],
    }


def noop_chain(steps: int = 10) -> dict[str, Any]:
    return definition(chain("n", steps, kind="noop"))


# Step kinds of the throughput chain (`--chain`): noop renders nothing; echo renders a plain template inline;
# echo-loop a template with a loop, which renders on a worker thread.
CHAIN_MESSAGES: dict[str, Any] = {
    "echo": lambda i: f"step {i} of {{{{ params.run }}}}",
    "echo-loop": lambda i: f"step {i}:{{% for n in range(10) %}} {{{{ n }}}}{{% endfor %}}",
}


def step_chain(kind: str, steps: int = 10) -> dict[str, Any]:
    """`steps` chained steps of `kind` (noop, echo or echo-loop), with the `run` parameter echo steps read."""
    if kind == "noop":
        return noop_chain(steps)
    document = definition(chain("n", steps, kind="echo", message=CHAIN_MESSAGES[kind]))
    document["parameters"] = [{"name": "run", "type": "string", "default": "the benchmark"}]
    return document


def noop_fan(steps: int) -> dict[str, Any]:
    """`steps` independent noop steps in one phase (a run with a long event log, written in few transactions)."""
    return definition([{"id": f"f{i}", "kind": "noop"} for i in range(steps)])


def gate() -> dict[str, Any]:
    """A human checkpoint, then one noop step (whose start ends the approval → next step latency)."""
    return definition(
        [
            {"id": "gate", "kind": "checkpoint", "checkpoint": {"title": "Go on?"}},
            {"id": "after", "kind": "noop", "depends_on": ["gate"]},
        ]
    )


def agent_chain(steps: int, slow_seconds: float) -> dict[str, Any]:
    """Agent steps calling the reference OpenAI-compatible agent, each call held `slow_seconds` by the agent."""
    return definition(
        chain("a", steps, kind="agent", agent=AGENT, prompt=lambda i: f"[slow:{slow_seconds:g}] step {i}")
    )


# --- the session: database, key ring, registry, agents -------------------------------------------------------------


@dataclass
class Session:
    """Everything shared by the scenarios of one benchmark run."""

    db: Database
    log_dir: Path
    runs_env: Mapping[str, str] = field(default_factory=dict)
    via_gateway: bool = False
    org: str = field(default_factory=lambda: f"bench-{uuid.uuid4().hex[:8]}")
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        key = base64.b64encode(os.urandom(32)).decode()
        self.key_json = json.dumps({"bench": key})
        auth = AuthSettings(principal_keys={"bench": SecretStr(key)}, token_ttl_seconds=3600)
        self.keys = KeyRing.from_settings(auth)
        self.jwt_secret = base64.b64encode(os.urandom(32)).decode()
        self.pepper_json = json.dumps({"bench": base64.b64encode(os.urandom(32)).decode()})
        self.agents_port = free_port()
        self.registry: Process | None = None
        self.agents: Process | None = None
        self._orchestrations: dict[str, str] = {}
        self._stack = AsyncExitStack()
        self._schemas: list[str] = []
        self.server_version = ""
        self.statements = False
        self._gateway_schema = ""  # one for every gateway process of the session (API keys)

    def metadata(self) -> Metadata:
        """A freshly signed org admin (valid one hour), as the gateway would forward it to a service."""
        principal = Principal(subject="bench@example.com", organization_slug=self.org, roles=frozenset({"admin"}))
        return self.keys.metadata(principal, issuer="bench")

    def bearer(self) -> str:
        """An HS256 JWT for the org admin (valid one hour), as an identity provider would issue it."""
        return hs256_jwt(self.jwt_secret, {"sub": "bench@example.com", "org": self.org, "roles": ["admin"]})

    def client_metadata(self) -> Metadata:
        """What a client sends: a bearer token to the gateway with --via-gateway, else a signed principal."""
        return (("authorization", f"Bearer {self.bearer()}"),) if self.via_gateway else self.metadata()

    @property
    def gateway_schema(self) -> str:
        """The schema of the session's gateways (their API keys), named once the first gateway is configured."""
        return self._gateway_schema

    def schema(self, name: str) -> str:
        schema = f"bench_{self.tag}_{name}"
        self._schemas.append(schema)
        return schema

    async def __aenter__(self) -> Session:
        try:
            return await self._start()
        except BaseException:
            await self.__aexit__()
            raise

    async def _start(self) -> Session:
        conn = await asyncpg.connect(self.db.dsn)
        try:
            self.server_version = str(await conn.fetchval("SHOW server_version"))
            try:
                if self.db.postmaster_pid:  # our throwaway cluster; never install anything into a --dsn database
                    await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                await conn.fetchval("SELECT count(*) FROM public.pg_stat_statements")
                self.statements = True
            except asyncpg.PostgresError:
                self.statements = False  # not preloaded (e.g. --dsn): no per-statement counts
        finally:
            await conn.close()
        registry_port = free_port()
        self.registry = Process(
            "registry",
            "services.registry",
            {
                "AGENTORCH_REGISTRY_DATABASE__URL": self.db.sqlalchemy_url,
                "AGENTORCH_REGISTRY_DATABASE__SCHEMA_NAME": self.schema("registry"),
                "AGENTORCH_REGISTRY_SERVER__PORT": str(registry_port),
                "AGENTORCH_REGISTRY_AUTH__PRINCIPAL_KEYS": self.key_json,
                "AGENTORCH_REGISTRY_LOGGING__LEVEL": "WARNING",
                "AGENTORCH_REGISTRY_AGENTS__ALLOWED_NETWORKS": LOOPBACK_NETWORKS,  # the benchmark's agent
            },
            self.log_dir,
            grpc_target=f"127.0.0.1:{registry_port}",
        )
        self._stack.callback(self.registry.stop)
        await self.registry.ready()
        channel = grpc.aio.insecure_channel(self.registry.grpc_target)
        self._stack.push_async_callback(channel.close)
        self.registry_stub = reg_grpc.RegistryServiceStub(channel)
        await self.registry_stub.CreateAgent(
            reg_pb.CreateAgentRequest(
                agent=agent_pb2.Agent(
                    organization_slug=self.org,
                    slug=AGENT,
                    display_name="Benchmark agent",
                    agent_yaml=f"name: {AGENT}\nprotocol: openai\n",
                    config=struct(
                        {
                            "protocol": "openai",
                            "endpoint": f"http://127.0.0.1:{self.agents_port}/v1",
                            "model": "reference",
                            "stream": False,
                            "timeout_seconds": 30,
                        }
                    ),
                )
            ),
            metadata=self.metadata(),
            timeout=10,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()
        await self._drop_schemas()

    async def _drop_schemas(self) -> None:
        try:
            conn = await asyncpg.connect(self.db.dsn)
        except (OSError, asyncpg.PostgresError):
            return
        try:
            for schema in self._schemas:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    async def orchestration(self, slug: str, document: dict[str, Any]) -> str:
        """Save `document` once as an orchestration of the benchmark agent; returns its resource name."""
        if slug not in self._orchestrations:
            reply = await self.registry_stub.CreateOrchestration(
                reg_pb.CreateOrchestrationRequest(
                    parent=f"organizations/{self.org}/agents/{AGENT}",
                    orchestration_id=slug,
                    orchestration=orchestration_pb2.Orchestration(display_name=slug),
                    version=orchestration_pb2.OrchestrationVersion(definition=struct(document)),
                ),
                metadata=self.metadata(),
                timeout=30,
            )
            self._orchestrations[slug] = reply.orchestration.name
        return self._orchestrations[slug]

    async def start_agents(self) -> Process:
        """The reference agents (A2A and OpenAI-compatible), started once, on first use."""
        if self.agents is None:
            a2a_port = free_port()
            self.agents = Process(
                "agents",
                "reference_agents",
                {},
                self.log_dir,
                args=("--a2a-port", str(a2a_port), "--openai-port", str(self.agents_port)),
                ready_url=f"http://127.0.0.1:{a2a_port}/.well-known/agent-card.json",
            )
            self._stack.callback(self.agents.stop)
            await self.agents.ready()
        return self.agents

    def gateway_env(self, port: int, runs_target: str) -> dict[str, str]:
        """The gateway in front of one runs replica: JWTs signed with the session's HS256 secret, no rate limit."""
        self._gateway_schema = self._gateway_schema or self.schema("gateway")
        settings = {
            "SERVER__PORT": str(port),
            "DATABASE__URL": self.db.sqlalchemy_url,
            "DATABASE__SCHEMA_NAME": self._gateway_schema,
            "AUTH__PRINCIPAL_KEYS": self.key_json,
            "JWT__HS256_SECRET": self.jwt_secret,
            "JWT__ISSUER": JWT_ISSUER,
            "JWT__AUDIENCE": JWT_AUDIENCE,
            "API_KEYS__PEPPERS": self.pepper_json,
            "RATE_LIMIT__ENABLED": "false",
            "BACKENDS__RUNS": runs_target,
            "BACKENDS__REGISTRY": self.registry.grpc_target if self.registry else "",
            "LOGGING__LEVEL": "INFO",
        }
        return {f"AGENTORCH_GATEWAY_{k}": v for k, v in settings.items()}

    @asynccontextmanager
    async def runs(
        self, name: str, replicas: int = 1, *, send_timeout: float | None = None, **engine: Any
    ) -> AsyncIterator[RunsCluster]:
        """`replicas` runs processes on a fresh schema (migrated by the first, then the others start); with
        --via-gateway, a gateway in front of the first, through which clients call. `send_timeout`: the servers'
        stream send timeout (SERVER__STREAM_SEND_TIMEOUT_SECONDS), default theirs."""
        cluster = RunsCluster(self, self.schema(f"runs_{name}"), engine, send_timeout)
        try:
            for index in range(replicas):
                await cluster.add_replica(f"runs-{name}-{index}")
            if self.via_gateway:
                await cluster.add_gateway(f"gateway-{name}")
            await cluster.open()
            yield cluster
        finally:
            await cluster.close()


# --- a runs schema and its replicas ---------------------------------------------------------------------------------


class RunsCluster:
    def __init__(
        self, session: Session, schema: str, engine: Mapping[str, Any], send_timeout: float | None = None
    ) -> None:
        self.session = session
        self.schema = schema
        self.engine = dict(engine)
        self.server = {} if send_timeout is None else {"SERVER__STREAM_SEND_TIMEOUT_SECONDS": str(send_timeout)}
        self.replicas: list[Process] = []
        self.stubs: list[pb_grpc.RunsServiceStub] = []
        self._channels: list[grpc.aio.Channel] = []
        self._db: asyncpg.Connection | None = None
        self._db_lock = asyncio.Lock()
        self.queries = 0  # statements the benchmark itself ran (each its own transaction)
        self.metadata = session.client_metadata()  # for calls through stub() (the gateway with --via-gateway)
        self.direct_metadata = session.metadata()  # for calls straight to a replica
        self.gateway: Process | None = None
        self._gateway_stub: pb_grpc.RunsServiceStub | None = None
        self._next = 0

    def env(self, port: int) -> dict[str, str]:
        session = self.session
        settings = {
            **RUNS_PRODUCTION_ENV,
            "DATABASE__URL": session.db.sqlalchemy_url,
            "DATABASE__SCHEMA_NAME": self.schema,
            "SERVER__PORT": str(port),
            "AUTH__PRINCIPAL_KEYS": session.key_json,
            "CLIENTS__REGISTRY": session.registry.grpc_target if session.registry else "",
            "CLIENTS__CREDENTIALS": "127.0.0.1:1",  # no vault: the benchmark's agent steps use no credentials
            "AGENTS__ALLOWED_NETWORKS": LOOPBACK_NETWORKS,  # the benchmark's agent listens on loopback
            **{f"ENGINE__{k.upper()}": str(v) for k, v in self.engine.items()},
            **self.server,
            **session.runs_env,
        }
        return {f"AGENTORCH_RUNS_{k}": v for k, v in settings.items()}

    async def add_replica(self, name: str) -> Process:
        port = free_port()
        process = Process(name, "services.runs", self.env(port), self.session.log_dir, grpc_target=f"127.0.0.1:{port}")
        self.replicas.append(process)
        await process.ready()
        channel = grpc.aio.insecure_channel(
            process.grpc_target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        self._channels.append(channel)
        self.stubs.append(pb_grpc.RunsServiceStub(channel))
        return process

    async def open(self) -> None:
        # One connection, not a pool: asyncpg's pool resets a connection on every release (4 more statements).
        self._db = await asyncpg.connect(self.session.db.dsn, server_settings={"search_path": self.schema})

    async def add_gateway(self, name: str) -> Process:
        port = free_port()
        env = self.session.gateway_env(port, self.replicas[0].grpc_target)
        env.update({f"AGENTORCH_GATEWAY_{k}": v for k, v in self.server.items()})
        self.gateway = Process(name, "gateway", env, self.session.log_dir, grpc_target=f"127.0.0.1:{port}")
        await self.gateway.ready()
        channel = grpc.aio.insecure_channel(
            self.gateway.grpc_target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        )
        self._channels.append(channel)
        self._gateway_stub = pb_grpc.RunsServiceStub(channel)
        return self.gateway

    @property
    def client_targets(self) -> list[str]:
        """Where clients call: the gateway, or every replica."""
        if self.gateway is not None:
            return [self.gateway.grpc_target]
        return [p.grpc_target for p in self.replicas if p.alive()]

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close(grace=None)
        if self.gateway is not None:
            self.gateway.stop()
        for process in self.replicas:
            process.stop()
        if self._db is not None:
            await self._db.close()

    def check_alive(self) -> None:
        for process in [*self.replicas, *([self.gateway] if self.gateway else [])]:
            if not process.alive() and process.popen.returncode != -9:
                raise BenchError(f"{process.name} exited ({process.popen.returncode}):\n{process.tail()}")

    def stub(self) -> pb_grpc.RunsServiceStub:
        """The gateway's stub with --via-gateway; else the live replicas' stubs in turn (calls spread over the
        replicas, as a load balancer would)."""
        if self._gateway_stub is not None:
            return self._gateway_stub
        live = [s for s, p in zip(self.stubs, self.replicas, strict=True) if p.alive()]
        self._next += 1
        return live[self._next % len(live)]

    async def launch(self, orchestration: str, *, stub: pb_grpc.RunsServiceStub | None = None) -> run_pb2.Run:
        request = pb.CreateRunRequest(parent=f"organizations/{self.session.org}", orchestration=orchestration)
        metadata = self.metadata if stub is None else self.direct_metadata
        reply = await (stub or self.stub()).CreateRun(request, metadata=metadata, timeout=60)
        created: run_pb2.Run = reply.run
        return created

    # --- reading results straight from the schema ---------------------------------------------------------------

    # Every query of the benchmark's own is marked, so that statement counts can leave them out.
    MARK = "/* bench */ "

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        assert self._db is not None
        async with self._db_lock:
            self.queries += 1
            return list(await self._db.fetch(self.MARK + query, *args))

    async def fetchval(self, query: str, *args: Any) -> Any:
        assert self._db is not None
        async with self._db_lock:
            self.queries += 1
            return await self._db.fetchval(self.MARK + query, *args)

    async def ended(self, run_ids: Sequence[str]) -> list[asyncpg.Record]:
        """(id, status, ended_at) of those runs that ended."""
        return await self.fetch(
            "SELECT id, status, ended_at FROM runs WHERE id = ANY($1::varchar[]) AND ended_at IS NOT NULL",
            list(run_ids),
        )

    async def count_events(self, kind: str, start: dt.datetime, end: dt.datetime, step_prefix: str = "") -> int:
        """Events committed in [start, end): of one type ("" for all), of steps whose id starts with a prefix."""
        return int(
            await self.fetchval(
                "SELECT count(*) FROM run_events WHERE ($1 = '' OR type = $1) AND created_at >= $2"
                " AND created_at < $3 AND step_id LIKE $4",
                kind,
                start,
                end,
                f"{step_prefix}%",
            )
        )

    async def worker_of(self, run_id: str) -> str:
        """The worker that started the run's first step (its replica's engine id)."""
        rows = await self.fetch(
            "SELECT data->>'worker' AS w FROM run_events WHERE run_id = $1 AND type = 'step_started' ORDER BY sequence",
            run_id,
        )
        return str(rows[0]["w"]) if rows else ""


def run_id(run: run_pb2.Run) -> str:
    return run.name.rsplit("/", 1)[-1]
