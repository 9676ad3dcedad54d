"""Conversation plan → orchestration definition: ids, phases, approvals, dependencies, violations at plan paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.errors import ValidationFailed
from services.registry.domain.definition import PromptTemplate, render, validate_definition
from services.registry.domain.errors import InvalidPlan
from services.registry.domain.plan_conversion import Conversion, convert_plan, literal, output_ref, slugify

AGENT = "planner"


def convert(document: Any, agent: str = AGENT) -> Conversion:
    conversion = convert_plan(document, agent)
    validate_definition(conversion.definition, conversion.prompt_templates)  # never fails for a returned result
    return conversion


def violations(document: Any, agent: str = AGENT) -> dict[str, str]:
    with pytest.raises(InvalidPlan) as caught:
        convert_plan(document, agent)
    return {v.field: v.description for v in caught.value.violations}


def steps_of(conversion: Conversion) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for phase in conversion.definition["phases"] for s in phase["steps"]}


def phase_ids(conversion: Conversion) -> list[str]:
    return [p["id"] for p in conversion.definition["phases"]]


# --- ids --------------------------------------------------------------------------------------------------------


def test_a_flat_list_becomes_one_sequential_phase_with_generated_ids() -> None:
    conversion = convert(
        {
            "title": "Competitor scan",
            "summary": "Find and compare competitors",
            "steps": [
                {"title": "Find competitors", "instructions": "List the five main competitors."},
                {"title": "Compare pricing", "instructions": "Compare their pricing."},
                {"title": "Write the summary", "instructions": "Summarise."},
            ],
        }
    )
    assert (conversion.title, conversion.summary) == ("Competitor scan", "Find and compare competitors")
    [phase] = conversion.definition["phases"]
    assert (phase["id"], phase["title"]) == ("plan", "Competitor scan")
    assert [s["id"] for s in phase["steps"]] == ["find-competitors", "compare-pricing", "write-the-summary"]
    steps = steps_of(conversion)
    assert all(s["kind"] == "agent" and s["agent"] == AGENT for s in steps.values())
    assert "depends_on" not in steps["find-competitors"]
    assert steps["compare-pricing"]["depends_on"] == ["find-competitors"]
    assert steps["write-the-summary"]["depends_on"] == ["compare-pricing"]
    assert steps["find-competitors"]["prompt"] == "List the five main competitors."
    assert steps["compare-pricing"]["prompt"] == (
        "Compare their pricing.\n\nResults of earlier steps:\n\n### Find competitors\n"
        '{{ steps["find-competitors"].output }}'
    )
    notes = "\n".join(conversion.notes)
    assert "plan.steps[0]: step id 'find-competitors' generated from its title" in notes
    assert "run one after another" in notes
    assert f"planning agent {AGENT!r}" in notes


def test_slug_collisions_are_made_unique_and_explicit_ids_win() -> None:
    conversion = convert(
        {
            "steps": [
                {"title": "Research", "instructions": "a", "depends_on": []},
                {"id": "research-2", "title": "Other", "instructions": "b", "depends_on": []},
                {"title": "Research!", "instructions": "c", "depends_on": []},
                {"title": "Ünïcode Résumé — 2024", "instructions": "d", "depends_on": []},
                {"title": "42 things", "instructions": "e", "depends_on": []},
            ]
        }
    )
    assert list(steps_of(conversion)) == [
        "research",
        "research-2",
        "research-3",
        "unicode-resume-2024",
        "step-42-things",
    ]
    assert any("'research-3' generated from its title ('research' was taken)" in n for n in conversion.notes)


def test_unusable_ids_are_replaced_and_still_resolve_dependencies() -> None:
    conversion = convert(
        {
            "steps": [
                {"id": 1, "title": "Gather data", "instructions": "a"},
                {"id": "Step Two", "title": "Analyse", "instructions": "b", "depends_on": [1]},
                {"id": "3", "title": "Report", "instructions": "c", "depends_on": ["Step Two"]},
            ]
        }
    )
    steps = steps_of(conversion)
    assert list(steps) == ["gather-data", "step-two", "step-3"]
    assert steps["step-two"]["depends_on"] == ["gather-data"]
    assert steps["step-3"]["depends_on"] == ["step-two"]


def test_slugify_always_gives_a_valid_step_id() -> None:
    assert slugify("  ") == "step"
    assert slugify("123") == "step-123"
    assert slugify("A" * 200) == "a" * 48
    assert slugify("-x-", fallback="phase") == "x"


# --- approvals, phases, agents ------------------------------------------------------------------------------------


def test_requires_approval_adds_a_checkpoint_that_dependents_wait_for() -> None:
    conversion = convert(
        {
            "steps": [
                {
                    "id": "draft",
                    "title": "Draft the email",
                    "instructions": "Draft it.",
                    "requires_approval": True,
                    "approvers": ["bob@example.com", "bob@example.com", "carol@example.com"],
                    "deliverables": ["The email text"],
                },
                {"id": "send", "title": "Send it", "instructions": "Send.", "depends_on": ["draft"]},
            ]
        }
    )
    steps = steps_of(conversion)
    assert list(steps) == ["draft", "draft-approval", "send"]
    approval = steps["draft-approval"]
    assert approval == {
        "id": "draft-approval",
        "kind": "checkpoint",
        "title": "Approve: Draft the email",
        "depends_on": ["draft"],
        "checkpoint": {
            "title": "Approve: Draft the email",
            "context": "{{ steps.draft.output }}",
            "deliverables": ["The email text"],
            "assignees": ["bob@example.com", "carol@example.com"],
        },
    }
    assert steps["send"]["depends_on"] == ["draft-approval"]
    assert steps["draft"]["prompt"] == "Draft it.\n\nDeliverables:\n- The email text"
    assert steps["send"]["prompt"].endswith("### Draft the email\n{{ steps.draft.output }}")


def test_phase_names_group_steps_in_order_of_first_appearance() -> None:
    conversion = convert(
        {
            "steps": [
                {"id": "a", "title": "A", "instructions": "a", "phase": "Research", "depends_on": []},
                {"id": "b", "title": "B", "instructions": "b", "phase": "Writing", "depends_on": ["a"]},
                {"id": "c", "title": "C", "instructions": "c", "phase": " research ", "depends_on": []},
                {"id": "d", "title": "D", "instructions": "d", "depends_on": ["c", "a"]},
                {"id": "e", "title": "E", "instructions": "e", "phase": "Writing", "depends_on": ["b", "d"]},
            ]
        }
    )
    phases = conversion.definition["phases"]
    assert [(p["id"], p["title"], [s["id"] for s in p["steps"]]) for p in phases] == [
        ("research", "Research", ["a", "c", "d"]),
        ("writing", "Writing", ["b", "e"]),
    ]
    steps = steps_of(conversion)
    assert "depends_on" not in steps["b"]  # implied by phase order
    assert steps["d"]["depends_on"] == ["c", "a"]  # d has no phase: it joins the phase of the step before it
    assert steps["e"]["depends_on"] == ["b"]
    assert any("plan.steps[1].depends_on[0]: dropped" in n for n in conversion.notes)
    assert any("plan.steps[4].depends_on[1]: dropped" in n for n in conversion.notes)
    assert steps["e"]["prompt"].endswith("### B\n{{ steps.b.output }}\n\n### D\n{{ steps.d.output }}")


def test_explicit_phases_keep_their_order_and_take_ids_from_titles() -> None:
    conversion = convert(
        {
            "phases": [
                {"title": "Discovery", "steps": [{"title": "Interview users", "instructions": "x"}]},
                {"name": "Delivery", "steps": [{"title": "Ship", "agent": "shipper"}, {"title": "Celebrate"}]},
                {"id": "wrap_up", "steps": [{"title": "Retro", "message": "Retro of {{ steps.ship.output }}"}]},
            ]
        }
    )
    assert phase_ids(conversion) == ["discovery", "delivery", "wrap_up"]
    steps = steps_of(conversion)
    assert steps["ship"] == {
        "id": "ship",
        "kind": "agent",
        "title": "Ship",
        "agent": "shipper",
        "prompt": 'Ship\n\nResults of earlier steps:\n\n### Interview users\n{{ steps["interview-users"].output }}',
    }
    assert steps["celebrate"] == {
        "id": "celebrate",
        "kind": "echo",
        "title": "Celebrate",
        "message": "Celebrate",
        "depends_on": ["ship"],
    }
    assert steps["retro"]["message"] == "Retro of {{ steps.ship.output }}"


def test_a_step_phase_inside_explicit_phases_is_ignored() -> None:
    conversion = convert({"phases": [{"title": "P", "steps": [{"title": "x", "phase": "Q"}]}]})
    assert phase_ids(conversion) == ["p"]
    assert "plan.phases[0].steps[0].phase: ignored, the step belongs to the phase that lists it" in conversion.notes


def test_default_agent_and_missing_agent() -> None:
    plan = {"steps": [{"title": "A", "instructions": "a"}, {"title": "B", "agent": "writer", "instructions": "b"}]}
    steps = steps_of(convert(plan))
    assert (steps["a"]["agent"], steps["b"]["agent"]) == (AGENT, "writer")
    assert set(violations(plan, agent="")) == {"plan.steps[0].agent"}


# --- dependencies ---------------------------------------------------------------------------------------------------


def test_dependencies_resolve_by_id_title_and_number() -> None:
    conversion = convert(
        {
            "steps": [
                {"id": "collect", "title": "Collect sources", "instructions": "a"},
                {"title": "Read them", "instructions": "b", "depends_on": "collect"},
                {"title": "Take notes", "instructions": "c", "depends_on": ["  collect SOURCES "]},
                {"title": "Write", "instructions": "d", "depends_on": [2, 3.0, "collect", 2]},
            ]
        }
    )
    steps = steps_of(conversion)
    assert steps["read-them"]["depends_on"] == ["collect"]
    assert steps["take-notes"]["depends_on"] == ["collect"]
    assert steps["write"]["depends_on"] == ["read-them", "take-notes", "collect"]
    assert "depends_on" not in steps["collect"]  # depends_on given somewhere: no implicit sequencing


@pytest.mark.parametrize(
    ("depends_on", "field", "fragment"),
    [
        (["nope"], "plan.steps[2].depends_on[0]", "unknown step 'nope'"),
        (["a", 9], "plan.steps[2].depends_on[1]", "unknown step 9"),
        (["c"], "plan.steps[2].depends_on[0]", "cannot depend on itself"),
        (["Same"], "plan.steps[2].depends_on[0]", "matches 2 steps by title"),
        ([True], "plan.steps[2].depends_on[0]", "must be a step id"),
        ({"a": 1}, "plan.steps[2].depends_on", "must be an array"),
    ],
)
def test_bad_dependencies_are_reported_at_their_plan_path(depends_on: Any, field: str, fragment: str) -> None:
    plan = {
        "steps": [
            {"id": "a", "title": "Same", "instructions": "a"},
            {"id": "b", "title": "Same", "instructions": "b"},
            {"id": "c", "title": "C", "instructions": "c", "depends_on": depends_on},
        ]
    }
    found = violations(plan)
    assert field in found
    assert fragment in found[field]


def test_dependency_on_a_later_phase_is_a_violation() -> None:
    found = violations(
        {
            "steps": [
                {"id": "a", "title": "A", "instructions": "a", "phase": "one", "depends_on": ["b"]},
                {"id": "b", "title": "B", "instructions": "b", "phase": "two"},
            ]
        }
    )
    assert "runs after" in found["plan.steps[0].depends_on[0]"]


def test_a_cycle_found_by_the_definition_validator_is_mapped_back_to_the_plan() -> None:
    found = violations(
        {
            "steps": [
                {"id": "a", "title": "A", "instructions": "a", "depends_on": ["b"]},
                {"id": "b", "title": "B", "instructions": "b", "depends_on": ["a"]},
            ]
        }
    )
    assert list(found) == ["plan.steps[0].depends_on[0]"]
    assert "dependency cycle" in found["plan.steps[0].depends_on[0]"]


# --- templates, parameters, text --------------------------------------------------------------------------------------


def test_instructions_are_templates_and_their_problems_point_at_instructions() -> None:
    plan: dict[str, Any] = {
        "parameters": [{"name": "topic", "type": "string", "required": True}],
        "steps": [
            {"id": "a", "title": "A", "instructions": "Research {{ params.topic }}"},
            {"id": "b", "title": "B", "instructions": "Use {{ params.colour }} and {{ steps.a.output }}"},
            {"id": "c", "title": "C", "instructions": "Broken {{ oops", "depends_on": []},
        ],
    }
    with pytest.raises(InvalidPlan) as caught:
        convert_plan(plan, AGENT)
    found = [(v.field, v.description) for v in caught.value.violations]
    assert {field for field, _ in found} == {"plan.steps[1].instructions", "plan.steps[2].instructions"}
    about_b = " | ".join(description for field, description in found if field == "plan.steps[1].instructions")
    assert "undeclared parameter 'colour'" in about_b
    assert "reads step 'a', which does not run before this step" in about_b
    plan["steps"][1]["instructions"] = "Use {{ steps.a.output }} for {{ params.topic }}"
    plan["steps"][2]["instructions"] = "Fine"
    plan["steps"][1]["depends_on"] = ["a"]
    steps = steps_of(convert(plan))
    assert steps["b"]["prompt"] == "Use {{ steps.a.output }} for {{ params.topic }}"  # reads steps: nothing added


def test_parameter_problems_point_at_the_plan_parameters() -> None:
    found = violations({"parameters": [{"name": "x", "type": "colour"}], "steps": [{"title": "A"}]})
    assert list(found) == ["plan.parameters[0].type"]


def test_titles_and_deliverables_are_plain_text_even_with_braces() -> None:
    title = "Check {{ params.secret }} and {% raw %} {#"
    conversion = convert(
        {"steps": [{"id": "a", "title": title, "requires_approval": True, "deliverables": ["{{ x }}"]}]}
    )
    steps = steps_of(conversion)
    assert render(steps["a"]["message"], {}) == title
    assert render(steps["a-approval"]["checkpoint"]["deliverables"][0], {}) == "{{ x }}"
    assert steps["a-approval"]["title"] == f"Approve: {title}"


@given(st.text(max_size=80))
def test_literal_renders_back_to_the_text(text: str) -> None:
    assert render(literal(text), {}) == text.replace("\r\n", "\n").replace("\r", "\n")  # Jinja's newlines


def test_output_ref_quotes_ids_that_are_not_identifiers() -> None:
    assert output_ref("plan_1") == "{{ steps.plan_1.output }}"
    assert output_ref("my-step") == '{{ steps["my-step"].output }}'
    assert output_ref("if") == '{{ steps["if"].output }}'


def test_prompt_templates_pass_through_and_are_checked() -> None:
    plan = {
        "prompt_templates": [{"name": "brief", "template": "Brief on {{ steps.a.output }}"}],
        "steps": [
            {"id": "a", "title": "A", "instructions": "a"},
            {"id": "b", "title": "B", "prompt_template": "brief"},
        ],
    }
    conversion = convert(plan)
    assert conversion.prompt_templates == (PromptTemplate("brief", "Brief on {{ steps.a.output }}", ""),)
    assert steps_of(conversion)["b"]["prompt_template"] == "brief"
    broken = copy.deepcopy(plan)
    broken["steps"][1]["prompt_template"] = "missing"
    broken["prompt_templates"][0]["name"] = "Bad Name"
    assert set(violations(broken)) == {"plan.steps[1].prompt_template", "plan.prompt_templates[0].name"}


def test_unknown_fields_are_ignored_with_a_note() -> None:
    conversion = convert({"rationale": "because", "steps": [{"title": "A", "estimate": "2h"}]})
    assert "plan: ignored unknown field(s) rationale" in conversion.notes
    assert "plan.steps[0]: ignored unknown field(s) estimate" in conversion.notes


@pytest.mark.parametrize(
    ("document", "fields"),
    [
        ([], {"plan"}),
        ({}, {"plan"}),
        ({"title": "no steps"}, {"plan.steps"}),
        ({"steps": []}, {"plan.steps"}),
        ({"steps": [{"title": "a"}], "phases": []}, {"plan.phases"}),
        ({"steps": ["just text"]}, {"plan.steps[0]"}),
        ({"steps": [{"instructions": "who am I"}]}, {"plan.steps[0].title"}),
        ({"steps": [{"title": 3, "agent": "Not A Slug"}]}, {"plan.steps[0].title", "plan.steps[0].agent"}),
        ({"steps": [{"title": "a", "requires_approval": "yes"}]}, {"plan.steps[0].requires_approval"}),
        ({"steps": [{"title": "a", "message": "m", "agent": "x"}]}, {"plan.steps[0].message"}),
        ({"steps": [{"title": "a", "instructions": "i", "prompt_template": "t"}]}, {"plan.steps[0].prompt_template"}),
        ({"steps": [{"id": "a", "title": "a"}, {"id": "a", "title": "b"}]}, {"plan.steps[1].id"}),
        ({"phases": [{"title": "P", "steps": []}]}, {"plan.phases[0].steps"}),
    ],
)
def test_malformed_plans_name_each_bad_field(document: Any, fields: set[str]) -> None:
    assert set(violations(document)) == fields


def test_conversion_is_deterministic() -> None:
    plan = {
        "steps": [
            {"title": "A", "instructions": "a", "phase": "x", "requires_approval": True},
            {"title": "A", "phase": "y", "depends_on": ["a"]},
        ]
    }
    assert convert_plan(copy.deepcopy(plan), AGENT) == convert_plan(copy.deepcopy(plan), AGENT)


# --- properties ---------------------------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.sampled_from(["a", "b", "Research", "step-1", "{{ x }}", "{{ steps.a.output }}", "{{ params.p }}", "1"]),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_titles = st.sampled_from(["Research", "research", "Write it up", "A", "{{ odd }}", "Ünï", "42", "a", "b"])
_refs = st.one_of(st.sampled_from(["a", "b", "c", "Research", "write-it-up", "zzz"]), st.integers(-1, 8))


def plans(garbage: bool) -> st.SearchStrategy[Any]:
    """Plans built from plausible values (bad references, broken templates, cycles...); with `garbage`, any JSON
    value may also appear in any field."""

    def value(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(plausible, _json) if garbage else plausible

    step_fields: dict[str, st.SearchStrategy[Any]] = {
        "id": value(st.one_of(st.sampled_from(["a", "b", "c", "Bad Id", "a"]), st.integers(0, 5))),
        "agent": value(st.sampled_from(["writer", "Bad Agent", ""])),
        "instructions": value(
            st.sampled_from(
                ["Do it", "Use {{ steps.a.output }}", "{{ params.p }}", "{% if %}", "{{ inputs.x }}", "{{ steps.c }}"]
            )
        ),
        "message": value(st.sampled_from(["Done", "{{ steps.b.output }}"])),
        "prompt_template": value(st.sampled_from(["brief", "nope"])),
        "depends_on": value(st.one_of(st.lists(_refs, max_size=3), _refs)),
        "phase": value(st.sampled_from(["One", "Two", "one", ""])),
        "requires_approval": value(st.booleans()),
        "approvers": value(st.lists(st.sampled_from(["bob", "carol", ""]), max_size=3)),
        "deliverables": value(st.lists(st.sampled_from(["report", "{{ x }}", ""]), max_size=3)),
    }
    steps = st.lists(value(st.fixed_dictionaries({"title": value(_titles)}, optional=step_fields)), max_size=6)
    phase = st.fixed_dictionaries(
        {"steps": value(steps)},
        optional={"id": value(st.sampled_from(["x", "x", "Bad"])), "title": _titles, "name": _titles},
    )
    top: dict[str, st.SearchStrategy[Any]] = {
        "title": value(_titles),
        "summary": value(st.text(max_size=20)),
        "parameters": value(st.sampled_from([[{"name": "p", "type": "string"}], [{"name": "p", "type": "no"}]])),
        "prompt_templates": value(st.just([{"name": "brief", "template": "Brief {{ params.p }}"}])),
    }
    shapes: list[st.SearchStrategy[Any]] = [
        st.fixed_dictionaries({"steps": steps}, optional=top),
        st.fixed_dictionaries({"phases": st.lists(value(phase), min_size=1, max_size=3)}, optional=top),
    ]
    if garbage:
        shapes += [st.fixed_dictionaries({}, optional={**top, "steps": _json, "phases": _json}), _json]
    return st.one_of(*shapes)


def check_converts_or_is_rejected(document: Any, agent: str) -> None:
    """Anything but a valid definition or ValidationFailed (e.g. a crash) fails the property."""
    try:
        conversion = convert_plan(document, agent)
    except ValidationFailed as exc:
        rejected: ValidationFailed = exc
    else:
        validate_definition(conversion.definition, conversion.prompt_templates)
        assert convert_plan(copy.deepcopy(document), agent) == conversion
        return
    assert rejected.violations
    assert all(v.field == "plan" or v.field.startswith(("plan.", "plan[")) for v in rejected.violations)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans(garbage=True), st.sampled_from([AGENT, ""]))
def test_any_plan_converts_to_a_valid_definition_or_is_rejected_with_violations(document: Any, agent: str) -> None:
    check_converts_or_is_rejected(document, agent)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans(garbage=False), st.sampled_from([AGENT, ""]))
def test_plausible_plans_convert_or_are_rejected_at_plan_paths(document: Any, agent: str) -> None:
    check_converts_or_is_rejected(document, agent)


_good_titles = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30).filter(
    lambda t: bool(t.strip())
)


@st.composite
def well_formed_plans(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 8))
    phases = draw(st.lists(st.sampled_from(["Research", "Build", "Ship"]), min_size=count, max_size=count))
    use_phases = draw(st.booleans())
    explicit_deps = draw(st.booleans())
    steps: list[dict[str, Any]] = []
    for index in range(count):
        step: dict[str, Any] = {"title": draw(_good_titles)}
        if draw(st.booleans()):  # instructions are Jinja templates: well-formed ones carry no template syntax
            step["instructions"] = draw(_good_titles.filter(lambda t: not any(c in t for c in "{}%#")))
        if draw(st.booleans()):
            step["agent"] = draw(st.sampled_from(["writer", "researcher"]))
        if use_phases:
            step["phase"] = phases[index]
        if draw(st.booleans()):
            step["requires_approval"] = True
            step["deliverables"] = draw(st.lists(_good_titles, max_size=2))
        if explicit_deps:
            # Only earlier steps of the same or an earlier phase: never a cycle or a later phase.
            order = list(dict.fromkeys(phases))  # phases run in order of first appearance
            candidates = [
                j + 1 for j in range(index) if not use_phases or order.index(phases[j]) <= order.index(phases[index])
            ]
            step["depends_on"] = draw(st.lists(st.sampled_from(candidates), max_size=3)) if candidates else []
        steps.append(step)
    return {"title": draw(_good_titles), "steps": steps}


@settings(max_examples=200, deadline=None)
@given(well_formed_plans())
def test_well_formed_plans_always_convert(document: dict[str, Any]) -> None:
    conversion = convert(document)
    definition = validate_definition(conversion.definition, conversion.prompt_templates)
    approvals = sum(1 for step in document["steps"] if step.get("requires_approval"))
    assert len(definition.steps) == len(document["steps"]) + approvals


def test_explicit_phase_ids_are_reserved_before_generated_ones() -> None:
    conversion = convert(
        {"phases": [{"title": "X", "steps": [{"title": "a"}]}, {"id": "x", "steps": [{"title": "b"}]}]}
    )
    assert phase_ids(conversion) == ["x-2", "x"]
    assert set(
        violations({"phases": [{"id": "x", "steps": [{"title": "a"}]}, {"id": "x", "steps": [{"title": "b"}]}]})
    ) == {"plan.phases[1].id"}
