"""The HTTP route table: every served RPC has a route, no two routes collide, templates parse and bind real
fields, and the documentation is generated from the table."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor

from gateway.edge.authz_matrix import BLOCKED
from gateway.http.routes import (
    METHODS,
    ROUTES,
    PathTemplate,
    Route,
    Router,
    render_doc,
    resolve_field,
    served_methods,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"


def test_every_served_rpc_has_a_route_and_nothing_else_does() -> None:
    routed = {r.rpc for r in ROUTES}
    missing = sorted(served_methods() - routed)
    assert missing == [], f"add a route to gateway/http/routes.py for: {missing}"
    assert routed <= served_methods()
    assert not routed & {b.lstrip("/") for b in BLOCKED}  # ResolveCredential stays internal


def test_no_two_routes_of_one_method_can_match_the_same_path() -> None:
    for a, b in itertools.combinations(ROUTES, 2):
        if a.method == b.method:
            assert not a.template.overlaps(b.template), (a.template.text, b.template.text)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.template.text}")
def test_a_route_binds_real_fields_of_its_request(route: Route) -> None:
    assert route.method in METHODS
    for variable in route.template.variables:
        fields = resolve_field(route.input, variable)
        assert fields is not None, variable
        assert fields[-1].type == FieldDescriptor.TYPE_STRING, variable
        assert not fields[-1].is_repeated, variable
    if route.body not in ("", "*"):
        body = route.input.fields_by_name[route.body]
        assert body.message_type is not None
    if route.streaming:
        assert route.method == "GET"
        assert route.body == ""
        assert route.template.verb == "watch"
    if route.resume:
        assert route.streaming
        assert route.input.fields_by_name[route.resume].type == FieldDescriptor.TYPE_INT64
    if route.method in ("GET", "DELETE"):
        assert route.body == ""
    if route.method == "PATCH":
        assert "update_mask" in route.query_fields()


def test_templates_parse_into_segments_variables_and_verbs() -> None:
    template = PathTemplate.parse("/v1/{name=organizations/*/runs/*}:cancel")
    assert template.verb == "cancel"
    assert template.variables == ("name",)
    assert [s.literal for s in template.segments] == ["v1", "organizations", None, "runs", None]
    assert template.match(["v1", "organizations", "acme", "runs", "r1"]) == {"name": "organizations/acme/runs/r1"}
    assert template.match(["v1", "organizations", "acme", "plans", "r1"]) is None
    nested = PathTemplate.parse("/v1/organizations/{agent.organization_slug}/agents")
    assert nested.match(["v1", "organizations", "acme", "agents"]) == {"agent.organization_slug": "acme"}
    assert PathTemplate.parse("/v1/{parent=organizations/*}/runs:watch").verb == "watch"
    assert PathTemplate.parse("/v1/status").verb == ""


@pytest.mark.parametrize(
    "bad",
    ["v1/status", "/v1/{name=organizations/**}", "/v1/{Name=x/*}", "/v1/{name=x/*", "/v1/a b", "/v1/x:bad-verb"],
)
def test_bad_templates_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        PathTemplate.parse(bad)


def test_matching_prefers_custom_verbs_and_decodes_segments() -> None:
    router = Router()
    watch = router.match("GET", "/v1/organizations/acme/runs/r1:watch")
    assert watch is not None
    assert (watch.route.rpc, watch.bindings) == (
        "agentorch.runs.v1.RunsService/WatchRun",
        {"name": "organizations/acme/runs/r1"},
    )
    get = router.match("GET", "/v1/organizations/acme/runs/r1")
    assert get is not None
    assert get.route.rpc == "agentorch.runs.v1.RunsService/GetRun"
    encoded = router.match("GET", "/v1/organizations/acme/credentials/openai%2Eapi-key")
    assert encoded is not None
    assert encoded.bindings == {"name": "organizations/acme/credentials/openai.api-key"}
    assert router.match("GET", "/v1/organizations//runs") is None
    assert router.match("PUT", "/v1/organizations/acme/runs") is None
    assert router.allowed("/v1/organizations/acme/runs") == ["GET", "POST"]
    assert router.allowed("/v1/nowhere") == []
    platform = router.match("GET", "/v1/agents/shared")
    assert platform is not None
    assert platform.bindings == {"name": "agents/shared"}


def test_the_documentation_is_generated_from_the_table() -> None:
    text = DOC.read_text()
    assert render_doc(text) == text, "run: python -m gateway.http.routes --write docs/http-api.md"
    for route in ROUTES:
        assert f"`{route.template.text}`" in text
