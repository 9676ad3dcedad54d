"""Where the gateway CLI finds the gateway and its credentials: environment variables (AGENTORCH_GATEWAY,
AGENTORCH_TOKEN, AGENTORCH_DATA_DIR), overridden by the command line; what `agentorch up` left in the data dir
(gateway-address, dev-token) when neither says."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_GATEWAY = "127.0.0.1:50051"


class CliSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTORCH_", extra="ignore", frozen=True, hide_input_in_errors=True)

    gateway: str | None = Field(
        None,
        description="The gateway's address, host:port; unset: the address `agentorch up` wrote into the data dir, "
        f"else {DEFAULT_GATEWAY}.",
    )
    token: SecretStr | None = Field(None, description="A bearer token: a JWT or an API key (ak_...).")
    data_dir: Path = Field(Path(".agentorch"), description="The local data dir whose dev-token `agentorch up` wrote.")
