"""Conversation plan JSON → orchestration definition. Pure and deterministic: the same plan gives the same result.

docs/plan-format.md describes the accepted plan shape and the mapping; in short::

    {"title": "...", "summary": "...", "parameters": [...as in a definition...],
     "steps": [{"id"?, "title", "agent"?, "instructions"?, "message"?, "prompt_template"?, "phase"?,
                "depends_on"?: [id | title | 1-based number], "requires_approval"?, "approvers"?, "deliverables"?}],
     "prompt_templates"?: [{"name", "template", "description"?}]}

or `"phases": [{"id"?, "title" (or "name"), "steps": [...]}]` instead of `steps`. The result always passes
`validate_definition`; a plan that cannot be converted raises InvalidPlan whose violations sit at paths of the
plan (`plan.steps[2].depends_on[0]`), including the problems the definition validator finds in the converted
document, which are mapped back to the plan field they came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.common.errors import FieldViolation
from services.registry.domain.definition import PromptTemplate
from services.registry.domain.errors import InvalidPlan
from services.registry.domain.plan_conversion.building import DefinitionBuilder
from services.registry.domain.plan_conversion.linking import Linker
from services.registry.domain.plan_conversion.model import Draft
from services.registry.domain.plan_conversion.paths import PlanPaths
from services.registry.domain.plan_conversion.reading import PlanReader
from services.registry.domain.plan_conversion.text import literal, output_ref, slugify

__all__ = ["Conversion", "convert_plan", "literal", "output_ref", "slugify"]


@dataclass(frozen=True)
class Conversion:
    """An orchestration-ready definition (valid), its prompt templates, and what the conversion assumed."""

    definition: dict[str, Any]
    prompt_templates: tuple[PromptTemplate, ...]
    notes: tuple[str, ...]
    title: str
    summary: str


def convert_plan(document: Any, default_agent: str = "", *, prefix: str = "plan") -> Conversion:
    """Convert a plan; InvalidPlan (a ValidationFailed) lists every reason it cannot be converted.

    The stages: read the plan (PlanReader), give the steps ids and resolve their dependencies (Linker), build the
    definition (DefinitionBuilder), validate it with the plan's paths (PlanPaths)."""
    if not isinstance(document, dict) or not document:
        raise InvalidPlan([FieldViolation(prefix, "must be a non-empty JSON object (see docs/plan-format.md)")])
    draft = Draft(prefix, default_agent)
    title, summary, templates = PlanReader(draft).read(document)
    draft.check()
    linker = Linker(draft)
    linker.assign_ids()
    linker.resolve_dependencies()
    draft.check()
    definition, origins = DefinitionBuilder(draft).build(document.get("parameters"))
    PlanPaths(draft).validate(definition, templates, origins)
    return Conversion(definition, templates, tuple(draft.notes), title, summary)
