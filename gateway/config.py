"""Gateway settings: environment variables prefixed AGENTORCH_GATEWAY_ (nested with `__`)."""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import AuthSettings, LoggingSettings, ServerSettings

DEFAULT_PORT = 50051


class BackendSettings(BaseModel):
    """Addresses (host:port) of the services the gateway relays to."""

    registry: str = Field("127.0.0.1:50061", description="Registry service target.")
    runs: str = Field("127.0.0.1:50062", description="Runs service target.")
    credentials: str = Field("127.0.0.1:50063", description="Credentials service target.")
    health_timeout_seconds: float = Field(2.0, gt=0, le=60, description="Deadline of a backend health check.")


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGENTORCH_GATEWAY_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    server: ServerSettings = Field(default_factory=lambda: ServerSettings(port=DEFAULT_PORT))
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    backends: BackendSettings = Field(default_factory=BackendSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
