"""One supervised child process: its own session, tied to the supervisor's life, its output relayed by line."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import re
import signal
import sys
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cli.output import Console

PR_SET_PDEATHSIG = 1
_CHUNK = 64 * 1024
_MAX_LINE = 1024 * 1024  # a longer "line" is relayed in pieces rather than buffered without bound
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def _load_prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[[int, int], int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Resolved in the parent so the forked child only makes the call (no dlopen between fork and exec).
_PRCTL = _load_prctl()


def _die_with(parent: int) -> Callable[[], None]:
    """preexec_fn: have the kernel send SIGTERM when the supervisor dies, even by SIGKILL, so none is orphaned."""

    def setup() -> None:
        if _PRCTL is not None:
            _PRCTL(PR_SET_PDEATHSIG, int(signal.SIGTERM))
        if os.getppid() != parent:  # the supervisor died before prctl: the signal will never come
            os._exit(1)

    return setup


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass(frozen=True)
class ChildSpec:
    """What to run: `python -m module` with extra environment, reachable by clients at `target`."""

    name: str
    module: str
    target: str
    env: Mapping[str, str]
    args: tuple[str, ...] = ()
    ready_url: str = ""  # an HTTP URL answering 200 when ready; empty: the gRPC health check at `target`


class Child:
    def __init__(self, spec: ChildSpec, console: Console) -> None:
        self.spec = spec
        self.health = "STARTING"  # last health-check answer, for the table and for timeout messages
        self._tail: deque[str] = deque(maxlen=30)
        self._console = console
        self._process: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Task[int] | None = None
        self._relay: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int:
        return self._process.pid if self._process else 0

    @property
    def last_words(self) -> str:
        """The line most likely to say why the child died: its last exception line, else its last line."""
        for line in reversed(self._tail):
            if _EXCEPTION_LINE.match(line):
                return line
        return self._tail[-1] if self._tail else ""

    def last_lines(self, count: int) -> list[str]:
        """Its last `count` non-empty output lines (of every process it ran), oldest first."""
        return list(self._tail)[-count:]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Spawn in a new session: a terminal's Ctrl-C then reaches only the supervisor, which stops us in order.
        Starting again once the process exited (a restart) replaces it; the output tail is kept."""
        self.health = "STARTING"
        linux = _PRCTL is not None
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.spec.module,
            *self.spec.args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.spec.env},
            start_new_session=True,
            preexec_fn=_die_with(os.getpid()) if linux else None,  # only prctl runs between fork and exec
        )
        assert self._process.stdout is not None
        self._exited = asyncio.create_task(self._process.wait(), name=f"{self.name}-wait")
        self._relay = asyncio.create_task(self._read(self._process.stdout), name=f"{self.name}-relay")

    async def wait(self) -> int:
        """The exit code once the child has exited; cancelling the caller leaves the shared waiter running."""
        assert self._exited is not None
        return await asyncio.shield(self._exited)

    def signal(self, sig: signal.Signals) -> None:
        """Signal the child's process group (it leads one); nothing once it has been reaped."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    async def drained(self, within: float) -> None:
        """Wait until the child's last output line has been relayed (EOF on its pipe)."""
        if self._relay is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._relay), within)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while chunk := await stream.read(_CHUNK):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                self._emit(line)
            if len(pending) > _MAX_LINE:
                self._emit(pending)
                pending = b""
        if pending:
            self._emit(pending)

    def _emit(self, line: bytes) -> None:
        self._console.line(self.name, line)
        if line.strip():
            self._tail.append(line.decode(errors="replace").strip())
