"""A measurement window: wall-clock bounds (UTC, for event-log queries), the CPU each process used in it, and the
database's commit count (pg_stat_database, flushed by backends about once a second: ± a second's worth)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from bench.platform import RunsCluster
from bench.procstat import CpuMeter


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime
    seconds: float
    cpu: dict[str, dict[str, float]]
    commits: int


def processes(cluster: RunsCluster, **extra: int) -> dict[str, int]:
    session = cluster.session
    pids = {p.name: p.pid for p in cluster.replicas if p.alive()}
    if cluster.gateway is not None and cluster.gateway.alive():
        pids["gateway"] = cluster.gateway.pid
    pids["postgres"] = session.db.postmaster_pid
    if session.registry is not None:
        pids["registry"] = session.registry.pid
    if session.agents is not None:
        pids["agents"] = session.agents.pid
    pids["bench"] = os.getpid()
    pids.update(extra)
    return pids


async def commits(cluster: RunsCluster) -> int:
    return int(
        await cluster.fetchval("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()") or 0
    )


async def measure(cluster: RunsCluster, seconds: float, **extra_pids: int) -> Window:
    """Sleep `seconds` while the load runs, metering it. The commit count leaves out the benchmark's own
    statements (each one a transaction of its own)."""
    meter = CpuMeter(processes(cluster, **extra_pids), tree=frozenset({"postgres"}))
    commits_before = await commits(cluster)
    own_before = cluster.queries
    start, t0 = dt.datetime.now(dt.UTC), time.monotonic()
    await asyncio.sleep(seconds)
    end, elapsed = dt.datetime.now(dt.UTC), time.monotonic() - t0
    cpu = meter.stop()
    own = cluster.queries - own_before
    commits_after = await commits(cluster)
    return Window(start, end, elapsed, cpu, max(commits_after - commits_before - own, 0))


def as_json(window: Window) -> dict[str, Any]:
    return {
        "start": window.start.isoformat(),
        "seconds": round(window.seconds, 2),
        "cpu_cores": {name: v["cores"] for name, v in window.cpu.items()},
        "db_commits": window.commits,
    }


async def reset_statements(cluster: RunsCluster) -> None:
    if cluster.session.statements:
        try:
            await cluster.fetchval("SELECT public.pg_stat_statements_reset()")
        except asyncpg.PostgresError:  # not allowed to (an external database)
            cluster.session.statements = False


async def statements(cluster: RunsCluster, per: int, top: int = 15) -> dict[str, Any] | None:
    """SQL statements executed since the reset (the benchmark's own left out), in total and the most called,
    each as calls per `per` (e.g. per step transition) with its mean execution time in the database."""
    if not cluster.session.statements or not per:
        return None
    rows = await cluster.fetch(
        "SELECT calls, query, mean_exec_time FROM public.pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
        " WHERE datname = current_database()) AND query NOT LIKE $1 AND query NOT LIKE 'SELECT pg_stat_statements%'"
        " ORDER BY calls DESC",
        cluster.MARK.strip() + "%",
    )
    total = sum(int(row["calls"]) for row in rows)
    return {
        "per_step": round(total / per, 2),
        "top": [
            {
                "per_step": round(int(row["calls"]) / per, 2),
                "mean_ms": round(float(row["mean_exec_time"]), 3),
                "query": " ".join(str(row["query"]).split())[:160],
            }
            for row in rows[:top]
        ],
    }
