"""Template checks: the named prompt templates themselves, and what each template reads where it is used.

A template may read `params.<declared parameter>`, `steps.<id>.output` of a step that runs before the step using
it, and `inputs.<declared input>` of that step (not inside `inputs` values or checkpoint texts, which are rendered
before or without inputs). A named prompt template is checked once for what does not depend on its use (syntax,
unknown variables) and once per step that uses it for the rest, reported at that step's `prompt_template`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.registry.domain.definition.dependencies import Ordering
from services.registry.domain.definition.model import (
    MAX_DESCRIPTION_CHARS,
    MAX_PROMPT_TEMPLATES,
    MAX_TEMPLATE_BYTES,
    TEMPLATE_NAME_RE,
    TEMPLATE_NAME_RULE,
)
from services.registry.domain.definition.reader import Reader, index, join, utf8_size
from services.registry.domain.definition.structure import StepSite
from services.registry.domain.templates import PromptTemplate, Reference, TemplateAnalysis, analyze_template

# Stands for a template whose source is already reported as unusable: steps naming it get no further violation.
_UNCHECKED = TemplateAnalysis(parsed=False, references=(), problems=(), free_names=frozenset())


@dataclass(frozen=True)
class _Scope:
    """What a template may read where it is used."""

    site: StepSite
    parameters: frozenset[str]
    inputs: frozenset[str] | None  # None: inputs cannot be read here
    ordering: Ordering


def check_prompt_templates(
    reader: Reader, templates: Sequence[PromptTemplate], prefix: str
) -> dict[str, TemplateAnalysis] | None:
    """Check the named templates; return name → analysis, or None when there are too many to look at."""
    if len(templates) > MAX_PROMPT_TEMPLATES:
        reader.add(prefix, f"must have at most {MAX_PROMPT_TEMPLATES} templates (got {len(templates)})")
        return None
    analyses: dict[str, TemplateAnalysis] = {}
    first: dict[str, str] = {}
    for position, template in enumerate(templates):
        path = index(prefix, position)
        name = reader.string(
            template.name, join(path, "name"), required=True, pattern=TEMPLATE_NAME_RE, rule=TEMPLATE_NAME_RULE
        )
        reader.string(template.description, join(path, "description"), max_chars=MAX_DESCRIPTION_CHARS)
        source = reader.string(template.template, join(path, "template"))
        if name is not None and name in first:
            reader.add(join(path, "name"), f"duplicate template name {name!r} (first at {first[name]})")
            name = None
        elif name is not None:
            first[name] = path
        analysis = _UNCHECKED
        if source is not None and utf8_size(source) > MAX_TEMPLATE_BYTES:
            reader.add(join(path, "template"), f"must be at most {MAX_TEMPLATE_BYTES} bytes (got {utf8_size(source)})")
        elif source is not None:
            analysis = analyze_template(source)
            for problem in analysis.problems:
                reader.add(join(path, "template"), problem)
        if name is not None:
            analyses[name] = analysis
    return analyses


def check_step_templates(
    reader: Reader,
    sites: Sequence[StepSite],
    parameters: frozenset[str],
    ordering: Ordering,
    named: dict[str, TemplateAnalysis] | None,
) -> None:
    """Check every template string of every step, and each use of a named template."""
    for site in sites:
        inputs = frozenset(site.step.inputs)
        for template in site.templates:
            analysis = analyze_template(template.source)
            for problem in analysis.problems:
                reader.add(template.path, problem)
            scope = _Scope(site, parameters, inputs if template.allows_inputs else None, ordering)
            for problem in _reference_problems(analysis.references, scope):
                reader.add(template.path, problem)
        name = site.step.prompt_template
        if name is None or named is None:
            continue
        path = join(site.path, "prompt_template")
        used = named.get(name)
        if used is None:
            reader.add(path, f"unknown prompt template {name!r}")
            continue
        for problem in _reference_problems(used.references, _Scope(site, parameters, inputs, ordering)):
            reader.add(path, f"prompt template {name!r} {problem}")


def _reference_problems(references: Sequence[Reference], scope: _Scope) -> list[str]:
    """One description per distinct problem, naming the line of its first occurrence."""
    problems: dict[str, int] = {}
    for reference in references:
        problem = _reference_problem(reference, scope)
        if problem is not None:
            problems.setdefault(problem, reference.line)
    return [f"{problem} (line {line})" for problem, line in problems.items()]


def _reference_problem(reference: Reference, scope: _Scope) -> str | None:
    keys = reference.keys
    if reference.root == "params":
        return _declared(keys, scope.parameters, "parameter", "params")
    if reference.root == "revision":  # issue 14: a step's own revision; checkpoint texts have none
        if scope.site.step.kind == "checkpoint":
            return "reads revision, which only the steps a checkpoint sends back can read"
        return None
    if reference.root == "inputs":
        if scope.inputs is None:
            return "reads inputs, which only prompts, echo messages and template steps can read"
        return _declared(keys, scope.inputs, "input", "inputs")
    if not keys or keys[0] is None:
        return 'must name the step it reads literally: steps.<id>.output or steps["<id>"].output'
    step_id = keys[0]
    if step_id not in scope.ordering.by_id:
        return f"reads unknown step {step_id!r}"
    if step_id == scope.site.step.id:
        return "reads the output of its own step"
    if not scope.ordering.runs_before(step_id, scope.site):
        return (
            f"reads step {step_id!r}, which does not run before this step; "
            "add it to depends_on or move it to an earlier phase"
        )
    if len(keys) < 2 or keys[1] != "output":
        return f"can read only the output of step {step_id!r}: steps.{step_id}.output"
    return None


def _declared(keys: tuple[str | None, ...], declared: frozenset[str], what: str, root: str) -> str | None:
    """`params` / `inputs` as a whole is fine; a member must be named literally and be declared."""
    if not keys:
        return None
    if keys[0] is None:
        return f"must name the {what} it reads literally: {root}.<name>"
    if keys[0] not in declared:
        return f"reads undeclared {what} {keys[0]!r}"
    return None
