"""What a process costs, from /proc: resident memory (VmRSS) and CPU time (utime + stime)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    """VmRSS of `pid` in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime of `pid` (all its threads), in seconds; with `reaped_children`, plus the CPU of the
    children it has waited for (cutime + cstime)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    # after the command: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (e.g. the backends of a postmaster)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, its live direct children, and the children it reaped (PostgreSQL: the postmaster, its
    backends, and the backends of connections that were closed in between); 0 for pid 0 (not ours)."""
    if pid <= 0:
        return 0.0
    return cpu_seconds(pid, reaped_children=True) + sum(cpu_seconds(child) for child in children_of(pid))


@dataclass
class CpuMeter:
    """CPU used by a set of processes over a wall-clock window, as a share of one core."""

    pids: dict[str, int]
    tree: frozenset[str] = frozenset()  # names whose children count too (postgres)

    def __post_init__(self) -> None:
        self._start = self._read()
        self._wall = time.monotonic()

    def _read(self) -> dict[str, float]:
        return {
            name: (tree_cpu_seconds(pid) if name in self.tree else cpu_seconds(pid))
            for name, pid in self.pids.items()
            if pid
        }

    def restart(self) -> None:
        self._start = self._read()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, dict[str, float]]:
        """Per process: CPU seconds used and cores busy (seconds ÷ wall time) since start."""
        end, wall = self._read(), time.monotonic() - self._wall
        out: dict[str, dict[str, float]] = {}
        for name, before in self._start.items():
            used = max(end.get(name, before) - before, 0.0)
            out[name] = {"cpu_s": round(used, 3), "cores": round(used / wall, 3) if wall > 0 else 0.0}
        return out
