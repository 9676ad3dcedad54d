"""Settings shared by every service: one pydantic-settings class per concern, read from the environment.

Each service subclasses `ServiceSettings` with its own env prefix (`AGENTORCH_REGISTRY_`, ...) and nested
sections separated by `__`, e.g. `AGENTORCH_REGISTRY_DATABASE__URL` or `AGENTORCH_RUNS_SERVER__PORT`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.netpolicy import EgressPolicy, NetworkAllowlist

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class ServerSettings(BaseModel):
    """Where and how the gRPC server listens."""

    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 in containers.")
    port: int = Field(0, ge=0, le=65535, description="TCP port; 0 picks a free port (tests).")
    grace_seconds: float = Field(
        10.0, ge=0, le=300, description="On SIGTERM, how long in-flight RPCs may finish before being cancelled."
    )
    max_message_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, description="Largest request or response message accepted, in bytes."
    )
    stream_send_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A server stream whose client accepts no message for this long ends with ABORTED "
        "(CLIENT_TOO_SLOW): resume it from the last item received.",
    )
    max_connection_idle_seconds: float = Field(
        300.0,
        ge=0,
        le=86_400,
        description="A connection with no call in flight for this long is closed (GOAWAY); gRPC clients "
        "reconnect on their next call. 0: never.",
    )
    max_connection_age_seconds: float = Field(
        1800.0,
        ge=0,
        le=86_400 * 7,
        description="A connection older than this (±10 % jitter) is told to go away (GOAWAY): its clients open a "
        "new one, which spreads them over replicas added since. Calls in flight continue (see the grace). 0: never.",
    )
    max_connection_age_grace_seconds: float = Field(
        0.0,
        ge=0,
        le=86_400,
        description="How long calls still in flight on a connection past its age may run before it is closed. "
        "0: until they end (watch streams are not cut).",
    )
    keepalive_time_seconds: float = Field(
        60.0,
        ge=1,
        le=86_400,
        description="The server pings each connection this often, so a peer that vanished (its streams with it) "
        "is noticed instead of holding its calls for hours.",
    )
    keepalive_timeout_seconds: float = Field(
        20.0, ge=1, le=3600, description="A connection whose ping is not answered within this is closed."
    )
    min_client_ping_interval_seconds: float = Field(
        30.0,
        ge=1,
        le=86_400,
        description="Clients may ping at most this often without data (keepalive); a client pinging faster is "
        "disconnected (GOAWAY too_many_pings), so pings cannot be used to keep the server busy.",
    )
    max_concurrent_streams: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="Most calls in flight on one connection (HTTP/2 SETTINGS); more wait on the client. 0: gRPC's "
        "default (no limit): the platform's own channels carry every relayed call over one connection.",
    )

    def connection_options(self) -> list[tuple[str, int]]:
        """The grpc.aio server options for the connection limits above."""
        options = [
            ("grpc.keepalive_time_ms", _ms(self.keepalive_time_seconds)),
            ("grpc.keepalive_timeout_ms", _ms(self.keepalive_timeout_seconds)),
            ("grpc.http2.min_ping_interval_without_data_ms", _ms(self.min_client_ping_interval_seconds)),
        ]
        if self.max_connection_idle_seconds:
            options.append(("grpc.max_connection_idle_ms", _ms(self.max_connection_idle_seconds)))
        if self.max_connection_age_seconds:
            options.append(("grpc.max_connection_age_ms", _ms(self.max_connection_age_seconds)))
            if self.max_connection_age_grace_seconds:
                options.append(("grpc.max_connection_age_grace_ms", _ms(self.max_connection_age_grace_seconds)))
        if self.max_concurrent_streams:
            options.append(("grpc.max_concurrent_streams", self.max_concurrent_streams))
        return options


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class TaskSettings(BaseModel):
    """Supervision of the process's background tasks (services/common/supervisor.py)."""

    restart_initial_seconds: float = Field(
        0.1, gt=0, le=60, description="First wait before a failed background task is started again."
    )
    restart_max_seconds: float = Field(
        5.0, gt=0, le=300, description="Longest wait between restarts of a background task that keeps failing."
    )
    unhealthy_after_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="A background task failing (or making no progress) for this long turns health NOT_SERVING "
        "until it recovers; Kubernetes' liveness probe then restarts the pod.",
    )
    check_interval_seconds: float = Field(1.0, gt=0, le=60, description="How often task health is re-evaluated.")


class DatabaseSettings(BaseModel):
    """The service's own database. Each service owns its schema and migrations."""

    model_config = ConfigDict(hide_input_in_errors=True)  # a bad URL must not echo its password

    url: SecretStr = Field(
        SecretStr("sqlite+aiosqlite:///.agentorch/service.db"),
        description="SQLAlchemy URL: sqlite+aiosqlite:///PATH (embedded) or postgresql+asyncpg://USER:PASS@HOST/DB.",
    )
    schema_name: str = Field(
        "",
        pattern=r"^$|^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema holding the service's tables; empty means the service name. Ignored on SQLite.",
    )
    pool_size: int = Field(10, ge=1, le=200, description="Connections kept open per process (PostgreSQL).")
    pool_pre_ping: bool = Field(
        False,
        description="Test each pooled connection before use (three extra round trips per transaction on asyncpg). "
        "Off: a connection that died is detected on first use, the pool is refreshed and the call fails UNAVAILABLE.",
    )
    pool_recycle_seconds: int = Field(
        1800, ge=0, description="Replace pooled connections older than this (0 = never), before idle cut-offs do."
    )
    migrate_on_start: bool = Field(
        True, description="Apply pending migrations at start-up (guarded by an advisory lock on PostgreSQL)."
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")
    probe_interval_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="How often a supervised probe checks that the database answers (SELECT 1). While it fails, "
        "calls answer UNAVAILABLE; failing for TASKS__UNHEALTHY_AFTER_SECONDS turns health NOT_SERVING.",
    )
    probe_timeout_seconds: float = Field(
        5.0, gt=0, le=300, description="A probe, or an attempt to open a connection, that takes longer than this fails."
    )
    sqlite_busy_timeout_ms: int = Field(
        10_000,
        ge=0,
        le=600_000,
        description="SQLite: how long a transaction waits for the write lock before the call answers UNAVAILABLE.",
    )

    @field_validator("url")
    @classmethod
    def _supported_driver(cls, value: SecretStr) -> SecretStr:
        driver = value.get_secret_value().split("://", 1)[0]
        if driver not in SUPPORTED_DRIVERS:
            raise ValueError(f"database url must start with one of {', '.join(SUPPORTED_DRIVERS)}, not {driver!r}")
        return value

    @property
    def is_postgresql(self) -> bool:
        return self.url.get_secret_value().startswith("postgresql")


class LoggingSettings(BaseModel):
    """Structured logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Minimum level logged.")
    format: Literal["json", "console"] = Field("json", description="json for machines, console for people.")
    access_log: bool = Field(True, description="Log one line per RPC (method, code, duration, request id).")


class AuthSettings(BaseModel):
    """The internal key ring that signs and verifies principals forwarded between the platform's processes."""

    principal_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description='Key id → base64 key (at least 32 bytes), as JSON: {"k1": "..."}. Shared by every process.',
    )
    principal_keys_file: Path | None = Field(
        None, description="A JSON file with the same content (e.g. a mounted Kubernetes Secret); merged with the above."
    )
    signing_key_id: str = Field("", description="Key id used to sign; empty means the first key. Others verify only.")
    token_ttl_seconds: int = Field(300, ge=5, le=3600, description="Lifetime of a principal token this process signs.")


class AgentNetworkSettings(BaseModel):
    """Which internal networks agent endpoints may use (see services.common.netpolicy)."""

    allowed_networks: list[str] = Field(
        default_factory=list,
        description="Exceptions to the refused agent destinations (loopback, private, link-local, shared, "
        'multicast...): CIDR ranges or addresses, and host names (exact or *.suffix), as JSON: ["10.0.0.0/8", '
        '"*.agents.svc.cluster.local"]. Empty (the default): agents must be on public addresses.',
    )

    @field_validator("allowed_networks")
    @classmethod
    def _parse(cls, value: list[str]) -> list[str]:
        NetworkAllowlist.parse(value)  # raises ValueError naming the bad entry
        return value

    def policy(self, setting: str) -> EgressPolicy:
        """The policy; `setting` is the full variable name (AGENTORCH_RUNS_AGENTS__ALLOWED_NETWORKS), for messages."""
        return EgressPolicy.from_entries(self.allowed_networks, setting)


class ServiceSettings(BaseSettings):
    """Base of every service's settings; subclasses set env_prefix and their defaults."""

    model_config = SettingsConfigDict(env_nested_delimiter="__", extra="ignore", frozen=True, hide_input_in_errors=True)

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
