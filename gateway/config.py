"""Gateway settings: environment variables prefixed AGENTORCH_GATEWAY_ (nested with `__`).

Sections: `server`, `logging`, `backends` (where the services are), `auth` (the internal key ring the gateway signs
forwarded principals with), `database` (the gateway's own database: API keys), `jwt` (bearer tokens from an
identity provider), `api_keys` (verification cache), `rate_limit` (per principal, per replica) and `invoke`
(how long plan/build calls wait).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import AuthSettings, DatabaseSettings, LoggingSettings, ServerSettings, TaskSettings

DEFAULT_PORT = 50051
DEFAULT_HTTP_PORT = 50052
MAX_LEEWAY_SECONDS = 300


class BackendSettings(BaseModel):
    """Addresses (host:port) of the services the gateway relays to."""

    registry: str = Field("127.0.0.1:50061", description="Registry service target.")
    runs: str = Field("127.0.0.1:50062", description="Runs service target.")
    credentials: str = Field("127.0.0.1:50063", description="Credentials service target.")
    health_timeout_seconds: float = Field(2.0, gt=0, le=60, description="Deadline of a backend health check.")


class HttpSettings(BaseModel):
    """The HTTP/JSON + Server-Sent Events front (gateway.http): a second listener of the gateway process that
    translates each request into the gRPC call of its route and sends it to the gateway's own gRPC port."""

    enabled: bool = Field(True, description="Serve HTTP/JSON and SSE next to gRPC.")
    host: str = Field("127.0.0.1", description="Interface to bind; 0.0.0.0 in containers.")
    port: int = Field(DEFAULT_HTTP_PORT, ge=0, le=65535, description="TCP port; 0 picks a free port (tests).")
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins browsers may call from, as JSON: ["https://app.example.com"]; "*" allows any. '
        "Empty: no CORS headers at all (same-origin or non-browser clients only).",
    )
    sse_heartbeat_seconds: float = Field(
        15.0, gt=0, le=300, description="An SSE comment line is sent after this long without any other output."
    )
    sse_retry_seconds: float = Field(
        3.0, ge=0.1, le=600, description="The `retry:` hint: how long a browser waits before reconnecting."
    )
    max_body_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024, description="Largest request body accepted (413 beyond)."
    )
    request_timeout_seconds: float = Field(
        300.0, gt=0, le=3600, description="Deadline of the gRPC call behind a non-streaming request (504 after)."
    )

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        for origin in values:
            scheme, _, rest = origin.partition("://")
            if origin != "*" and (scheme not in ("http", "https") or not rest or "/" in rest):
                raise ValueError(f"a CORS origin is '*' or scheme://host[:port] without a path, not {origin!r}")
        return values


class JwtSettings(BaseModel):
    """Bearer JWTs from an identity provider (e.g. Supabase Auth). Off unless a key source is configured.

    HS256 verifies with a shared secret; RS256/ES256 with public keys from a JWKS file or URL. Each algorithm only
    ever uses its own kind of key, so a token cannot pick the key it is checked with.
    """

    model_config = ConfigDict(hide_input_in_errors=True)  # a validation error must not print the secret

    hs256_secret: SecretStr | None = Field(
        None, description="HS256 shared secret (at least 32 bytes), e.g. Supabase's legacy JWT secret."
    )
    hs256_secret_file: Path | None = Field(
        None, description="A file holding the HS256 secret (a mounted Kubernetes Secret); wins over hs256_secret."
    )
    jwks_file: Path | None = Field(None, description="A JWKS document with the RS256/ES256 public keys.")
    jwks_url: str = Field(
        "", description="A JWKS URL (e.g. https://PROJECT.supabase.co/auth/v1/.well-known/jwks.json), cached."
    )
    jwks_cache_seconds: float = Field(300.0, gt=0, le=86_400, description="How long a fetched JWKS is reused.")
    issuer: str = Field("", description="Required `iss` of every token (required when JWTs are enabled).")
    audience: str = Field("", description="Required `aud` of every token (required when JWTs are enabled).")
    leeway_seconds: int = Field(
        30, ge=0, le=MAX_LEEWAY_SECONDS, description="Clock skew tolerated on exp/nbf/iat, in seconds (at most 300)."
    )
    subject_claim: str = Field("sub", min_length=1, description="Claim holding the subject (user id).")
    organization_claim: str = Field(
        "org",
        min_length=1,
        description="Claim holding the organization slug; a dotted path reaches into objects "
        "(`app_metadata.organization_slug` for Supabase Auth).",
    )
    roles_claim: str = Field(
        "roles",
        min_length=1,
        description="Claim holding the list of role names (dotted path allowed); unknown ignored.",
    )
    platform_organization: str = Field(
        "",
        description="An organization claim value that makes the caller a platform principal (acting across "
        "organizations, e.g. for key-ring administration). Empty: no token is ever a platform principal.",
    )

    @field_validator("jwks_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("jwks_url must be an http(s) URL")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.hs256_secret or self.hs256_secret_file or self.jwks_file or self.jwks_url)

    @model_validator(mode="after")
    def _issuer_and_audience(self) -> JwtSettings:
        if self.enabled and not (self.issuer and self.audience):
            raise ValueError("JWT verification needs both JWT__ISSUER and JWT__AUDIENCE")
        return self


class ApiKeySettings(BaseModel):
    """Verification of API keys (`ak_<key_id>_<secret>`) stored hashed in the gateway's database."""

    cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="How long a verified key is trusted without re-reading it; a key revoked on another replica "
        "stops working within this time (on the replica that revoked it, at once).",
    )
    max_parallel_hashes: int = Field(
        4, ge=1, le=64, description="Key derivations (scrypt) run at once; more wait, so bad keys cannot hog the CPU."
    )


class RateLimitSettings(BaseModel):
    """A token bucket per principal (per client address for calls without credentials), in memory per replica."""

    enabled: bool = Field(True, description="Apply rate limits.")
    requests_per_second: float = Field(50.0, gt=0, le=1_000_000, description="Sustained calls per second.")
    burst: int = Field(100, ge=1, le=1_000_000, description="Calls allowed at once on top of the sustained rate.")
    max_tracked: int = Field(
        100_000, ge=100, le=10_000_000, description="Buckets kept per replica; the least recently used go first."
    )


class InvokeSettings(BaseModel):
    """Invoke's plan/build pass-through: how long one call waits for the agent's answer."""

    max_wait_seconds: float = Field(
        300.0,
        gt=0,
        le=3600,
        description="Longest a plan/build call follows its run when the client's deadline is later (or unset); "
        "then it answers with the run as it is (still running), so the client can watch it.",
    )
    reply_margin_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="Time kept before the client's deadline to answer with the run's state rather than let the "
        "deadline pass without the run's name.",
    )


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGENTORCH_GATEWAY_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    server: ServerSettings = Field(default_factory=lambda: ServerSettings(port=DEFAULT_PORT))
    http: HttpSettings = Field(default_factory=HttpSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    backends: BackendSettings = Field(default_factory=BackendSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    database: DatabaseSettings = Field(
        default_factory=lambda: DatabaseSettings(url=SecretStr("sqlite+aiosqlite:///.agentorch/gateway.db"))
    )
    jwt: JwtSettings = Field(default_factory=JwtSettings)
    api_keys: ApiKeySettings = Field(default_factory=ApiKeySettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    invoke: InvokeSettings = Field(default_factory=InvokeSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
