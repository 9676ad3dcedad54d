"""Runs settings: environment variables prefixed AGENTORCH_RUNS_ (nested with `__`)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import AgentNetworkSettings, DatabaseSettings, ServerSettings, ServiceSettings
from services.common.templating import DEFAULT_LIMITS, MEMORY_BYTES_PER_OUTPUT_CHAR, TemplateLimits

DEFAULT_PORT = 50062


class EngineConfig(BaseModel):
    """How this replica executes steps: the one settings model of the engine (`app/engine.py` takes it as is)."""

    lease_seconds: float = Field(
        30.0, ge=1, le=3600, description="A running step's lease; another replica takes it over after this long."
    )
    batch_size: int = Field(200, ge=1, le=5000, description="Due steps considered per transaction.")
    max_concurrency: int = Field(200, ge=1, le=10_000, description="Agent calls in flight per replica.")
    idle_wait_seconds: float = Field(
        5.0, gt=0, le=300, description="Longest sleep without a wake-up (safety net for lost notifications)."
    )
    heartbeat_seconds: float = Field(
        15.0, gt=0, le=300, description="Watch streams send a heartbeat when idle this long."
    )
    pinned_cache_size: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="Active runs whose parsed definition this replica keeps in memory (0 disables the cache).",
    )
    retention_days: int = Field(
        0, ge=0, description="Delete runs that ended more than this many days ago; 0 keeps all."
    )
    retention_interval_seconds: float = Field(
        3600.0, gt=0, le=86_400, description="How often a replica deletes expired runs (with retention_days > 0)."
    )
    delta_interval_seconds: float = Field(
        0.25,
        ge=0,
        le=60,
        description="Streamed agent output is written to the run's log at most this often per step (0: every piece).",
    )


class TemplatesConfig(BaseModel):
    """Limits of every template render (prompts, inputs, echo messages, checkpoint texts). The registry checks
    templates at save time against the defaults; a step whose template goes over a limit fails, not retryable."""

    max_iterations: int = Field(
        DEFAULT_LIMITS.max_iterations,
        ge=1,
        le=100_000_000,
        description="Loop iterations per render, all loops counted together (nested ones too), and macro calls.",
    )
    max_output_chars: int = Field(
        DEFAULT_LIMITS.max_output_chars,
        ge=1_000,
        le=100_000_000,
        description=f"Characters a render may write; it may also build {MEMORY_BYTES_PER_OUTPUT_CHAR} bytes of "
        "values per character.",
    )
    max_seconds: float = Field(
        DEFAULT_LIMITS.max_seconds, gt=0, le=300, description="Wall-clock time of one render (on a worker thread)."
    )

    def limits(self) -> TemplateLimits:
        return TemplateLimits(self.max_iterations, self.max_output_chars, self.max_seconds)


class ClientsConfig(BaseModel):
    """Services the runs service calls."""

    registry: str = Field("127.0.0.1:50061", description="Registry target (host:port).")
    credentials: str = Field("127.0.0.1:50063", description="Credentials target (host:port).")


class RunsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTORCH_RUNS_", env_nested_delimiter="__", extra="ignore")

    server: ServerSettings = Field(default_factory=lambda: ServerSettings(port=DEFAULT_PORT))
    database: DatabaseSettings = Field(
        default_factory=lambda: DatabaseSettings(url=SecretStr("sqlite+aiosqlite:///.agentorch/runs.db"))
    )
    engine: EngineConfig = Field(default_factory=EngineConfig)
    templates: TemplatesConfig = Field(default_factory=TemplatesConfig)
    clients: ClientsConfig = Field(default_factory=ClientsConfig)
    agents: AgentNetworkSettings = Field(
        default_factory=AgentNetworkSettings,
        description="Agent addresses refused at call time (every address a host resolves to is checked).",
    )
