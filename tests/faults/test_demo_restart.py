"""The seeded demo on PostgreSQL (`agentorch up --database-url`), with the database restarted in the middle.

A user launches the demo and watches it to its human checkpoint; PostgreSQL restarts (as a failover would); the user
goes on with the next commands — list the checkpoints, approve, watch to the end — and nothing needs doing by hand:
no command fails, no process is restarted, the run completes with its outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import Up, cli_runner
from tests.support.postgres import Cluster

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]


@pytest.fixture
def up_on_postgres(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Up, Path]]:
    up = Up(tmp_path, args=("--database-url", cluster.url))
    try:
        yield up, tmp_path
    finally:
        up.kill([e.pid for e in up.endpoints_seen().values()])


def test_the_demo_survives_a_database_restart_with_nothing_to_do_by_hand(
    up_on_postgres: tuple[Up, Path], cluster: Cluster
) -> None:
    up, data_dir = up_on_postgres
    endpoints = up.wait_until_up(timeout=120)
    assert cluster.url not in up.output  # the URL (it may hold a password) is never printed
    cli = cli_runner(endpoints["gateway"].address, data_dir)
    launched = json.loads(
        cli("runs", "launch", "demo-agent/research-brief", "--input", "topic=failovers", "-o", "json").stdout
    )
    run = launched["run"]["runId"]
    assert "waiting for a decision" in cli("runs", "watch", run, "--until-checkpoint").stdout

    cluster.restart()

    (checkpoint,) = json.loads(cli("checkpoints", "list", "-o", "json").stdout)["checkpoints"]
    cli("checkpoints", "approve", checkpoint["name"], "--comment", "after the failover")
    finished = cli("runs", "watch", run)
    assert "completed (4/4 steps finished)" in finished.stdout, finished.stdout
    done = json.loads(cli("runs", "get", run, "-o", "json").stdout)["run"]
    assert done["status"] == "RUN_STATUS_COMPLETED"
    assert "after the failover" in {s["stepId"]: s.get("output") for s in done["steps"]}["brief"]
    assert up.process.poll() is None  # still up: no process died or was restarted
    assert sorted(up.endpoints_seen()) == sorted(endpoints)
    assert {n: e.pid for n, e in up.endpoints_seen().items()} == {n: e.pid for n, e in endpoints.items()}
