"""Two runs-service processes on one PostgreSQL schema; one is SIGKILLed while runs are under way. The survivor
finishes every run, and no step of any run succeeds twice: each run's log has exactly one STEP_STARTED and one
STEP_SUCCEEDED per step, with gap-free sequences. Built-in steps only (the real processes have no scripted agent
executor); they run inline in the claiming transaction, so a kill mid-transaction leaves nothing half-done."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import DropSchema

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from services.registry.bootstrap import spec as registry_spec
from services.registry.config import RegistrySettings
from tests.support.principals import AUTH, as_member
from tests.support.registry import new_org
from tests.support.rpc import channel_as
from tests.support.runs import all_events, definition, is_event, launch_ad_hoc, sibling, step, wait_for_event
from tests.support.servers import running

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(120)]
REPO = Path(__file__).resolve().parents[2]
RUNS = 40
STEPS = 10
S = run_pb2


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[DatabaseSettings]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield DatabaseSettings(url=SecretStr(postgres_url), schema_name=schema)
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            found = await conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname = :s OR nspname LIKE :p"),
                {"s": schema, "p": f"{schema}\\_%"},
            )
            for (name,) in found.all():
                await conn.execute(DropSchema(name, cascade=True, if_exists=True))
    finally:
        await engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RunsProcess:
    """`python -m services.runs` configured by environment variables, its output in a log file."""

    def __init__(self, name: str, database: DatabaseSettings, registry: str, log_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.log = log_dir / f"runs-{name}.log"
        keys = {k: v.get_secret_value() for k, v in AUTH.principal_keys.items()}
        env = {
            **os.environ,
            "AGENTORCH_RUNS_DATABASE__URL": database.url.get_secret_value(),
            "AGENTORCH_RUNS_DATABASE__SCHEMA_NAME": database.schema_name,
            "AGENTORCH_RUNS_SERVER__PORT": str(self.port),
            "AGENTORCH_RUNS_SERVER__GRACE_SECONDS": "1",
            "AGENTORCH_RUNS_CLIENTS__REGISTRY": registry,
            "AGENTORCH_RUNS_ENGINE__LEASE_SECONDS": "2",
            "AGENTORCH_RUNS_ENGINE__BATCH_SIZE": "3",  # small batches: many transactions, so a kill lands mid-way
            "AGENTORCH_RUNS_ENGINE__IDLE_WAIT_SECONDS": "0.5",
            "AGENTORCH_RUNS_AUTH__PRINCIPAL_KEYS": json.dumps(keys),
            "AGENTORCH_RUNS_LOGGING__ACCESS_LOG": "false",
        }
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.runs"],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def wait_serving(self, timeout: float = 30.0) -> None:
        async with grpc.aio.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            async with asyncio.timeout(timeout):
                while True:
                    assert self.process.poll() is None, f"runs {self.name} exited:\n{self.log.read_text()}"
                    try:
                        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True)
                    except grpc.aio.AioRpcError:
                        continue
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


@pytest.fixture
def processes() -> Iterator[list[RunsProcess]]:
    """Every runs process started is stopped (or killed) at teardown, before its schema is dropped."""
    started: list[RunsProcess] = []
    yield started
    for process in started:
        process.stop()


def chain() -> dict[str, Any]:
    steps = [step("s0", message="seed")]
    steps += [
        step(f"s{i}", message=f"{{{{ steps.s{i - 1}.output }}}}+", depends_on=[f"s{i - 1}"]) for i in range(1, STEPS)
    ]
    return definition(steps)


async def test_a_killed_replica_leaves_every_run_to_the_survivor(
    pg: DatabaseSettings, processes: list[RunsProcess], tmp_path: Path
) -> None:
    org = new_org()
    member = as_member(org, "admin")
    async with AsyncExitStack() as stack:
        registry = await stack.enter_async_context(
            running(registry_spec(RegistrySettings(database=sibling(pg, "registry"), auth=AUTH)))
        )
        a = RunsProcess("a", pg, registry.target, tmp_path)
        processes.append(a)
        await a.wait_serving()
        b = RunsProcess("b", pg, registry.target, tmp_path)  # after A: migrations are done once, then both serve
        processes.append(b)
        await b.wait_serving()
        stub_a = pb_grpc.RunsServiceStub(await stack.enter_async_context(channel_as(a.target, member)))
        stub_b = pb_grpc.RunsServiceStub(await stack.enter_async_context(channel_as(b.target, member)))

        document = chain()
        runs = await asyncio.gather(*(launch_ad_hoc(stub_a, org, document) for _ in range(RUNS)))
        # some progress first: the last run launched is a few steps in
        await wait_for_event(stub_b, runs[-1].name, is_event(S.EVENT_TYPE_STEP_SUCCEEDED, "s2"), timeout=30)
        a.kill()
        killed_at = dt.datetime.now(dt.UTC)

        async def finished(run: run_pb2.Run) -> list[run_pb2.RunEvent]:
            await wait_for_event(
                stub_b, run.name, lambda e: e.run_status in (S.RUN_STATUS_COMPLETED, S.RUN_STATUS_FAILED), 60
            )
            return await all_events(stub_b, run.name)

        logs = await asyncio.gather(*(finished(run) for run in runs))

    expected = sorted(f"s{i}" for i in range(STEPS))
    workers_before: set[str] = set()
    workers_after: set[str] = set()
    succeeded_before = 0
    for run, log in zip(runs, logs, strict=True):
        assert [e.sequence for e in log] == list(range(1, len(log) + 1)), run.name
        assert log[-1].run_status == S.RUN_STATUS_COMPLETED, (run.name, log[-1])
        started = [e for e in log if e.type == S.EVENT_TYPE_STEP_STARTED]
        succeeded = [e for e in log if e.type == S.EVENT_TYPE_STEP_SUCCEEDED]
        assert sorted(e.step_id for e in started) == expected, run.name  # no step started twice
        assert sorted(e.step_id for e in succeeded) == expected, run.name  # no step succeeded twice
        assert succeeded[-1].data["output"] == "seed" + "+" * (STEPS - 1)
        for event in started:
            moment = event.event_time.ToDatetime(tzinfo=dt.UTC)
            (workers_before if moment < killed_at else workers_after).add(event.data["worker"])
        succeeded_before += sum(1 for e in succeeded if e.event_time.ToDatetime(tzinfo=dt.UTC) < killed_at)

    total = RUNS * STEPS
    assert 0 < succeeded_before < total, f"the kill should land mid-way ({succeeded_before} of {total} steps done)"
    assert len(workers_after) == 1, workers_after  # only the survivor worked after the kill
    assert len(workers_before | workers_after) == 2, (workers_before, workers_after)  # and both had worked before
    assert b.process.poll() is None
    assert a.process.returncode == -signal.SIGKILL
