"""Version labels where a run's version is taken: CreateRun pins `…/versions/1.0.0` as well as `…/versions/3`, and
ListRuns filtered by a pinned version (by number or by label) returns the runs of that version. Real gRPC (registry
and runs) on SQLite and PostgreSQL, and the gateway's HTTP front."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as reg
from agentorch.runs.v1 import runs_service_pb2 as pb
from services.common.settings import DatabaseSettings
from tests.support import gateway as gateway_support
from tests.support.http import client, error_reason, save_orchestration, violations
from tests.support.registry import agent_message, new_org, struct
from tests.support.rpc import bad_request_fields
from tests.support.rpc import error_reason as rpc_reason
from tests.support.runs import Platform, definition, platform, step


def flow(message: str) -> dict[str, Any]:
    return definition([step("say", message=message)])


@pytest.fixture
async def p(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database, new_org()) as running:
        await running.registry_stub.CreateAgent(reg.CreateAgentRequest(agent=agent_message(running.org)))
        yield running


async def labelled_orchestration(p: Platform) -> str:
    """`flow` with version 1 (label 1.0.0, says "one") and version 2 (label 2.0.0, the current one, says "two")."""
    parent = f"organizations/{p.org}/agents/helper"
    await p.registry_stub.CreateOrchestration(
        reg.CreateOrchestrationRequest(
            parent=parent,
            orchestration_id="flow",
            orchestration=opb.Orchestration(display_name="Flow"),
            version=opb.OrchestrationVersion(definition=struct(flow("one")), label="1.0.0"),
        )
    )
    name = f"{parent}/orchestrations/flow"
    await p.registry_stub.CreateOrchestrationVersion(
        reg.CreateOrchestrationVersionRequest(
            parent=name, version=opb.OrchestrationVersion(definition=struct(flow("two")), label="2.0.0")
        )
    )
    return name


async def launch(p: Platform, orchestration: str, **fields: Any) -> Any:
    request = pb.CreateRunRequest(parent=f"organizations/{p.org}", orchestration=orchestration, **fields)
    return (await p.runs_stub.CreateRun(request)).run


async def listed(p: Platform, orchestration: str) -> list[str]:
    request = pb.ListRunsRequest(parent=f"organizations/{p.org}", orchestration=orchestration, page_size=500)
    return sorted(r.name for r in (await p.runs_stub.ListRuns(request)).runs)


async def test_create_run_pins_a_version_named_by_label_or_by_number(p: Platform) -> None:
    name = await labelled_orchestration(p)
    by_label = await launch(p, f"{name}/versions/1.0.0")
    assert by_label.origin == f"{name}/versions/1"
    assert by_label.definition["phases"][0]["steps"][0]["message"] == "one"
    by_number = await launch(p, f"{name}/versions/1")
    assert by_number.origin == f"{name}/versions/1"
    newest = await launch(p, f"{name}/versions/2.0.0")
    assert newest.origin == f"{name}/versions/2"
    assert (await launch(p, name)).origin == f"{name}/versions/2"  # the current version
    assert (await launch(p, name, orchestration_version=1)).origin == f"{name}/versions/1"


@pytest.mark.parametrize(
    ("suffix", "fields", "code", "field"),
    [
        ("/versions/9.9.9", {}, grpc.StatusCode.NOT_FOUND, None),
        ("/versions/0", {}, grpc.StatusCode.INVALID_ARGUMENT, "orchestration"),
        ("/versions/not a label", {}, grpc.StatusCode.INVALID_ARGUMENT, "orchestration"),
        ("/versions/1.0.0", {"orchestration_version": 2}, grpc.StatusCode.INVALID_ARGUMENT, "orchestration_version"),
    ],
)
async def test_a_bad_version_is_refused_and_launches_nothing(
    p: Platform, suffix: str, fields: dict[str, Any], code: grpc.StatusCode, field: str | None
) -> None:
    name = await labelled_orchestration(p)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await launch(p, name + suffix, **fields)
    assert caught.value.code() == code, caught.value.details()
    if field is not None:
        assert rpc_reason(caught.value) == "VALIDATION_FAILED"
        assert bad_request_fields(caught.value) == {field}
    assert await listed(p, "") == []


async def test_list_runs_filters_by_a_pinned_version_named_by_number_or_label(p: Platform) -> None:
    name = await labelled_orchestration(p)
    ones = sorted([(await launch(p, f"{name}/versions/1.0.0")).name, (await launch(p, f"{name}/versions/1")).name])
    two = (await launch(p, name)).name
    assert await listed(p, f"{name}/versions/1") == ones
    assert await listed(p, f"{name}/versions/1.0.0") == ones
    assert await listed(p, f"{name}/versions/2.0.0") == [two]
    assert await listed(p, f"{name}/versions/2") == [two]
    assert await listed(p, name) == sorted([*ones, two])  # the orchestration: every version
    assert await listed(p, f"{name}/versions/3") == []  # no such version yet: no runs of it
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await listed(p, f"{name}/versions/3.0.0")  # a label must name a version to be looked up
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await listed(p, f"{name}/versions/-1")
    assert bad_request_fields(caught.value) == {"orchestration"}


async def test_over_http_labels_pin_and_filter_runs(database: DatabaseSettings) -> None:
    org = new_org()
    async with gateway_support.platform(database) as gw, client(gw.gateway, gateway_support.mint(org, "admin")) as http:
        name = (await save_orchestration(http, org, flow("one"), label="1.0.0"))["orchestration"]["name"]
        saved = await http.post(f"/v1/{name}/versions", json={"version": {"definition": flow("two")}})
        assert saved.json()["version"]["versionNumber"] == "2"
        launched = await http.post(f"/v1/organizations/{org}/runs", json={"orchestration": f"{name}/versions/1.0.0"})
        assert launched.status_code == 200, launched.text
        assert launched.json()["run"]["origin"] == f"{name}/versions/1"
        await http.post(f"/v1/organizations/{org}/runs", json={"orchestration": name})
        runs = await http.get(f"/v1/organizations/{org}/runs", params={"orchestration": f"{name}/versions/1.0.0"})
        assert [r["name"] for r in runs.json()["runs"]] == [launched.json()["run"]["name"]]
        refused = await http.post(f"/v1/organizations/{org}/runs", json={"orchestration": f"{name}/versions/0"})
        assert (refused.status_code, error_reason(refused.json())) == (400, "VALIDATION_FAILED")
        assert violations(refused.json()) == {"orchestration"}
