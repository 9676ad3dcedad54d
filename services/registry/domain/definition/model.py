"""The parsed orchestration definition and the bounds its validation enforces (see `definition` for the format)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from services.common.names import ALIAS_RE, ALIAS_RULE

CURRENT_SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})

# Sizes. The document bound applies to its compact JSON encoding (UTF-8), checked before anything else.
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_PHASES = 50
MAX_STEPS = 500
MAX_PARAMETERS = 100
MAX_DEPENDENCIES = 20
MAX_INPUTS = 50
MAX_CREDENTIALS = 20
MAX_ENUM_VALUES = 100
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 2000
MAX_TEMPLATE_BYTES = 64 * 1024
MAX_PROMPT_TEMPLATES = 100
MAX_DELIVERABLES = 50
MAX_ASSIGNEES = 50
MAX_ASSIGNEE_CHARS = 320
MAX_ESCALATION_LEVELS = 5  # issue 14, i14-routing
GROUP_ASSIGNEE_PREFIX = "group:"

# Durations, in seconds.
MAX_TIMEOUT_SECONDS = 86_400
MAX_ATTEMPTS = 10
MAX_INITIAL_BACKOFF_SECONDS = 3_600
MAX_BACKOFF_SECONDS = 86_400
MIN_BACKOFF_MULTIPLIER = 1
MAX_BACKOFF_MULTIPLIER = 10
MIN_DUE_IN_SECONDS = 60
MAX_DUE_IN_SECONDS = 30 * 86_400

STEP_ID_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
STEP_ID_RULE = "must be 1-63 lowercase letters, digits, '_' or '-', starting with a letter"
PARAMETER_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
PARAMETER_NAME_RULE = "must be 1-64 letters, digits or '_', not starting with a digit"
CREDENTIAL_ALIAS_RE = ALIAS_RE  # the vault's alias grammar: a definition names credentials by alias
CREDENTIAL_ALIAS_RULE = ALIAS_RULE
TEMPLATE_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
TEMPLATE_NAME_RULE = "must be 1-63 lowercase letters, digits, '_', '.' or '-', starting with a letter"

PARAMETER_TYPES = ("string", "integer", "number", "boolean", "object", "array")
STEP_KINDS = ("agent", "checkpoint", "noop", "echo", "template")
ON_FAILURE = ("fail_run", "continue")
CHECKPOINT_ROLES = ("viewer", "author", "operator", "approver", "admin")
ON_EXPIRY = ("reject", "approve", "fail_run", "escalate")

DEFAULT_INITIAL_BACKOFF_SECONDS = 1.0
DEFAULT_MAX_BACKOFF_SECONDS = 60.0
DEFAULT_BACKOFF_MULTIPLIER = 2.0


_PYTHON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "boolean": bool,
    "object": dict,
    "array": (list, tuple),
}


def is_integer(value: Any) -> bool:
    """JSON integers; an integral float counts, because google.protobuf.Struct carries every number as a double."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def is_number(value: Any) -> bool:
    """A finite JSON number (bool is not a number, NaN and infinities are not JSON)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def matches_type(parameter_type: str, value: Any) -> bool:
    """Whether `value` (decoded JSON) is of a parameter type; the runs service checks launch values with it."""
    if parameter_type == "integer":
        return is_integer(value)
    if parameter_type == "number":
        return is_number(value)
    expected = _PYTHON_TYPES.get(parameter_type)
    return expected is not None and isinstance(value, expected)


@dataclass(frozen=True)
class Parameter:
    """A launch-time parameter. `default` None means none: JSON null is not a useful default."""

    name: str
    type: str
    required: bool = False
    default: Any = None
    description: str = ""
    enum: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed step attempt is retried: exponential backoff capped at `max_backoff_seconds`."""

    max_attempts: int
    initial_backoff_seconds: float = DEFAULT_INITIAL_BACKOFF_SECONDS
    max_backoff_seconds: float = DEFAULT_MAX_BACKOFF_SECONDS
    backoff_multiplier: float = DEFAULT_BACKOFF_MULTIPLIER


@dataclass(frozen=True)
class CheckpointSpec:
    """A human decision. `context` and `deliverables` are templates rendered when the checkpoint opens."""

    title: str
    context: str | None = None
    deliverables: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    role: str = "approver"
    due_in_seconds: int | None = None
    on_expiry: str = "reject"
    escalate_to: str | None = None  # with on_expiry "escalate": the role the checkpoint moves to when it expires
    max_revisions: int = 3  # issue 14: request_changes allowed this many times, then only approve or reject

    # i14-decisions: quorum, four-eyes (None: the launcher's organization default), reason codes a vote may carry
    approvals_required: int = 1
    forbid_self_approval: bool | None = None
    reason_codes: tuple[str, ...] = ()

    # --- routing and escalation (issue 14, i14-routing) ---
    remind_before_seconds: int | None = None  # lead time of the CHECKPOINT_DUE_SOON reminder (needs due_in_seconds)
    escalation: tuple[EscalationLevel, ...] = ()  # levels reached after_seconds from opening, in order


DEFAULT_MAX_REVISIONS = 3


@dataclass(frozen=True)
class EscalationLevel:
    """One level of a checkpoint's escalation chain: after `after_seconds` (from opening) the checkpoint goes to
    `role` (if given) and to `assignees` (users and `group:<slug>`; empty: anyone holding the role)."""

    after_seconds: int
    role: str | None = None
    assignees: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One step. Fields that do not apply to its kind are None or empty."""

    id: str
    kind: str
    phase_id: str
    depends_on: tuple[str, ...] = ()
    agent: str | None = None
    prompt_template: str | None = None
    prompt: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    credentials: tuple[str, ...] = ()
    timeout_seconds: float | None = None
    retry: RetryPolicy | None = None
    on_failure: str = "fail_run"
    checkpoint: CheckpointSpec | None = None
    message: str | None = None
    template: str | None = None
    title: str = ""


@dataclass(frozen=True)
class Phase:
    id: str
    title: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Definition:
    """A validated orchestration definition (what the registry needs of it: the runs service parses its own)."""

    schema_version: int
    parameters: tuple[Parameter, ...]
    phases: tuple[Phase, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        """Every step, phase by phase, in document order."""
        return tuple(step for phase in self.phases for step in phase.steps)

    def referenced_agents(self) -> tuple[str, ...]:
        """Agent slugs the steps call, each once, in document order (to check they exist before saving)."""
        return _unique(step.agent for step in self.steps if step.agent is not None)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
