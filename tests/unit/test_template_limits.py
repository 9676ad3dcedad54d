"""The rendering budget: every way a short template can spend unbounded time or memory ends with a
TemplateLimitExceeded naming the limit, while it renders; legitimate templates render exactly as Jinja2 does."""

from __future__ import annotations

import tracemalloc
from typing import Any

import jinja2
import pytest
from jinja2.sandbox import SandboxedEnvironment

from services.common import template_budget as tb
from services.common.templating import (
    DEFAULT_LIMITS,
    TEMPLATE_GLOBALS,
    TemplateLimitExceeded,
    TemplateLimits,
    TemplateRenderError,
    as_text,
    needs_thread,
    render,
)

NESTED = "{% for a in range(100000) %}{% for b in range(4000) %}{% endfor %}{% endfor %}"
BIG = "{% set s = 'x' * 1000000 %}"
ITERATIONS = f"template exceeds {DEFAULT_LIMITS.max_iterations} loop iterations"
OUTPUT = f"template output exceeds {DEFAULT_LIMITS.max_output_chars} characters"
TOO_LONG = "more than 1000000 characters (the output limit)"
AS_TEXT = "to text (the output limit)"
WIDTH = "is more than the output limit of 1000000 characters"
SMALL = TemplateLimits(max_iterations=1_000, max_output_chars=10_000, max_seconds=5.0)


def refused(template: str, limits: TemplateLimits = DEFAULT_LIMITS, **variables: Any) -> str:
    with pytest.raises(TemplateLimitExceeded) as caught:
        render(template, {"params": variables}, limits)
    assert isinstance(caught.value, TemplateRenderError)
    return str(caught.value)


# --- the two templates -------------------------------------------------------------------------------------


def test_nested_loops_stop_at_the_iteration_limit() -> None:
    assert refused(NESTED).startswith(ITERATIONS)


def test_repeated_large_output_stops_at_the_output_limit_with_bounded_memory() -> None:
    tracemalloc.start()
    try:
        message = refused("{% for a in range(1000) %}{{ 'x' * 1000000 }}{% endfor %}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == OUTPUT
    # The old code built the whole gigabyte before measuring it; now a render holds about one limit's worth.
    assert peak < 4 * DEFAULT_LIMITS.max_output_chars


# --- iterations ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{% for a in range(600) %}{% endfor %}{% for b in range(600) %}{% endfor %}",  # consecutive loops add up
        "{% for a in range(40) %}{% for b in range(40) %}{% endfor %}{% endfor %}",  # nested loops multiply
        "{% for a in params.entries %}{% for b in params.entries %}{% endfor %}{% endfor %}",  # sizes from inputs
        "{% for a in range(999) if a < 0 %}{% endfor %}{% for b in range(9) %}{% endfor %}",  # filtered items count
        "{% for a in range(40) %}{% for b in range(40) %}{{ loop.cycle('x', 'y') }}{% endfor %}{% endfor %}",
        "{% macro f(n) %}{% if n < 20 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}",  # fan-out
        "{% for x in [1] recursive %}{% if loop.depth < 3 %}{{ loop(range(100)) }}{% endif %}{% endfor %}",
        "{% macro m() %}{{ caller() }}{% endmacro %}{% for i in range(900) %}{% call m() %}x{% endcall %}{% endfor %}",
    ],
)
def test_every_loop_iteration_and_call_counts(template: str) -> None:
    assert refused(template, SMALL, entries=list(range(40))).startswith("template exceeds 1000 loop iterations")


def test_a_range_over_the_limit_is_refused_before_it_iterates() -> None:
    assert refused("{{ range(100001) | list | length }}") == (
        "range() of 100001 numbers exceeds the limit of 100000 loop iterations"
    )
    assert "range() of 10000000000000000000000 numbers" in refused("{% for i in range(10 ** 22) %}{% endfor %}")
    assert render("{{ range(100000) | list | length }}", {}) == "100000"


def test_macro_recursion_is_a_clear_error() -> None:
    with pytest.raises(TemplateRenderError) as caught:
        render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", {})
    assert str(caught.value) == "template recurses too deeply (a macro or block that calls itself)"


# --- output and memory ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{% macro m() %}{% for i in range(100000) %}{{ params.s }}{% endfor %}{% endmacro %}{{ m() | length }}",
        "{% set block %}{% for i in range(100000) %}{{ params.s }}{% endfor %}{% endset %}{{ block | length }}",
        "{% filter length %}{% for i in range(100000) %}{{ params.s }}{% endfor %}{% endfilter %}",
        "{% for x in [1] recursive %}{% for i in range(100000) %}{{ params.s }}{% endfor %}{% endfor %}",
    ],
)
def test_output_captured_by_macros_and_blocks_counts_as_it_is_written(template: str) -> None:
    """Text a macro or block writes is buffered, then returned: 100,000 references to one string would be joined
    into 10^11 characters; the buffer stops it at the limit."""
    assert refused(template, s="x" * 1_000_000) == OUTPUT


def test_values_kept_by_a_template_are_bounded_by_the_memory_budget() -> None:
    limits = TemplateLimits(max_output_chars=100_000)
    template = "{% set l = [] %}{% for i in range(1000) %}{{ l.append('x' * 90000 ~ i) or '' }}{% endfor %}"
    tracemalloc.start()
    try:
        message = refused(template, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == "template builds more than 6400000 bytes of values (64 bytes per character of the output limit)"
    assert peak < 2 * limits.max_memory_bytes


def test_the_items_of_a_new_list_count_too() -> None:
    """`s.split()` builds a list of 8-byte references to 50-byte strings: both are charged."""
    template = "{% set l = [] %}{% for i in range(100) %}{{ l.append(params.s.split()) or '' }}{% endfor %}"
    assert "bytes of values" in refused(template, s="ab " * 300_000)


def test_a_long_error_is_cut() -> None:
    """Errors quote values (a missing key): a step's error and its event stay small."""
    with pytest.raises(TemplateRenderError) as caught:
        render("{{ params.d[params.k] }}", {"params": {"d": {}, "k": "k" * 100_000}})
    assert str(caught.value).startswith("template reads an undefined value: 'dict object' has no attribute 'kkk")
    assert len(str(caught.value)) == 1_000


def test_reading_a_large_input_again_and_again_is_not_building() -> None:
    """Only values an operation built are charged: a lookup returns what was already there."""
    big = "y" * 300_000
    template = (
        "{% for x in params.xs %}{% if 'z' in params.big | default('') or 'z' in params.d.get('k') "
        "or 'z' in params.big.strip() %}{% endif %}{% endfor %}done"
    )
    assert render(template, {"params": {"big": big, "d": {"k": big}, "xs": list(range(1000))}}) == "done"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (BIG + "{{ s ~ s }}", f"builds a string of {TOO_LONG}"),
        ("{% set n = namespace(s='x') %}{% for i in range(30) %}{% set n.s = n.s ~ n.s %}{% endfor %}", TOO_LONG),
        ("{% set n = namespace(s='x') %}{% for i in range(30) %}{% set n.s = n.s + n.s %}{% endfor %}", TOO_LONG),
        ("{% set l = [1] %}{% for i in range(30) %}{{ l.extend(l) or '' }}{% endfor %}", "list of more than"),
        (
            "{% set k, big = [], [0] * 10 ** 6 %}{% for i in range(100) %}{{ k.append(big[:]) or '' }}{% endfor %}",
            "bytes of values",  # every slice is a copy
        ),
        (BIG + "{{ [s] * 1000 }}", AS_TEXT),
        (BIG + "{{ [s] * 1000 ~ '' }}", AS_TEXT),
        (BIG + "{{ ([s] * 1000) | join }}", AS_TEXT),
        (BIG + "{{ ''.join([s] * 1000) }}", "join() would build"),
        (BIG + "{{ ([s] * 1000) | tojson }}", AS_TEXT),
        (BIG + "{{ ([s] * 1000) | string }}", AS_TEXT),
        (BIG + "{{ '%s' % ([s] * 1000,) }}", TOO_LONG),
        (BIG + "{{ '{}'.format([s] * 1000) }}", AS_TEXT),
        (BIG + "{{ s.replace('x', s) }}", "replace() would build"),
        (BIG + "{{ s | replace('x', 'xx') }}", "replace() would build"),
        ("{{ 'x' * 10000000 }}", "repetition would build more than 1000000 items"),
        ("{{ [1] * 10000000 }}", "repetition would build more than 1000000 items"),
        ("{{ 'x'.encode() * 10000000 }}", "repetition would build more than 1000000 items"),
        ("{{ ([[1] * 1000] * 1000) | sum(start=[]) }}", "bytes of values"),  # quadratic: memory first
        ("{% set n = namespace(v=9 ** 999) %}{% for i in range(30) %}{% set n.v = n.v * n.v %}{% endfor %}", "bits"),
        ("{{ 10 ** 100000 }}", "exponent 100000 is larger than 1000"),
        ("{{ (2 ** 1000) ** 1000 }}", "integer of more than 65536 bits"),
    ],
)
def test_building_large_values(template: str, message: str) -> None:
    assert message in refused(template)


# --- operations whose size is an argument: refused before they run ------------------------------------------------


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ 'x'.ljust(1000000000) }}", f"ljust() width 1000000000 {WIDTH}"),
        ("{{ 'x'.rjust(1000000000) }}", f"rjust() width 1000000000 {WIDTH}"),
        ("{{ 'x'.center(1000000000) }}", f"center() width 1000000000 {WIDTH}"),
        ("{{ 'x'.zfill(1000000000) }}", f"zfill() width 1000000000 {WIDTH}"),
        ("{{ ('\t' * 1000).expandtabs(100000) }}", "expandtabs() would build"),
        ("{{ 'ab'.translate({97: 'x' * 1000000}) * 1 }}", "translate() would build"),
        ("{{ '{:>1000000000}'.format(1) }}", f"a format width of 1000000000 {WIDTH}"),
        ("{{ '{:>{w}}'.format(1, w=1000000000) }}", f"a format width of 1000000000 {WIDTH}"),
        ("{{ '{x:.1000000000f}'.format_map({'x': 1.5}) }}", f"a format width of 1000000000 {WIDTH}"),
        ("{{ '%1000000000d' % 1 }}", f"a format width of 1000000000 {WIDTH}"),
        ("{{ '%*d' % (1000000000, 1) }}", f"a format width of 1000000000 {WIDTH}"),
        ("{{ '%(a)999999999s' % {'a': 1} }}", f"a format width of 999999999 {WIDTH}"),
        ("{{ ('%999999s' * 100) % ((1,) * 100) }}", "formatting would build more than 1000000 characters"),
        ("{{ '%1000000000d' | format(1) }}", f"a format width of 1000000000 {WIDTH}"),
        ("{{ 'x' | center(1000000000) }}", f"center() width 1000000000 {WIDTH}"),
        ("{{ ('x\n' * 1000) | indent(1000000) }}", "indent() would build"),
        ("{{ ('x\n' * 1000) | indent('y' * 1000000) }}", "indent() would build"),
        ("{{ ('x' * 100000) | wordwrap(1, wrapstring='y' * 1000) }}", "wordwrap() would build"),
        ("{{ ('a.io ' * 1000) | urlize(target='t' * 100000) }}", "urlize() would build"),
        ("{{ ([[[1]]] * 1000) | tojson(indent=1000000) }}", "tojson() would build"),
        ("{{ [1] | batch(1000000000, 'x') | list }}", "batch() of 1000000000 items"),
        ("{{ [1] | slice(1000000000) | list }}", "slice() into 1000000000 parts exceeds the limit of 100000 loop"),
        ("{% filter center(1000000000) %}x{% endfilter %}", f"center() width 1000000000 {WIDTH}"),
    ],
)
def test_operations_sized_by_an_argument_are_refused_before_they_build(template: str, message: str) -> None:
    assert message in refused(template)


# --- time ----------------------------------------------------------------------------------------------------------


def test_a_render_ends_at_its_deadline() -> None:
    """Within every other limit (100,000 iterations, no output), each iteration scans a megabyte."""
    limits = TemplateLimits(max_seconds=0.2)
    template = BIG + "{% for i in range(100000) %}{% if s.count('y') %}{% endif %}{% endfor %}"
    assert refused(template, limits) == "template rendering exceeds 0.2 seconds"


# --- the budget itself -----------------------------------------------------------------------------------------------


def test_a_tripped_budget_stays_tripped() -> None:
    """A limit error swallowed by code that catches everything still fails the render."""
    with tb.Budget(SMALL) as budget:
        with pytest.raises(tb.LimitExceeded):
            for _ in budget.iterate(range(SMALL.max_iterations + 1)):
                pass
        budget.iterations = SMALL.max_iterations  # as if nothing happened
        with pytest.raises(tb.LimitExceeded, match="1000 loop iterations"):
            budget.check()
    assert tb.current() is None


def test_limits_are_configurable() -> None:
    limits = TemplateLimits(max_iterations=10, max_output_chars=1_000, max_seconds=1.0)
    assert refused("{% for i in range(11) %}{% endfor %}", limits) == (
        "range() of 11 numbers exceeds the limit of 10 loop iterations"
    )
    assert refused("{{ 'x' * 1001 }}", limits) == "repetition would build more than 1000 items"
    assert refused("{% for i in range(10) %}{{ 'x' * 101 }}{% endfor %}", limits) == (
        "template output exceeds 1000 characters"
    )
    assert render("{% for i in range(10) %}{{ 'x' * 100 }}{% endfor %}", {}, limits) == "x" * 1000


def test_expensive_templates_are_told_apart() -> None:
    cheap = "Hello {{ params.topic }}{% if params.x %}!{% endif %} {{ 1 + 2 }} {{ params.a ~ params.b }}"
    render(cheap, {"params": {"topic": "t", "x": 1, "a": "a", "b": "b"}})
    assert not needs_thread(cheap)
    for expensive in ("{% for i in params.x %}{% endfor %}", "{{ params.x | upper }}", "{{ params.x.upper() }}"):
        render(expensive, {"params": {"x": "abc"}})
        assert needs_thread(expensive)
    assert needs_thread("{{ never rendered before }}")  # compiling it may take time too


# --- legitimate templates render exactly as Jinja2 renders them -----------------------------------------------------

VARIABLES = {
    "params": {
        "topic": "AI <safety>",
        "entries": [{"name": "b", "n": 2, "tags": ["x"]}, {"name": "a", "n": 1, "tags": []}, {"name": "c", "n": 3}],
        "text": "The quick brown fox jumps over the lazy dog. " * 20 + "See https://example.com/x.",
        "tree": [{"name": "root", "children": [{"name": "leaf", "children": []}]}],
        "mapping": {"z": 1, "y": [1, 2], "x": {"deep": True}},
        "count": 7,
        "ratio": 0.25,
    },
    "steps": {"a": {"output": {"list": [3, 1, 2], "s": "line one\nline two\n\nline four"}}},
    "inputs": {"notes": "n1"},
}

LEGITIMATE = [
    "{% for item in params.entries %}{{ loop.index }}/{{ loop.length }} {{ item.name }}{{ ', ' if not loop.last }}"
    "{% endfor %}",
    "{% for item in params.entries | sort(attribute='n') %}{{ item.name | upper }}{% else %}none{% endfor %}",
    "{% for k, v in params.mapping | dictsort %}{{ k }}={{ v }};{% endfor %}",
    "{% for item in params.entries if item.n > 1 %}{{ item.name }}{{ loop.cycle('+', '-') }}{% endfor %}",
    "{% for row in params.entries | batch(2, '-') %}[{% for c in row %}{{ c.name if c is mapping else c }}{% endfor %}]"
    "{% endfor %}",
    "{% for col in range(10) | slice(3) %}{{ col | join(',') }}|{% endfor %}",
    "{% for node in params.tree recursive %}{{ node.name }}({{ loop(node.children) }}){% endfor %}",
    "{{ params.entries | map(attribute='name') | join(', ') }} {{ params.entries | sum(attribute='n') }}",
    "{{ params.entries | selectattr('n', 'gt', 1) | map(attribute='name') | list }}",
    "{{ params.entries | groupby('n') | map(attribute='grouper') | list }} {{ [3, 1, 3] | unique | list }}",
    "{{ steps.a.output.list | sum }} {{ steps.a.output.list | max }} {{ steps.a.output.list | sort | first }}",
    "{{ params | tojson }} {{ params.mapping | tojson(indent=2) }} {{ params.mapping | pprint }}",
    "{{ steps.a.output.s | indent(4, first=True) }}|{{ params.text | wordwrap(30) }}|{{ params.text | truncate(40) }}",
    "{{ params.topic | center(30) }}|{{ params.topic | replace('AI', 'ML') }}|{{ params.topic | title }}",
    "{{ params.topic | e }} {{ params.text | urlize }} {{ params.text | wordcount }} {{ 1234567 | filesizeformat }}",
    "{{ '%s has %d items (%.1f%%)' % (params.topic, params.count, params.ratio * 100) }}",
    "{{ '%(a)s-%(b)05d' % {'a': 'x', 'b': 42} }} {{ '%-8s|' | format('ab') }}",
    "{{ '{} / {:>8} / {:08.3f} / {name!r}'.format(params.topic, 'r', params.ratio, name='n') }}",
    "{{ '{x}'.format_map({'x': 1}) }} {{ 'ab'.ljust(5, '.') }}{{ 'ab'.zfill(5) }} {{ 'a\tb'.expandtabs(4) }}",
    "{{ ', '.join(['a', 'b']) }} {{ 'a-b'.split('-') }} {{ 'x' * 3 }} {{ [1, 2] * 2 }} {{ 2 ** 10 }} {{ 7 % 3 }}",
    "{{ params.topic ~ ' ' ~ params.count ~ [1] }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 1.5 ** 2 }}",
    "{% set ns = namespace(total=0, text='') %}{% for i in params.entries %}{% set ns.total = ns.total + i.n %}"
    "{% set ns.text = ns.text ~ i.name %}{% endfor %}{{ ns.total }} {{ ns.text }}",
    "{% macro card(title, body='') %}<{{ title }}>{{ body }}{{ caller() if caller is defined }}{% endmacro %}"
    "{{ card('t', 'b') }}{% call card('c') %}inner {{ params.count }}{% endcall %}",
    "{% set block %}{% for i in range(3) %}{{ i }}{% endfor %}{% endset %}[{{ block }}]"
    "{% filter upper %}shout {{ params.topic }}{% endfilter %}",
    "{% set l = [] %}{{ l.append(1) or '' }}{{ l.extend([2, 3]) or '' }}{{ l }} {{ dict(a=1) }} {{ range(3) | list }}",
    "{% with x = params.count %}{{ x * 2 }}{% endwith %}{% if params.missing is defined %}?{% endif %}",
    "{% autoescape true %}{{ params.topic }} {{ params.topic ~ '<b>' }}{% endautoescape %} {{ '<i>' | safe ~ '<' }}",
    "{%- for i in range(3) -%}\n  {{ i }}\n{%- endfor %}\nend\n",
    "{{ params.entries[1:] | map(attribute='name') | list }} {{ params.topic[::-1] }} {{ params.topic[:2] ~ '.' }}",
]


def plain_sandbox() -> SandboxedEnvironment:
    """Jinja's sandbox without the budget, writing values as ours does (JSON data as JSON: `as_text`)."""
    env = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.finalize = as_text
    env.globals = {name: env.globals[name] for name in TEMPLATE_GLOBALS}
    return env


@pytest.mark.parametrize("template", LEGITIMATE)
def test_legitimate_templates_render_as_before(template: str) -> None:
    assert render(template, VARIABLES) == plain_sandbox().from_string(template).render(VARIABLES)


def test_undefined_values_and_errors_read_as_before() -> None:
    with pytest.raises(TemplateRenderError, match="template reads an undefined value: 'dict object' has no attr"):
        render("{% for x in params.nope %}{% endfor %}", VARIABLES)
    with pytest.raises(TemplateRenderError, match="template reads an undefined value"):
        render("{{ params.nope ~ 'x' }}", VARIABLES)
    with pytest.raises(TemplateRenderError, match="template failed: TypeError"):
        render("{% for x in params.count %}{% endfor %}", VARIABLES)
