"""Issue 14 in the registry's definition validation: a checkpoint's `max_revisions`, and templates reading
`revision` (the reviewer feedback of a step a checkpoint sent back)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_definition_support import S, doc, echo, only, step_of, valid


def checkpoint(**fields: Any) -> dict[str, Any]:
    return doc(
        echo("a"), {"id": "c", "kind": "checkpoint", "depends_on": ["a"], "checkpoint": {"title": "t", **fields}}
    )


def test_max_revisions_defaults_to_three() -> None:
    spec = step_of(valid(checkpoint()), "c").checkpoint
    assert spec is not None
    assert spec.max_revisions == 3


@pytest.mark.parametrize("count", [0, 1, 100])
def test_max_revisions_in_bounds(count: int) -> None:
    spec = step_of(valid(checkpoint(max_revisions=count)), "c").checkpoint
    assert spec is not None
    assert spec.max_revisions == count


@pytest.mark.parametrize("bad", [-1, 101, 1.5, "3", True])
def test_bad_max_revisions(bad: Any) -> None:
    assert only(checkpoint(max_revisions=bad)).field == f"{S}[1].checkpoint.max_revisions"


def test_a_step_template_may_read_revision() -> None:
    template = "Draft.{% if revision %} Fix: {{ revision.comment }} (was {{ revision.previous_output }}){% endif %}"
    valid(doc(echo("a", template)))


def test_a_checkpoint_text_may_not_read_revision() -> None:
    violation = only(checkpoint(context="{{ revision.comment }}"))
    assert violation.field == f"{S}[1].checkpoint.context"
    assert "reads revision" in violation.description
