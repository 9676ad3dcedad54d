"""The agent descriptor and its validation (pure: no I/O).

An agent's *destination* is where the runs service sends its calls, and with them the credentials bound to the
agent: the agent card (its `url` and `supportedInterfaces` are the A2A endpoints) and every config key but the
tuning ones (`endpoint`, `protocol`, `credential_header(s)`, `credential_scheme`, `headers`, and any key added
later). Setting or changing it is an admin action (the use cases check); the endpoints it names are validated
against the egress policy (no internal addresses unless allowlisted) when the agent is saved.

The config itself is checked against the agent config schema (`services.common.agent_config`, shared with the runs
service that calls the agent) when it is saved: unknown keys, an unknown protocol and bad values are violations at
`agent.config.<key>`, instead of failing the first step that calls the agent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from services.common.agent_config import CONFIG_KEYS, TUNING_CONFIG_KEYS, InvalidAgentConfig, parse_agent_config
from services.common.errors import FieldViolation
from services.common.jsondepth import MAX_JSON_DEPTH, depth_violation
from services.common.names import slug_violation
from services.common.netpolicy import EgressPolicy
from services.registry.domain.errors import InvalidAgent
from services.registry.domain.names import AgentName

MAX_DISPLAY_NAME = 200
MAX_DESCRIPTION = 4000
MAX_YAML_BYTES = 256 * 1024
MAX_JSON_BYTES = 256 * 1024
MUTABLE_AGENT_FIELDS = ("display_name", "description", "agent_yaml", "agent_card", "context", "config")
_INTERFACE_KEYS = ("supportedInterfaces", "supported_interfaces")


@dataclass(frozen=True)
class AgentSpec:
    """What a caller provides to create an agent."""

    organization_slug: str
    slug: str
    display_name: str
    description: str = ""
    agent_yaml: str = ""
    agent_card: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> AgentName:
        return AgentName(self.organization_slug, self.slug)


@dataclass(frozen=True)
class Agent:
    """A stored agent descriptor."""

    spec: AgentSpec
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str
    updated_by: str

    @property
    def name(self) -> AgentName:
        return self.spec.name

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(f"{self.name}\x1f{self.version}".encode()).hexdigest()
        return digest[:20]


def destination(spec: AgentSpec) -> dict[str, Any]:
    """What decides where the agent's calls (and its credentials) go: the card and the non-tuning config keys."""
    return {
        "config": {k: v for k, v in spec.config.items() if k not in TUNING_CONFIG_KEYS},
        "agent_card": spec.agent_card,
    }


def moves_destination(before: AgentSpec | None, after: AgentSpec) -> bool:
    """True when saving `after` (over `before`, or as a new agent) sets or changes the agent's destination."""
    target = destination(after)
    if before is None:
        return bool(target["config"] or target["agent_card"])
    return target != destination(before)


def endpoint_violations(spec: AgentSpec, policy: EgressPolicy, prefix: str = "agent") -> list[FieldViolation]:
    """Every URL the runs service could call for this agent, checked against the egress policy."""
    violations: list[FieldViolation] = []
    urls: list[tuple[str, Any]] = []
    if spec.config.get("endpoint") is not None:
        urls.append((f"{prefix}.config.endpoint", spec.config["endpoint"]))
    card = spec.agent_card
    if card.get("url") not in (None, ""):
        urls.append((f"{prefix}.agent_card.url", card["url"]))
    for key in _INTERFACE_KEYS:
        interfaces = card.get(key)
        if interfaces is not None and not isinstance(interfaces, list):
            violations.append(FieldViolation(f"{prefix}.agent_card.{key}", "must be a list of interfaces"))
            continue
        for index, interface in enumerate(interfaces or ()):
            if isinstance(interface, dict) and interface.get("url") not in (None, ""):
                urls.append((f"{prefix}.agent_card.{key}[{index}].url", interface["url"]))
    for path, url in urls:
        problem = policy.url_problem(url) if isinstance(url, str) else "must be a URL (a string)"
        if problem is not None:
            violations.append(FieldViolation(path, problem))
    return violations


def config_violations(config: dict[str, Any], prefix: str = "agent") -> list[FieldViolation]:
    """The config against the agent config schema, strictly (`"60"` is not a number): one violation per problem,
    at `{prefix}.config.<key>`. The endpoint's reachability is the egress policy's (`endpoint_violations`)."""
    try:
        parse_agent_config(config, strict=True)
    except InvalidAgentConfig as exc:
        field = f"{prefix}.config"
        return [
            FieldViolation(
                f"{field}.{p.path}" if p.path else field,
                _UNKNOWN_KEY if p.unknown_key else p.description,
            )
            for p in exc.problems
        ]
    return []


_UNKNOWN_KEY = f"is not an agent config key (the keys are {', '.join(CONFIG_KEYS)}; see docs/agents.md)"


def validate_agent(
    spec: AgentSpec, policy: EgressPolicy | None = None, prefix: str = "agent", *, check_config: bool = True
) -> None:
    """Raise InvalidAgent listing every violation of the spec (field paths start with `prefix`).

    With `policy`, the endpoints are checked too: on create, and when an update moves the destination (an agent
    saved before a stricter policy can still have its description changed; its calls are refused when made).
    `check_config` validates the config against its schema: on create, and when an update changes the config (for
    the same reason: an agent saved before the schema was enforced can still be described).
    """
    violations = [
        v
        for v in (
            slug_violation(f"{prefix}.organization_slug", spec.organization_slug, required=False),
            slug_violation(f"{prefix}.slug", spec.slug),
            _text_violation(f"{prefix}.display_name", spec.display_name, MAX_DISPLAY_NAME, required=True),
            _text_violation(f"{prefix}.description", spec.description, MAX_DESCRIPTION, required=False),
            _yaml_violation(f"{prefix}.agent_yaml", spec.agent_yaml),
            _json_violation(f"{prefix}.agent_card", spec.agent_card),
            _json_violation(f"{prefix}.context", spec.context),
            _json_violation(f"{prefix}.config", spec.config),
        )
        if v is not None
    ]
    if check_config and not any(v.field == f"{prefix}.config" for v in violations):
        violations += config_violations(spec.config, prefix)
    if policy is not None:
        reported = {v.field for v in violations}
        violations += [v for v in endpoint_violations(spec, policy, prefix) if v.field not in reported]
    if violations:
        raise InvalidAgent(violations)


def _text_violation(field: str, value: str, limit: int, *, required: bool) -> FieldViolation | None:
    if required and not value.strip():
        return FieldViolation(field, "is required")
    if len(value) > limit:
        return FieldViolation(field, f"must be at most {limit} characters (got {len(value)})")
    return None


def _yaml_violation(field: str, text: str) -> FieldViolation | None:
    if not text:
        return None
    if len(text.encode()) > MAX_YAML_BYTES:
        return FieldViolation(field, f"must be at most {MAX_YAML_BYTES} bytes")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return FieldViolation(field, f"is not valid YAML{where}")
    except RecursionError:  # PyYAML composes recursively: a few hundred nested brackets exhaust the stack
        return FieldViolation(field, f"is nested too deep: it may nest at most {MAX_JSON_DEPTH} mappings/sequences")
    if not isinstance(document, dict):
        return FieldViolation(field, "must be a YAML mapping")
    too_deep = depth_violation(document, "")
    if too_deep is not None:
        return FieldViolation(field, f"{too_deep.description} (at {too_deep.field.lstrip('.') or 'the top'})")
    return None


def _json_violation(field: str, value: dict[str, Any]) -> FieldViolation | None:
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_JSON_BYTES:
        return FieldViolation(field, f"must be at most {MAX_JSON_BYTES} bytes of JSON (got {size})")
    return None
