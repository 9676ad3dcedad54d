"""The database under test: a throwaway PostgreSQL cluster (tools.pgcluster, shared with the tests) or `--dsn`.

By default the cluster runs with `fsync=off synchronous_commit=off` (what the test clusters use): commits then cost
CPU, not disk flushes, so the figures compare the platform's CPU cost with PostgreSQL's, which is what the ratios are
for.
`--durable` keeps PostgreSQL's durable defaults instead (every commit waits for its WAL flush). pg_stat_statements
is loaded so that the step-throughput case can count the SQL statements each step transition costs.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from tools.pgcluster import NOT_DURABLE, ClusterUnavailable, find_bindir, running


class BenchError(RuntimeError):
    """Something the benchmark needs is missing or broke (the only reason `python -m bench` exits non-zero)."""


@dataclass(frozen=True)
class Database:
    """Where the benchmark's database is, in the spellings each client needs."""

    sqlalchemy_url: str  # postgresql+asyncpg://… (what the services read)
    bindir: Path | None  # the server binaries (pgbench), when known
    postmaster_pid: int  # 0 when the database is not ours (--dsn): no server CPU figures then
    settings: str  # how the cluster was configured, for the report

    @property
    def dsn(self) -> str:
        """libpq/asyncpg spelling (postgresql://…)."""
        return make_url(self.sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)


def find_pgbench(bindir: Path | None) -> Path:
    for candidate in [
        bindir / "pgbench" if bindir else None,
        *map(Path, glob.glob("/usr/lib/postgresql/*/bin/pgbench")),
    ]:
        if candidate is not None and candidate.exists():
            return candidate
    found = shutil.which("pgbench")
    if found:
        return Path(found)
    raise BenchError("pgbench not found (install the PostgreSQL client/server binaries: Debian `postgresql`)")


def from_dsn(dsn: str) -> Database:
    url = make_url(dsn)
    if not url.drivername.startswith("postgresql"):
        raise BenchError(f"--dsn must be a postgresql:// URL, not {url.drivername}://")
    return Database(
        sqlalchemy_url=url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False),
        bindir=find_bindir(),
        postmaster_pid=0,
        settings="external database (--dsn): its own settings",
    )


@contextmanager
def throwaway_cluster(*, durable: bool = False, max_connections: int = 400) -> Iterator[Database]:
    """Start a cluster in a temporary directory (tools.pgcluster); yield it; stop (immediate) and delete it."""
    settings = [
        *(() if durable else NOT_DURABLE),
        f"max_connections={max_connections}",
        "shared_buffers=256MB",
        # Each scenario starts on empty tables: look at them every 5 s (default 60 s) so that statistics and plans
        # reflect tables that grew by thousands of rows within seconds, as they would after a minute in production.
        "autovacuum_naptime=5",
        "shared_preload_libraries=pg_stat_statements",
    ]
    try:
        with running(settings, prefix="agentorch-bench-pg-") as cluster:
            yield Database(
                sqlalchemy_url=cluster.url,
                bindir=cluster.bindir,
                postmaster_pid=cluster.postmaster_pid,
                settings=("durable defaults" if durable else "fsync=off synchronous_commit=off full_page_writes=off")
                + f", shared_buffers=256MB, max_connections={max_connections}, autovacuum_naptime=5s,"
                " pg_stat_statements loaded",
            )
    except ClusterUnavailable as exc:
        raise BenchError(f"{exc} (or pass --dsn)") from exc


def server_version(bindir: Path | None) -> str:
    postgres = bindir / "postgres" if bindir else None
    if postgres is None or not postgres.exists():
        return "unknown"
    out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()
