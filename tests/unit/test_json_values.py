"""JSON values read out of protobuf Structs keep their integers (services.common.structs), and templates write JSON
data as JSON (services.common.templating.as_text), within the render budget."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agentorch.registry.v1 import orchestration_pb2
from agentorch.runs.v1 import run_pb2
from cli.commands.runs import _output
from cli.render import to_json
from gateway.http.translate import to_json as http_json
from services.common.structs import (
    integral,
    message_to_dict,
    struct_from_dict,
    struct_to_dict,
    value_from_python,
    value_to_json,
    value_to_python,
)
from services.common.templating import TemplateLimitExceeded, render

DOCUMENT: dict[str, Any] = {"retry": {"max_attempts": 3, "backoff": 0.5}, "ids": [1, 2, 3], "flag": True, "none": None}


def test_integral_doubles_come_back_as_ints_at_any_depth() -> None:
    assert integral({"a": 3.0, "b": [1.0, 2.5, {"c": -4.0}], "d": "3.0", "e": True}) == {
        "a": 3,
        "b": [1, 2.5, {"c": -4}],
        "d": "3.0",
        "e": True,
    }
    assert type(integral(3.0)) is int
    assert type(integral(2.0**53)) is float  # beyond what a double holds exactly: left alone
    assert type(integral(1e300)) is float


def test_a_struct_round_trip_keeps_every_number_type() -> None:
    struct = struct_from_dict(DOCUMENT)
    assert struct.fields["ids"].list_value.values[0].number_value == 1.0  # what protobuf holds
    read = struct_to_dict(struct)
    assert read == DOCUMENT
    assert [type(v) for v in read["ids"]] == [int, int, int]
    assert type(read["retry"]["max_attempts"]) is int
    assert value_to_python(value_from_python(7)) == 7
    assert type(value_to_python(value_from_python(7))) is int
    assert value_to_json(value_from_python({"n": 2})) == '{"n":2}'
    assert value_to_python(run_pb2.StepState().output) is None
    assert value_to_json(run_pb2.StepState().output) == ""


def test_whole_messages_keep_the_integers_of_their_structs() -> None:
    version = orchestration_pb2.OrchestrationVersion(version_number=4, definition=struct_from_dict(DOCUMENT))
    assert message_to_dict(version)["definition"] == DOCUMENT
    assert json.loads(to_json(version))["definition"] == DOCUMENT  # the CLI's --output json
    assert '"max_attempts": 3' in to_json(version)
    assert http_json(version)["definition"]["retry"]["max_attempts"] == 3
    assert type(http_json(version)["definition"]["retry"]["max_attempts"]) is int  # the HTTP front
    assert http_json(version)["versionNumber"] == "4"  # int64 fields keep protobuf's JSON mapping (a string)
    step = run_pb2.StepState(output=value_from_python({"count": 2}))
    assert _output(step) == '{"count":2}'  # the CLI's step table


# --- templates --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "written"),
    [
        ("{{ steps.a.output }}", '{"k": 1, "names": ["é", "it\'s"], "ok": true, "none": null}'),
        ("{{ steps.a.output.names }}", '["é", "it\'s"]'),
        ("{{ steps.a.output.k }} {{ params.ratio }} {{ params.topic }}", "1 0.5 AI"),
        ("{{ params.flag }}/{{ params.nothing }}", "false/null"),
        ("Result: {{ steps.a.output | dictsort | list }}", 'Result: [["k", 1], ["names", ["é", "it\'s"]], '),
        ("{{ 'in ' ~ params.list ~ '!' }}", "in [1, 2]!"),
        ("{% for n in params.list %}{{ n }};{% endfor %}", "1;2;"),
        ("{{ params.list | tojson }}", "[1, 2]"),
    ],
)
def test_templates_write_json_data_as_json(template: str, written: str) -> None:
    variables = {
        "params": {"topic": "AI", "ratio": 0.5, "flag": False, "nothing": None, "list": [1, 2]},
        "steps": {"a": {"output": {"k": 1, "names": ["é", "it's"], "ok": True, "none": None}}},
    }
    assert render(template, variables).startswith(written)


def test_a_written_object_parses_back_as_the_same_json() -> None:
    output = {"k": 1, "nested": {"list": [1, 2.5, 'x"y']}, "on": True}
    assert json.loads(render("{{ value }}", {"value": output})) == output


def test_values_that_are_not_json_are_written_as_jinja_writes_them() -> None:
    assert render("{% set ns = namespace(a=1) %}{{ ns.a }}", {}) == "1"
    assert render("{{ range(3) }}", {}) == "range(0, 3)"


def test_writing_an_object_stays_within_the_output_budget() -> None:
    with pytest.raises(TemplateLimitExceeded, match=r"to text \(the output limit\)"):
        render("{{ big }}", {"big": ["x" * 100] * 20_000})
