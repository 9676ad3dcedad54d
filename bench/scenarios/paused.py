"""Paused runs: M runs waiting on a human checkpoint, what they cost a replica, and approving them all.

1. One replica, warmed up with a few runs launched and approved; its VmRSS is the baseline.
2. M runs of `checkpoint → noop` are launched (32 at a time) and wait at their checkpoint; VmRSS again: the
   growth ÷ M is the memory per paused run (an upper bound: the allocator keeps what launching used).
3. Idle: the replica's CPU time (utime + stime from /proc/<pid>/stat) over `idle_seconds` with all M waiting,
   and the database's.
4. Approvals: first a sample one at a time (latency without queueing), then the rest 32 at a time (decisions/s).
   Approval → next step started is the next step's STEP_STARTED event_time minus the moment DecideCheckpoint was
   sent (same host clock).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from bench.context import Context
from bench.platform import RunsCluster, gate
from bench.postgres import BenchError
from bench.procstat import CpuMeter, cpu_seconds, rss_kb, tree_cpu_seconds
from bench.stats import latency_ms, rate
from bench.window import processes

PARALLEL = 32
WARMUP_RUNS = 50


async def run(ctx: Context) -> None:
    session, profile = ctx.session, ctx.profile
    orchestration = await session.orchestration("gate", gate())
    count = profile.paused_runs
    async with session.runs("paused", 1) as cluster:
        pid = cluster.replicas[0].pid
        warm = await _launch_all(cluster, orchestration, WARMUP_RUNS)
        await _until_open(cluster, WARMUP_RUNS, 60)
        await _decide(cluster, await _open_checkpoints(cluster, warm), PARALLEL)
        await asyncio.sleep(1)
        rss_before = rss_kb(pid)

        started = time.monotonic()
        ids = await _launch_all(cluster, orchestration, count)
        launch_seconds = time.monotonic() - started
        await _until_open(cluster, count, 120 + count / 50)
        waiting_seconds = time.monotonic() - started
        await asyncio.sleep(2)
        rss_after = rss_kb(pid)

        cpu_before, db_before, wall = cpu_seconds(pid), tree_cpu_seconds(session.db.postmaster_pid), time.monotonic()
        await asyncio.sleep(profile.idle_seconds)
        idle_cpu, idle_db = cpu_seconds(pid) - cpu_before, tree_cpu_seconds(session.db.postmaster_pid) - db_before
        idle_wall = time.monotonic() - wall
        rss_idle = rss_kb(pid)

        checkpoints = await _open_checkpoints(cluster, ids)
        sample, rest = checkpoints[: profile.sequential_approvals], checkpoints[profile.sequential_approvals :]
        sequential = await _approve(cluster, sample, 1)
        burst = await _approve(cluster, rest, PARALLEL)
        await _until_completed(cluster, ids, 120)
        completed = int(
            await cluster.fetchval(
                "SELECT count(*) FROM runs WHERE id = ANY($1::varchar[]) AND status = 'completed'", ids
            )
        )
        cluster.check_alive()

    kb = (rss_after - rss_before) / count
    data: dict[str, Any] = {
        "runs": count,
        "definition": "checkpoint, then one noop step",
        "launch_per_s": rate(count, launch_seconds),
        "all_waiting_after_s": round(waiting_seconds, 1),
        "runs_rss_kb": {"before": rss_before, "all_waiting": rss_after, "after_idle": rss_idle},
        "kb_per_paused_run": round(kb, 2),
        "idle_seconds": round(idle_wall, 1),
        "idle_cpu_s": round(idle_cpu, 3),
        "idle_cpu_percent": round(100 * idle_cpu / idle_wall, 2),
        "idle_cpu_us_per_run_per_s": round(1e6 * idle_cpu / idle_wall / count, 3),
        "idle_postgres_cpu_s": round(idle_db, 3) if session.db.postmaster_pid else None,
        "approval_sequential": sequential,
        "approval_parallel": burst,
        "completed": completed,
    }
    ctx.results["paused"] = data
    _rows(ctx, data)


async def _bounded(items: Sequence[Any], parallel: int, work: Callable[[Any], Awaitable[Any]]) -> list[Any]:
    gate_ = asyncio.Semaphore(parallel)

    async def one(item: Any) -> Any:
        async with gate_:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def _launch_all(cluster: RunsCluster, orchestration: str, count: int) -> list[str]:
    async def launch(_: int) -> str:
        for attempt in range(5):
            try:
                return (await cluster.launch(orchestration)).run_id
            except grpc.aio.AioRpcError as exc:
                if attempt == 4 or exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                await asyncio.sleep(0.2)
        raise AssertionError("unreachable")

    return await _bounded(range(count), PARALLEL, launch)


async def _until_open(cluster: RunsCluster, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if int(await cluster.fetchval("SELECT count(*) FROM checkpoints WHERE status = 'open'")) >= count:
            return
        await asyncio.sleep(0.2)
    raise BenchError(f"{count} checkpoints not open within {within:.0f}s")


async def _open_checkpoints(cluster: RunsCluster, run_ids: Sequence[str]) -> list[tuple[str, str]]:
    rows = await cluster.fetch(
        "SELECT id, run_id FROM checkpoints WHERE status = 'open' AND run_id = ANY($1::varchar[])", list(run_ids)
    )
    org = cluster.session.org
    return [(row["run_id"], f"organizations/{org}/runs/{row['run_id']}/checkpoints/{row['id']}") for row in rows]


async def _decide(
    cluster: RunsCluster, checkpoints: Sequence[tuple[str, str]], parallel: int
) -> tuple[dict[str, float], list[float]]:
    """Approve every checkpoint; returns (run id → wall time its decision was sent, DecideCheckpoint latencies)."""
    sent: dict[str, float] = {}
    rpc: list[float] = []

    async def decide(item: tuple[str, str]) -> None:
        run, name = item
        request = pb.DecideCheckpointRequest(name=name, decision=run_pb2.DECISION_APPROVE, comment="ok")
        sent[run] = time.time()
        await cluster.stub().DecideCheckpoint(request, metadata=cluster.metadata, timeout=60)
        rpc.append(time.time() - sent[run])

    await _bounded(checkpoints, parallel, decide)
    return sent, rpc


async def _approve(cluster: RunsCluster, checkpoints: Sequence[tuple[str, str]], parallel: int) -> dict[str, Any]:
    if not checkpoints:
        return {"decisions": 0}
    meter = CpuMeter(processes(cluster), tree=frozenset({"postgres"}))
    started = time.monotonic()
    sent, rpc = await _decide(cluster, checkpoints, parallel)
    elapsed = time.monotonic() - started
    cpu = meter.stop()
    runs = list(sent)
    deadline = time.monotonic() + 60
    rows: list[Any] = []
    while time.monotonic() < deadline:
        rows = await cluster.fetch(
            "SELECT run_id, created_at FROM run_events WHERE type = 'step_started' AND step_id = 'after'"
            " AND run_id = ANY($1::varchar[])",
            runs,
        )
        if len(rows) >= len(runs):
            break
        await asyncio.sleep(0.1)
    latencies = [row["created_at"].timestamp() - sent[row["run_id"]] for row in rows]
    return {
        "decisions": len(checkpoints),
        "parallel": parallel,
        "decisions_per_s": rate(len(checkpoints), elapsed),
        "decide_rpc": latency_ms(rpc),
        "approval_to_next_step": latency_ms(latencies),
        "next_step_started": len(rows),
        "cpu_cores": {name: v["cores"] for name, v in cpu.items()},
    }


async def _until_completed(cluster: RunsCluster, run_ids: list[str], within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        left = await cluster.fetchval(
            "SELECT count(*) FROM runs WHERE id = ANY($1::varchar[]) AND ended_at IS NULL", run_ids
        )
        if not left:
            return
        await asyncio.sleep(0.2)


def _rows(ctx: Context, data: dict[str, Any]) -> None:
    n = f"{data['runs']:,} paused runs"
    rss = data["runs_rss_kb"]
    ctx.row(
        "paused runs",
        n,
        "runs RSS growth per paused run",
        f"{data['kb_per_paused_run']} KB",
        f"target ≤ 2 KB ({rss['before'] / 1024:.0f} → {rss['all_waiting'] / 1024:.0f} MiB)",
    )
    ctx.row(
        "paused runs",
        n,
        f"runs CPU while idle ({data['idle_seconds']:g} s)",
        f"{data['idle_cpu_percent']}% of a core",
        f"{data['idle_cpu_us_per_run_per_s']} µs/run/s; postgres {data['idle_postgres_cpu_s']} s",
    )
    ctx.row("paused runs", n, "launch rate (32 at a time)", f"{data['launch_per_s']:,.0f} runs/s")
    for key, label in (("approval_sequential", "one at a time"), ("approval_parallel", f"{PARALLEL} at a time")):
        approval = data[key]
        if not approval.get("decisions"):
            continue
        lat = approval["approval_to_next_step"]
        busy = sum(v for k, v in approval["cpu_cores"].items() if k.startswith("runs-"))
        ctx.row(
            "paused runs",
            f"approve {approval['decisions']:,}, {label}",
            "decisions/s; approval → next step p50 / p99",
            f"{approval['decisions_per_s']:,.0f}/s; {lat['p50_ms']} / {lat['p99_ms']} ms",
            ("target p50 ≤ 10 ms; " if key == "approval_sequential" else "") + f"runs CPU {busy:.2f} cores",
        )
