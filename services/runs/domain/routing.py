"""Who may decide a checkpoint, and when its timers fire (issue 14: routing, SLA and escalation). Pure: no I/O.

Routing. A checkpoint names a role and, optionally, assignees: subjects (e-mail addresses, compared
case-insensitively) and groups (`group:<slug>`, matched against the signed `Principal.groups`). The caller may
decide when they hold the role and — if there are assignees — are one of them, directly or through a group. An
admin who is not an assignee may decide only as an explicit override with a justification, which the decision
records. A platform principal (no organization) follows the same rule.

Timers. A waiting checkpoint step has ONE due time in `run_steps.due_at` (the column the engine's single indexed
sweep already reads): the earliest of its reminder (`remind_at`, unless sent), its next escalation level and its
due time. So 100,000 open checkpoints cost no task or timer: only rows with a time.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from services.common import authz
from services.common.context import Principal
from services.common.names import SLUG_RE, SLUG_RULE

GROUP_PREFIX = "group:"
MAX_ASSIGNEES = 50
MAX_ASSIGNEE_CHARS = 320
OVERRIDE_ROLE = "admin"
NOT_AN_ASSIGNEE = "NOT_AN_ASSIGNEE"


def normalize(assignee: str) -> str:
    """The form assignees are stored and compared in: e-mail addresses are case-insensitive, group slugs lowercase."""
    return assignee.strip().lower()


def assignee_problem(assignee: str) -> str:
    """Why `assignee` is not a subject (no spaces) or `group:<slug>`; "" when it is one."""
    if not assignee or len(assignee) > MAX_ASSIGNEE_CHARS:
        return f"must be 1-{MAX_ASSIGNEE_CHARS} characters"
    if assignee.startswith(GROUP_PREFIX):
        slug = assignee[len(GROUP_PREFIX) :]
        return "" if SLUG_RE.match(slug) else f"a group assignee is group:<slug>; the slug {SLUG_RULE}"
    if not assignee.isprintable() or any(ch.isspace() for ch in assignee):
        return "must be a subject (an e-mail address, no spaces) or group:<slug>"
    return ""


def principal_keys(principal: Principal) -> list[str]:
    """What a principal matches among stored (normalized) assignees: their subject and each of their groups."""
    return [normalize(principal.subject), *(normalize(GROUP_PREFIX + g) for g in sorted(principal.groups))]


def is_assignee(principal: Principal, assignees: Iterable[str]) -> bool:
    return bool(set(principal_keys(principal)) & {normalize(a) for a in assignees})


class RefusalKind(enum.StrEnum):
    ROLE = "role"  # the caller lacks the checkpoint's role
    NOT_AN_ASSIGNEE = "not_an_assignee"  # holds the role, is not an assignee (and made no valid override)


@dataclass(frozen=True)
class Refusal:
    kind: RefusalKind
    message: str
    required_role: str


@dataclass(frozen=True)
class Permission:
    """The caller may decide; `override` when only as an admin's override (recorded with the decision)."""

    override: bool = False


def may_decide(
    principal: Principal, role: str, assignees: Sequence[str], *, override: bool = False
) -> Refusal | Permission:
    """Whether `principal` may decide a checkpoint needing `role`, assigned to `assignees` (see the module doc).
    The justification an override needs is checked as input by the caller (INVALID_ARGUMENT), not here."""
    required = role if role in authz.ROLES else "approver"
    if not authz.has_role(principal, required):
        return Refusal(RefusalKind.ROLE, f"deciding this checkpoint needs the {required} role", required)
    if not assignees or is_assignee(principal, assignees):
        return Permission()
    who = ", ".join(assignees)
    if authz.has_role(principal, OVERRIDE_ROLE):
        if override:
            return Permission(override=True)
        return Refusal(
            RefusalKind.NOT_AN_ASSIGNEE,
            f"only its assignees ({who}) holding the {required} role may decide this checkpoint; as an admin you may "
            "decide it anyway with override=true and a justification (recorded with the decision)",
            required,
        )
    return Refusal(
        RefusalKind.NOT_AN_ASSIGNEE,
        f"only its assignees ({who}) holding the {required} role may decide this checkpoint",
        required,
    )


# --- escalation chains and timers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EscalationLevel:
    """After `after_seconds` from opening (shifted by extensions), the checkpoint goes to `role` (if set) and to
    `assignees` (replacing the current ones; empty: anyone holding the role)."""

    after_seconds: float
    role: str = ""
    assignees: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"after_seconds": self.after_seconds, "role": self.role, "assignees": list(self.assignees)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EscalationLevel:
        return cls(
            float(data["after_seconds"]),
            str(data.get("role") or ""),
            tuple(str(a) for a in data.get("assignees") or ()),
        )


class TimerKind(enum.StrEnum):
    EXPIRE = "expire"
    ESCALATE = "escalate"
    REMIND = "remind"


@dataclass(frozen=True)
class Timers:
    """A checkpoint's timers as stored: due time, reminder, escalation chain and how far it got."""

    due_at: dt.datetime | None
    remind_at: dt.datetime | None = None
    reminded: bool = False
    escalation: tuple[EscalationLevel, ...] = ()
    escalation_level: int = 0
    escalation_base_at: dt.datetime | None = None

    @property
    def next_escalation_at(self) -> dt.datetime | None:
        if self.escalation_base_at is None or self.escalation_level >= len(self.escalation):
            return None
        return self.escalation_base_at + dt.timedelta(seconds=self.escalation[self.escalation_level].after_seconds)

    @property
    def next_at(self) -> dt.datetime | None:
        """The earliest pending timer: what the waiting step's due_at holds."""
        pending = [self.due_at, None if self.reminded else self.remind_at, self.next_escalation_at]
        times = [t for t in pending if t is not None]
        return min(times) if times else None

    def due(self, now: dt.datetime) -> TimerKind | None:
        """Which timer fires now: expiry first (on_expiry applies at the due time), then escalation, then reminder."""
        if self.due_at is not None and self.due_at <= now:
            return TimerKind.EXPIRE
        escalation = self.next_escalation_at
        if escalation is not None and escalation <= now:
            return TimerKind.ESCALATE
        if self.remind_at is not None and not self.reminded and self.remind_at <= now:
            return TimerKind.REMIND
        return None


def remind_at(due_at: dt.datetime | None, remind_before_seconds: float | None) -> dt.datetime | None:
    if due_at is None or not remind_before_seconds:
        return None
    return due_at - dt.timedelta(seconds=remind_before_seconds)


def opened(
    now: dt.datetime,
    due_at: dt.datetime | None,
    remind_before_seconds: float | None,
    escalation: Sequence[EscalationLevel],
) -> Timers:
    return Timers(due_at, remind_at(due_at, remind_before_seconds), False, tuple(escalation), 0, now)


def extended(timers: Timers, new_due: dt.datetime, remind_before_seconds: float | None, now: dt.datetime) -> Timers:
    """A new due time: the reminder is recomputed from it (and sent again if it moved into the future), and the
    pending escalation levels move by as much as the due time did (reached levels stay reached)."""
    shift = new_due - timers.due_at if timers.due_at is not None else dt.timedelta(0)
    base = timers.escalation_base_at + shift if timers.escalation_base_at is not None else None
    remind = remind_at(new_due, remind_before_seconds)
    reminded = timers.reminded and (remind is None or remind <= now)
    return Timers(new_due, remind, reminded, timers.escalation, timers.escalation_level, base)
