"""The shared resource-name grammar: slugs, patterns, and the one convention of its parsers (raise InvalidName)."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common import names
from services.common.errors import FieldViolation, ValidationFailed
from services.common.names import InvalidName, NamePattern

slugs = st.from_regex(r"[a-z]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True)
run_ids = st.uuids().map(str)


@pytest.mark.parametrize("value", ["a", "acme", "a-1", "x" * 63, "a" + "-b" * 31])
def test_slugs(value: str) -> None:
    assert names.is_slug(value)
    assert names.slug_violation("slug", value) is None


@pytest.mark.parametrize("value", ["A", "1a", "a-", "-a", "a_b", "a.b", "x" * 64, "ä", "a b"])
def test_not_slugs(value: str) -> None:
    assert not names.is_slug(value)
    violation = names.slug_violation("agent.slug", value)
    assert violation is not None
    assert (violation.field, violation.description) == ("agent.slug", names.SLUG_RULE)


def test_an_empty_slug_is_required_unless_optional() -> None:
    assert names.slug_violation("slug", "") == FieldViolation("slug", "is required")
    assert names.slug_violation("slug", "", required=False) is None


@given(org=slugs, run=run_ids)
def test_patterns_round_trip(org: str, run: str) -> None:
    name = names.RUN.format(org=org, run_id=run)
    assert name == f"organizations/{org}/runs/{run}"
    assert names.RUN.parse(name) == {"org": org, "run_id": run}


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        (names.ORGANIZATION, "organizations/acme"),
        (names.AGENT, "organizations/acme/agents/helper"),
        (names.PLATFORM_AGENT, "agents/helper"),
        (names.ORCHESTRATION, "organizations/acme/agents/helper/orchestrations/brief"),
        (names.ORCHESTRATION_VERSION, "organizations/acme/agents/helper/orchestrations/brief/versions/3"),
        (names.ORCHESTRATION_VERSION, "organizations/acme/agents/helper/orchestrations/brief/versions/1.2.0"),
        (names.PLAN, f"organizations/acme/plans/{uuid.uuid4()}"),
        (names.CHECKPOINT, f"organizations/acme/runs/{uuid.uuid4()}/checkpoints/{uuid.uuid4()}"),
        (names.CREDENTIAL, "organizations/acme/credentials/openai.api-key"),
        (names.API_KEY, "organizations/acme/apiKeys/0123456789abcdef"),
    ],
)
def test_each_resource_pattern_matches_its_names(pattern: NamePattern, name: str) -> None:
    found = pattern.match(name)
    assert found is not None
    assert pattern.format(**found) == name


@pytest.mark.parametrize(
    ("pattern", "name"),
    [
        (names.ORGANIZATION, "organizations/Acme"),
        (names.ORGANIZATION, "organizations/acme/"),
        (names.AGENT, "organizations/acme/agents/"),
        (names.AGENT, "agents/helper"),
        (names.ORCHESTRATION, "organizations/acme/agents/helper/orchestrations/brief/versions/3"),
        (names.ORCHESTRATION_VERSION, "organizations/acme/agents/helper/orchestrations/brief/versions/.x"),
        (names.PLAN, "organizations/acme/plans/not-a-uuid"),
        (names.RUN, f"organizations/acme/runs/{str(uuid.uuid4()).upper()}"),  # canonical (lowercase) ids only
        (names.CREDENTIAL, "organizations/acme/credentials/Upper"),
        (names.API_KEY, "organizations/acme/apiKeys/short"),
    ],
)
def test_each_resource_pattern_refuses_what_is_not_its_name(pattern: NamePattern, name: str) -> None:
    assert pattern.match(name) is None
    with pytest.raises(InvalidName) as caught:
        pattern.parse(name, "target")
    assert caught.value.violation.field == "target"
    assert caught.value.violation.description == f"must look like {pattern.template}"


def test_parse_org_raises_a_validation_error_naming_the_field() -> None:
    assert names.parse_org("organizations/acme") == "acme"
    for bad in ("", "organizations/", "organizations/acme/agents/x", "orgs/acme"):
        with pytest.raises(ValidationFailed) as caught:
            names.parse_org(bad, "request.parent")
        assert caught.value.reason == "VALIDATION_FAILED"
        assert [v.field for v in caught.value.violations] == ["request.parent"]


def test_parse_org_allows_the_platform_scope_only_when_asked() -> None:
    assert names.parse_org("", allow_platform=True) == ""
    assert names.parse_org("organizations/acme", allow_platform=True) == "acme"
    with pytest.raises(InvalidName) as caught:
        names.parse_org("organizations/", allow_platform=True)
    assert caught.value.violation.description == "must be empty or look like organizations/{org}"


def test_parse_org_agent_and_the_wildcard() -> None:
    assert names.parse_org_agent("organizations/acme/agents/helper") == ("acme", "helper")
    assert names.parse_org_agent("organizations/acme/agents/-", allow_any=True) == ("acme", names.ANY)
    with pytest.raises(InvalidName):
        names.parse_org_agent("organizations/acme/agents/-")
    with pytest.raises(InvalidName):
        names.parse_org_agent("organizations/ACME/agents/-", allow_any=True)


def test_agent_of_reads_organization_and_platform_agents() -> None:
    assert names.agent_of("organizations/acme/agents/helper") == ("acme", "helper")
    assert names.agent_of("agents/helper") == ("", "helper")
    assert names.agent_of("helper") is None
    assert names.agent_of("organizations/acme/agents/helper/x") is None


def test_a_pattern_refuses_grammar_for_variables_it_does_not_have() -> None:
    with pytest.raises(ValueError, match="no variable run"):
        NamePattern("organizations/{org}", run=names.UUID)
