"""Input checks of the routing requests (issue 14, i14-routing): overrides, reassignments and extensions. Bad input
is refused whole (INVALID_ARGUMENT naming every field) before anything is read or written."""

from __future__ import annotations

import datetime as dt

from services.common import authz
from services.common.errors import FieldViolation
from services.runs.domain import routing

MAX_REASON = 1000
MAX_DUE_SECONDS = 30 * 86_400  # as far ahead as a definition's due_in_seconds may reach


def override_violations(override: bool, justification: str) -> list[FieldViolation]:
    if override and not justification.strip():
        return [FieldViolation("justification", "is required with override (why the admin decides)")]
    if len(justification) > MAX_REASON:
        return [FieldViolation("justification", f"must be at most {MAX_REASON} characters")]
    if justification and not override:
        return [FieldViolation("justification", "is only allowed with override")]
    return []


def reason_violations(reason: str) -> list[FieldViolation]:
    if not reason.strip():
        return [FieldViolation("reason", "is required (recorded in the run event)")]
    if len(reason) > MAX_REASON:
        return [FieldViolation("reason", f"must be at most {MAX_REASON} characters")]
    return []


def assignee_violations(assignees: list[str], role: str) -> list[FieldViolation]:
    violations: list[FieldViolation] = []
    if len(assignees) > routing.MAX_ASSIGNEES:
        violations.append(FieldViolation("assignees", f"must be at most {routing.MAX_ASSIGNEES}"))
    seen: dict[str, int] = {}
    for position, assignee in enumerate(assignees):
        problem = routing.assignee_problem(assignee)
        key = routing.normalize(assignee)
        if problem:
            violations.append(FieldViolation(f"assignees[{position}]", problem))
        elif key in seen:
            violations.append(FieldViolation(f"assignees[{position}]", f"duplicate of assignees[{seen[key]}]"))
        seen.setdefault(key, position)
    if role and role not in authz.ROLES:
        violations.append(FieldViolation("role", f"must be one of {', '.join(authz.ROLES)} (or empty to keep it)"))
    return violations


def due_violations(due: dt.datetime | None, now: dt.datetime) -> list[FieldViolation]:
    if due is None:
        return [FieldViolation("due_time", "is required")]
    if due <= now:
        return [FieldViolation("due_time", "must be in the future")]
    if due > now + dt.timedelta(seconds=MAX_DUE_SECONDS):
        return [FieldViolation("due_time", f"must be at most {MAX_DUE_SECONDS // 86_400} days ahead")]
    return []
