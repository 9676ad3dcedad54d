"""Orchestration definitions: structure, ids, bounds, dependencies and cycles (pure domain)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.registry.domain import definition as definition_module
from services.registry.domain.definition import (
    MAX_DOCUMENT_BYTES,
    CheckpointSpec,
    Parameter,
    PromptTemplate,
    RetryPolicy,
    matches_type,
    parse_definition_json,
    validate_definition,
)
from services.registry.domain.definition.model import (
    MAX_DEPENDENCIES,
    MAX_PARAMETERS,
    MAX_PHASES,
    MAX_STEPS,
)
from services.registry.domain.errors import InvalidDefinition, RegistryError
from tests.unit.test_definition_support import (
    S,
    doc,
    echo,
    example,
    only,
    parameter_of,
    paths,
    step_ids,
    step_of,
    valid,
    violations,
)

# The valid example


def test_the_full_example_parses_into_the_dataclasses() -> None:
    definition = valid(example())
    assert definition.schema_version == 1
    assert definition.parameters == (
        Parameter("topic", "string", True, None, "What to research", ("ai", "biology")),
        Parameter("depth", "integer", False, 2, "", None),
    )
    assert [phase.id for phase in definition.phases] == ["research", "report"]
    assert definition.phases[0].title == "Research"
    assert step_ids(definition) == ("collect", "plan", "review", "hello", "wait", "render", "write")
    plan = step_of(definition, "plan")
    assert plan.kind == "agent"
    assert plan.phase_id == "research"
    assert plan.agent == "researcher"
    assert plan.depends_on == ("collect",)
    assert plan.inputs == {"notes": "{{ steps.collect.output }}"}
    assert plan.credentials == ("openai.api-key",)
    assert plan.timeout_seconds == 300
    assert plan.retry == RetryPolicy(3, 1, 60, 2)
    assert plan.on_failure == "fail_run"
    assert plan.title == "Plan the research"
    assert step_of(definition, "review").checkpoint == CheckpointSpec(
        title="Approve the plan",
        context="{{ steps.plan.output }}",
        deliverables=("{{ steps.plan.output }}",),
        assignees=("alice@example.com",),
        role="approver",
        due_in_seconds=86400,
        on_expiry="reject",
    )
    assert step_of(definition, "hello").message == "Hello {{ params.topic }}"
    assert step_of(definition, "render").prompt_template == "summary"
    assert step_of(definition, "wait").kind == "noop"
    assert step_of(definition, "write").on_failure == "continue"
    assert definition.referenced_agents() == ("researcher", "writer")
    assert [step.credentials for step in definition.steps if step.credentials] == [
        ("openai.api-key",),
        ("openai.api-key", "search.token"),
    ]
    with pytest.raises(KeyError):
        step_of(definition, "nope")
    with pytest.raises(KeyError):
        parameter_of(definition, "nope")


def test_defaults_of_a_minimal_definition() -> None:
    definition = valid(doc(echo("a"), {"id": "b", "kind": "noop"}))
    assert definition.schema_version == 1
    assert definition.parameters == ()
    step = step_of(definition, "b")
    assert (step.retry, step.timeout_seconds, step.on_failure, step.title, step.inputs) == (
        None,
        None,
        "fail_run",
        "",
        {},
    )
    checkpoint = step_of(valid(doc({"id": "c", "kind": "checkpoint", "checkpoint": {"title": "Go?"}})), "c").checkpoint
    assert checkpoint == CheckpointSpec("Go?", None, (), (), "approver", None, "reject")


def test_numbers_from_a_protobuf_struct_are_accepted() -> None:
    """google.protobuf.Struct carries every number as a double: 3 arrives as 3.0."""
    document = example()
    document["schema_version"] = 1.0
    document["parameters"][1]["default"] = 2.0
    document["phases"][0]["steps"][1]["retry"]["max_attempts"] = 3.0
    document["phases"][0]["steps"][2]["checkpoint"]["due_in_seconds"] = 86400.0
    definition = valid(document)
    assert parameter_of(definition, "depth").default == 2
    assert isinstance(parameter_of(definition, "depth").default, int)
    retry = step_of(definition, "plan").retry
    assert retry is not None
    assert isinstance(retry.max_attempts, int)


def test_invalid_definition_is_a_registry_validation_error() -> None:
    with pytest.raises(InvalidDefinition) as caught:
        validate_definition({"phases": []})
    assert isinstance(caught.value, RegistryError)
    assert caught.value.reason == "VALIDATION_FAILED"


# Every violation at once


def test_every_violation_is_reported_at_once() -> None:
    document = example()
    document["colour"] = "blue"  # 1 unknown top-level field
    document["parameters"][1]["default"] = "two"  # 2 default of the wrong type
    steps = document["phases"][0]["steps"]
    steps[0]["id"] = "Collect"  # 3 bad id (and plan's dependency and inputs now name an unknown step)
    steps[1]["retry"]["max_attempts"] = 0  # 4 bad retry
    steps[1]["timeout_seconds"] = -5  # 5 bad timeout
    steps[2]["kind"] = "approval"  # 6 unknown kind
    steps[3]["message"] = "Hello {{ params.subject }}"  # 7 undeclared parameter
    steps[4]["depends_on"] = ["render"]  # 8 dependency on a later phase
    document["phases"][1]["steps"][1]["prompt_template"] = "missing"  # 9 unknown template
    assert paths(document) == [
        "definition.colour",
        "definition.parameters[1].default",
        f"{S}[0].id",
        f"{S}[1].timeout_seconds",
        f"{S}[1].retry.max_attempts",
        f"{S}[2].kind",
        f"{S}[1].depends_on[0]",
        f"{S}[4].depends_on[0]",
        f"{S}[1].inputs.notes",
        f"{S}[3].message",
        "definition.phases[1].steps[1].prompt_template",
    ]


def test_validation_goes_on_after_a_wrong_json_type() -> None:
    document = doc(echo("a"), parameters={"name": "x"})
    document["phases"][0]["steps"].append({"id": "b", "kind": "noop", "depends_on": "a"})
    assert paths(document) == ["definition.parameters", f"{S}[1].depends_on"]


def test_custom_prefixes() -> None:
    with pytest.raises(InvalidDefinition) as caught:
        validate_definition(
            doc(echo("a", extra=1)),
            [PromptTemplate("Bad", "x")],
            prefix="version.definition",
            templates_prefix="version.prompt_templates",
        )
    assert [v.field for v in caught.value.violations] == [
        "version.definition.phases[0].steps[0].extra",
        "version.prompt_templates[0].name",
    ]


# The document as a whole


@pytest.mark.parametrize("document", [[], "{}", None, 3, True])
def test_the_document_must_be_an_object(document: Any) -> None:
    violation = only(document)
    assert violation.field == "definition"
    assert "object" in violation.description


def test_an_oversize_document_gets_only_that_violation() -> None:
    document = doc(echo("a", message="x" * MAX_DOCUMENT_BYTES), colour="blue")
    violation = only(document)
    assert violation.field == "definition"
    assert f"at most {MAX_DOCUMENT_BYTES} bytes" in violation.description


def test_a_document_that_is_not_json_is_rejected() -> None:
    assert only(doc(echo("a", message={1, 2}))).field == "definition"
    assert only({"phases": [[[]] * 2] * 2, ("a", "b"): 1}).field == "definition"


def test_a_deeply_nested_document_is_rejected_without_crashing() -> None:
    nested: Any = []
    for _ in range(100_000):
        nested = [nested]
    violation = only({"phases": nested})
    assert violation.field == "definition"


@pytest.mark.parametrize("version", [1, 1.0, None])
def test_supported_schema_versions(version: Any) -> None:
    document = doc(echo("a"))
    document["schema_version"] = version
    assert valid(document).schema_version == 1


@pytest.mark.parametrize("version", [2, 0, "1", True, 1.5, [1]])
def test_an_unsupported_schema_version_is_the_only_violation(version: Any) -> None:
    violation = only({"schema_version": version, "phases": "not even a list", "colour": 1})
    assert violation.field == "definition.schema_version"
    assert "supported: 1" in violation.description


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, "definition.phases"),
        ({"phases": []}, "definition.phases"),
        ({"phases": None}, "definition.phases"),
        ({"phases": {"id": "main"}}, "definition.phases"),
        ({"phases": ["main"]}, "definition.phases[0]"),
        ({"phases": [{"id": "main"}]}, "definition.phases[0].steps"),
        ({"phases": [{"id": "main", "steps": []}]}, "definition.phases[0].steps"),
        ({"phases": [{"id": "main", "steps": "a"}]}, "definition.phases[0].steps"),
        ({"phases": [{"id": "main", "steps": [None]}]}, f"{S}[0]"),
    ],
)
def test_phases_and_steps_must_be_non_empty_arrays_of_objects(document: Any, expected: str) -> None:
    assert only(document).field == expected


def test_bounds_on_counts() -> None:
    phases = [{"id": f"p{i}", "steps": [echo(f"s{i}")]} for i in range(MAX_PHASES + 1)]
    assert only({"phases": phases}).field == "definition.phases"
    assert valid({"phases": phases[:MAX_PHASES]})

    parameters = [{"name": f"p{i}", "type": "string"} for i in range(MAX_PARAMETERS + 1)]
    assert only(doc(echo("a"), parameters=parameters)).field == "definition.parameters"

    dependencies = [echo(f"d{i}") for i in range(MAX_DEPENDENCIES + 1)]
    step = echo("a", depends_on=[d["id"] for d in dependencies])
    assert only(doc(*dependencies, step)).field == f"{S}[{MAX_DEPENDENCIES + 1}].depends_on"


def test_too_many_steps_skips_the_graph_and_template_passes() -> None:
    steps = [echo(f"s{i}", "{{ steps.nope.output }}") for i in range(MAX_STEPS + 1)]
    violation = only(doc(*steps))
    assert violation.field == "definition.phases"
    assert f"at most {MAX_STEPS} steps" in violation.description


# Unknown keys and kind-specific fields


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(version=1), "definition.version"),
        (lambda d: d["parameters"][0].update(optional=True), "definition.parameters[0].optional"),
        (lambda d: d["phases"][0].update(name="x"), "definition.phases[0].name"),
        (lambda d: d["phases"][0]["steps"][1].update(dependsOn=["collect"]), f"{S}[1].dependsOn"),
        (lambda d: d["phases"][0]["steps"][1]["retry"].update(attempts=2), f"{S}[1].retry.attempts"),
        (lambda d: d["phases"][0]["steps"][2]["checkpoint"].update(owner="a"), f"{S}[2].checkpoint.owner"),
        (lambda d: d["phases"][0]["steps"][4].update({"odd key": 1}), f'{S}[4]["odd key"]'),
    ],
)
def test_unknown_fields_are_violations(edit: Any, expected: str) -> None:
    document = example()
    edit(document)
    violation = only(document)
    assert violation.field == expected
    assert violation.description.startswith("unknown field; expected one of: ")


@pytest.mark.parametrize(
    ("step", "field", "kinds"),
    [
        ({"id": "a", "kind": "echo", "message": "x", "checkpoint": {"title": "t"}}, "checkpoint", "checkpoint"),
        ({"id": "a", "kind": "agent", "agent": "x", "prompt": "p", "message": "m"}, "message", "echo"),
        ({"id": "a", "kind": "echo", "message": "x", "credentials": ["k"]}, "credentials", "agent"),
        ({"id": "a", "kind": "noop", "prompt": "p"}, "prompt", "agent"),
        ({"id": "a", "kind": "noop", "inputs": {}}, "inputs", "agent or echo or template"),
        ({"id": "a", "kind": "checkpoint", "checkpoint": {"title": "t"}, "retry": {}}, "retry", "agent or noop"),
        ({"id": "a", "kind": "echo", "message": "m", "agent": "x"}, "agent", "agent"),
        ({"id": "a", "kind": "agent", "agent": "x", "prompt": "p", "template": "t"}, "template", "template"),
    ],
)
def test_kind_specific_fields_only_on_their_kind(step: dict[str, Any], field: str, kinds: str) -> None:
    violation = only(doc(step))
    assert violation.field == f"{S}[0].{field}"
    assert violation.description.startswith(f"is only allowed on steps of kind {kinds}")


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"id": "a"}, f"{S}[0].kind"),
        ({"id": "a", "kind": "shell"}, f"{S}[0].kind"),
        ({"id": "a", "kind": 1}, f"{S}[0].kind"),
        ({"id": "a", "kind": "agent", "prompt": "p"}, f"{S}[0].agent"),
        ({"id": "a", "kind": "agent", "agent": "Bad_Slug", "prompt": "p"}, f"{S}[0].agent"),
        ({"id": "a", "kind": "agent", "agent": "x"}, f"{S}[0].prompt"),
        (
            {"id": "a", "kind": "agent", "agent": "x", "prompt": "p", "prompt_template": "plain"},
            f"{S}[0].prompt_template",
        ),
        ({"id": "a", "kind": "template"}, f"{S}[0].template"),
        ({"id": "a", "kind": "template", "template": "t", "prompt_template": "plain"}, f"{S}[0].prompt_template"),
        ({"id": "a", "kind": "template", "prompt_template": "Bad Name"}, f"{S}[0].prompt_template"),
        ({"id": "a", "kind": "echo"}, f"{S}[0].message"),
        ({"id": "a", "kind": "echo", "message": 3}, f"{S}[0].message"),
        ({"id": "a", "kind": "checkpoint"}, f"{S}[0].checkpoint"),
        ({"id": "a", "kind": "checkpoint", "checkpoint": "approve?"}, f"{S}[0].checkpoint"),
        ({"id": "a", "kind": "noop", "on_failure": "ignore"}, f"{S}[0].on_failure"),
        ({"id": "a", "kind": "noop", "title": "x" * 201}, f"{S}[0].title"),
        ({"id": "a", "kind": "noop", "title": 5}, f"{S}[0].title"),
    ],
)
def test_kinds_and_their_required_fields(step: dict[str, Any], expected: str) -> None:
    assert only(doc(step)).field == expected


def test_an_unknown_kind_still_gets_its_fields_checked() -> None:
    step = {"id": "a", "kind": "shell", "timeout_seconds": 0, "colour": "red"}
    assert paths(doc(step)) == [f"{S}[0].kind", f"{S}[0].colour", f"{S}[0].timeout_seconds"]


# Ids


@pytest.mark.parametrize("step_id", ["", "A", "1a", "-a", "a b", "a.b", "a" * 64, None, 7])
def test_bad_step_ids(step_id: Any) -> None:
    assert only(doc({"id": step_id, "kind": "noop"})).field == f"{S}[0].id"


@pytest.mark.parametrize("step_id", ["a", "a-b", "a_b", "a1", "a" * 63])
def test_good_step_ids(step_id: str) -> None:
    assert step_ids(valid(doc({"id": step_id, "kind": "noop"}))) == (step_id,)


@pytest.mark.parametrize("phase_id", ["", "Main", "9", None])
def test_bad_phase_ids(phase_id: Any) -> None:
    assert only({"phases": [{"id": phase_id, "steps": [echo("a")]}]}).field == "definition.phases[0].id"


def test_step_ids_are_unique_across_all_phases() -> None:
    document = {"phases": [{"id": "one", "steps": [echo("a"), echo("b")]}, {"id": "two", "steps": [echo("a")]}]}
    violation = only(document)
    assert violation.field == "definition.phases[1].steps[0].id"
    assert "definition.phases[0].steps[0]" in violation.description


def test_phase_ids_are_unique() -> None:
    document = {"phases": [{"id": "one", "steps": [echo("a")]}, {"id": "one", "steps": [echo("b")]}]}
    assert only(document).field == "definition.phases[1].id"


def test_a_step_id_may_equal_a_phase_id() -> None:
    assert valid({"phases": [{"id": "main", "steps": [echo("main")]}]})


# Dependencies


def test_dependencies_within_a_phase_and_on_earlier_phases() -> None:
    document = {
        "phases": [
            {"id": "one", "steps": [echo("a"), echo("b", depends_on=["a"])]},
            {"id": "two", "steps": [echo("c", depends_on=["a", "d"]), echo("d")]},
        ]
    }
    assert step_of(valid(document), "c").depends_on == ("a", "d")


@pytest.mark.parametrize(
    ("depends_on", "expected", "description"),
    [
        (["nope"], f"{S}[1].depends_on[0]", "unknown step 'nope'"),
        (["b"], f"{S}[1].depends_on[0]", "a step cannot depend on itself"),
        (["a", "a"], f"{S}[1].depends_on[1]", "duplicate dependency 'a'"),
        (["a", 3], f"{S}[1].depends_on[1]", "must be a string"),
        (["a", "A"], f"{S}[1].depends_on[1]", "must be 1-63 lowercase"),
        ("a", f"{S}[1].depends_on", "must be an array"),
        ({"a": 1}, f"{S}[1].depends_on", "must be an array"),
    ],
)
def test_bad_dependencies(depends_on: Any, expected: str, description: str) -> None:
    violation = only(doc(echo("a"), echo("b", depends_on=depends_on)))
    assert violation.field == expected
    assert violation.description.startswith(description)


def test_a_dependency_on_a_later_phase_is_a_violation() -> None:
    document = {"phases": [{"id": "one", "steps": [echo("a", depends_on=["b"])]}, {"id": "two", "steps": [echo("b")]}]}
    violation = only(document)
    assert violation.field == "definition.phases[0].steps[0].depends_on[0]"
    assert violation.description.startswith("step 'b' is in a later phase ('two')")


def test_a_two_step_cycle() -> None:
    violation = only(doc(echo("a", depends_on=["b"]), echo("b", depends_on=["a"])))
    assert violation.field == f"{S}[0].depends_on[0]"
    assert violation.description.startswith("dependency cycle: a -> b -> a")


def test_a_three_step_cycle_is_reported_once_with_its_path() -> None:
    document = doc(
        echo("x"),
        echo("a", depends_on=["x", "b"]),
        echo("b", depends_on=["c"]),
        echo("c", depends_on=["a"]),
    )
    violation = only(document)
    assert violation.field == f"{S}[1].depends_on[1]"
    assert violation.description == "dependency cycle: a -> b -> c -> a (each step depends on the next)"


def test_disjoint_cycles_are_reported_separately() -> None:
    document = doc(
        echo("a", depends_on=["b"]),
        echo("b", depends_on=["a"]),
        echo("c", depends_on=["d"]),
        echo("d", depends_on=["e"]),
        echo("e", depends_on=["c"]),
    )
    found = violations(document)
    assert [v.field for v in found] == [f"{S}[0].depends_on[0]", f"{S}[2].depends_on[0]"]
    assert "a -> b -> a" in found[0].description
    assert "c -> d -> e -> c" in found[1].description


def test_entangled_cycles_are_one_violation_naming_every_step_involved() -> None:
    document = doc(
        echo("a", depends_on=["b"]),
        echo("b", depends_on=["a", "c"]),
        echo("c", depends_on=["b"]),
    )
    violation = only(document)
    assert violation.description == (
        "dependency cycle: a -> b -> a (each step depends on the next); also caught in cycles with these steps: c"
    )


def test_the_shortest_cycle_through_the_first_step_is_named() -> None:
    document = doc(
        echo("a", depends_on=["b", "d"]),
        echo("b", depends_on=["c"]),
        echo("c", depends_on=["a"]),
        echo("d", depends_on=["a"]),
    )
    violation = only(document)
    assert violation.field == f"{S}[0].depends_on[1]"
    assert violation.description.startswith("dependency cycle: a -> d -> a (")


# Parameters


def parameter(**fields: Any) -> dict[str, Any]:
    return doc(echo("a"), parameters=[{"name": "p", "type": "string", **fields}])


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": None}, "name"),
        ({"name": "1st"}, "name"),
        ({"name": "has-dash"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"type": None}, "type"),
        ({"type": "str"}, "type"),
        ({"type": "int"}, "type"),
        ({"required": "yes"}, "required"),
        ({"description": "x" * 2001}, "description"),
        ({"description": 1}, "description"),
        ({"enum": "a"}, "enum"),
        ({"enum": []}, "enum"),
        ({"enum": ["a", "b", "a"]}, "enum[2]"),
        ({"enum": ["a", 1]}, "enum[1]"),
        ({"default": 1}, "default"),
        ({"default": "c", "enum": ["a", "b"]}, "default"),
        ({"default": "a", "required": True}, "default"),
    ],
)
def test_bad_parameter_declarations(fields: dict[str, Any], expected: str) -> None:
    assert only(parameter(**fields)).field == f"definition.parameters[0].{expected}"


@pytest.mark.parametrize(
    ("type_", "good", "bad"),
    [
        ("string", "x", 1),
        ("integer", 3, 3.5),
        ("integer", -2, True),
        ("integer", 4.0, "4"),
        ("number", 1.5, False),
        ("number", 2, "2"),
        ("boolean", False, 0),
        ("object", {"a": 1}, [1]),
        ("array", [1, "a"], {"a": 1}),
    ],
)
def test_defaults_and_enums_must_match_the_type(type_: str, good: Any, bad: Any) -> None:
    assert parameter_of(valid(parameter(type=type_, default=good)), "p").default == good
    assert parameter_of(valid(parameter(type=type_, enum=[good])), "p").enum == (good,)
    assert only(parameter(type=type_, default=bad)).field == "definition.parameters[0].default"
    assert only(parameter(type=type_, enum=[good, bad])).field == "definition.parameters[0].enum[1]"


def test_numbers_in_enums_are_compared_by_value() -> None:
    assert only(parameter(type="number", enum=[1, 1.0])).field == "definition.parameters[0].enum[1]"
    assert parameter_of(valid(parameter(type="number", enum=[1, 2.5], default=1.0)), "p").default == 1.0
    assert valid(parameter(type="object", enum=[{"a": 1, "b": 2}], default={"b": 2, "a": 1}))
    assert only(parameter(type="object", enum=[{"a": 1, "b": 2}, {"b": 2, "a": 1}])).field.endswith("enum[1]")


def test_a_required_parameter_may_have_a_null_default() -> None:
    assert parameter_of(valid(parameter(required=True, default=None)), "p").required


def test_parameter_names_are_unique() -> None:
    document = doc(echo("a"), parameters=[{"name": "p", "type": "string"}, {"name": "p", "type": "integer"}])
    assert only(document).field == "definition.parameters[1].name"


def test_a_parameter_is_an_object() -> None:
    assert only(doc(echo("a"), parameters=["topic"])).field == "definition.parameters[0]"


# Timeouts and retries


@pytest.mark.parametrize("timeout", [0.5, 1, 86400])
def test_good_timeouts(timeout: float) -> None:
    assert step_of(valid(doc(echo("a", timeout_seconds=timeout))), "a").timeout_seconds == timeout


@pytest.mark.parametrize("timeout", [0, -1, 86400.5, "10", True, float("inf")])
def test_bad_timeouts(timeout: Any) -> None:
    assert only(doc(echo("a", timeout_seconds=timeout))).field == f"{S}[0].timeout_seconds"


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        ({}, "max_attempts"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 11}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"max_attempts": 2, "initial_backoff_seconds": -1}, "initial_backoff_seconds"),
        ({"max_attempts": 2, "initial_backoff_seconds": 3601}, "initial_backoff_seconds"),
        ({"max_attempts": 2, "max_backoff_seconds": 86401}, "max_backoff_seconds"),
        ({"max_attempts": 2, "initial_backoff_seconds": 10, "max_backoff_seconds": 5}, "max_backoff_seconds"),
        ({"max_attempts": 2, "max_backoff_seconds": 0.5}, "max_backoff_seconds"),
        ({"max_attempts": 2, "backoff_multiplier": 0.5}, "backoff_multiplier"),
        ({"max_attempts": 2, "backoff_multiplier": 11}, "backoff_multiplier"),
        ({"max_attempts": 2, "backoff_multiplier": "2"}, "backoff_multiplier"),
    ],
)
def test_bad_retry_policies(retry: dict[str, Any], expected: str) -> None:
    assert only(doc(echo("a", retry=retry))).field == f"{S}[0].retry.{expected}"


def test_a_retry_policy_is_an_object() -> None:
    assert only(doc(echo("a", retry=3))).field == f"{S}[0].retry"


def test_retry_defaults() -> None:
    assert step_of(valid(doc(echo("a", retry={"max_attempts": 2}))), "a").retry == RetryPolicy(2, 1.0, 60.0, 2.0)
    policy = step_of(valid(doc(echo("a", retry={"max_attempts": 2, "initial_backoff_seconds": 120}))), "a").retry
    assert policy == RetryPolicy(2, 120.0, 120.0, 2.0)


# Checkpoints


def checkpoint(**fields: Any) -> dict[str, Any]:
    return doc({"id": "c", "kind": "checkpoint", "checkpoint": {"title": "Go?", **fields}})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"title": None}, "title"),
        ({"title": "  "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"due_in_seconds": 59}, "due_in_seconds"),
        ({"due_in_seconds": 30 * 86400 + 1}, "due_in_seconds"),
        ({"due_in_seconds": 90.5}, "due_in_seconds"),
        ({"on_expiry": "ignore"}, "on_expiry"),
        ({"on_expiry": "escalate", "due_in_seconds": 3600}, "escalate_to"),
        ({"on_expiry": "escalate", "escalate_to": "viewer", "due_in_seconds": 3600}, "escalate_to"),
        ({"on_expiry": "escalate", "escalate_to": "admin"}, "due_in_seconds"),
        ({"escalate_to": "admin", "due_in_seconds": 3600}, "escalate_to"),
        ({"role": "owner"}, "role"),
        ({"assignees": "alice"}, "assignees"),
        ({"assignees": ["alice", "alice"]}, "assignees[1]"),
        ({"assignees": ["alice", 3]}, "assignees[1]"),
        ({"assignees": [""]}, "assignees[0]"),
        ({"assignees": ["x" * 321]}, "assignees[0]"),
        ({"assignees": [f"u{i}" for i in range(51)]}, "assignees"),
        ({"deliverables": [1]}, "deliverables[0]"),
        ({"deliverables": ["d"] * 51}, "deliverables"),
        ({"context": ["not", "a", "string"]}, "context"),
    ],
)
def test_bad_checkpoints(fields: dict[str, Any], expected: str) -> None:
    assert only(checkpoint(**fields)).field == f"{S}[0].checkpoint.{expected}"


@pytest.mark.parametrize("due", [60, 30 * 86400])
def test_checkpoint_due_bounds(due: int) -> None:
    spec = step_of(valid(checkpoint(due_in_seconds=due, on_expiry="approve", role="admin")), "c").checkpoint
    assert spec is not None
    assert (spec.due_in_seconds, spec.on_expiry, spec.role) == (due, "approve", "admin")


def test_escalation_to_a_higher_role() -> None:
    spec = step_of(valid(checkpoint(due_in_seconds=3600, on_expiry="escalate", escalate_to="admin")), "c").checkpoint
    assert spec is not None
    assert (spec.on_expiry, spec.escalate_to, spec.role) == ("escalate", "admin", "approver")


# Inputs and credentials


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        ([], f"{S}[0].inputs"),
        ({"bad-name": "x"}, f'{S}[0].inputs["bad-name"]'),
        ({"n": 3}, f"{S}[0].inputs.n"),
        ({"n": None}, f"{S}[0].inputs.n"),
        ({f"n{i}": "x" for i in range(51)}, f"{S}[0].inputs"),
    ],
)
def test_bad_inputs(inputs: Any, expected: str) -> None:
    assert only(doc(echo("a", inputs=inputs))).field == expected


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ("openai", "credentials"),
        (["OpenAI"], "credentials[0]"),
        (["a", "a"], "credentials[1]"),
        ([1], "credentials[0]"),
        (["x" * 129], "credentials[0]"),
        ([f"k{i}" for i in range(21)], "credentials"),
    ],
)
def test_bad_credentials(credentials: Any, expected: str) -> None:
    step = {"id": "a", "kind": "agent", "agent": "x", "prompt": "p", "credentials": credentials}
    assert only(doc(step)).field == f"{S}[0].{expected}"


# JSON text


def test_parse_definition_json() -> None:
    assert step_ids(parse_definition_json(json.dumps(example()), (PromptTemplate("summary", "x"),)))[0] == "collect"
    assert step_ids(parse_definition_json(json.dumps(doc(echo("a"))).encode())) == ("a",)


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ('{"phases": [', "is not valid JSON: Expecting value (line 1, column 13)"),
        ('{"phases": [], "phases": []}', 'is not valid JSON: duplicate key "phases"'),
        ('{"phases": NaN}', "is not valid JSON: NaN is not a JSON number"),
        (b"\xff\xfe{", "is not valid JSON"),
        (" " * (MAX_DOCUMENT_BYTES + 1), f"must be at most {MAX_DOCUMENT_BYTES} bytes"),
    ],
)
def test_parse_definition_json_rejects(text: str | bytes, description: str) -> None:
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition_json(text)
    [violation] = caught.value.violations
    assert violation.field == "definition"
    assert violation.description.startswith(description)


def test_the_format_documented_in_the_module_docstring_is_valid() -> None:
    doc_text = definition_module.__doc__ or ""
    start = doc_text.index("Format, schema version 1::") + len("Format, schema version 1::")
    document = json.loads(doc_text[start : doc_text.index("\nTop level")])
    assert step_ids(valid(document, (PromptTemplate("summary", "{{ steps.plan.output }}"),)))[-1] == "wait"


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        ("string", "x", True),
        ("integer", 2.0, True),
        ("integer", True, False),
        ("number", float("nan"), False),
        ("boolean", 1, False),
        ("object", {}, True),
        ("array", (), True),
        ("date", "2024-01-01", False),
    ],
)
def test_matches_type(type_: str, value: Any, expected: bool) -> None:
    assert matches_type(type_, value) is expected
