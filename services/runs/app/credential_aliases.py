"""Launch-time check of the credential aliases a definition names (issue 14): a run whose steps name an alias that
does not exist in the launching organization is refused before anything is written (INVALID_ARGUMENT, one field
violation per missing alias, at its first use), instead of failing at its first agent call.

Only the launching organization is asked, as the caller (so the vault applies the caller's own tenancy): an alias
that exists in another organization is as missing as one that exists nowhere, and the answer never says which.
Values are never read: the vault's GetCredential returns metadata only.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from services.common.context import Principal
from services.common.errors import FieldViolation
from services.runs.domain.errors import MissingCredentials
from services.runs.domain.model import OriginType, RunSpec

LOOKUPS = 8  # vault calls in flight at once


class CredentialDirectory(Protocol):
    async def exists(self, principal: Principal, organization_slug: str, alias: str) -> bool:
        """Whether `alias` names a credential of the organization (as `principal` sees it)."""
        ...


def alias_uses(spec: RunSpec) -> dict[str, list[tuple[int, int, int, str]]]:
    """alias → its uses (phase index, step position in its phase, position in `credentials`, step id), in order."""
    uses: dict[str, list[tuple[int, int, int, str]]] = {}
    positions: dict[int, int] = {}
    for step in spec.steps:
        position = positions.get(step.phase_index, 0)
        positions[step.phase_index] = position + 1
        for k, alias in enumerate(step.credentials):
            uses.setdefault(alias, []).append((step.phase_index, position, k, step.id))
    return uses


def definition_prefix(origin_type: OriginType | None) -> str:
    """Where the definition is in the launch request, for field paths."""
    if origin_type is OriginType.SAVED_ORCHESTRATION:
        return "orchestration.definition"
    if origin_type is OriginType.PLAN:
        return "plan.definition"
    return "ad_hoc.definition"


async def check_aliases(
    directory: CredentialDirectory, principal: Principal, org: str, spec: RunSpec, origin_type: OriginType | None
) -> None:
    """Refuse (MissingCredentials) a definition naming aliases the organization does not have."""
    uses = alias_uses(spec)
    if not uses:
        return
    bound = asyncio.Semaphore(LOOKUPS)

    async def exists(alias: str) -> bool:
        async with bound:
            return await directory.exists(principal, org, alias)

    aliases = list(uses)
    found = await asyncio.gather(*(exists(alias) for alias in aliases))
    prefix = definition_prefix(origin_type)
    violations = []
    for alias, present in zip(aliases, found, strict=True):
        if present:
            continue
        phase, position, k, _ = uses[alias][0]
        steps = ", ".join(dict.fromkeys(use[3] for use in uses[alias]))
        violations.append(
            FieldViolation(
                f"{prefix}.phases[{phase}].steps[{position}].credentials[{k}]",
                f"credential {alias!r} does not exist in organization {org!r} (used by step {steps})",
            )
        )
    if violations:
        raise MissingCredentials(violations)
