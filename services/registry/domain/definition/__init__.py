"""Orchestration definitions (the "orchestration JSON"): their format, validation and parsed form. Pure: no I/O.

Phases run in order; the steps of a phase run in parallel unless `depends_on` orders them. Validation reports
every violation at once, each at its JSON path (`definition.phases[0].steps[1].depends_on[0]`), so that an author
(or a planner agent) can fix a definition in one round trip.

Format, schema version 1::

    {
      "schema_version": 1,
      "parameters": [
        {"name": "topic", "type": "string", "required": true, "description": "What to research",
         "enum": ["ai", "biology"]}
      ],
      "phases": [
        {"id": "research", "title": "Research", "steps": [
          {"id": "collect", "kind": "echo", "message": "Collecting sources on {{ params.topic }}"},
          {"id": "plan", "kind": "agent", "agent": "researcher", "title": "Plan the research",
           "prompt": "Plan research on {{ params.topic }} using {{ inputs.notes }}",
           "inputs": {"notes": "{{ steps.collect.output }}"},
           "depends_on": ["collect"], "credentials": ["openai.api-key"], "timeout_seconds": 300,
           "retry": {"max_attempts": 3, "initial_backoff_seconds": 1, "max_backoff_seconds": 60,
                     "backoff_multiplier": 2},
           "on_failure": "fail_run"},
          {"id": "review", "kind": "checkpoint", "depends_on": ["plan"],
           "checkpoint": {"title": "Approve the plan", "context": "{{ steps.plan.output }}",
                          "deliverables": ["{{ steps.plan.output }}"], "assignees": ["alice@example.com"],
                          "role": "approver", "due_in_seconds": 86400, "on_expiry": "reject"}}
        ]},
        {"id": "report", "steps": [
          {"id": "render", "kind": "template", "prompt_template": "summary"},
          {"id": "wait", "kind": "noop"}
        ]}
      ]
    }

Top level
    `schema_version` (integer, default 1; see SUPPORTED_SCHEMA_VERSIONS; an unsupported or malformed version is
    the only violation reported, since the rest cannot be read without it), `parameters` (optional array, at
    most MAX_PARAMETERS), `phases` (required array, 1..MAX_PHASES, MAX_STEPS steps in all). The compact JSON
    encoding must fit in MAX_DOCUMENT_BYTES; a larger document gets that single violation.
Parameters
    `name` (`^[A-Za-z_][A-Za-z0-9_]{0,63}$`, unique), `type` (string, integer, number, boolean, object, array),
    `required` (default false), `default` (null or absent: none; of the type; in `enum` if both; not allowed on a
    required parameter), `description`, `enum` (non-empty, unique values of the type). An integer is a JSON
    number with an integral value (google.protobuf.Struct turns 3 into 3.0); a boolean is never a number.
Phases
    `id` (`^[a-z][a-z0-9_-]{0,62}$`, unique among phases), `title`, `steps` (at least one).
Steps
    Common: `id` (same pattern, unique across ALL phases), `kind`, `title`, `depends_on` (at most
    MAX_DEPENDENCIES ids of steps in the same or an earlier phase; no self, duplicate, unknown or later-phase
    ids; no cycles), `on_failure` (`fail_run`, the default, or `continue`). By kind (a field of another kind is a
    violation):

    - `agent`: `agent` (required agent slug), exactly one of `prompt` (inline template) and `prompt_template`
      (name of a prompt template), `inputs`, `credentials`, `timeout_seconds`, `retry`.
    - `template`: exactly one of `template` (inline) and `prompt_template`; `inputs`, `timeout_seconds`, `retry`.
    - `echo`: `message` (required template), `inputs`, `timeout_seconds`, `retry`.
    - `noop`: `timeout_seconds`, `retry`.
    - `checkpoint`: `checkpoint` (required): `title` (required), `context` and `deliverables` (templates),
      `assignees` (unique strings), `role` (viewer, author, operator, approver (default), admin),
      `due_in_seconds` (MIN_DUE_IN_SECONDS..MAX_DUE_IN_SECONDS), `on_expiry` (reject (default), approve,
      fail_run).

    `inputs` maps names (parameter-name pattern) to templates, rendered first; `credentials` lists unique vault
    aliases (`^[a-z][a-z0-9_.-]{0,127}$`); `timeout_seconds` is a number in (0, MAX_TIMEOUT_SECONDS]; `retry`
    has `max_attempts` (required, 1..MAX_ATTEMPTS), `initial_backoff_seconds` (0..3600, default 1),
    `max_backoff_seconds` (>= initial, <= 86400, default 60) and `backoff_multiplier` (1..10, default 2).
Templates
    Jinja2, rendered in `templates.sandbox()` with StrictUndefined. They may read `params.<declared name>`,
    `steps.<id>.output` (or `steps["my-step"].output` for ids with `-`) of a step that runs before the one using
    it (an earlier phase, or a transitive `depends_on` in the same phase), and, in prompts, prompt templates,
    template steps and echo messages, `inputs.<declared input>`. Loop and `{% set %}` variables are local;
    `range`, `dict` and `namespace` are available; include/extends/import are not. Named prompt templates are
    passed separately (`PromptTemplate`, at most MAX_PROMPT_TEMPLATES, unique names, each at most
    MAX_TEMPLATE_BYTES); syntax problems are reported at `prompt_templates[i].template` and what a template
    reads is checked for each step that uses it, at that step's `prompt_template`.

Unknown fields at any level are violations (typo protection); null means "not set" for optional fields.
"""

from __future__ import annotations

from services.registry.domain.definition.model import (
    CURRENT_SCHEMA_VERSION,
    MAX_DOCUMENT_BYTES,
    SUPPORTED_SCHEMA_VERSIONS,
    CheckpointSpec,
    Definition,
    Parameter,
    Phase,
    RetryPolicy,
    Step,
    matches_type,
)
from services.registry.domain.definition.validation import parse_definition_json, validate_definition
from services.registry.domain.errors import InvalidDefinition
from services.registry.domain.templates import (
    InvalidTemplate,
    PromptTemplate,
    TemplateRenderError,
    analyze_template,
    render,
    sandbox,
    template_variables,
)

__all__ = [
    "CURRENT_SCHEMA_VERSION",
    "MAX_DOCUMENT_BYTES",
    "SUPPORTED_SCHEMA_VERSIONS",
    "CheckpointSpec",
    "Definition",
    "InvalidDefinition",
    "InvalidTemplate",
    "Parameter",
    "Phase",
    "PromptTemplate",
    "RetryPolicy",
    "Step",
    "TemplateRenderError",
    "analyze_template",
    "matches_type",
    "parse_definition_json",
    "render",
    "sandbox",
    "template_variables",
    "validate_definition",
]
