"""The deployment check knows exactly which environment variables each service reads."""

from __future__ import annotations

from services.credentials.config import CredentialsSettings
from services.runs.config import RunsSettings
from tools.check_deploy import env_names


def test_env_names_follow_the_prefix_and_nesting() -> None:
    names = env_names(RunsSettings)
    assert {
        "AGENTORCH_RUNS_DATABASE__URL",
        "AGENTORCH_RUNS_ENGINE__LEASE_SECONDS",
        "AGENTORCH_RUNS_SERVER__PORT",
    } <= names
    assert "AGENTORCH_RUNS_ENGINE__RETENTION" not in names
    assert "AGENTORCH_CREDENTIALS_VAULT__KEYS_FILE" in env_names(CredentialsSettings)


def test_every_documented_variable_is_read_by_settings() -> None:
    """The configuration table of the README names only variables some settings class reads."""
    import re
    from pathlib import Path

    from gateway.config import GatewaySettings
    from services.registry.config import RegistrySettings

    known = set().union(*(env_names(s) for s in (RegistrySettings, RunsSettings, CredentialsSettings, GatewaySettings)))
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    documented = set(re.findall(r"`(AGENTORCH_[A-Z_]+__[A-Z_]+)`", readme))
    assert documented
    assert documented <= known, sorted(documented - known)
