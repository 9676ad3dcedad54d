"""Registry settings: environment variables prefixed AGENTORCH_REGISTRY_ (nested with `__`)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import AgentNetworkSettings, DatabaseSettings, ServerSettings, ServiceSettings

DEFAULT_PORT = 50061


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTORCH_REGISTRY_", env_nested_delimiter="__", extra="ignore")

    server: ServerSettings = Field(default_factory=lambda: ServerSettings(port=DEFAULT_PORT))
    database: DatabaseSettings = Field(
        default_factory=lambda: DatabaseSettings(url=SecretStr("sqlite+aiosqlite:///.agentorch/registry.db"))
    )
    agents: AgentNetworkSettings = Field(
        default_factory=AgentNetworkSettings, description="Agent endpoints refused when an agent is saved."
    )
