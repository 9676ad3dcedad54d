"""The registry as launching a run needs it: where definitions and agents come from.

A protocol, so the use cases depend on no transport: `clients/registry.py` is the gRPC client; unit tests plug in a
fake. Every call acts as `principal` (the registry applies the caller's own tenancy and roles).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from services.common.context import Principal


@dataclass(frozen=True)
class ResolvedDefinition:
    definition: dict[str, Any]
    prompt_templates: list[dict[str, str]]
    origin: str  # the orchestration version or plan resource name; "" for ad hoc
    orchestration: str  # the orchestration resource name (without version) or ""


class Registry(Protocol):
    async def orchestration(self, principal: Principal, name: str, version: int) -> ResolvedDefinition:
        """The version to pin (0: the current one); LaunchRejected when the orchestration is archived."""
        ...

    async def plan(self, principal: Principal, name: str) -> ResolvedDefinition:
        """An approved plan, converted to a definition; LaunchRejected for a plan in another status."""
        ...

    async def validate(
        self, principal: Principal, organization_slug: str, definition: Any, templates: list[dict[str, str]]
    ) -> ResolvedDefinition:
        """An ad hoc definition, validated as the registry validates a saved one (InvalidLaunch otherwise)."""
        ...

    async def agent(self, principal: Principal, organization_slug: str, slug: str) -> dict[str, Any] | None:
        """The agent as pinned into a run (its own organization's, else the platform-wide one), or None."""
        ...

    async def version_number(self, principal: Principal, orchestration: str, label: str) -> int:
        """The number of the version of `orchestration` labelled `label`; NotFound when there is none."""
        ...
