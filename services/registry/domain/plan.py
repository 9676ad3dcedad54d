"""Conversation plans: what a planning conversation proposed, and the decision taken on it. Pure: no I/O.

A plan is created as a draft; an approver approves or rejects it; a newer plan of the same conversation
supersedes the older drafts. The plan JSON itself is free-form here (it only has to be a non-empty object of
bounded size); `plan_conversion` reads it when the plan is converted into an orchestration definition.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from services.common.errors import FieldViolation
from services.common.names import SLUG_RE, SLUG_RULE, slug_violation

MAX_CONVERSATION_ID_CHARS = 200
MAX_PLAN_BYTES = 512 * 1024
MAX_COMMENT_CHARS = 2000


class PlanStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class PlanName:
    """`organizations/{org}/plans/{plan_id}`, the plan id being a UUID in its canonical (lowercase) form."""

    organization_slug: str
    plan_id: str

    def __str__(self) -> str:
        return f"organizations/{self.organization_slug}/plans/{self.plan_id}"

    @classmethod
    def parse(cls, name: str, field: str = "name") -> PlanName | FieldViolation:
        parts = name.split("/")
        if len(parts) != 4 or parts[0] != "organizations" or parts[2] != "plans":
            return FieldViolation(field, "must look like organizations/{org}/plans/{plan_id}")
        if not SLUG_RE.match(parts[1]):
            return FieldViolation(field, f"has a malformed organization slug: it {SLUG_RULE}")
        if not is_plan_id(parts[3]):
            return FieldViolation(
                field, "has a malformed plan id: it must be a UUID such as the one CreatePlan returned"
            )
        return cls(parts[1], parts[3])

    @classmethod
    def new(cls, organization_slug: str) -> PlanName:
        return cls(organization_slug, str(uuid.uuid4()))


def is_plan_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


@dataclass(frozen=True)
class PlanSpec:
    """What a caller supplies to record a plan."""

    organization_slug: str
    conversation_id: str
    agent_slug: str
    document: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    name: PlanName
    conversation_id: str
    agent_slug: str
    document: dict[str, Any]
    status: PlanStatus
    revision: int
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    decided_by: str = ""
    decided_at: dt.datetime | None = None
    decision_comment: str = ""
    # Names of the orchestration versions saved from the plan, oldest first (read from the versions' lineage).
    saved_versions: tuple[str, ...] = ()

    @property
    def etag(self) -> str:
        return hashlib.sha256(f"{self.name}\x1f{self.revision}".encode()).hexdigest()[:20]

    @property
    def title(self) -> str:
        """The plan's `title`, if it has a usable one (for display names)."""
        title = self.document.get("title")
        return title.strip() if isinstance(title, str) else ""


def conversation_id_violation(field: str, value: str, *, required: bool = True) -> FieldViolation | None:
    if not value:
        return FieldViolation(field, "is required") if required else None
    if len(value) > MAX_CONVERSATION_ID_CHARS:
        return FieldViolation(field, f"must be at most {MAX_CONVERSATION_ID_CHARS} characters (got {len(value)})")
    if not value.isprintable() or not value.strip():
        return FieldViolation(field, "must be printable characters (no control characters, not only spaces)")
    return None


def plan_document_violation(field: str, document: Any) -> FieldViolation | None:
    if not isinstance(document, dict) or not document:
        return FieldViolation(field, "is required: a non-empty JSON object (see docs/plan-format.md)")
    try:
        size = len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError, RecursionError):
        return FieldViolation(field, "must be a JSON document")
    if size > MAX_PLAN_BYTES:
        return FieldViolation(field, f"must be at most {MAX_PLAN_BYTES} bytes of JSON (got {size})")
    return None


def plan_spec_violations(spec: PlanSpec, prefix: str = "plan") -> list[FieldViolation]:
    """Every problem with a plan to record (the organization is checked with the request's parent)."""
    found = [
        conversation_id_violation(f"{prefix}.conversation_id", spec.conversation_id),
        slug_violation(f"{prefix}.agent_slug", spec.agent_slug),
        plan_document_violation(f"{prefix}.plan", spec.document),
    ]
    return [v for v in found if v is not None]


def comment_violation(field: str, comment: str) -> FieldViolation | None:
    if len(comment) > MAX_COMMENT_CHARS:
        return FieldViolation(field, f"must be at most {MAX_COMMENT_CHARS} characters (got {len(comment)})")
    return None
