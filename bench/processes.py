"""The platform's processes as the benchmark starts them: `python -m services.registry`, `python -m services.runs`
(one per replica) and `python -m reference_agents`, each in its own session, its output in a log file, killed with
the benchmark (PR_SET_PDEATHSIG) so that nothing outlives an interrupted run."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.postgres import BenchError

REPO = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def setup() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
        if os.getppid() != parent:
            os._exit(1)

    return setup


class Process:
    """`python -m module args…` with `env` added to ours; `ready()` waits for its health check or URL."""

    def __init__(
        self,
        name: str,
        module: str,
        env: Mapping[str, str],
        log_dir: Path,
        *,
        args: tuple[str, ...] = (),
        grpc_target: str = "",
        ready_url: str = "",
    ) -> None:
        self.name = name
        self.grpc_target = grpc_target
        self.ready_url = ready_url
        self.log = log_dir / f"{name}.log"
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(),  # only prctl runs between fork and exec
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    async def ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchError(f"{self.name} exited ({self.popen.returncode}) while starting:\n{self.tail()}")
            if await self._probe():
                return
            await asyncio.sleep(0.1)
        raise BenchError(f"{self.name} not ready within {within:.0f}s:\n{self.tail()}")

    async def _probe(self) -> bool:
        if self.ready_url:
            try:
                async with httpx.AsyncClient(timeout=1.0) as client:
                    return (await client.get(self.ready_url)).status_code == 200
            except httpx.HTTPError:
                return False
        async with grpc.aio.insecure_channel(self.grpc_target) as channel:
            try:
                reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=1)
            except grpc.aio.AioRpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    def kill(self) -> None:
        """SIGKILL (the whole session), as a crashed node would die."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
