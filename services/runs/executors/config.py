"""The `config` of a registry agent — how the runs service calls it — validated strictly (docs/agents.md).

An invalid config fails the step at call time with every problem listed (paths and reasons, never values), as a
non-retryable StepFailed: another attempt would meet the same config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.runs.app.executor import StepFailed

MiB = 1024 * 1024
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)
_RESERVED_HEADERS = {"content-type", "content-length", "host", "transfer-encoding", "connection", "idempotency-key"}


class AgentConfig(BaseModel):
    """The `config` of a registry agent: how the runs service calls it. See docs/agents.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["a2a", "openai"]
    endpoint: str | None = None
    model: str | None = Field(None, min_length=1, max_length=256)
    parameters: dict[str, Any] = Field(default_factory=dict)
    system_prompt: str | None = None
    stream: bool = True
    timeout_seconds: float = Field(60.0, gt=0, le=3600)
    max_response_bytes: int = Field(MiB, ge=1024, le=64 * MiB)
    max_attempts: int = Field(3, ge=1, le=10)
    backoff_seconds: float = Field(0.5, ge=0, le=60)
    max_backoff_seconds: float = Field(10.0, ge=0, le=300)
    credential_header: str = "Authorization"
    credential_scheme: str | None = Field(None, max_length=64)
    credential_headers: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        url = httpx.URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("must be an absolute http:// or https:// URL")
        return value

    @field_validator("credential_header")
    @classmethod
    def _header_name(cls, value: str) -> str:
        return _check_header(value)

    @field_validator("credential_scheme")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value and not _TOKEN.match(value):
            raise ValueError("must be a single word such as Bearer, Basic or Token, or empty for the bare value")
        return value

    @field_validator("credential_headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for header in value.values():
            _check_header(header)
        return value

    @field_validator("headers")
    @classmethod
    def _static_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header_value in value.items():
            _check_header(name)
            if "\r" in header_value or "\n" in header_value:
                raise ValueError(f"the value of header {name!r} must be one line")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AgentConfig:
        if self.protocol == "openai":
            if not self.endpoint:
                raise ValueError("the openai protocol needs `endpoint` (the API base URL, e.g. http://host:port/v1)")
            if not self.model:
                raise ValueError("the openai protocol needs `model`")
            reserved = {"model", "messages", "stream"} & set(self.parameters)
            if reserved:
                raise ValueError(f"`parameters` cannot set {', '.join(sorted(reserved))} (set by the executor)")
        secret_headers = {self.credential_header.lower(), *(h.lower() for h in self.credential_headers.values())}
        clash = secret_headers & {h.lower() for h in self.headers}
        if clash:
            raise ValueError(f"`headers` cannot set {', '.join(sorted(clash))}: it carries a credential")
        return self


def _check_header(name: str) -> str:
    if not _TOKEN.match(name):
        raise ValueError(f"{name!r} is not a valid HTTP header name")
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(f"header {name!r} is set by the executor")
    return name


def parse_config(label: str, raw: Mapping[str, Any]) -> AgentConfig:
    """The agent's config, or a non-retryable StepFailed listing every problem (paths and reasons, no values)."""
    try:
        return AgentConfig.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"config.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" if e["loc"] else f"config: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise StepFailed(f"{label}: invalid agent config: {problems}", retryable=False) from None
