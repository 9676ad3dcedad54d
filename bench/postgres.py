"""The database under test: a throwaway PostgreSQL cluster (initdb/pg_ctl in a temporary directory) or `--dsn`.

As root the cluster is created and run as the `postgres` user (initdb refuses root), like the tests do. By default
the cluster runs with `fsync=off synchronous_commit=off` (what the test clusters use): commits then cost CPU, not
disk flushes, so the figures compare the platform's CPU cost with PostgreSQL's, which is what the ratios are for.
`--durable` keeps PostgreSQL's durable defaults instead (every commit waits for its WAL flush). pg_stat_statements
is loaded so that the step-throughput case can count the SQL statements each step transition costs.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


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


def find_bindir() -> Path | None:
    candidates: list[str] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def throwaway_cluster(*, durable: bool = False, max_connections: int = 400) -> Iterator[Database]:
    """Start a cluster in a temporary directory; yield it; stop (immediate) and delete it afterwards."""
    bindir = find_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        raise BenchError("no initdb/pg_ctl found (install the PostgreSQL server binaries, or pass --dsn)")
    as_root = os.geteuid() == 0
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    user = "postgres" if as_root else pwd.getpwuid(os.geteuid()).pw_name
    root = Path(tempfile.mkdtemp(prefix="agentorch-bench-pg-"))
    data, sockets, logfile = root / "data", root / "sock", root / "postgres.log"
    sockets.mkdir()
    if as_root:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    fast = "" if durable else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} {fast}"
        f"-c max_connections={max_connections} -c shared_buffers=256MB "
        # Each scenario starts on empty tables: look at them every 5 s (default 60 s) so that statistics and plans
        # reflect tables that grew by thousands of rows within seconds, as they would after a minute in production.
        "-c autovacuum_naptime=5 "
        "-c shared_preload_libraries=pg_stat_statements"
    )
    try:
        _run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync", "-E", "UTF8"])
        _run(
            [
                *prefix,
                str(bindir / "pg_ctl"),
                "-w",
                "-t",
                "60",
                "-D",
                str(data),
                "-l",
                str(logfile),
                "-o",
                options,
                "start",
            ]
        )
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
        yield Database(
            sqlalchemy_url=f"postgresql+asyncpg://{user}@127.0.0.1:{port}/postgres",
            bindir=bindir,
            postmaster_pid=pid,
            settings=("durable defaults" if durable else "fsync=off synchronous_commit=off full_page_writes=off")
            + f", shared_buffers=256MB, max_connections={max_connections}, autovacuum_naptime=5s,"
            " pg_stat_statements loaded",
        )
    finally:
        if data.exists():
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        program = Path(args[args.index("--") + 1] if "--" in args else args[0]).name
        raise BenchError(f"{program} failed: {result.stderr.strip() or result.stdout.strip()}")


def server_version(bindir: Path | None) -> str:
    postgres = bindir / "postgres" if bindir else None
    if postgres is None or not postgres.exists():
        return "unknown"
    out = subprocess.run([str(postgres), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip()
