"""Agent validation and resource names (pure domain)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import FieldViolation
from services.registry.domain.agent import MAX_JSON_BYTES, AgentSpec, validate_agent
from services.registry.domain.errors import InvalidAgent
from services.registry.domain.names import AgentName, parse_parent

slugs = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)


def fields(spec: AgentSpec) -> set[str]:
    with pytest.raises(InvalidAgent) as caught:
        validate_agent(spec)
    return {v.field for v in caught.value.violations}


def test_a_minimal_agent_is_valid() -> None:
    validate_agent(AgentSpec(organization_slug="acme", slug="helper", display_name="Helper"))


def test_every_violation_is_reported_at_once() -> None:
    spec = AgentSpec(
        organization_slug="Acme!",
        slug="-bad",
        display_name=" ",
        description="x" * 4001,
        agent_yaml="just a string",
        config={"blob": "x" * MAX_JSON_BYTES},
    )
    assert fields(spec) == {
        "agent.organization_slug",
        "agent.slug",
        "agent.display_name",
        "agent.description",
        "agent.agent_yaml",
        "agent.config",
    }


@pytest.mark.parametrize("slug", ["", "A", "1abc", "abc-", "a_b", "a" * 64])
def test_bad_slugs(slug: str) -> None:
    assert "agent.slug" in fields(AgentSpec(organization_slug="", slug=slug, display_name="x"))


@given(org=st.one_of(st.just(""), slugs), slug=slugs)
def test_names_round_trip(org: str, slug: str) -> None:
    name = AgentName(org, slug)
    assert AgentName.parse(str(name)) == name


@pytest.mark.parametrize(
    "name", ["", "agents/", "organizations//agents/x", "organizations/a/agents/x/y", "orgs/a/agents/b", "agents/x/"]
)
def test_malformed_names_name_the_field(name: str) -> None:
    parsed = AgentName.parse(name)
    assert isinstance(parsed, FieldViolation)
    assert parsed.field == "name"


def test_parent_parsing() -> None:
    assert parse_parent("") == ""
    assert parse_parent("organizations/acme") == "acme"
    assert isinstance(parse_parent("organizations/"), FieldViolation)


@pytest.mark.parametrize(
    "agent_yaml",
    [
        "a: " + "[" * 600 + "]" * 600,  # PyYAML composes recursively: this used to raise RecursionError (INTERNAL)
        "a: " + "[" * 33 + "]" * 33,  # parses, but nests past the limit free-form documents have
        "a: &loop [*loop]",  # an alias cycle: infinitely deep
    ],
    ids=["past-the-stack", "past-the-limit", "cycle"],
)
def test_agent_yaml_nested_too_deep_is_a_violation_of_the_field(agent_yaml: str) -> None:
    spec = AgentSpec(organization_slug="acme", slug="helper", display_name="Helper", agent_yaml=agent_yaml)
    with pytest.raises(InvalidAgent) as caught:
        validate_agent(spec)
    (violation,) = caught.value.violations
    assert violation.field == "agent.agent_yaml"
    assert "nested too deep" in violation.description


def test_agent_yaml_with_many_aliases_of_a_shallow_node_is_checked_quickly() -> None:
    """A "billion laughs" document is shallow: each shared node is walked once per depth, not once per path."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    spec = AgentSpec(organization_slug="acme", slug="helper", display_name="Helper", agent_yaml="\n".join(lines))
    validate_agent(spec)  # 9^10 paths if walked naively; bounded by nodes times depth here
