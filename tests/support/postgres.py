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


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary directory, with the controls the fault-injection tests need:
    `restart` (pg_ctl restart -m fast, as an operator or a failover would), `stop` and `start`."""

    def __init__(self) -> None:
        self._bindir = find_bindir()
        as_root = os.geteuid() == 0
        self._prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
        self.user = "postgres" if as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.root = Path(tempfile.mkdtemp(prefix="agentorch-pg-"))
        self.data, self._sockets, self.logfile = self.root / "data", self.root / "sock", self.root / "postgres.log"
        self._sockets.mkdir()
        if as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self._sockets, "postgres")
        self.port = _free_port()

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/postgres"

    def create(self) -> None:
        _run([*self._prefix, str(self._bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
              "--no-sync", "-E", "UTF8"])  # fmt: skip
        self.start()

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._sockets} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=300"
        )
        self._pg_ctl("-w", "-t", "60", "-l", str(self.logfile), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop (disconnecting every client, as a failover does) and start again on the same port."""
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        if self.data.exists():
            subprocess.run(
                [*self._prefix, str(self._bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl(self, *args: str) -> None:
        _run([*self._prefix, str(self._bindir / "pg_ctl"), "-D", str(self.data), *args])


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    """A cluster of the caller's own (to restart or stop at will); deleted afterwards."""
    cluster = Cluster()
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Start a cluster in a temporary directory; yield its asyncpg URL; stop and delete it afterwards."""
    with own_cluster() as cluster:
        yield cluster.url


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"{Path(args[args.index('--') + 1] if '--' in args else args[0]).name} failed: "
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
