"""Templates in definitions: what they may read where, named prompt templates, and the rendering sandbox."""

from __future__ import annotations

from typing import Any

import jinja2
import pytest

from services.registry.domain.definition import (
    InvalidTemplate,
    PromptTemplate,
    TemplateRenderError,
    analyze_template,
    render,
    sandbox,
    template_variables,
)
from services.registry.domain.definition.model import MAX_PROMPT_TEMPLATES, MAX_TEMPLATE_BYTES
from services.registry.domain.templates import DEFAULT_LIMITS
from tests.unit.test_definition_support import S, doc, echo, example, only, paths, valid, violations

PARAMS = [{"name": "topic", "type": "string"}, {"name": "config", "type": "object"}]


def message(text: str, *before: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A document whose last step echoes `text`; `before` steps come first in the same phase."""
    return doc(*before, echo("m", text, **fields), parameters=PARAMS)


M = f"{S}[{{}}].message"


# What a template may read


@pytest.mark.parametrize(
    "text",
    [
        "plain text",
        "{{ params.topic }} {{ params['topic'] }} {{ params.config.deep.key }} {{ params | tojson }}",
        "{{ steps.a.output }} {{ steps['a'].output.field }} {{ steps.a.output[0] }}",
        "{% for item in steps.a.output %}{{ loop.index }}: {{ item }}{% endfor %}",
        "{% set n = params.topic | upper %}{{ n }}{% for i in range(3) %}{{ i }}{% endfor %}",
        "{% set ns = namespace(total=0) %}{{ ns.total }}{{ dict(a=1) }}",
        "{% macro shout(x) %}{{ x | upper }}{% endmacro %}{{ shout(params.topic) }}",
        "{% if params.topic is defined %}{{ inputs.notes }}{% endif %}{{ inputs }}",
        "{{ steps['with-dash'].output }}",
    ],
)
def test_templates_that_read_what_is_declared(text: str) -> None:
    before = [echo("a"), echo("with-dash")]
    valid(message(text, *before, depends_on=["a", "with-dash"], inputs={"notes": "{{ params.topic }}"}))


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("{{ params.subject }}", "reads undeclared parameter 'subject' (line 1)"),
        (
            "{% set name = 'topic' %}{{ params[name] }}",
            "must name the parameter it reads literally: params.<name> (line 1)",
        ),
        ("{{ topic }}", "reads undeclared variable 'topic' (line 1); templates can read params, steps, inputs"),
        ("\n\n{{ loop.index }}", "reads undeclared variable 'loop' (line 3)"),
        ("{{ lipsum() }}", "reads undeclared variable 'lipsum' (line 1)"),
        ("{{ inputs.notes }}", "reads undeclared input 'notes' (line 1)"),
        ("{{ steps.zzz.output }}", "reads unknown step 'zzz' (line 1)"),
        ("{{ steps.m.output }}", "reads the output of its own step (line 1)"),
        ("{{ steps.a.status }}", "can read only the output of step 'a': steps.a.output (line 1)"),
        ("{{ steps.a }}", "can read only the output of step 'a'"),
        ("{{ steps }}", "must name the step it reads literally"),
        ("{% set x = 'a' %}{{ steps[x].output }}", "must name the step it reads literally"),
        ("{% for s in steps %}{% endfor %}", "must name the step it reads literally"),
        ("{{ steps.b.output }}", "reads step 'b', which does not run before this step; add it to depends_on"),
        ("{% set params = 1 %}", "assigns to reserved variable 'params' (line 1)"),
        ("{% for steps in x %}{% endfor %}", "assigns to reserved variable 'steps' (line 1)"),
        ("{% include 'other' %}", "uses {% include %} (line 1); templates must be self-contained"),
        ("{% extends 'base' %}", "uses {% extends %} (line 1)"),
        ("{% import 'm' as m %}", "uses {% import %} (line 1)"),
        ("{{ params.topic | shout }}", "uses unknown filter 'shout' (line 1)"),
        ("{% if x is weird %}{% endif %}", "uses unknown test 'weird' (line 1)"),
        ("Hello\n{{ params.topic }", "does not parse: line 2: unexpected '}'"),
        ("{% for x in y %}", "does not parse: line 1: Unexpected end of template"),
        ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "does not parse"),
        ("{% for a in b %}" * 25 + "{% endfor %}" * 25, "does not compile: it is too complex"),
    ],
)
def test_templates_that_read_what_they_must_not(text: str, description: str) -> None:
    found = violations(message(text, echo("a"), echo("b"), depends_on=["a"]))
    assert found[0].field == M.format(2)
    assert found[0].description.startswith(description), found


def test_one_violation_per_distinct_problem_naming_its_first_line() -> None:
    found = violations(message("{{ params.x }}\n{{ params.x }}\n{{ params.y }}"))
    assert [v.description for v in found] == [
        "reads undeclared parameter 'x' (line 1)",
        "reads undeclared parameter 'y' (line 3)",
    ]


def test_unknown_filters_do_not_hide_undeclared_variables() -> None:
    found = violations(message("{{ foo | shout }}"))
    assert [v.description.split(" (")[0] for v in found] == [
        "uses unknown filter 'shout'",
        "reads undeclared variable 'foo'",
    ]


def test_a_step_reads_steps_that_run_before_it() -> None:
    document = {
        "phases": [
            {"id": "one", "steps": [echo("early"), echo("late")]},
            {
                "id": "two",
                "steps": [
                    echo("a", "{{ steps.early.output }}{{ steps.late.output }}"),
                    echo("b", "{{ steps.a.output }}", depends_on=["a"]),
                    echo("c", "{{ steps.a.output }}{{ steps.b.output }}", depends_on=["b"]),
                    echo("d", "{{ steps.c.output }}"),
                ],
            },
        ]
    }
    violation = only(document)
    assert violation.field == "definition.phases[1].steps[3].message"
    assert "step 'c', which does not run before" in violation.description


def test_a_step_cannot_read_a_later_phase() -> None:
    document = {
        "phases": [
            {"id": "one", "steps": [echo("a", "{{ steps.b.output }}")]},
            {"id": "two", "steps": [echo("b")]},
        ]
    }
    assert "step 'b', which does not run before" in only(document).description


def test_inputs_are_read_only_in_prompts_echo_messages_and_template_steps() -> None:
    inputs = {"notes": "{{ inputs.other }}", "other": "x"}
    document = doc(
        {"id": "a", "kind": "agent", "agent": "x", "prompt": "{{ inputs.notes }}", "inputs": inputs},
        {"id": "t", "kind": "template", "template": "{{ inputs.notes }}", "inputs": {"notes": "x"}},
        {"id": "c", "kind": "checkpoint", "checkpoint": {"title": "t", "context": "{{ inputs.x }}"}},
    )
    found = violations(document)
    assert [v.field for v in found] == [f"{S}[0].inputs.notes", f"{S}[2].checkpoint.context"]
    assert all(v.description.startswith("reads inputs, which only prompts") for v in found)


def test_checkpoint_texts_and_inputs_values_are_checked() -> None:
    document = doc(
        echo("a", inputs={"n": "{{ params.nope }}"}),
        {
            "id": "c",
            "kind": "checkpoint",
            "checkpoint": {"title": "t", "context": "{{ steps.zzz.output }}", "deliverables": ["ok", "{{ x }}"]},
        },
    )
    assert paths(document) == [f"{S}[0].inputs.n", f"{S}[1].checkpoint.context", f"{S}[1].checkpoint.deliverables[1]"]


def test_an_oversize_inline_template() -> None:
    assert only(doc(echo("a", "x" * (MAX_TEMPLATE_BYTES + 1)))).field == f"{S}[0].message"
    assert valid(doc(echo("a", "é" * (MAX_TEMPLATE_BYTES // 2))))


# Named prompt templates


def named_doc() -> dict[str, Any]:
    return {
        "parameters": [{"name": "topic", "type": "string"}],
        "phases": [
            {
                "id": "main",
                "steps": [
                    echo("a"),
                    {"id": "ok", "kind": "template", "prompt_template": "t", "depends_on": ["a"], "inputs": {"n": "x"}},
                    {"id": "bad", "kind": "agent", "agent": "x", "prompt_template": "t"},
                ],
            }
        ],
    }


def test_a_named_template_is_checked_for_each_step_that_uses_it() -> None:
    found = violations(named_doc(), (PromptTemplate("t", "{{ steps.a.output }} {{ params.topic }} {{ inputs.n }}"),))
    assert [(v.field, v.description) for v in found] == [
        (
            f"{S}[2].prompt_template",
            "prompt template 't' reads step 'a', which does not run before this step; "
            "add it to depends_on or move it to an earlier phase (line 1)",
        ),
        (f"{S}[2].prompt_template", "prompt template 't' reads undeclared input 'n' (line 1)"),
    ]


def test_problems_of_a_named_template_itself_are_reported_once_at_the_template() -> None:
    templates = (PromptTemplate("fine", "x"), PromptTemplate("t", "{{ params.topic }\n"))
    found = violations(named_doc(), templates)
    assert [(v.field, v.description) for v in found] == [
        ("prompt_templates[1].template", "does not parse: line 1: unexpected '}'")
    ]
    found = violations(named_doc(), (PromptTemplate("t", "{{ nope }}"),))
    assert [v.field for v in found] == ["prompt_templates[0].template"]


def test_an_unknown_named_template() -> None:
    found = violations(named_doc(), (PromptTemplate("other", "x"),))
    assert [(v.field, v.description) for v in found] == [
        (f"{S}[1].prompt_template", "unknown prompt template 't'"),
        (f"{S}[2].prompt_template", "unknown prompt template 't'"),
    ]


@pytest.mark.parametrize(
    ("templates", "expected"),
    [
        ((PromptTemplate("T", "x"),), "prompt_templates[0].name"),
        ((PromptTemplate("", "x"),), "prompt_templates[0].name"),
        ((PromptTemplate("t", "x"), PromptTemplate("t", "y")), "prompt_templates[1].name"),
        ((PromptTemplate("t", "x" * (MAX_TEMPLATE_BYTES + 1)),), "prompt_templates[0].template"),
        ((PromptTemplate("t", "x", "d" * 2001),), "prompt_templates[0].description"),
        (tuple(PromptTemplate(f"t{i}", "x") for i in range(MAX_PROMPT_TEMPLATES + 1)), "prompt_templates"),
    ],
)
def test_bad_named_templates(templates: tuple[PromptTemplate, ...], expected: str) -> None:
    document = doc(echo("a"))
    assert paths(document, templates) == [expected]


def test_steps_naming_an_unusable_template_get_no_extra_violation() -> None:
    templates = (PromptTemplate("t", "x" * (MAX_TEMPLATE_BYTES + 1)),)
    assert paths(named_doc(), templates) == ["prompt_templates[0].template"]


def test_unused_templates_are_fine() -> None:
    assert valid(doc(echo("a")), (PromptTemplate("spare", "{{ params.anything }}"),))


def test_the_example_needs_its_templates() -> None:
    found = violations(example(), ())
    assert [v.description for v in found] == ["unknown prompt template 'summary'"] * 2


# Analysis helpers


def test_template_variables() -> None:
    source = "{% for x in steps.a.output %}{{ x }}{{ params.topic }}{% endfor %}{{ other }}"
    assert template_variables(source) == {"steps", "params", "other"}
    with pytest.raises(InvalidTemplate):
        template_variables("{% if %}")


def test_analyze_template_lists_references() -> None:
    analysis = analyze_template("{{ steps['a'].output.x }}\n{{ params[k] }}")
    assert [(r.root, r.keys, r.line) for r in analysis.references] == [
        ("steps", ("a", "output", "x"), 1),
        ("params", (None,), 2),
    ]


# The sandbox and rendering


def test_sandbox_configuration() -> None:
    env = sandbox()
    assert env is not sandbox()
    assert isinstance(env, jinja2.sandbox.SandboxedEnvironment)
    assert env.undefined is jinja2.StrictUndefined
    assert env.autoescape is False
    assert set(env.globals) == {"range", "dict", "namespace"}


def test_render() -> None:
    variables = {"params": {"topic": "<AI>"}, "steps": {"a": {"output": {"x": [1, 2]}}}, "inputs": {}}
    assert render("{{ params.topic }}: {{ steps.a.output.x | sum }}\n", variables) == "<AI>: 3\n"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ params.missing }}", "template reads an undefined value: 'dict object' has no attribute 'missing'"),
        ("{{ nothing }}", "template reads an undefined value"),
        ("{{ ''.__class__.__mro__ }}", "template attempted an unsafe operation"),
        ("{{ 'x' * 10000000 }}", f"repetition would build more than {DEFAULT_LIMITS.max_output_chars} items"),
        ("{{ [1] * 10000000 }}", "repetition would build more than"),
        ("{{ 10 ** 100000 }}", "exponent 100000 is larger than"),
        ("{{ 1 / 0 }}", "template failed: ZeroDivisionError"),
        ("{{ params.topic }", "template does not parse: line 1"),
        (
            "{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}",
            f"template output exceeds {DEFAULT_LIMITS.max_output_chars} characters",
        ),
    ],
)
def test_render_failures_are_template_render_errors(template: str, message: str) -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render(template, {"params": {"topic": "x"}})
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_small_repetitions_and_powers_render() -> None:
    assert render("{{ 'ab' * 2 }} {{ 2 ** 10 }} {{ 1.5 ** 2 }}", {}) == "abab 1024 2.25"
