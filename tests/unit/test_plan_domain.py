"""Conversation plans: names, request validation and etags (pure domain)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from services.common.errors import FieldViolation
from services.registry.domain.plan import (
    MAX_PLAN_BYTES,
    Plan,
    PlanName,
    PlanSpec,
    PlanStatus,
    comment_violation,
    conversation_id_violation,
    plan_spec_violations,
)

PLAN_ID = str(uuid.uuid4())


def test_plan_names_round_trip() -> None:
    name = PlanName.parse(f"organizations/acme/plans/{PLAN_ID}")
    assert name == PlanName("acme", PLAN_ID)
    assert str(name) == f"organizations/acme/plans/{PLAN_ID}"
    fresh = PlanName.new("acme")
    assert PlanName.parse(str(fresh)) == fresh


@pytest.mark.parametrize(
    "name",
    [
        "",
        "plans/x",
        f"organizations/acme/agents/{PLAN_ID}",
        f"organizations/Acme/plans/{PLAN_ID}",
        "organizations/acme/plans/not-a-uuid",
        f"organizations/acme/plans/{PLAN_ID.upper()}",
        f"organizations/acme/plans/{PLAN_ID}/extra",
    ],
)
def test_malformed_plan_names_are_violations_of_the_field(name: str) -> None:
    parsed = PlanName.parse(name, "plan.name")
    assert isinstance(parsed, FieldViolation)
    assert parsed.field == "plan.name"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("conv-1", True),
        ("a" * 200, True),
        ("with spaces ok", True),
        ("", False),
        ("a" * 201, False),
        ("a\nb", False),
        ("   ", False),
    ],
)
def test_conversation_ids(value: str, ok: bool) -> None:
    assert (conversation_id_violation("conversation_id", value) is None) is ok


def test_plan_spec_violations_name_every_field() -> None:
    spec = PlanSpec("acme", "", "Bad Agent", {})
    assert {v.field for v in plan_spec_violations(spec)} == {
        "plan.conversation_id",
        "plan.agent_slug",
        "plan.plan",
    }
    huge = PlanSpec("acme", "c", "helper", {"steps": ["x" * MAX_PLAN_BYTES]})
    assert [v.field for v in plan_spec_violations(huge)] == ["plan.plan"]
    assert plan_spec_violations(PlanSpec("acme", "c", "helper", {"steps": []})) == []


def test_comment_is_bounded() -> None:
    assert comment_violation("comment", "x" * 2000) is None
    assert comment_violation("comment", "x" * 2001) is not None


def test_etag_follows_the_revision_and_title_is_read_from_the_plan() -> None:
    now = dt.datetime.now(dt.UTC)
    plan = Plan(
        PlanName("acme", PLAN_ID), "c", "helper", {"title": "  Launch  "}, PlanStatus.DRAFT, 1, "alice", now, now
    )
    assert plan.title == "Launch"
    bumped = dataclasses.replace(plan, revision=2)
    assert plan.etag != bumped.etag
    assert plan.etag == dataclasses.replace(plan, status=PlanStatus.APPROVED).etag
    assert dataclasses.replace(plan, document={"title": 3}).title == ""
