"""Property-based tests of definition validation: DAGs pass, closing a cycle fails, garbage never crashes."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.common.errors import FieldViolation
from services.registry.domain.definition import PromptTemplate, analyze_template, validate_definition
from services.registry.domain.definition.structure import ALL_STEP_FIELDS, CHECKPOINT_FIELDS, RETRY_FIELDS
from services.registry.domain.errors import InvalidDefinition
from tests.unit.test_definition_support import TEMPLATES, echo, example

FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def outcome(document: Any, templates: tuple[PromptTemplate, ...] = TEMPLATES) -> list[FieldViolation] | None:
    """None when valid, else the violations; any exception other than InvalidDefinition propagates."""
    try:
        validate_definition(document, templates)
    except InvalidDefinition as exc:
        return list(exc.violations)
    return None


# Random DAGs


@st.composite
def dags(draw: st.DrawFn) -> dict[str, Any]:
    """Phases of echo steps, each depending only on steps generated before it (same or earlier phase), each
    message reading the outputs of its dependencies; the steps of a phase are then shuffled."""
    phases: list[dict[str, Any]] = []
    earlier: list[str] = []
    counter = 0
    for phase_number in range(draw(st.integers(1, 3))):
        here: list[str] = []
        steps: list[dict[str, Any]] = []
        for _ in range(draw(st.integers(1, 8))):
            step_id = f"s{counter}-{draw(st.sampled_from(['a', 'b_c', 'x9']))}"
            counter += 1
            same = draw(st.lists(st.sampled_from(here), unique=True, max_size=5)) if here else []
            cross = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
            reads = " ".join(f'{{{{ steps["{d}"].output }}}}' for d in same + cross)
            steps.append(echo(step_id, reads or "hello", depends_on=same + cross))
            here.append(step_id)
        phases.append({"id": f"p{phase_number}", "steps": draw(st.permutations(steps))})
        earlier += here
    return {"phases": phases}


@FAST
@given(dags())
def test_random_dags_are_valid(document: dict[str, Any]) -> None:
    assert outcome(document) is None


def ancestor_pairs(phase: dict[str, Any]) -> list[tuple[str, str]]:
    """(step, ancestor) pairs where the ancestor is reached through same-phase dependencies."""
    ids = {step["id"] for step in phase["steps"]}
    deps = {step["id"]: [d for d in step["depends_on"] if d in ids] for step in phase["steps"]}
    pairs: list[tuple[str, str]] = []
    for step_id in sorted(deps):
        seen: set[str] = set()
        pending = list(deps[step_id])
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(deps[current])
        pairs.extend((step_id, ancestor) for ancestor in sorted(seen))
    return pairs


@FAST
@given(dags(), st.data())
def test_an_edge_closing_a_cycle_is_reported(document: dict[str, Any], data: st.DataObject) -> None:
    candidates = [(phase, pair) for phase in document["phases"] for pair in ancestor_pairs(phase)]
    assume(candidates)
    phase, (step_id, ancestor) = data.draw(st.sampled_from(candidates))
    closing = next(step for step in phase["steps"] if step["id"] == ancestor)
    closing["depends_on"].append(step_id)
    found = outcome(document)
    assert found is not None
    # Every cycle runs through the new edge, so there is exactly one group of steps in cycles.
    [violation] = found
    assert violation.description.startswith("dependency cycle: ")
    cycle = violation.description.removeprefix("dependency cycle: ").split(" (")[0].split(" -> ")
    assert cycle[0] == cycle[-1]
    assert {step_id, ancestor} <= set(cycle)
    assert violation.field.split(".depends_on[")[0].startswith("definition.phases[")


# Garbage


_FIELDS = sorted(
    {"schema_version", "parameters", "phases", "name", "type", "enum", "default", "required", "output"}
    | set(ALL_STEP_FIELDS)
    | set(CHECKPOINT_FIELDS)
    | set(RETRY_FIELDS)
)
_WORDS = [
    "agent", "echo", "noop", "template", "checkpoint", "string", "integer", "array", "a", "b", "main",
    "{{ params.topic }}", "{{ steps.a.output }}", "{{ inputs.x }}", "{% for %}", "{{ x | nope }}", "summary",
    "fail_run", "continue", "reject", "approver",
]  # fmt: skip
_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(_WORDS)
    | st.text(max_size=12)
)
json_garbage = st.recursive(
    _leaves,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=40,
)


def paths_into(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths_into(item, (*prefix, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            found += paths_into(item, (*prefix, position))
    return found


_EXAMPLE_PATHS = paths_into(example())[1:]


def _child(container: Any, key: Any) -> tuple[bool, Any]:
    """(True, container[key]) when that exists (damage may have replaced a list by a dict, or the reverse)."""
    if isinstance(container, dict) and key in container:
        return True, container[key]
    if isinstance(container, list) and isinstance(key, int) and key < len(container):
        return True, container[key]
    return False, None


@st.composite
def damaged_examples(draw: st.DrawFn) -> dict[str, Any]:
    """The valid example with one to three values (anywhere in it) replaced by garbage."""
    document = example()
    for path in draw(st.lists(st.sampled_from(_EXAMPLE_PATHS), min_size=1, max_size=3)):
        target: Any = document
        reachable = True
        for key in path[:-1]:
            reachable, target = _child(target, key)
            if not reachable:
                break
        if reachable and _child(target, path[-1])[0]:
            target[path[-1]] = draw(json_garbage)
    return document


@FAST
@given(json_garbage)
def test_garbage_yields_only_invalid_definition(document: Any) -> None:
    outcome(document)


@FAST
@given(st.dictionaries(st.sampled_from(_FIELDS), json_garbage, max_size=4))
def test_garbage_objects_yield_only_invalid_definition(document: dict[str, Any]) -> None:
    found = outcome(document)
    assert found is None or all(v.field.startswith("definition") for v in found)


@FAST
@given(damaged_examples())
def test_damaged_examples_yield_only_invalid_definition(document: dict[str, Any]) -> None:
    outcome(document)


@FAST
@given(damaged_examples())
def test_validation_is_deterministic(document: dict[str, Any]) -> None:
    first = outcome(document)
    assert outcome(document) == first
    assert outcome(copy.deepcopy(document)) == first


@FAST
@given(
    st.text(max_size=80) | st.lists(st.sampled_from(["{{", "}}", "{%", "%}", "for", "x", " ", "|", "."])).map("".join)
)
def test_template_analysis_never_raises(source: str) -> None:
    analysis = analyze_template(source)
    assert analysis.parsed or analysis.problems
