"""Version labels where the runs service takes a version: labels live in the registry, so a label is turned into
its version number there, as the caller (who must be allowed to read the orchestration)."""

from __future__ import annotations

from typing import Protocol

from services.common.context import Principal
from services.runs.domain.versions import VersionRef


class VersionLookup(Protocol):
    async def version_number(self, principal: Principal, orchestration: str, label: str) -> int:
        """The number of the version of `orchestration` labelled `label`; NotFound when there is none."""
        ...


async def version_number(lookup: VersionLookup, principal: Principal, ref: VersionRef) -> int:
    """The number `ref` names (0 when it names none), looking a label up."""
    if ref.label:
        return await lookup.version_number(principal, ref.orchestration, ref.label)
    return ref.number
