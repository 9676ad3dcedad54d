"""Save-time checks of the rendering limits: a template the registry can prove would exceed them is refused, at
its field, whatever the launch inputs; one whose cost depends on inputs or conditions is left to the render."""

from __future__ import annotations

import time

import pytest

from services.registry.domain.definition import PromptTemplate, analyze_template
from tests.unit.test_definition_support import S, doc, echo, only, valid, violations

NESTED = "{% for a in range(100000) %}{% for b in range(4000) %}{% endfor %}{% endfor %}"
PARAMETERS = [{"name": "n", "type": "integer"}, {"name": "topic", "type": "string"}]
RANGE = "exceeds the limit of 100000 loop iterations"
WIDTH = "is more than the output limit of 1000000 characters"


@pytest.mark.parametrize(
    ("template", "description"),
    [
        (NESTED, "loops run at least 400100000 iterations in all (nested loops multiply), more than the limit"),
        ("{% for a in range(60000) %}{% endfor %}{% for b in range(60000) %}{% endfor %}", "at least 120000"),
        ("{% for a in [1, 2, 3] %}{% for b in range(40000) %}{% endfor %}{% endfor %}", "at least 120003"),
        ("{% for a in 'abc' %}{% with %}{% for b in range(40000) %}{% endfor %}{% endwith %}{% endfor %}", "120003"),
        ("{% for a in range(100001) %}{% endfor %}", f"range() of 100001 numbers {RANGE}"),
        ("{{ range(10 ** 6) | list }}", f"range() of 1000000 numbers {RANGE}"),
        ("{{ range(0, 10 ** 9, 2) }}", f"range() of 500000000 numbers {RANGE}"),
        ("{{ 'x' * 10000000 }}", "repetition would build more than 1000000 items"),
        ("{{ ('ab' * 1000) * 1000 }}", "repetition would build more than 1000000 items"),
        ("{{ [0] * (10 ** 7) }}", "repetition would build more than 1000000 items"),
        ("{{ 'x' ~ 'y' * 1000000 }}", "builds a string of more than 1000000 characters"),
        ("{{ 9 ** 99999 }}", "exponent 99999 is larger than 1000"),
        ("{{ 'x' | center(10 ** 9) }}", f"center() width 1000000000 {WIDTH}"),
        ("{{ '%1000000000d' % 1 }}", f"a format width of 1000000000 {WIDTH}"),
        ("{{ '%*d' % (1000000000, 1) }}", f"a format width of 1000000000 {WIDTH}"),
        ("{{ 'x\\ny' | indent(1000000) }}", "indent() would build more than 1000000 characters"),
        ("{{ [1] | batch(10 ** 9) | list }}", "batch() of 1000000000 items"),
    ],
)
def test_templates_certain_to_exceed_a_limit_are_refused_at_their_field(template: str, description: str) -> None:
    violation = only(doc(echo("a"), echo("b", template), parameters=PARAMETERS))
    assert violation.field == f"{S}[1].message"
    assert description in violation.description
    assert violation.description.endswith("(line 1)")


@pytest.mark.parametrize(
    "template",
    [
        "{% for a in range(100000) %}{% endfor %}",  # exactly the limit
        "{% for a in range(300) %}{% for b in range(300) %}{% endfor %}{% endfor %}",
        "{% for a in range(params.n) %}{% for b in range(4000) %}{% endfor %}{% endfor %}",  # depends on the launch
        "{% for a in range(1000) %}{% if params.topic %}{% for b in range(1000) %}{% endfor %}{% endif %}{% endfor %}",
        "{% for a in range(1000) if a > params.n %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
        "{% macro m() %}{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}{% endmacro %}",
        "{{ 'x' * 1000000 }} {{ 'x' | center(1000) }} {{ 2 ** 1000 }} {{ '%5d' % 1 }} {{ range(100000) | length }}",
        "{{ params.topic * 10000000 }}",  # the render decides, from the input's length
        "{{ range(10 ** 6, 10 ** 6 + 5) | list }} {{ range(5, 0, -1) | list }} {{ range(3, 0) | list }}",
    ],
)
def test_templates_whose_cost_is_not_certain_are_accepted(template: str) -> None:
    valid(doc(echo("a", template), parameters=PARAMETERS))


def test_every_kind_of_template_is_checked_where_it_is_written() -> None:
    document = doc(
        echo("a", inputs={"big": NESTED}),
        {"id": "c", "kind": "checkpoint", "checkpoint": {"title": "t", "deliverables": ["ok", "{{ 'x' * 10 ** 7 }}"]}},
        {"id": "p", "kind": "agent", "agent": "helper", "prompt_template": "slow"},
    )
    templates = (PromptTemplate("slow", "{{ range(10 ** 9) }}"),)
    fields = [v.field for v in violations(document, templates)]
    assert fields == ["prompt_templates[0].template", f"{S}[0].inputs.big", f"{S}[1].checkpoint.deliverables[1]"]


def test_the_analysis_itself_builds_nothing_large() -> None:
    """Jinja folds constant expressions at compile time (which the registry runs at save time): the bounded
    filters refuse to fold these, so validating them builds nothing and the problem is still reported."""
    started = time.perf_counter()
    for template in ("{{ 'x' | center(10 ** 9) }}", "{{ '%1000000000d' | format(1) }}", "{{ [1] | batch(10 ** 9) }}"):
        assert analyze_template(template).problems, template
    assert analyze_template("{{ 'x' | center(1000000000) }}").problems == (
        f"center() width 1000000000 {WIDTH} (line 1)",
    )
    assert time.perf_counter() - started < 60  # a generous guard against a gigabyte being built, not a benchmark
