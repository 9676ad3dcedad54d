"""The other `agentorch` commands, run as the real entry point (`python -m cli.main`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from gateway import bootstrap as gateway_bootstrap
from services.common.migrations import MigrationSet
from services.credentials import bootstrap as credentials_bootstrap
from services.registry import bootstrap as registry_bootstrap
from services.runs import bootstrap as runs_bootstrap
from tests.e2e.support import REPO, UP_COMMAND, Up


def _head(module: ModuleType) -> str | None:
    return MigrationSet(module.NAME, module.MIGRATIONS, module.NAME).head


HEADS = {m.NAME: _head(m) for m in (registry_bootstrap, runs_bootstrap, credentials_bootstrap, gateway_bootstrap)}


def agentorch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_names_agentorch_and_its_runtime() -> None:
    result = agentorch("version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("agentorch ")
    assert [line.split()[0] for line in lines[1:]] == ["python", "grpcio", "protobuf"]


def test_migrate_data_dir_creates_each_database_and_is_repeatable(tmp_path: Path) -> None:
    for _ in range(2):
        result = agentorch("migrate", "--data-dir", str(tmp_path))
        assert result.returncode == 0, result.stderr
        services = [line.split(":")[0] for line in result.stdout.splitlines()]
        assert services == ["registry", "runs", "credentials", "gateway"]
        for line in result.stdout.splitlines():
            service = line.split(":")[0]
            assert f" at revision {HEADS[service]} " in line, result.stdout
    assert {p.name for p in tmp_path.glob("*.db")} == {"registry.db", "runs.db", "credentials.db", "gateway.db"}


def test_migrate_one_service_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'elsewhere.db'}"
    result = agentorch("migrate", "--service", "runs", env={"AGENTORCH_RUNS_DATABASE__URL": url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"runs: at revision {HEADS['runs']} ({url})"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://localhost/agentorch", "invalid settings: database.url: "),
        ("postgresql+asyncpg://agentorch:secret@127.0.0.1:{port}/agentorch", "ConnectionRefusedError: "),
    ],
)
def test_migrate_failure_is_one_line_without_traceback(url: str, reason: str) -> None:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening
        sock.bind(("127.0.0.1", 0))
        url = url.format(port=sock.getsockname()[1])
        result = agentorch("migrate", "--service", "registry", env={"AGENTORCH_REGISTRY_DATABASE__URL": url})
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"agentorch migrate: registry: {reason}"), result.stderr
    assert "secret" not in result.stderr


def test_up_refuses_a_data_dir_already_in_use(tmp_path: Path) -> None:
    first = Up(tmp_path)
    try:
        first.wait_until_up()
        second = subprocess.run(
            [*UP_COMMAND, "--data-dir", str(tmp_path), "--base-port", "0"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert "already using" in second.stderr, second.stderr
    finally:
        first.kill([e.pid for e in first.endpoints_seen().values()])


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        base = sock.getsockname()[1] - 11  # the registry's offset
        if base < 1:
            pytest.skip("ephemeral port too low for this layout")
        result = agentorch("up", "--data-dir", str(tmp_path), "--base-port", str(base))
    assert result.returncode == 1
    assert f"registry {base + 11}" in result.stderr, result.stderr
