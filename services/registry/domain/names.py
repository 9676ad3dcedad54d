"""Agent names of the registry (the grammar itself is shared: services.common.names)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common import names
from services.common.errors import FieldViolation


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
        found = names.agent_of(name)
        if found is not None:
            return cls(*found)
        parts = name.split("/")
        if (len(parts) == 4 and parts[0] == "organizations" and parts[2] == "agents") or (
            len(parts) == 2 and parts[0] == "agents"
        ):
            return FieldViolation(field, f"has a malformed slug: each slug {names.SLUG_RULE}")
        return FieldViolation(field, "must look like organizations/{org}/agents/{agent} or agents/{agent}")
