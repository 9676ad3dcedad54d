"""Throwaway PostgreSQL clusters made with the machine's initdb/pg_ctl, for the tests and the benchmarks.

A cluster lives in a temporary directory, listens on a free loopback port, and is deleted afterwards. As root the
cluster is created and run as the `postgres` user, since initdb refuses to run as root. `Cluster` has the controls
the fault-injection tests need (`restart`, `stop`, `start`); the server settings are the caller's (the tests run
with fsync off, the benchmarks choose).

It lives in tools/ (development tooling used from a checkout, neither packaged nor in the image) because both
tests/ and bench/ need it and neither should import the other.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

#: Commits cost CPU, not disk flushes: what test clusters (and the benchmarks by default) run with.
NOT_DURABLE = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


class ClusterUnavailable(RuntimeError):
    """The PostgreSQL server binaries are missing, or initdb/pg_ctl failed (the message says which and why)."""


def find_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl (pg_config's, Debian's, or PATH's), or None."""
    candidates: list[str] = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    candidates += [str(Path(p).parent) for p in filter(None, [shutil.which("initdb")])]
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A cluster in a temporary directory: `create` (initdb, then start), `start`, `stop`, `restart`, `destroy`.

    `settings` are server settings (`name=value`) passed with `-c` at every start."""

    def __init__(
        self, settings: Sequence[str] = (*NOT_DURABLE, "max_connections=300"), *, prefix: str = "agentorch-pg-"
    ) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise ClusterUnavailable("no initdb/pg_ctl found (install the PostgreSQL server binaries)")
        self.bindir = bindir
        self.settings = tuple(settings)
        as_root = os.geteuid() == 0
        self._prefix: list[str] = ["runuser", "-u", "postgres", "--"] if as_root else []
        self.user = "postgres" if as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.data, self._sockets, self.logfile = self.root / "data", self.root / "sock", self.root / "postgres.log"
        self._sockets.mkdir()
        if as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self._sockets, "postgres")
        self.port = _free_port()

    @property
    def url(self) -> str:
        """The SQLAlchemy/asyncpg URL of the cluster's `postgres` database."""
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/postgres"

    @property
    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().splitlines()[0])

    def create(self) -> None:
        _run([*self._prefix, str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
              "--no-sync", "-E", "UTF8"])  # fmt: skip
        self.start()

    def start(self) -> None:
        options = " ".join(
            [f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._sockets}", *(f"-c {s}" for s in self.settings)]
        )
        self._pg_ctl("-w", "-t", "60", "-l", str(self.logfile), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        """Stop (disconnecting every client, as a failover does) and start again on the same port."""
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        """Stop the server at once (if it runs) and delete the directory."""
        if self.data.exists():
            subprocess.run(
                [*self._prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl(self, *args: str) -> None:
        _run([*self._prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args])


@contextmanager
def running(settings: Sequence[str] | None = None, *, prefix: str = "agentorch-pg-") -> Iterator[Cluster]:
    """A created and started cluster, destroyed afterwards however the block ends."""
    cluster = Cluster(prefix=prefix) if settings is None else Cluster(settings, prefix=prefix)
    try:
        cluster.create()
        yield cluster
    finally:
        cluster.destroy()


def _run(args: list[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        program = Path(args[args.index("--") + 1] if "--" in args else args[0]).name
        raise ClusterUnavailable(f"{program} failed: {result.stderr.strip() or result.stdout.strip()}")
