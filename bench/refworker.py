"""One Python process committing single-row inserts in a loop, for the reference figures:
`python -m bench.refworker asyncpg|sqlalchemy SCHEMA SECONDS` (the DSN in $AGENTORCH_BENCH_DSN, so that a password
never shows in the process list) prints {"commits": n, "seconds": s} as JSON.

- asyncpg: one connection, `INSERT` in autocommit (one round trip, one commit per row): the driver's ceiling.
- sqlalchemy: an AsyncEngine, `async with engine.begin()` + a Core insert per row: what the services' unit of work
  costs per commit (pool checkout with pre-ping, BEGIN, INSERT, COMMIT).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

ROW = '{"run": "5b0f7c3e", "step": "n3", "status": "succeeded", "attempt": 1}'


async def with_asyncpg(dsn: str, schema: str, seconds: float) -> tuple[int, float]:
    import asyncpg

    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        statement = await conn.prepare("INSERT INTO ref_rows (data) VALUES ($1::jsonb)")
        count, start = 0, time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            await statement.fetch(ROW)
            count += 1
        return count, time.perf_counter() - start
    finally:
        await conn.close()


async def with_sqlalchemy(dsn: str, schema: str, seconds: float) -> tuple[int, float]:
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    url = make_url(dsn).set(drivername="postgresql+asyncpg")
    engine = create_async_engine(
        url, pool_size=10, pool_pre_ping=True, connect_args={"server_settings": {"search_path": schema}}
    )
    table = sa.Table("ref_rows", sa.MetaData(), sa.Column("data", postgresql.JSONB))
    insert = table.insert()
    value = json.loads(ROW)
    try:
        count, start = 0, time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            async with engine.begin() as conn:
                await conn.execute(insert, {"data": value})
            count += 1
        return count, time.perf_counter() - start
    finally:
        await engine.dispose()


def main(argv: list[str]) -> int:
    kind, schema, seconds = argv[0], argv[1], float(argv[2])
    dsn = os.environ["AGENTORCH_BENCH_DSN"]
    worker = {"asyncpg": with_asyncpg, "sqlalchemy": with_sqlalchemy}[kind]
    count, elapsed = asyncio.run(worker(dsn, schema, seconds))
    print(json.dumps({"commits": count, "seconds": elapsed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
