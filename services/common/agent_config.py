"""The agent config: the schema of a registry agent's `config` JSON (docs/agents.md), shared by both sides of it.

`Agent.config` travels as a google.protobuf.Struct, but its keys are a contract between two contexts: the registry
validates it when an agent is saved (CreateAgent, UpdateAgent, `agentorch agents import`), so a typo or a bad value
is refused at once with the field's path, and the runs service parses it when it calls the agent (agents saved
before this validation existed are still caught there). Both must apply the very same rules, so the schema lives
once, here, beside the other rules the two share (the egress policy, `netpolicy`; the template sandbox): it imports
nothing of either service and holds no behaviour beyond the shape of the document.

Why not a protobuf message: `config` is a Struct on the wire and in every stored agent (a typed field would break
the contract), and the rules that matter — ranges, header-name grammar, what the openai protocol needs, which
headers may not be set — are not expressible in proto3 without a validation library; a message would be a second
description to keep in step, not the rules.

What is checked where: every key must be known, every value of its type and range, `protocol` one of `a2a`,
`openai`. The registry validates strictly (`"stream": "yes"` or `"timeout_seconds": "60"` are refused) and accepts a
config without `protocol` (an agent being set up: authors may tune it before an admin gives it a destination; a step
calling it fails until then). Whether an endpoint may be reached is the egress policy's question (`netpolicy`), not
this schema's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

MiB = 1024 * 1024
PROTOCOLS = ("a2a", "openai")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)
_RESERVED_HEADERS = {"content-type", "content-length", "host", "transfer-encoding", "connection", "idempotency-key"}

#: Config keys that tune a call without changing where it goes or which header carries a credential: authors may
#: change them. Every other config key, and the whole agent card, is the agent's destination (admins only).
TUNING_CONFIG_KEYS = frozenset(
    {
        "model",
        "system_prompt",
        "parameters",
        "stream",
        "timeout_seconds",
        "max_response_bytes",
        "max_attempts",
        "backoff_seconds",
        "max_backoff_seconds",
    }
)


class _Inconsistent(ValueError):
    """Rules across keys, each at the key to change (pydantic reports a model validator's error at the top)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


class AgentConfig(BaseModel):
    """The `config` of a registry agent: how the runs service calls it. See docs/agents.md."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["a2a", "openai"] | None = None
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
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL:
            raise ValueError("must be an absolute http:// or https:// URL") from None
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
        problems: list[tuple[str, str]] = []
        if self.protocol == "openai":
            if not self.endpoint:
                problems.append(
                    ("endpoint", "the openai protocol needs `endpoint` (the API base URL, e.g. http://host:port/v1)")
                )
            if not self.model:
                problems.append(("model", "the openai protocol needs `model`"))
            reserved = {"model", "messages", "stream"} & set(self.parameters)
            if reserved:
                problems.append(
                    ("parameters", f"`parameters` cannot set {', '.join(sorted(reserved))} (set by the executor)")
                )
        secret_headers = {self.credential_header.lower(), *(h.lower() for h in self.credential_headers.values())}
        clash = secret_headers & {h.lower() for h in self.headers}
        if clash:
            problems.append(("headers", f"`headers` cannot set {', '.join(sorted(clash))}: it carries a credential"))
        if problems:
            raise _Inconsistent(problems)
        return self


#: Every key a config may have, in the order docs/agents.md lists them.
CONFIG_KEYS = tuple(AgentConfig.model_fields)


def _check_header(name: str) -> str:
    if not _TOKEN.match(name):
        raise ValueError(f"{name!r} is not a valid HTTP header name")
    if name.lower() in _RESERVED_HEADERS:
        raise ValueError(f"header {name!r} is set by the executor")
    return name


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config: `path` inside it (`timeout_seconds`, `headers.X-Trace`; "" for the whole
    document) and pydantic's message, which never quotes the value (a config may hold a secret by mistake)."""

    path: str
    message: str
    unknown_key: bool = False

    @property
    def description(self) -> str:
        """The message without pydantic's "Value error, " prefix (for a field violation)."""
        return self.message.removeprefix("Value error, ")


class InvalidAgentConfig(ValueError):
    """The config breaks the schema; `problems` lists every problem, each at its key."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__("; ".join(f"{p.path or 'config'}: {p.message}" for p in problems))
        self.problems = tuple(problems)


def parse_agent_config(raw: Mapping[str, Any], *, strict: bool = False) -> AgentConfig:
    """The config as a model, or InvalidAgentConfig listing every problem.

    `strict` refuses values of another JSON type that pydantic would otherwise convert (`"60"` for a number,
    `"yes"` for a boolean): the registry saves strictly; the runs service parses leniently what was saved before.
    """
    try:
        return AgentConfig.model_validate(dict(raw), strict=strict)
    except ValidationError as exc:
        raise InvalidAgentConfig(_problems(exc)) from None


def _problems(exc: ValidationError) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for error in exc.errors(include_input=False, include_url=False):
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _Inconsistent):
            problems += [ConfigProblem(path, message) for path, message in cause.problems]
            continue
        problems.append(
            ConfigProblem(_path(error["loc"]), error["msg"], unknown_key=error["type"] == "extra_forbidden")
        )
    return problems


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path
