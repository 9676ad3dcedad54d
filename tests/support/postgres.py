"""A throwaway PostgreSQL cluster for the tests, made with the machine's initdb/pg_ctl.

`AGENTORCH_TEST_DATABASE_URL` (a postgresql+asyncpg URL) replaces the cluster when set. As root, the cluster is
created and run as the `postgres` user, since initdb refuses to run as root.
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
from pathlib import Path

ENV_URL = "AGENTORCH_TEST_DATABASE_URL"


class PostgresUnavailable(RuntimeError):
    pass


def find_bindir() -> Path:
    candidates: list[str] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    candidates += [str(Path(p).parent) for p in filter(None, [shutil.which("initdb")])]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise PostgresUnavailable("no initdb/pg_ctl found (install the PostgreSQL server binaries)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster in a temporary directory; yield its asyncpg URL; stop and delete it afterwards."""
    bindir = find_bindir()
    as_root = os.geteuid() == 0
    prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
    user = "postgres" if as_root else pwd.getpwuid(os.geteuid()).pw_name
    root = Path(tempfile.mkdtemp(prefix="agentorch-pg-"))
    data, sockets, logfile = root / "data", root / "sock", root / "postgres.log"
    sockets.mkdir()
    if as_root:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    try:
        _run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync", "-E", "UTF8"])
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300"
        )
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
        yield f"postgresql+asyncpg://{user}@127.0.0.1:{port}/postgres"
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
        raise PostgresUnavailable(
            f"{Path(args[args.index('--') + 1] if '--' in args else args[0]).name} failed: "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
