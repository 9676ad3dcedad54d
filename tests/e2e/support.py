"""Drive `agentorch up` as a real process: start it, follow its output, find its children, clean up after."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UP_LINE = "agentorch is up; press Ctrl-C to stop"
NAMES = ("gateway", "registry", "runs", "credentials", "agents")
UP_COMMAND = (sys.executable, "-m", "cli.main", "up")
_ROW = re.compile(r"^(gateway|registry|runs|credentials|agents)\s+(\S+:\d+)\s+(\d+)\s+SERVING$")


@dataclass(frozen=True)
class Endpoint:
    address: str
    pid: int


class Up:
    """`python -m cli.main up` on free ports, its stdout collected by a thread (so the pipe never fills)."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, args: Sequence[str] = ()) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._eof = False
        self.process = subprocess.Popen(
            [*UP_COMMAND, "--data-dir", str(data_dir), "--base-port", "0", "--log-format", "json", *args],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # signals we send reach only the supervisor, as a terminal's would not
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            with self._changed:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._eof = True
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "\n".join(self.lines)

    def wait_for_exit(self, timeout: float = 60.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def wait_until_up(self, timeout: float = 60.0) -> dict[str, Endpoint]:
        """Block until the ready line, then return the endpoint table (name → address, pid)."""
        with self._changed:
            ready = self._changed.wait_for(lambda: UP_LINE in self.lines or self._eof, timeout)
            lines = list(self.lines)
        assert ready, f"not up within {timeout}s:\n{self.output}"
        assert UP_LINE in lines, f"`agentorch up` did not come up:\n{self.output}"
        endpoints = self.endpoints_seen()
        assert sorted(endpoints) == sorted(NAMES), f"endpoint table incomplete:\n{self.output}"
        return endpoints

    def endpoints_seen(self) -> dict[str, Endpoint]:
        """Each service's latest row: the table, or the row printed when it was restarted."""
        with self._changed:
            return {m[1]: Endpoint(m[2], int(m[3])) for line in self.lines if (m := _ROW.match(line))}

    def pids_seen(self) -> list[int]:
        """Every child pid any row named (restarted services included), for cleaning up."""
        with self._changed:
            return [int(m[3]) for line in self.lines if (m := _ROW.match(line))]

    def wait_for(self, found: Callable[[list[str]], bool], timeout: float = 60.0) -> None:
        """Block until `found(lines)` holds (checked on every new line) or the output ended."""
        with self._changed:
            ok = self._changed.wait_for(lambda: found(self.lines) or self._eof, timeout)
            ok = ok and found(self.lines)
        assert ok, f"not seen within {timeout}s:\n{self.output}"

    def stop(self, sig: signal.Signals = signal.SIGINT, timeout: float = 30.0) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self, pids: list[int] | None = None) -> None:
        """Finalizer: SIGKILL the supervisor's group and any child we know of, whatever state the test left."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        for pid in pids or []:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        self._reader.join(5)


def alive(pid: int) -> bool:
    """True if `pid` runs; a zombie (exited, not yet reaped by whoever inherited it) counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs: trust kill(0)
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_all_gone(pids: list[int], timeout: float) -> list[int]:
    """The pids still alive after `timeout` seconds (polling; [] as soon as all are gone)."""
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def cli_runner(gateway: str, data_dir: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `agentorch ARGS` against the gateway with the dev token of `data_dir`; it must exit 0."""
    env = {k: v for k, v in os.environ.items() if k not in ("AGENTORCH_TOKEN", "AGENTORCH_GATEWAY")}
    env.update({"AGENTORCH_GATEWAY": gateway, "AGENTORCH_DATA_DIR": str(data_dir)})

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    return run
