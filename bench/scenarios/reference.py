"""The reference, measured on the same database in the same run: what PostgreSQL and one Python process can commit.

- pgbench: a one-row jsonb INSERT script, 8 clients, 2 threads, for N seconds (`pgbench -n -f script -c 8 -j 2
  -T N`): the database's single-row-commit rate on this machine.
- asyncpg: one process, one connection, a prepared INSERT per commit in a loop: the driver's ceiling per process.
- SQLAlchemy Core (async engine, `engine.begin()` per row, pre-ping on): the per-commit cost of the services'
  unit of work, for scale.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.context import Context
from bench.postgres import BenchError, find_pgbench
from bench.processes import REPO
from bench.stats import rate

_TPS = re.compile(r"^tps = ([0-9.]+)", re.MULTILINE)
ROW = '{"run": "5b0f7c3e", "step": "n3", "status": "succeeded", "attempt": 1}'


def libpq_env(dsn: str) -> dict[str, str]:
    """PG* variables for `dsn`, so that pgbench gets no password on its command line."""
    url = make_url(dsn)
    env = {"PGHOST": url.host or "127.0.0.1", "PGPORT": str(url.port or 5432), "PGDATABASE": url.database or ""}
    if url.username:
        env["PGUSER"] = url.username
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    for key, value in url.query.items():
        if key == "sslmode":
            env["PGSSLMODE"] = str(value)
    return env


async def run(ctx: Context) -> None:
    session, profile = ctx.session, ctx.profile
    dsn = session.db.dsn
    schema = session.schema("reference")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(
            f'CREATE TABLE "{schema}".ref_rows (id bigserial PRIMARY KEY, data jsonb NOT NULL,'
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
    finally:
        await conn.close()

    pgbench = find_pgbench(session.db.bindir)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(f"INSERT INTO \"{schema}\".ref_rows (data) VALUES ('{ROW}'::jsonb);\n")  # noqa: S608 - our constants
    try:
        tps, output = await _pgbench(pgbench, Path(script.name), dsn, profile.pgbench_seconds)
    finally:
        os.unlink(script.name)
    asyncpg_rate = await _python_worker("asyncpg", dsn, schema, profile.python_reference_seconds)
    sqlalchemy_rate = await _python_worker("sqlalchemy", dsn, schema, profile.python_reference_seconds)

    ctx.reference.pgbench_tps = tps
    ctx.reference.asyncpg_commits_per_s = asyncpg_rate
    ctx.reference.sqlalchemy_commits_per_s = sqlalchemy_rate
    ctx.results["reference"] = {
        "pgbench": {
            "command": f"pgbench -n -f insert.sql -c 8 -j 2 -T {profile.pgbench_seconds:g}",
            "script": f"INSERT INTO ref_rows (data) VALUES ('{ROW}'::jsonb);",  # noqa: S608 - for the report
            "tps": tps,
            "summary": output,
        },
        "asyncpg_commits_per_s": asyncpg_rate,
        "sqlalchemy_core_commits_per_s": sqlalchemy_rate,
    }
    ctx.row("reference", "pgbench 8 clients", "one-row jsonb INSERT tps", f"{tps:,.0f}")
    ctx.row("reference", "asyncpg, 1 process", "single-row commits/s", f"{asyncpg_rate:,.0f}", _of(asyncpg_rate, tps))
    ctx.row(
        "reference",
        "SQLAlchemy Core, 1 process",
        "single-row commits/s",
        f"{sqlalchemy_rate:,.0f}",
        _of(sqlalchemy_rate, tps),
    )


def _of(value: float, tps: float) -> str:
    return f"{value / tps:.2f}x pgbench" if tps else ""


async def _pgbench(pgbench: Path, script: Path, dsn: str, seconds: float) -> tuple[float, str]:
    process = await asyncio.create_subprocess_exec(
        str(pgbench),
        "-n",
        "-f",
        str(script),
        "-c",
        "8",
        "-j",
        "2",
        "-T",
        str(max(1, round(seconds))),
        env={**os.environ, **libpq_env(dsn)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    text = out.decode(errors="replace")
    match = _TPS.search(text)
    if process.returncode != 0 or match is None:
        raise BenchError(f"pgbench failed ({process.returncode}): {err.decode(errors='replace').strip() or text}")
    summary = [line for line in text.splitlines() if line.startswith(("number of transactions", "latency", "tps"))]
    return float(match.group(1)), "; ".join(summary)


async def _python_worker(kind: str, dsn: str, schema: str, seconds: float) -> float:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.refworker",
        kind,
        schema,
        str(seconds),
        cwd=REPO,
        env={**os.environ, "AGENTORCH_BENCH_DSN": dsn},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BenchError(f"{kind} reference failed: {err.decode(errors='replace').strip()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return rate(result["commits"], result["seconds"])
