"""The converted definition validated, each violation reported at the plan field it came from."""

from __future__ import annotations

import re
from typing import Any

from services.common.errors import FieldViolation, ValidationFailed
from services.registry.domain.definition import PromptTemplate, validate_definition
from services.registry.domain.errors import InvalidPlan
from services.registry.domain.plan_conversion.model import Draft, StepOrigin

_STEP_PATH_RE = re.compile(r"^definition\.phases\[(\d+)\]\.steps\[(\d+)\](.*)$")
_PHASE_PATH_RE = re.compile(r"^definition\.phases\[(\d+)\](.*)$")
_INDEXED_RE = re.compile(r"^\[(\d+)\](.*)$")


class PlanPaths:
    """Validates the built definition; its violations are mapped back to the plan fields they came from."""

    def __init__(self, draft: Draft) -> None:
        self.d = draft

    def validate(
        self,
        definition: dict[str, Any],
        templates: tuple[PromptTemplate, ...],
        origins: dict[tuple[int, int], StepOrigin],
    ) -> None:
        try:
            validate_definition(
                definition, templates, prefix="definition", templates_prefix=f"{self.d.prefix}.prompt_templates"
            )
        except ValidationFailed as exc:
            mapped = {FieldViolation(self.plan_path(v.field, origins), v.description): None for v in exc.violations}
            raise InvalidPlan(list(mapped)) from None

    def plan_path(self, path: str, origins: dict[tuple[int, int], StepOrigin]) -> str:
        """The plan field a violation of the converted definition comes from."""
        if not path.startswith("definition"):
            return path  # prompt templates are validated at their plan paths already
        container = f"{self.d.prefix}.{'phases' if self.d.phased else 'steps'}"
        if match := _STEP_PATH_RE.match(path):
            origin = origins.get((int(match[1]), int(match[2])))
            return container if origin is None else _within(origin, match[3])
        if match := _PHASE_PATH_RE.match(path):
            position = int(match[1])
            return self.d.groups[position].path if position < len(self.d.groups) else container
        if path.startswith("definition.parameters"):
            return self.d.prefix + ".parameters" + path[len("definition.parameters") :]
        if path.startswith("definition.phases"):
            return container
        return self.d.prefix


def _within(origin: StepOrigin, rest: str) -> str:
    """Map `.prompt`, `.depends_on[1]`, `.checkpoint.assignees[0]`... of an emitted step to its plan field."""
    if rest.startswith(".depends_on"):
        indexed = _INDEXED_RE.match(rest[len(".depends_on") :])
        if indexed and int(indexed[1]) < len(origin.dependency_paths):
            return origin.dependency_paths[int(indexed[1])]
        return origin.path if origin.path.endswith("requires_approval") else f"{origin.path}.depends_on"
    for name, (plan_field, positions) in origin.lists.items():
        if rest.startswith(f".{name}"):
            indexed = _INDEXED_RE.match(rest[len(name) + 1 :])
            if indexed and int(indexed[1]) < len(positions):
                return f"{plan_field}[{positions[int(indexed[1])]}]"
            return plan_field
    for name, plan_field in origin.fields.items():
        if rest == f".{name}" or rest.startswith((f".{name}.", f".{name}[")):
            return plan_field
    return origin.path
