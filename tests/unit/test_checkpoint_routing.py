"""Checkpoint routing without I/O (issue 14, i14-routing): who may decide (`may_decide`), the timers' order and
rescheduling, assignee syntax, and the registry's validation of assignees, reminders and escalation chains."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.common.context import Principal
from services.registry.domain.definition.model import EscalationLevel as SavedLevel
from services.runs.domain import routing
from services.runs.domain.definition import read_definition
from services.runs.domain.routing import EscalationLevel, Permission, Refusal, RefusalKind, TimerKind, Timers
from tests.unit.test_definition_support import S, doc, only, step_of, valid

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def who(*roles: str, subject: str = "bob@example.com", groups: tuple[str, ...] = (), org: str = "acme") -> Principal:
    return Principal(subject=subject, organization_slug=org, roles=frozenset(roles), groups=frozenset(groups))


# --- may_decide -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "assignees", "allowed"),
    [
        (who("approver"), (), True),  # no assignees: anyone with the role
        (who("approver"), ("bob@example.com",), True),
        (who("approver", subject="BOB@Example.COM"), ("bob@example.com",), True),  # e-mails case-insensitive
        (who("approver"), ("Bob@Example.com",), True),
        (who("approver", subject="dana@example.com", groups=("legal",)), ("group:legal",), True),
        (who("approver", subject="dana@example.com", groups=("finance",)), ("group:legal",), False),
        (who("approver", subject="dana@example.com"), ("bob@example.com",), False),
        (who("approver", subject="dana@example.com", org=""), ("bob@example.com",), False),  # platform: same rule
    ],
)
def test_assignees_direct_or_through_a_group(principal: Principal, assignees: tuple[str, ...], allowed: bool) -> None:
    assert isinstance(routing.may_decide(principal, "approver", assignees), Permission) is allowed


def test_the_role_comes_first() -> None:
    refusal = routing.may_decide(who("operator"), "approver", ("bob@example.com",))
    assert isinstance(refusal, Refusal)
    assert (refusal.kind, refusal.required_role) == (RefusalKind.ROLE, "approver")
    assert isinstance(routing.may_decide(who("approver"), "admin", ()), Refusal)


def test_an_admin_needs_an_explicit_override() -> None:
    admin = who("admin", subject="root@example.com")
    refusal = routing.may_decide(admin, "approver", ("bob@example.com",))
    assert isinstance(refusal, Refusal)
    assert refusal.kind is RefusalKind.NOT_AN_ASSIGNEE
    assert "override" in refusal.message
    assert "bob@example.com" in refusal.message
    assert routing.may_decide(admin, "approver", ("bob@example.com",), override=True) == Permission(override=True)
    assert routing.may_decide(admin, "approver", (), override=True) == Permission(override=False)  # not needed
    outsider = routing.may_decide(who("approver", subject="x@example.com"), "approver", ("b@x",), override=True)
    assert isinstance(outsider, Refusal)
    assert "override" not in outsider.message


@pytest.mark.parametrize(
    ("assignee", "ok"),
    [
        ("alice@example.com", True),
        ("auth0|12345", True),
        ("group:legal-reviewers", True),
        ("group:Legal", False),
        ("group:", False),
        ("alice smith", False),
        ("", False),
        ("x" * 321, False),
    ],
)
def test_assignee_syntax(assignee: str, ok: bool) -> None:
    assert (routing.assignee_problem(assignee) == "") is ok


# --- timers ---------------------------------------------------------------------------------------------------------


CHAIN = (EscalationLevel(600, assignees=("group:legal",)), EscalationLevel(1200, role="admin"))


def test_the_next_timer_is_the_earliest_pending_one() -> None:
    timers = routing.opened(T0, T0 + dt.timedelta(hours=2), 300, CHAIN)
    assert timers.remind_at == T0 + dt.timedelta(seconds=7200 - 300)
    assert timers.next_escalation_at == T0 + dt.timedelta(seconds=600)
    assert timers.next_at == T0 + dt.timedelta(seconds=600)
    assert timers.due(T0 + dt.timedelta(seconds=599)) is None
    assert timers.due(T0 + dt.timedelta(seconds=600)) is TimerKind.ESCALATE
    last = Timers(timers.due_at, timers.remind_at, False, CHAIN, 2, T0)
    assert last.next_escalation_at is None
    assert last.next_at == timers.remind_at
    assert last.due(T0 + dt.timedelta(seconds=6900)) is TimerKind.REMIND
    reminded = Timers(timers.due_at, timers.remind_at, True, CHAIN, 2, T0)
    assert reminded.next_at == timers.due_at
    assert reminded.due(T0 + dt.timedelta(hours=3)) is TimerKind.EXPIRE
    assert timers.due(T0 + dt.timedelta(hours=3)) is TimerKind.EXPIRE  # expiry wins over late levels
    assert routing.opened(T0, None, None, ()).next_at is None


def test_an_extension_moves_the_reminder_and_the_pending_levels() -> None:
    timers = Timers(T0 + dt.timedelta(hours=2), T0 + dt.timedelta(seconds=6900), True, CHAIN, 1, T0)
    later = routing.extended(timers, T0 + dt.timedelta(hours=5), 300, now=T0 + dt.timedelta(hours=1))
    assert later.due_at == T0 + dt.timedelta(hours=5)
    assert later.remind_at == T0 + dt.timedelta(hours=5, seconds=-300)
    assert later.reminded is False  # the new reminder is ahead: it is sent again
    assert later.escalation_level == 1
    assert later.next_escalation_at == T0 + dt.timedelta(hours=3, seconds=1200)
    sooner = routing.extended(timers, T0 + dt.timedelta(hours=1, minutes=2), 300, now=T0 + dt.timedelta(hours=1))
    assert sooner.reminded is True  # its reminder time has passed, and it was sent


# --- definitions ----------------------------------------------------------------------------------------------------


def checkpoint(**fields: Any) -> dict[str, Any]:
    return doc({"id": "c", "kind": "checkpoint", "checkpoint": {"title": "Go?", **fields}})


def test_a_routed_checkpoint_validates_and_reads() -> None:
    fields = {
        "assignees": ["alice@example.com", "group:legal"],
        "due_in_seconds": 7200,
        "remind_before_seconds": 600,
        "escalation": [
            {"after_seconds": 600, "to": {"group": "legal-leads"}},
            {"after_seconds": 1800, "to": {"role": "admin", "users": ["boss@example.com"]}},
        ],
    }
    spec = step_of(valid(checkpoint(**fields)), "c").checkpoint
    assert spec is not None
    assert spec.remind_before_seconds == 600
    assert spec.escalation == (
        SavedLevel(600, None, ("group:legal-leads",)),
        SavedLevel(1800, "admin", ("boss@example.com",)),
    )
    read = read_definition(checkpoint(**fields)).step("c").checkpoint
    assert read is not None
    assert read.assignees == ("alice@example.com", "group:legal")
    assert read.escalation == (
        EscalationLevel(600, "", ("group:legal-leads",)),
        EscalationLevel(1800, "admin", ("boss@example.com",)),
    )


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"assignees": ["group:Legal"]}, "assignees[0]"),
        ({"assignees": ["alice smith"]}, "assignees[0]"),
        ({"remind_before_seconds": 60}, "remind_before_seconds"),  # no due time
        ({"due_in_seconds": 600, "remind_before_seconds": 600}, "remind_before_seconds"),
        ({"remind_before_seconds": 0, "due_in_seconds": 600}, "remind_before_seconds"),
        ({"escalation": {"after_seconds": 60}}, "escalation"),
        ({"escalation": [{"after_seconds": 60}]}, "escalation[0].to"),
        ({"escalation": [{"after_seconds": 30, "to": {"role": "admin"}}]}, "escalation[0].after_seconds"),
        ({"escalation": [{"after_seconds": 60, "to": {"role": "owner"}}]}, "escalation[0].to.role"),
        ({"escalation": [{"after_seconds": 60, "to": {"group": "Bad Slug"}}]}, "escalation[0].to.group"),
        ({"escalation": [{"after_seconds": 60, "to": {"users": ["a b"]}}]}, "escalation[0].to.users[0]"),
        ({"escalation": [{"after_seconds": 60, "to": {}}]}, "escalation[0].to"),
        ({"escalation": [{"after_seconds": 60, "to": {"team": "x", "role": "admin"}}]}, "escalation[0].to.team"),
        (
            {
                "escalation": [
                    {"after_seconds": 120, "to": {"role": "admin"}},
                    {"after_seconds": 60, "to": {"role": "admin"}},
                ]
            },
            "escalation[1].after_seconds",
        ),
        (
            {"due_in_seconds": 600, "escalation": [{"after_seconds": 600, "to": {"role": "admin"}}]},
            "escalation[0].after_seconds",
        ),
        ({"escalation": [{"after_seconds": 60 * (i + 1), "to": {"role": "admin"}} for i in range(6)]}, "escalation"),
    ],
)
def test_bad_routing(fields: dict[str, Any], expected: str) -> None:
    assert only(checkpoint(**fields)).field == f"{S}[0].checkpoint.{expected}"
