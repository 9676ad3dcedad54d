"""What every scenario receives (the session, the durations of this mode, the reference figures) and returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.platform import Session


@dataclass(frozen=True)
class Profile:
    """Durations and sizes of one mode (`--quick` or full)."""

    name: str
    pgbench_seconds: float
    python_reference_seconds: float
    warmup_seconds: float
    measure_seconds: float  # each step-throughput case
    concurrencies: tuple[int, ...]
    replicas: tuple[int, ...]
    watchers: int
    watchers_per_run: int
    stream_phase_seconds: float
    stalled_rounds: int  # alternating windows without / with the stalled client
    paused_runs: int
    idle_seconds: float
    sequential_approvals: int
    takeover_runs: int
    auth_seconds: float  # each window of the authentication flood


QUICK = Profile(
    name="quick",
    pgbench_seconds=5,
    python_reference_seconds=3,
    warmup_seconds=2,
    measure_seconds=6,
    concurrencies=(20,),
    replicas=(1, 2),
    watchers=200,
    watchers_per_run=20,
    stream_phase_seconds=5,
    stalled_rounds=1,
    paused_runs=1_000,
    idle_seconds=10,
    sequential_approvals=100,
    takeover_runs=20,
    auth_seconds=5,
)

FULL = Profile(
    name="full",
    pgbench_seconds=30,
    python_reference_seconds=10,
    warmup_seconds=5,
    measure_seconds=30,
    concurrencies=(20, 100),
    replicas=(1, 2),
    watchers=1_000,
    watchers_per_run=20,
    stream_phase_seconds=20,
    stalled_rounds=2,
    paused_runs=10_000,
    idle_seconds=30,
    sequential_approvals=300,
    takeover_runs=40,
    auth_seconds=15,
)


@dataclass(frozen=True)
class Row:
    """One line of the printed table."""

    scenario: str
    case: str
    metric: str
    value: str
    versus: str = ""  # the ratio against the reference, or the target


@dataclass
class Reference:
    pgbench_tps: float = 0.0
    asyncpg_commits_per_s: float = 0.0
    sqlalchemy_commits_per_s: float = 0.0


@dataclass
class Context:
    session: Session
    profile: Profile
    reference: Reference = field(default_factory=Reference)
    profile_hot_path: bool = False
    chain: str = "noop"  # the step kind of the throughput chain
    results: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)

    def row(self, scenario: str, case: str, metric: str, value: str, versus: str = "") -> None:
        self.rows.append(Row(scenario, case, metric, value, versus))
