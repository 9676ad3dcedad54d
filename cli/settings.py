"""Where the gateway CLI finds the gateway and its credentials: environment variables (AGENTORCH_GATEWAY,
AGENTORCH_TOKEN, AGENTORCH_DATA_DIR), overridden by the command line."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_GATEWAY = "127.0.0.1:50051"


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTORCH_", extra="ignore", frozen=True, hide_input_in_errors=True)

    gateway: str = Field(DEFAULT_GATEWAY, description="The gateway's address, host:port.")
    token: SecretStr | None = Field(None, description="A bearer token: a JWT or an API key (ak_...).")
    data_dir: Path = Field(Path(".agentorch"), description="The local data dir whose dev-token `agentorch up` wrote.")
