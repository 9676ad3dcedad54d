"""Settings come from prefixed, nested environment variables; secrets stay secret; request ids are sane."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common import context
from services.common.settings import DatabaseSettings
from services.common.templating import DEFAULT_LIMITS, TemplateLimits
from services.registry.config import RegistrySettings
from services.runs.config import RunsSettings


def test_each_service_reads_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTORCH_REGISTRY_SERVER__PORT", "6001")
    monkeypatch.setenv("AGENTORCH_REGISTRY_DATABASE__URL", "postgresql+asyncpg://u:pw@db/agentorch")
    monkeypatch.setenv("AGENTORCH_RUNS_SERVER__PORT", "6002")
    registry, runs = RegistrySettings(), RunsSettings()
    assert (registry.server.port, runs.server.port) == (6001, 6002)
    assert registry.database.is_postgresql
    assert not runs.database.is_postgresql


def test_defaults_are_the_embedded_setup() -> None:
    settings = RegistrySettings()
    assert settings.server.port == 50061
    assert settings.database.url.get_secret_value().startswith("sqlite+aiosqlite:///")


def test_database_url_never_shows_in_repr() -> None:
    settings = DatabaseSettings(url="postgresql+asyncpg://user:s3cret-pw@db/x")  # type: ignore[arg-type]
    assert "s3cret-pw" not in repr(settings)
    assert "s3cret-pw" not in str(settings.model_dump())


@pytest.mark.parametrize("url", ["mysql://x/y", "postgresql://x/y", "sqlite:///x.db"])
def test_unsupported_driver_is_rejected_with_the_fix(url: str) -> None:
    with pytest.raises(ValidationError, match="sqlite\\+aiosqlite, postgresql\\+asyncpg"):
        DatabaseSettings(url=url)  # type: ignore[arg-type]


def test_bad_port_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTORCH_REGISTRY_SERVER__PORT", "70000")
    with pytest.raises(ValidationError, match="port"):
        RegistrySettings()


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123", True), ("", False), ("x" * 129, False), ("bad\nid", False), ("naïve", False)],
)
def test_request_ids_from_callers_are_sanitized(given: str, kept: bool) -> None:
    result = context.sanitize_request_id(given)
    assert (result == given) is kept
    assert 0 < len(result) <= context.MAX_REQUEST_ID_LENGTH


def test_a_rejected_database_url_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTORCH_REGISTRY_DATABASE__URL", "mysql://user:hunter2@db/x")
    with pytest.raises(ValidationError) as caught:
        RegistrySettings()
    assert "hunter2" not in str(caught.value)
    assert "database.url" in str(caught.value).replace("\n", " ") or "url" in str(caught.value)


def test_template_limits_are_runs_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert RunsSettings().templates.limits() == DEFAULT_LIMITS
    monkeypatch.setenv("AGENTORCH_RUNS_TEMPLATES__MAX_ITERATIONS", "5000")
    monkeypatch.setenv("AGENTORCH_RUNS_TEMPLATES__MAX_OUTPUT_CHARS", "200000")
    monkeypatch.setenv("AGENTORCH_RUNS_TEMPLATES__MAX_SECONDS", "0.5")
    assert RunsSettings().templates.limits() == TemplateLimits(5000, 200_000, 0.5)
    monkeypatch.setenv("AGENTORCH_RUNS_TEMPLATES__MAX_SECONDS", "0")
    with pytest.raises(ValidationError, match=r"templates\.max_seconds"):
        RunsSettings()
