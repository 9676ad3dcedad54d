"""Orchestrations, their immutable versions, names, lifecycle and version diffs (pure: no I/O)."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from services.common.errors import FieldViolation
from services.common.names import SLUG_RE, SLUG_RULE, VERSION_LABEL_RE
from services.registry.domain.definition import PromptTemplate

MAX_DISPLAY_NAME = 200
MAX_DESCRIPTION = 4000
MAX_CHANGE_NOTE = 2000
MAX_TAGS = 50
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,62}$")
LABEL_RE = VERSION_LABEL_RE
MUTABLE_ORCHESTRATION_FIELDS = ("display_name", "description")


class OrchestrationStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class OrchestrationName:
    """`organizations/{org}/agents/{agent}/orchestrations/{slug}`."""

    organization_slug: str
    agent_slug: str
    slug: str

    def __str__(self) -> str:
        return f"organizations/{self.organization_slug}/agents/{self.agent_slug}/orchestrations/{self.slug}"

    @classmethod
    def parse(cls, name: str, field: str = "name") -> OrchestrationName | FieldViolation:
        parts = name.split("/")
        if len(parts) != 6 or parts[0] != "organizations" or parts[2] != "agents" or parts[4] != "orchestrations":
            return FieldViolation(field, "must look like organizations/{org}/agents/{agent}/orchestrations/{slug}")
        if not all(SLUG_RE.match(p) for p in (parts[1], parts[3], parts[5])):
            return FieldViolation(field, f"has a malformed slug: each slug {SLUG_RULE}")
        return cls(parts[1], parts[3], parts[5])


@dataclass(frozen=True)
class VersionRef:
    """`{orchestration}/versions/{number}` or `{orchestration}/versions/{label}`."""

    orchestration: OrchestrationName
    number: int | None
    label: str | None

    @classmethod
    def parse(cls, name: str, field: str = "name") -> VersionRef | FieldViolation:
        head, sep, ref = name.rpartition("/versions/")
        if not sep or not ref:
            return FieldViolation(field, "must look like {orchestration}/versions/{number or label}")
        parent = OrchestrationName.parse(head, field)
        if isinstance(parent, FieldViolation):
            return parent
        if ref.isdigit():
            number = int(ref)
            if number < 1:
                return FieldViolation(field, "version numbers start at 1")
            return cls(parent, number, None)
        if not LABEL_RE.match(ref):
            return FieldViolation(field, "has a malformed version label")
        return cls(parent, None, ref)


def version_name(orchestration: OrchestrationName, number: int) -> str:
    return f"{orchestration}/versions/{number}"


@dataclass(frozen=True)
class Orchestration:
    name: OrchestrationName
    display_name: str
    description: str
    status: OrchestrationStatus
    tags: tuple[str, ...]
    current_version: int
    revision: int
    created_at: dt.datetime
    updated_at: dt.datetime
    created_by: str
    updated_by: str
    deleted_at: dt.datetime | None = None

    @property
    def etag(self) -> str:
        return hashlib.sha256(f"{self.name}\x1f{self.revision}".encode()).hexdigest()[:20]

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


@dataclass(frozen=True)
class VersionContent:
    """What an author saves: the definition, its templates, and notes about the save."""

    definition: dict[str, Any]
    prompt_templates: tuple[PromptTemplate, ...] = ()
    label: str = ""
    change_note: str = ""


@dataclass(frozen=True)
class OrchestrationVersion:
    orchestration: OrchestrationName
    number: int
    content: VersionContent
    digest: str
    author: str
    created_at: dt.datetime
    source_plan: str = ""
    copied_from: str = ""

    @property
    def name(self) -> str:
        return version_name(self.orchestration, self.number)


def content_digest(definition: dict[str, Any], templates: tuple[PromptTemplate, ...]) -> str:
    """SHA-256 of the canonical JSON of definition and templates: equal digests mean equal content."""
    document = {
        "definition": definition,
        "prompt_templates": sorted([t.name, t.template, t.description] for t in templates),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def repeats_current(
    current: OrchestrationVersion, content: VersionContent, *, source_plan: str = "", copied_from: str = ""
) -> bool:
    """Whether saving `content` would only repeat `current` (the orchestration's current version), so that no new
    version is made and the save answers with `current`.

    It repeats it when the content is the same (same digest: definition, its parameters and prompt templates) and
    nothing the save asks for differs: no label, or the current version's label (asking for a new label makes a new
    version that carries it; a label is how a version is pinned), and the same lineage, when the save has one (a save
    from another plan, or a copy of another version, is a new version so that the lineage stays true both ways).
    The change note of a repeated save is not recorded: nothing is written.
    """
    if current.digest != content_digest(content.definition, content.prompt_templates):
        return False
    if content.label and content.label != current.content.label:
        return False
    if source_plan and source_plan != current.source_plan:
        return False
    return not copied_from or copied_from == current.copied_from


def metadata_violations(display_name: str, description: str, prefix: str) -> list[FieldViolation]:
    violations = []
    if not display_name.strip():
        violations.append(FieldViolation(f"{prefix}.display_name", "is required"))
    elif len(display_name) > MAX_DISPLAY_NAME:
        violations.append(FieldViolation(f"{prefix}.display_name", f"must be at most {MAX_DISPLAY_NAME} characters"))
    if len(description) > MAX_DESCRIPTION:
        violations.append(FieldViolation(f"{prefix}.description", f"must be at most {MAX_DESCRIPTION} characters"))
    return violations


def tag_violations(tags: list[str] | tuple[str, ...], field: str) -> list[FieldViolation]:
    violations = [
        FieldViolation(f"{field}[{i}]", "must be 1-63 lowercase letters, digits, '_', '.', ':' or '-'")
        for i, tag in enumerate(tags)
        if not TAG_RE.match(tag)
    ]
    if len(set(tags)) > MAX_TAGS:
        violations.append(FieldViolation(field, f"at most {MAX_TAGS} tags"))
    return violations


def version_note_violations(content: VersionContent, prefix: str) -> list[FieldViolation]:
    violations = []
    if content.label and not LABEL_RE.match(content.label):
        violations.append(
            FieldViolation(f"{prefix}.label", "must be 1-64 letters, digits, '.', '-', '_' or '+' (e.g. 1.2.0)")
        )
    if content.label.isdigit():
        violations.append(FieldViolation(f"{prefix}.label", "must not be a bare number (it would read as a version)"))
    if len(content.change_note) > MAX_CHANGE_NOTE:
        violations.append(FieldViolation(f"{prefix}.change_note", f"must be at most {MAX_CHANGE_NOTE} characters"))
    return violations


# --- diff ---------------------------------------------------------------------------------------------------------


class ChangeKind(enum.StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


@dataclass(frozen=True)
class Change:
    path: str
    kind: ChangeKind
    old: Any = None
    new: Any = None


def diff_versions(old: OrchestrationVersion, new: OrchestrationVersion) -> list[Change]:
    """Differences between two versions as JSON-pointer changes, ordered by path.

    Prompt templates are compared by name (not position), so reordering them is not a change.
    """
    return sorted(_diff("", _comparable(old), _comparable(new)), key=lambda c: c.path)


def _comparable(version: OrchestrationVersion) -> dict[str, Any]:
    return {
        "definition": version.content.definition,
        "prompt_templates": {
            t.name: {"template": t.template, "description": t.description} for t in version.content.prompt_templates
        },
        "label": version.content.label,
        "change_note": version.content.change_note,
    }


def _pointer_token(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _diff(path: str, old: Any, new: Any) -> list[Change]:
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[Change] = []
        for key in old.keys() | new.keys():
            child = f"{path}/{_pointer_token(key)}"
            if key not in new:
                changes.append(Change(child, ChangeKind.REMOVED, old=old[key]))
            elif key not in old:
                changes.append(Change(child, ChangeKind.ADDED, new=new[key]))
            else:
                changes += _diff(child, old[key], new[key])
        return changes
    if isinstance(old, list) and isinstance(new, list):
        changes = []
        for i in range(max(len(old), len(new))):
            child = f"{path}/{i}"
            if i >= len(new):
                changes.append(Change(child, ChangeKind.REMOVED, old=old[i]))
            elif i >= len(old):
                changes.append(Change(child, ChangeKind.ADDED, new=new[i]))
            else:
                changes += _diff(child, old[i], new[i])
        return changes
    if old != new or type(old) is not type(new):
        return [Change(path, ChangeKind.MODIFIED, old=old, new=new)]
    return []
