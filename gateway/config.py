"""Gateway settings: environment variables prefixed AGENTORCH_GATEWAY_ (nested with `__`).

Sections: `server`, `logging`, `backends` (where the services are), `auth` (the internal key ring the gateway signs
forwarded principals with), `database` (the gateway's own database: API keys), `jwt` (bearer tokens from an
identity provider), `api_keys` (their peppers and verification cache), `rate_limit` (per principal, per
replica), `failed_auth` (failed authentications per client address and per API key), `streams` (open streams per
principal) and `invoke` (how long plan/build calls wait).
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
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A connection that has not sent a complete request head (request line and headers) this long "
        "after it opened, or after the first byte of its next request, is closed: clients trickling header bytes "
        "cannot hold connections.",
    )
    keep_alive_seconds: int = Field(
        5, ge=1, le=3600, description="An idle keep-alive connection (between requests) is closed after this long."
    )
    max_connections: int = Field(
        2000,
        ge=0,
        le=1_000_000,
        description="Connections served at once (SSE streams included); a request arriving past it is answered "
        "503. 0: no cap.",
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
    email_claim: str = Field(
        "email",
        min_length=1,
        description="Claim holding the user's e-mail (dotted path allowed): a member recorded by e-mail is matched "
        "by it (case-insensitively) when no member has the token's subject.",
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
    """Verification of API keys (`ak_<key_id>_<secret>`), stored as HMAC-SHA-256 under a server-side pepper.

    The peppers form a small key ring so they can be rotated: new keys (and keys upgraded on use) are hashed with
    the active one; the others still verify the keys hashed with them.
    """

    model_config = ConfigDict(hide_input_in_errors=True)  # a validation error must not print a pepper

    peppers_file: Path | None = Field(
        None,
        description='A JSON file {"active": "p1", "keys": {"p1": "<base64, at least 32 bytes>"}} (a mounted '
        "Kubernetes Secret); merged with `peppers`.",
    )
    peppers: dict[str, SecretStr] = Field(
        default_factory=dict, description='Pepper id → base64 pepper (at least 32 bytes), as JSON: {"p1": "..."}.'
    )
    active_pepper_id: str = Field(
        "", description="The pepper new hashes use; default: the file's `active`, else the only pepper configured."
    )
    cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="How long a verified key is trusted without re-reading it; a key revoked on another replica "
        "stops working within this time (on the replica that revoked it, at once).",
    )
    max_parallel_hashes: int = Field(
        4,
        ge=1,
        le=64,
        description="Legacy scrypt verifications (keys created before the HMAC hashes, until their first use) run "
        "at once; more wait.",
    )


class FailedAuthSettings(BaseModel):
    """Limits on failed authentications, checked before any verification work: a token bucket per client address
    and one per API key id, in memory per replica. Only credentials that do not verify count (malformed, unknown
    key id, wrong secret, a JWT with a bad signature or an unknown key); a caller past a limit is answered
    RESOURCE_EXHAUSTED (TOO_MANY_FAILED_AUTHENTICATIONS) with RetryInfo, without its credential being looked at.
    An API key this replica has verified before is never held back by them."""

    enabled: bool = Field(True, description="Apply the failed-authentication limits.")
    per_client_burst: int = Field(20, ge=1, le=1_000_000, description="Failures allowed at once per client address.")
    per_client_per_minute: float = Field(
        60.0, gt=0, le=1_000_000, description="Failures per minute per client address, sustained."
    )
    per_key_burst: int = Field(10, ge=1, le=1_000_000, description="Failures allowed at once per API key id.")
    per_key_per_minute: float = Field(
        10.0, gt=0, le=1_000_000, description="Failures per minute per API key id, sustained."
    )
    max_tracked: int = Field(
        100_000, ge=100, le=10_000_000, description="Buckets kept per replica; the least recently used go first."
    )


class StreamLimitSettings(BaseModel):
    """Server streams (WatchRun, WatchRuns; over gRPC and SSE) one principal may hold open at once, per replica."""

    max_per_principal: int = Field(
        100,
        ge=0,
        le=1_000_000,
        description="One more is refused with RESOURCE_EXHAUSTED (TOO_MANY_STREAMS; HTTP 429); closing one frees "
        "its slot. 0: no cap.",
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


class IdentitySettings(BaseModel):
    """Organizations, members and groups (the gateway's identity context)."""

    cache_seconds: float = Field(
        5.0,
        ge=0,
        le=60,
        description="How long a caller's membership (roles, groups, the organization's settings) is reused on this "
        "replica without reading the database; a change made on another replica applies within this time (on the "
        "replica that made it, at once). 0 reads it on every call.",
    )


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGENTORCH_GATEWAY_",
        env_nested_delimiter="__",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
    )

    @model_validator(mode="after")
    def _streams_for_the_http_front(self) -> GatewaySettings:
        # The HTTP front relays every request over one connection to the gRPC port: a stream cap below its
        # connection cap would make requests wait for each other there.
        streams, connections = self.server.max_concurrent_streams, self.http.max_connections
        if self.http.enabled and streams and (not connections or streams < connections):
            raise ValueError(
                "SERVER__MAX_CONCURRENT_STREAMS must be 0 or at least HTTP__MAX_CONNECTIONS (the HTTP front relays "
                "every request over one connection to the gRPC port)"
            )
        return self

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
    failed_auth: FailedAuthSettings = Field(default_factory=FailedAuthSettings)
    streams: StreamLimitSettings = Field(default_factory=StreamLimitSettings)
    invoke: InvokeSettings = Field(default_factory=InvokeSettings)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
