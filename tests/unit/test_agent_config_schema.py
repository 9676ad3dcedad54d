"""The agent config schema (services.common.agent_config) and the registry's save-time rules built on it."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.agent_config import CONFIG_KEYS, InvalidAgentConfig, parse_agent_config
from services.common.netpolicy import EgressPolicy
from services.registry.domain.agent import AgentSpec, config_violations, validate_agent
from services.registry.domain.errors import InvalidAgent

OPENAI = {"protocol": "openai", "endpoint": "https://api.example.com/v1", "model": "m"}


def problems(raw: dict[str, Any], *, strict: bool = True) -> dict[str, str]:
    with pytest.raises(InvalidAgentConfig) as caught:
        parse_agent_config(raw, strict=strict)
    return {p.path: p.description for p in caught.value.problems}


def test_every_documented_key_is_a_config_key() -> None:
    assert CONFIG_KEYS[:2] == ("protocol", "endpoint")
    assert {"credential_header", "credential_headers", "headers", "max_attempts"} <= set(CONFIG_KEYS)


@pytest.mark.parametrize(
    "raw",
    [
        {},  # an agent being set up: not callable yet
        {"model": "m", "timeout_seconds": 5},  # tuning only: what an author may set
        {"protocol": "a2a"},
        {"protocol": "a2a", "endpoint": "https://agents.example.com/a2a", "stream": False, "max_attempts": 10},
        {**OPENAI, "parameters": {"temperature": 0.2}, "timeout_seconds": 2.5, "headers": {"X-Team": "a"}},
    ],
)
def test_valid_configs_parse(raw: dict[str, Any]) -> None:
    parse_agent_config(raw, strict=True)


@pytest.mark.parametrize(
    ("raw", "path", "says"),
    [
        ({"protocol": "grpc"}, "protocol", "'a2a' or 'openai'"),
        ({"protocol": "a2a", "timout_seconds": 5}, "timout_seconds", "Extra inputs are not permitted"),
        ({"protocol": "a2a", "timeout_seconds": 0}, "timeout_seconds", "greater than 0"),
        ({"protocol": "a2a", "timeout_seconds": 7200}, "timeout_seconds", "less than or equal to 3600"),
        ({"protocol": "a2a", "max_attempts": 11}, "max_attempts", "less than or equal to 10"),
        ({"protocol": "a2a", "max_attempts": 2.5}, "max_attempts", "valid integer"),
        ({"protocol": "a2a", "max_response_bytes": 10}, "max_response_bytes", "greater than or equal to 1024"),
        ({"protocol": "a2a", "endpoint": "ftp://agents.example.com"}, "endpoint", "absolute http:// or https://"),
        ({"protocol": "a2a", "headers": {"Content-Type": "x"}}, "headers", "set by the executor"),
        ({"protocol": "a2a", "headers": {"X-A": 1}}, "headers.X-A", "valid string"),
        ({"protocol": "a2a", "credential_header": "Bad Header"}, "credential_header", "not a valid HTTP header"),
        ({**OPENAI, "model": None}, "model", "the openai protocol needs `model`"),
        ({"protocol": "openai", "model": "m"}, "endpoint", "the openai protocol needs `endpoint`"),
        ({**OPENAI, "parameters": {"stream": True}}, "parameters", "cannot set stream"),
        ({"protocol": "a2a", "headers": {"Authorization": "x"}}, "headers", "cannot set authorization"),
    ],
)
def test_each_problem_is_reported_at_its_key(raw: dict[str, Any], path: str, says: str) -> None:
    found = problems(raw)
    assert list(found) == [path]
    assert says in found[path]
    assert "Value error" not in found[path]


def test_strict_parsing_refuses_values_of_another_json_type() -> None:
    raw = {"protocol": "a2a", "stream": "yes", "timeout_seconds": "60"}
    assert set(problems(raw)) == {"stream", "timeout_seconds"}
    assert parse_agent_config(raw).stream is True  # lenient (the runs service, for agents saved before)


def test_every_problem_is_listed_at_once() -> None:
    assert set(problems({"protocol": "a2a", "bogus": 1, "max_attempts": 0, "stream": 2})) == {
        "bogus",
        "max_attempts",
        "stream",
    }
    assert set(problems({"protocol": "openai"})) == {"endpoint", "model"}  # the rules across keys, once keys pass


def test_problems_never_quote_the_value() -> None:
    found = problems({"protocol": "a2a", "timeout_seconds": "sk-live-123", "headers": {"X": "a\nsk-live-123"}})
    assert "sk-live-123" not in " ".join(found.values())


# --- the registry's save-time validation ----------------------------------------------------------------------------


def spec(**config: Any) -> AgentSpec:
    return AgentSpec("acme", "helper", "Helper", config=config)


def test_the_registry_names_each_field_under_agent_config() -> None:
    found = {v.field: v.description for v in config_violations({"protocol": "a2a", "timeout_seconds": -1, "x": 1})}
    assert set(found) == {"agent.config.timeout_seconds", "agent.config.x"}
    assert found["agent.config.x"].startswith("is not an agent config key (the keys are protocol, endpoint, ")


def test_validate_agent_refuses_a_bad_config_with_the_other_violations() -> None:
    with pytest.raises(InvalidAgent) as caught:
        validate_agent(AgentSpec("acme", "Bad_Slug", "Helper", config={"protocol": "grpc"}))
    assert {v.field for v in caught.value.violations} == {"agent.slug", "agent.config.protocol"}


def test_an_unchanged_config_is_not_checked_again() -> None:
    """An agent saved before the schema was enforced can still have its description changed."""
    validate_agent(spec(protocol="a2a", legacy_key=1), check_config=False)
    with pytest.raises(InvalidAgent):
        validate_agent(spec(protocol="a2a", legacy_key=1))


def test_an_endpoint_problem_is_reported_once() -> None:
    """The schema and the egress policy both look at the endpoint; a caller sees one violation for it."""
    with pytest.raises(InvalidAgent) as caught:
        validate_agent(spec(protocol="a2a", endpoint="gopher://127.0.0.1:6379/"), EgressPolicy())
    assert [v.field for v in caught.value.violations] == ["agent.config.endpoint"]
    with pytest.raises(InvalidAgent) as caught:
        validate_agent(spec(protocol="a2a", endpoint="http://127.0.0.1:6379/"), EgressPolicy())
    assert [v.field for v in caught.value.violations] == ["agent.config.endpoint"]
    assert "loopback" in caught.value.violations[0].description
