"""Agent validation and resource names (pure domain)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.errors import FieldViolation
from services.common.netpolicy import EgressPolicy
from services.registry.domain.agent import (
    MAX_JSON_BYTES,
    AgentSpec,
    endpoint_violations,
    moves_destination,
    validate_agent,
)
from services.registry.domain.errors import InvalidAgent
from services.registry.domain.names import AgentName

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


# --- the destination: where calls (and bound credentials) go -------------------------------------------------------


def spec(**fields: Any) -> AgentSpec:
    return AgentSpec(organization_slug="acme", slug="helper", display_name="Helper", **fields)


def test_the_destination_is_the_card_and_every_config_key_but_the_tuning_ones() -> None:
    tuned = spec(config={"model": "m", "system_prompt": "be brief", "timeout_seconds": 5, "max_attempts": 2})
    assert not moves_destination(None, tuned)  # an author may create this
    assert not moves_destination(tuned, spec(config={"model": "other", "parameters": {"temperature": 0}}))
    endpoint = spec(config={"protocol": "openai", "endpoint": "https://api.example.com/v1", "model": "m"})
    assert moves_destination(None, endpoint)
    assert moves_destination(None, spec(agent_card={"name": "x"}))
    assert moves_destination(None, spec(config={"some_future_key": 1}))  # unknown keys count as destination
    for changed in (
        {"endpoint": "https://evil.example.net/v1"},
        {"credential_header": "X-Key"},
        {"credential_headers": {"a": "X-A"}},
        {"credential_scheme": ""},
        {"headers": {"X-Forwarded-Host": "evil"}},
        {"protocol": "a2a"},
    ):
        assert moves_destination(endpoint, spec(config={**endpoint.config, **changed})), changed
    assert moves_destination(endpoint, spec(config={**endpoint.config}, agent_card={"url": "https://x.example"}))
    assert not moves_destination(endpoint, spec(config={**endpoint.config, "model": "n"}, description="new"))


def test_every_endpoint_of_an_agent_is_checked_with_its_field_path() -> None:
    bad = spec(
        config={"protocol": "a2a", "endpoint": "http://127.0.0.1:50063"},
        agent_card={
            "url": "http://169.254.169.254/",
            "supportedInterfaces": [{"url": "https://ok.example.com/"}, {"url": "gopher://x/"}],
            "supported_interfaces": "not a list",
        },
    )
    violations = {v.field: v.description for v in endpoint_violations(bad, EgressPolicy())}
    assert set(violations) == {
        "agent.config.endpoint",
        "agent.agent_card.url",
        "agent.agent_card.supportedInterfaces[1].url",
        "agent.agent_card.supported_interfaces",
    }
    assert "loopback" in violations["agent.config.endpoint"]
    assert "cloud metadata" in violations["agent.agent_card.url"]
    assert endpoint_violations(spec(config={"endpoint": 42}), EgressPolicy())[0].description == (
        "must be a URL (a string)"
    )
    assert endpoint_violations(bad, EgressPolicy.from_entries(["127.0.0.0/8", "169.254.0.0/16"])) != []
    validate_agent(bad)  # without a policy (an update that keeps the destination) endpoints are not checked
    with pytest.raises(InvalidAgent):
        validate_agent(bad, EgressPolicy())
