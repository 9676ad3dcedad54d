"""Builders shared by the orchestration-definition tests (a test_* module that holds no tests)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.common.errors import FieldViolation
from services.registry.domain.definition import Definition, Parameter, PromptTemplate, Step, validate_definition
from services.registry.domain.errors import InvalidDefinition

S = "definition.phases[0].steps"

EXAMPLE: dict[str, Any] = {
    "schema_version": 1,
    "parameters": [
        {
            "name": "topic",
            "type": "string",
            "required": True,
            "description": "What to research",
            "default": None,
            "enum": ["ai", "biology"],
        },
        {"name": "depth", "type": "integer", "default": 2},
    ],
    "phases": [
        {
            "id": "research",
            "title": "Research",
            "steps": [
                {"id": "collect", "kind": "echo", "message": "Collecting sources on {{ params.topic }}"},
                {
                    "id": "plan",
                    "kind": "agent",
                    "title": "Plan the research",
                    "agent": "researcher",
                    "prompt": "Plan research on {{ params.topic }} (depth {{ params.depth }}): {{ inputs.notes }}",
                    "inputs": {"notes": "{{ steps.collect.output }}"},
                    "depends_on": ["collect"],
                    "credentials": ["openai.api-key"],
                    "timeout_seconds": 300,
                    "retry": {
                        "max_attempts": 3,
                        "initial_backoff_seconds": 1,
                        "max_backoff_seconds": 60,
                        "backoff_multiplier": 2,
                    },
                    "on_failure": "fail_run",
                },
                {
                    "id": "review",
                    "kind": "checkpoint",
                    "depends_on": ["plan"],
                    "checkpoint": {
                        "title": "Approve the plan",
                        "context": "{{ steps.plan.output }}",
                        "deliverables": ["{{ steps.plan.output }}"],
                        "assignees": ["alice@example.com"],
                        "role": "approver",
                        "due_in_seconds": 86400,
                        "on_expiry": "reject",
                    },
                },
                {"id": "hello", "kind": "echo", "message": "Hello {{ params.topic }}"},
                {"id": "wait", "kind": "noop"},
            ],
        },
        {
            "id": "report",
            "steps": [
                {"id": "render", "kind": "template", "prompt_template": "summary"},
                {
                    "id": "write",
                    "kind": "agent",
                    "agent": "writer",
                    "prompt_template": "summary",
                    "credentials": ["openai.api-key", "search.token"],
                    "on_failure": "continue",
                },
            ],
        },
    ],
}

TEMPLATES = (
    PromptTemplate("summary", "Summarize {{ params.topic }}: {{ steps.plan.output }}", "the final summary"),
    PromptTemplate("unused", "{{ params.topic }}"),
    PromptTemplate("plain", "Say hello"),
)


def example() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLE)


def echo(step_id: str, message: Any = "hi", **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "kind": "echo", "message": message, **fields}


def doc(*steps: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A one-phase document (phase `main`) with these steps, or `phases=` given explicitly."""
    document: dict[str, Any] = {"phases": [{"id": "main", "steps": list(steps)}]}
    document.update(top)
    return document


def violations(document: Any, templates: tuple[PromptTemplate, ...] = TEMPLATES) -> list[FieldViolation]:
    with pytest.raises(InvalidDefinition) as caught:
        validate_definition(document, templates)
    return list(caught.value.violations)


def paths(document: Any, templates: tuple[PromptTemplate, ...] = TEMPLATES) -> list[str]:
    return [v.field for v in violations(document, templates)]


def only(document: Any, templates: tuple[PromptTemplate, ...] = TEMPLATES) -> FieldViolation:
    """The one violation of `document` (fails when there are none or several)."""
    found = violations(document, templates)
    assert len(found) == 1, found
    return found[0]


def valid(document: Any, templates: tuple[PromptTemplate, ...] = TEMPLATES) -> Definition:
    return validate_definition(document, templates)


def step_ids(definition: Definition) -> tuple[str, ...]:
    return tuple(step.id for step in definition.steps)


def step_of(definition: Definition, step_id: str) -> Step:
    """The step with this id (KeyError if there is none)."""
    return {step.id: step for step in definition.steps}[step_id]


def parameter_of(definition: Definition, name: str) -> Parameter:
    """The parameter with this name (KeyError if there is none)."""
    return {parameter.name: parameter for parameter in definition.parameters}[name]
