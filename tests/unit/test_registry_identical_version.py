"""When a save only repeats the orchestration's current version (services.registry.domain.orchestration)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.registry.domain.definition import PromptTemplate
from services.registry.domain.orchestration import (
    OrchestrationName,
    OrchestrationVersion,
    VersionContent,
    content_digest,
    repeats_current,
)

DEFINITION = {"schema_version": 1, "phases": [{"id": "main", "steps": [{"id": "a", "kind": "noop"}]}]}
TEMPLATES = (PromptTemplate("summary", "Summary of {{ params.topic }}", ""),)
PLAN = "organizations/acme/plans/11111111-1111-4111-8111-111111111111"
SOURCE = "organizations/acme/agents/a/orchestrations/x/versions/3"


def current(label: str = "1.0.0", source_plan: str = "", copied_from: str = "") -> OrchestrationVersion:
    content = VersionContent(DEFINITION, TEMPLATES, label, "the first note")
    return OrchestrationVersion(
        orchestration=OrchestrationName("acme", "a", "flow"),
        number=4,
        content=content,
        digest=content_digest(DEFINITION, TEMPLATES),
        author="alice",
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        source_plan=source_plan,
        copied_from=copied_from,
    )


def content(
    label: str = "", *, definition: dict[str, object] | None = None, templates: tuple[PromptTemplate, ...] = TEMPLATES
) -> VersionContent:
    return VersionContent(definition or DEFINITION, templates, label, "another note")


@pytest.mark.parametrize(
    ("saved", "lineage", "repeats"),
    [
        (content(), {}, True),  # same content, no label asked: the change note alone is no new version
        (content("1.0.0"), {}, True),  # the current label again (a retried save)
        (content("1.1.0"), {}, False),  # a new label: a new version carrying it
        (content(definition={**DEFINITION, "schema_version": 1, "parameters": []}), {}, False),
        (content(templates=(PromptTemplate("summary", "Summary of {{ params.topic }}", "described"),)), {}, False),
        (content(templates=()), {}, False),
        (content(), {"source_plan": PLAN}, False),  # saved from a plan: its lineage must be recorded
        (content(), {"copied_from": SOURCE}, False),
    ],
)
def test_what_repeats_the_current_version(saved: VersionContent, lineage: dict[str, str], repeats: bool) -> None:
    assert repeats_current(current(), saved, **lineage) is repeats


def test_the_same_lineage_repeats() -> None:
    assert repeats_current(current(source_plan=PLAN), content(), source_plan=PLAN)
    assert repeats_current(current(copied_from=SOURCE), content(), copied_from=SOURCE)
    assert repeats_current(current(source_plan=PLAN), content())  # a plain save asks for no lineage
    assert not repeats_current(current(source_plan=PLAN), content(), source_plan=PLAN.replace("1111", "2222"))
