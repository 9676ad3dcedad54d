"""Credentials (metadata), write-only secret values, audit events, and their validation. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from services.common import names
from services.common.errors import FieldViolation
from services.common.names import ALIAS_RE, ALIAS_RULE
from services.credentials.domain.binding import CredentialBinding, normalize_agents, normalize_hosts

PROVIDER_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
LABEL_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MAX_DESCRIPTION = 1000
MAX_LABELS = 20
MAX_LABEL_VALUE = 63
MAX_VALUE_BYTES = 64 * 1024
MAX_RETAINED_VERSIONS = 10
MUTABLE_FIELDS = (
    "description",
    "provider",
    "type",
    "labels",
    "retained_versions",
    "allowed_agents",
    "allowed_hosts",
)
BINDING_FIELDS = ("allowed_agents", "allowed_hosts")


class CredentialType(enum.StrEnum):
    API_KEY = "api_key"
    BEARER_TOKEN = "bearer_token"  # noqa: S105 (a type name, not a secret)
    BASIC_AUTH = "basic_auth"
    GENERIC_SECRET = "generic_secret"  # noqa: S105 (a type name, not a secret)


class AuditAction(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    ROTATE = "rotate"
    DELETE = "delete"
    RESOLVE = "resolve"
    REWRAP = "rewrap"


class AuditOutcome(enum.StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"
    FAILED = "failed"


class SecretValue:
    """A plaintext value. Its repr and str never show it; only `reveal()` does, at the point of use."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue(***)"

    __str__ = __repr__


@dataclass(frozen=True)
class CredentialName:
    organization_slug: str
    alias: str

    def __str__(self) -> str:
        return f"organizations/{self.organization_slug}/credentials/{self.alias}"

    @classmethod
    def parse(cls, name: str, field_name: str = "name") -> CredentialName | FieldViolation:
        found = names.CREDENTIAL.match(name)
        if found is not None:
            return cls(found["org"], found["alias"])
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "organizations" or parts[2] != "credentials":
            return FieldViolation(field_name, f"must look like {names.CREDENTIAL.template}")
        return FieldViolation(field_name, f"has a malformed organization or alias (an alias {ALIAS_RULE})")


@dataclass(frozen=True)
class CredentialMetadata:
    """What an admin sets about a credential (everything but the value)."""

    description: str = ""
    provider: str = ""
    type: CredentialType = CredentialType.GENERIC_SECRET
    labels: Mapping[str, str] = field(default_factory=dict)
    retained_versions: int = 1
    allowed_agents: tuple[str, ...] = ()  # where the value may be sent (services.credentials.domain.binding)
    allowed_hosts: tuple[str, ...] = ()

    @property
    def binding(self) -> CredentialBinding:
        return CredentialBinding(self.allowed_agents, self.allowed_hosts)


@dataclass(frozen=True)
class Credential:
    name: CredentialName
    metadata: CredentialMetadata
    version: int
    key_id: str
    algorithm: str
    wrapped_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    rotated_at: dt.datetime
    created_by: str
    updated_by: str
    revision: int
    last_used_at: dt.datetime | None = None

    @property
    def etag(self) -> str:
        return hashlib.sha256(f"{self.name}\x1f{self.revision}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class AuditEvent:
    organization_slug: str
    alias: str
    version: int
    action: AuditAction
    outcome: AuditOutcome
    actor: str
    request_id: str
    at: dt.datetime
    reason: str = ""
    run: str = ""
    step: str = ""
    agent: str = ""
    destination: str = ""
    sequence: int = 0


@dataclass(frozen=True)
class AuditQuery:
    """Which audit events to list: an organization's, optionally of one alias, action, outcome or time range."""

    organization_slug: str
    alias: str = ""
    action: AuditAction | None = None
    outcome: AuditOutcome | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None


def metadata_violations(metadata: CredentialMetadata, prefix: str = "credential") -> list[FieldViolation]:
    violations = []
    if len(metadata.description) > MAX_DESCRIPTION:
        violations.append(FieldViolation(f"{prefix}.description", f"must be at most {MAX_DESCRIPTION} characters"))
    if not PROVIDER_RE.match(metadata.provider):
        violations.append(
            FieldViolation(f"{prefix}.provider", "must be at most 63 lowercase letters, digits, '-' or '_'")
        )
    if len(metadata.labels) > MAX_LABELS:
        violations.append(FieldViolation(f"{prefix}.labels", f"at most {MAX_LABELS} labels"))
    for key, value in sorted(metadata.labels.items()):
        if not LABEL_RE.match(key):
            violations.append(
                FieldViolation(f"{prefix}.labels[{key!r}]", "keys are 1-63 lowercase letters, digits, '_', '.', '-'")
            )
        elif len(value) > MAX_LABEL_VALUE:
            violations.append(
                FieldViolation(f"{prefix}.labels[{key!r}]", f"values are at most {MAX_LABEL_VALUE} characters")
            )
    if not 0 <= metadata.retained_versions <= MAX_RETAINED_VERSIONS:
        violations.append(
            FieldViolation(f"{prefix}.retained_versions", f"must be between 0 and {MAX_RETAINED_VERSIONS}")
        )
    return violations


def normalized_binding(
    metadata: CredentialMetadata, organization_slug: str, prefix: str = "credential"
) -> tuple[CredentialMetadata, list[FieldViolation]]:
    """The metadata with its binding as stored (agent slugs as resource names, canonical hosts), and every
    violation of it."""
    agents, violations = normalize_agents(organization_slug, metadata.allowed_agents, f"{prefix}.allowed_agents")
    hosts, host_violations = normalize_hosts(metadata.allowed_hosts, f"{prefix}.allowed_hosts")
    return replace(metadata, allowed_agents=agents, allowed_hosts=hosts), violations + host_violations


def describe_binding(binding: CredentialBinding) -> str:
    """For audit reasons: what a credential is bound to (names and host patterns; never a value)."""
    if not binding.bound:
        return "unbound (no agent call may use it)"
    parts = []
    if binding.agents:
        parts.append(f"allowed_agents=[{', '.join(binding.agents)}]")
    if binding.hosts:
        parts.append(f"allowed_hosts=[{', '.join(binding.hosts)}]")
    return "; ".join(parts)


def value_violations(value: str, field_name: str = "value") -> list[FieldViolation]:
    """Checks size only; the message states sizes, never content."""
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size == 0:
        return [FieldViolation(field_name, "is required")]
    if size > MAX_VALUE_BYTES:
        return [FieldViolation(field_name, f"must be at most {MAX_VALUE_BYTES} bytes (got {size})")]
    return []


def alias_violation(alias: str, field_name: str = "alias") -> FieldViolation | None:
    if not alias:
        return FieldViolation(field_name, "is required")
    if not ALIAS_RE.match(alias):
        return FieldViolation(field_name, ALIAS_RULE)
    return None
