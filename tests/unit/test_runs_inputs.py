"""Launch inputs against declared parameters (services/runs/domain/inputs.py): defaults, types, enums, unknowns,
missing values and the size bound, with every violation reported at once."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.runs.domain.inputs import MAX_INPUTS_BYTES, matches_type, resolve_inputs
from services.runs.domain.model import ParameterSpec


def param(name: str, kind: str = "string", **fields: Any) -> ParameterSpec:
    if "default" in fields:
        fields.setdefault("has_default", fields["default"] is not None)
    return ParameterSpec(name=name, type=kind, **fields)


def fields_of(parameters: tuple[ParameterSpec, ...], given: dict[str, Any]) -> dict[str, str]:
    return {v.field: v.description for v in resolve_inputs(parameters, given)[1]}


def test_nothing_declared_and_nothing_given() -> None:
    assert resolve_inputs((), {}) == ({}, [])


def test_unknown_inputs_are_named_and_sorted_with_what_is_declared() -> None:
    resolved, violations = resolve_inputs((param("topic"), param("depth", "integer")), {"zeta": 1, "alpha": 2})
    assert resolved == {}
    assert [(v.field, v.description) for v in violations] == [
        ("prompt_inputs.alpha", "is not a declared parameter (declared: depth, topic)"),
        ("prompt_inputs.zeta", "is not a declared parameter (declared: depth, topic)"),
    ]
    assert fields_of((), {"x": 1}) == {"prompt_inputs.x": "is not a declared parameter (declared: none)"}


def test_required_parameters_must_be_given_and_null_counts_as_missing() -> None:
    parameters = (param("topic", required=True),)
    assert fields_of(parameters, {}) == {"prompt_inputs.topic": "is required (string)"}
    assert fields_of(parameters, {"topic": None}) == {"prompt_inputs.topic": "is required (string)"}
    assert resolve_inputs(parameters, {"topic": ""}) == ({"topic": ""}, [])


def test_defaults_fill_what_is_missing_or_null_and_optional_parameters_without_one_stay_absent() -> None:
    parameters = (
        param("depth", "integer", default=2),
        param("loud", "boolean", default=False),
        param("zero", "number", default=0),
        param("note"),
    )
    assert resolve_inputs(parameters, {}) == ({"depth": 2, "loud": False, "zero": 0}, [])
    assert resolve_inputs(parameters, {"depth": None, "note": None}) == ({"depth": 2, "loud": False, "zero": 0}, [])
    assert resolve_inputs(parameters, {"depth": 3, "note": "n"})[0] == {
        "depth": 3,
        "loud": False,
        "zero": 0,
        "note": "n",
    }


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("string", ["", "x"], [1, True, [], {}]),
        ("integer", [0, -3, 2.0, 10**20], [1.5, "1", True, False, []]),
        ("number", [0, 1.5, -2, 3.0], ["1", True, [], {}]),
        ("boolean", [True, False], [0, 1, "true"]),
        ("object", [{}, {"a": [1]}], [[], "x", 1]),
        ("array", [[], [1, "a"]], [{}, "x", 1]),
    ],
)
def test_types(kind: str, good: list[Any], bad: list[Any]) -> None:
    for value in good:
        assert matches_type(kind, value), (kind, value)
        assert fields_of((param("p", kind),), {"p": value}) == {}
    for value in bad:
        assert not matches_type(kind, value), (kind, value)
        assert fields_of((param("p", kind),), {"p": value}) == {"prompt_inputs.p": f"must be of type {kind}"}


def test_an_unknown_declared_type_matches_nothing() -> None:
    assert not matches_type("date", "2030-01-01")


def test_integral_floats_become_integers() -> None:
    resolved, violations = resolve_inputs((param("n", "integer"),), {"n": 3.0})
    assert violations == []
    assert resolved == {"n": 3}
    assert type(resolved["n"]) is int
    resolved, _ = resolve_inputs((param("x", "number"),), {"x": 3.0})
    assert type(resolved["x"]) is float  # a number stays as given


def test_enums_compare_after_the_integer_conversion() -> None:
    depth = param("depth", "integer", enum=(1, 2, 3))
    assert resolve_inputs((depth,), {"depth": 2.0}) == ({"depth": 2}, [])
    assert fields_of((depth,), {"depth": 7}) == {"prompt_inputs.depth": "must be one of 1, 2, 3"}
    colour = param("colour", enum=("red", "green"))
    assert fields_of((colour,), {"colour": "blue"}) == {"prompt_inputs.colour": 'must be one of "red", "green"'}
    assert fields_of((colour,), {"colour": 1}) == {"prompt_inputs.colour": "must be of type string"}  # type first


def test_every_violation_is_reported_at_once_and_valid_values_still_resolve() -> None:
    parameters = (param("topic", required=True), param("depth", "integer", enum=(1, 2)), param("ok", "boolean"))
    resolved, violations = resolve_inputs(parameters, {"depth": 9, "extra": 1, "ok": True})
    assert resolved == {"ok": True}
    assert [v.field for v in violations] == ["prompt_inputs.extra", "prompt_inputs.topic", "prompt_inputs.depth"]


def test_the_field_prefix_is_the_callers() -> None:
    assert fields_of((param("a", required=True),), {}) == {"prompt_inputs.a": "is required (string)"}
    _, violations = resolve_inputs((param("a", required=True),), {}, field="inputs")
    assert [v.field for v in violations] == ["inputs.a"]


def test_the_resolved_inputs_are_bounded() -> None:
    parameters = (param("text"), param("more"))
    half = "x" * (MAX_INPUTS_BYTES // 2)
    resolved, violations = resolve_inputs(parameters, {"text": half, "more": half})
    assert [(v.field, v.description) for v in violations] == [
        ("prompt_inputs", f"must be at most {MAX_INPUTS_BYTES} bytes of JSON")
    ]
    assert resolved == {"text": half, "more": half}
    assert resolve_inputs(parameters, {"text": "x" * (MAX_INPUTS_BYTES - 100)})[1] == []
    multibyte = "é" * (MAX_INPUTS_BYTES // 6 + 1)  # JSON escapes é to \\u00e9: six bytes each
    assert [v.field for v in resolve_inputs(parameters, {"text": multibyte})[1]] == ["prompt_inputs"]


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    )
)
def test_resolution_never_invents_or_drops_a_declared_value(given_inputs: dict[str, Any]) -> None:
    parameters = (param("a", "integer"), param("b", "string", default="B"), param("c", "boolean", required=True))
    resolved, violations = resolve_inputs(parameters, given_inputs)
    flagged = {v.field.removeprefix("prompt_inputs.") for v in violations}
    assert set(resolved) <= {"a", "b", "c"}
    for name in ("a", "b", "c"):
        value = given_inputs.get(name)
        if name in flagged:
            assert name not in resolved
        elif value is None:
            assert resolved.get(name) == ("B" if name == "b" else None)
        else:
            assert resolved[name] == value
    assert ("d" in flagged) == ("d" in given_inputs)
