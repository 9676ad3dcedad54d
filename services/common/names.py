"""The resource-name grammar every context shares (AIP-122): slugs, ids, and the names built from them.

Contexts name each other's resources by these strings (a run names its orchestration version, a credential the
agents it may be sent to, the gateway all of them), so the grammar is plumbing and lives once, here. A pattern such
as `organizations/{org}/agents/{agent}` matches a name segment by segment; each variable has a grammar (a slug
unless said otherwise). What a name *means* (AgentName, RunName, …) stays with the context that owns it.

One convention for parsers: `parse_*` and `NamePattern.parse` return the parts or raise `InvalidName` (a
ValidationFailed naming the field, so INVALID_ARGUMENT); a caller that reports every violation at once catches it
and keeps `exc.violation`.
"""

from __future__ import annotations

import re

from services.common.errors import FieldViolation, ValidationFailed

SLUG = r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?"
SLUG_RULE = "must be 1-63 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen"
#: A UUID in its canonical lowercase form (plans, runs, checkpoints).
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
#: A credential alias: definitions name credentials by it, the vault keys them by it.
ALIAS = r"[a-z][a-z0-9_.-]{0,127}"
ALIAS_RULE = "must be 1-128 lowercase letters, digits, '_', '.' or '-', starting with a letter"
#: A version label (`1.2.0`); a version is named by its number or its label.
VERSION_LABEL = r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}"
API_KEY_ID = r"[0-9a-f]{16}"
#: The wildcard collection id of AIP-159 (`organizations/{org}/agents/-`: every agent).
ANY = "-"

SLUG_RE = re.compile(rf"^{SLUG}$")
ALIAS_RE = re.compile(rf"^{ALIAS}$")
VERSION_LABEL_RE = re.compile(rf"^{VERSION_LABEL}$")
API_KEY_ID_RE = re.compile(rf"^{API_KEY_ID}$")

_VARIABLE = re.compile(r"\{([a-z_]+)\}")


class InvalidName(ValidationFailed):
    """A resource name (or parent) that does not follow its pattern: INVALID_ARGUMENT naming the field."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__([FieldViolation(field, description)])

    @property
    def violation(self) -> FieldViolation:
        return self.violations[0]


class NamePattern:
    """A resource-name pattern, `organizations/{org}/runs/{run_id}`: literal collection segments and variables.

    `grammar` gives a variable's regular expression (default: a slug). `match` and `parse` return the variables'
    values by name; `format` builds a name from them.
    """

    __slots__ = ("_regex", "template", "variables")

    def __init__(self, template: str, **grammar: str) -> None:
        self.template = template
        self.variables = tuple(_VARIABLE.findall(template))
        unknown = set(grammar) - set(self.variables)
        if unknown:
            raise ValueError(f"{template}: no variable {', '.join(sorted(unknown))}")
        pieces, position = [], 0
        for found in _VARIABLE.finditer(template):
            pieces.append(re.escape(template[position : found.start()]))
            pieces.append(f"(?P<{found.group(1)}>{grammar.get(found.group(1), SLUG)})")
            position = found.end()
        pieces.append(re.escape(template[position:]))
        self._regex = re.compile("^" + "".join(pieces) + "$")

    def __repr__(self) -> str:
        return f"NamePattern({self.template!r})"

    def match(self, name: str) -> dict[str, str] | None:
        found = self._regex.match(name)
        return found.groupdict() if found else None

    def parse(self, name: str, field: str = "name") -> dict[str, str]:
        found = self.match(name)
        if found is None:
            raise InvalidName(field, f"must look like {self.template}")
        return found

    def format(self, **values: str) -> str:
        return self.template.format_map(values)


ORGANIZATION = NamePattern("organizations/{org}")
AGENT = NamePattern("organizations/{org}/agents/{agent}")
PLATFORM_AGENT = NamePattern("agents/{agent}")
ORCHESTRATION = NamePattern("organizations/{org}/agents/{agent}/orchestrations/{orchestration}")
ORCHESTRATION_VERSION = NamePattern(  # a version by number (`3`) or by label (`1.2.0`)
    "organizations/{org}/agents/{agent}/orchestrations/{orchestration}/versions/{version}", version=VERSION_LABEL
)
PLAN = NamePattern("organizations/{org}/plans/{plan_id}", plan_id=UUID)
RUN = NamePattern("organizations/{org}/runs/{run_id}", run_id=UUID)
CHECKPOINT = NamePattern(
    "organizations/{org}/runs/{run_id}/checkpoints/{checkpoint_id}", run_id=UUID, checkpoint_id=UUID
)
CREDENTIAL = NamePattern("organizations/{org}/credentials/{alias}", alias=ALIAS)
API_KEY = NamePattern("organizations/{org}/apiKeys/{key_id}", key_id=API_KEY_ID)


def is_slug(value: str) -> bool:
    return bool(SLUG_RE.match(value))


def slug_violation(field: str, value: str, *, required: bool = True) -> FieldViolation | None:
    """The violation of a slug field (None when it is a slug, or empty and not required)."""
    if not value:
        return FieldViolation(field, "is required") if required else None
    if not is_slug(value):
        return FieldViolation(field, SLUG_RULE)
    return None


def parse_org(parent: str, field: str = "parent", *, allow_platform: bool = False) -> str:
    """`organizations/{org}` → org. With `allow_platform`, an empty parent means the platform-wide scope ("")."""
    if allow_platform and not parent:
        return ""
    found = ORGANIZATION.match(parent)
    if found is None:
        shape = (
            "must be empty or look like organizations/{org}" if allow_platform else "must look like organizations/{org}"
        )
        raise InvalidName(field, shape)
    return found["org"]


def parse_org_agent(parent: str, field: str = "parent", *, allow_any: bool = False) -> tuple[str, str]:
    """`organizations/{org}/agents/{agent}` → (org, agent); with `allow_any`, `agents/-` (every agent) too."""
    found = AGENT.match(parent)
    if found is None and allow_any and parent.endswith(f"/agents/{ANY}"):
        org = ORGANIZATION.match(parent.removesuffix(f"/agents/{ANY}"))
        found = {"org": org["org"], "agent": ANY} if org else None
    if found is None:
        suffix = " (agents/- for every agent)" if allow_any else ""
        raise InvalidName(field, "must look like organizations/{org}/agents/{agent}" + suffix)
    return found["org"], found["agent"]


def agent_of(name: str) -> tuple[str, str] | None:
    """(org, agent) of an agent's name: `organizations/{org}/agents/{agent}`, or `agents/{agent}` for a
    platform-wide agent (org ""); None when `name` is neither."""
    found = AGENT.match(name)
    if found is not None:
        return found["org"], found["agent"]
    platform = PLATFORM_AGENT.match(name)
    return ("", platform["agent"]) if platform is not None else None
