"""Sampling the runs replica's hot path with py-spy (`pip install py-spy`), while the load keeps running.

py-spy reads the target's memory from outside (no instrumentation; `--nonblocking` does not even pause it), so the
profile shows where the replica spends its time under the step-throughput load. The raw (collapsed) stacks are
kept in the log directory; the summary lists the functions with the most samples on top of the stack (self) and
anywhere on it (inclusive, i.e. the function and what it calls), as percentages of all samples; `self_busy` leaves
out the samples waiting in epoll (the event loop idle, i.e. waiting for PostgreSQL or a client) and is a share of
the busy ones. SQLAlchemy's async layer runs statements in greenlets, whose stacks py-spy shows apart from the
coroutine that awaits them: they appear as "SQLAlchemy inside a greenlet".
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(pid: int, seconds: float, directory: Path) -> dict[str, Any]:
    """Sample `pid` for `seconds` at 200 Hz; returns the top frames (or why there are none)."""
    binary = py_spy()
    if binary is None:
        return {"error": "py-spy is not installed (pip install py-spy)"}
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    raw = directory / f"runs-{pid}.txt"
    process = await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        "200",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(raw),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    if process.returncode != 0 or not raw.exists():
        return {"error": f"py-spy failed ({process.returncode}): {out.decode(errors='replace').strip()[-500:]}"}
    summary = summarize(raw.read_text())
    summary["raw"] = str(raw)
    summary["seconds"] = seconds
    return summary


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match.group("file")
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = path.split("/main/", 1)[-1]
    return f"{match.group('func')} ({path})"


# Frames every sample of the event loop has (the process's entry and asyncio's scheduler): left out of "inclusive".
_SCAFFOLDING = (
    "<frozen runpy>",
    "(services/runs/__main__.py)",
    "run (services/common/server.py)",
    "(asyncio/runners.py)",
    "BaseEventLoop.run_forever ",
    "BaseEventLoop.run_until_complete ",
    "BaseEventLoop._run_once ",
    "Handle._run ",
    "Thread._bootstrap",
)
# Where a sample's time goes, by the outermost frame of interest on its stack (first match wins).
_AREAS = (
    ("engine: claim + run built-in steps (Engine.tick)", "Engine.tick "),
    ("engine: agent step results (Engine._execute)", "Engine._execute "),
    ("engine: idle wait, heartbeats", "Engine._idle_wait "),
    ("engine: idle wait, heartbeats", "Engine._heartbeat_loop "),
    ("API: CreateRun", "RunsServicer.CreateRun "),
    ("API: WatchRun", "RunsServicer.WatchRun "),
    ("API: WatchRuns", "RunsServicer.WatchRuns "),
    ("API: DecideCheckpoint", "RunsServicer.DecideCheckpoint "),
    ("API: other RPCs", "RunsServicer."),
    ("agent calls (HTTP client)", "AgentExecutor."),
    ("LISTEN/NOTIFY receiver", "PgAnnouncer._on_notify "),
    ("SQLAlchemy inside a greenlet (caller not on this stack)", "greenlet_spawn.<locals>"),
    ("SQLAlchemy inside a greenlet (caller not on this stack)", "(sqlalchemy/"),
    ("event loop: socket I/O", "(asyncio/selector_events.py)"),
    ("event loop: waiting in epoll", "EpollSelector.select "),
)
_LIBRARIES = (
    ("socket writes (send syscalls)", "_SelectorSocketTransport.write "),
    ("epoll wait", "EpollSelector.select "),
    ("SQLAlchemy", "(sqlalchemy/"),
    ("asyncpg", "(asyncpg/"),
    ("gRPC (Python side)", "(grpc/"),
    ("protobuf", "(google/protobuf/"),
    ("agentorch code", "(services/"),
    ("asyncio", "(asyncio/"),
    ("logging (structlog)", "(structlog/"),
    ("logging (structlog)", "(logging/"),
    ("json", "(json/"),
)


def _classify(frames: list[str], table: tuple[tuple[str, str], ...], default: str) -> str:
    for label, marker in table:
        if any(marker in frame for frame in frames):
            return label
    return default


def summarize(raw: str, top: int = 25) -> dict[str, Any]:
    """Top self and inclusive frames of py-spy's collapsed stacks (`frame;frame;… count` per line), and the
    samples split by area (what the replica was doing) and by library (where the CPU went)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            if not any(marker in name for marker in _SCAFFOLDING):
                inclusive[name] += count
        areas[_classify(frames, _AREAS, "other (gRPC server, event loop)")] += count
        libraries[_classify(frames[-1:], _LIBRARIES, "other")] += count

    def share(counter: Counter[str], limit: int = top, of: int = total) -> list[dict[str, Any]]:
        return [{"frame": name, "percent": round(100 * n / of, 1)} for name, n in counter.most_common(limit) if of]

    idle = sum(n for name, n in own.items() if name.startswith("EpollSelector.select "))
    busy = Counter({name: n for name, n in own.items() if not name.startswith("EpollSelector.select ")})
    return {
        "samples": total,
        "idle_percent": round(100 * idle / total, 1) if total else 0.0,
        "self_busy": share(busy, top, total - idle),
        "areas": share(areas, 50),
        "self_by_library": share(libraries, 50),
        "self": share(own),
        "inclusive": share(inclusive),
    }
