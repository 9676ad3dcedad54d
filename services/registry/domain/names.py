"""Slugs and resource names of the registry."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.errors import FieldViolation

SLUG_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
SLUG_RULE = "must be 1-63 lowercase letters, digits or hyphens, start with a letter and not end with a hyphen"


def slug_violation(field: str, value: str, *, required: bool = True) -> FieldViolation | None:
    if not value:
        return FieldViolation(field, "is required") if required else None
    if not SLUG_RE.match(value):
        return FieldViolation(field, SLUG_RULE)
    return None


@dataclass(frozen=True)
class AgentName:
    """`organizations/{org}/agents/{slug}`, or `agents/{slug}` for a platform-wide agent (org = "")."""

    organization_slug: str
    slug: str

    def __str__(self) -> str:
        prefix = f"organizations/{self.organization_slug}/" if self.organization_slug else ""
        return f"{prefix}agents/{self.slug}"

    @classmethod
    def parse(cls, name: str, field: str = "name") -> AgentName | FieldViolation:
        parts = name.split("/")
        if len(parts) == 4 and parts[0] == "organizations" and parts[2] == "agents":
            org, slug = parts[1], parts[3]
        elif len(parts) == 2 and parts[0] == "agents":
            org, slug = "", parts[1]
        else:
            return FieldViolation(field, "must look like organizations/{org}/agents/{agent} or agents/{agent}")
        if (len(parts) == 4 and not SLUG_RE.match(org)) or not SLUG_RE.match(slug):
            return FieldViolation(field, f"has a malformed slug: each slug {SLUG_RULE}")
        return cls(org, slug)


def parse_parent(parent: str, field: str = "parent") -> str | FieldViolation:
    """`organizations/{org}` → org; empty → "" (platform-wide)."""
    if not parent:
        return ""
    parts = parent.split("/")
    if len(parts) == 2 and parts[0] == "organizations" and SLUG_RE.match(parts[1]):
        return parts[1]
    return FieldViolation(field, "must be empty or look like organizations/{org}")
