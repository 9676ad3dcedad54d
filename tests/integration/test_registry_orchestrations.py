"""Orchestrations and their immutable versions through real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from services.common.settings import DatabaseSettings
from services.registry.bootstrap import spec
from services.registry.config import RegistrySettings
from tests.support.principals import AUTH, as_platform
from tests.support.registry import (
    TEMPLATES,
    create_agent,
    create_orchestration,
    definition,
    edited,
    new_org,
    version_message,
)
from tests.support.rpc import bad_request_fields, channel_as, error_reason
from tests.support.servers import running

Stub = pb_grpc.RegistryServiceStub


@pytest.fixture
async def stub(database: DatabaseSettings) -> AsyncIterator[Stub]:
    async with (
        running(spec(RegistrySettings(database=database, auth=AUTH))) as server,
        channel_as(server.target, as_platform()) as channel,
    ):
        yield pb_grpc.RegistryServiceStub(channel)


@pytest.fixture
async def org(stub: Stub) -> str:
    org = new_org()
    await create_agent(stub, org, "helper")
    await create_agent(stub, org, "writer")
    return org


def name(org: str, slug: str = "research", agent: str = "helper") -> str:
    return f"organizations/{org}/agents/{agent}/orchestrations/{slug}"


async def expect_error(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return caught.value


async def listed(stub: Stub, org: str, **fields: object) -> list[str]:
    request = pb.ListOrchestrationsRequest(parent=f"organizations/{org}/agents/-", page_size=500, **fields)  # type: ignore[arg-type]
    return [o.slug for o in (await stub.ListOrchestrations(request)).orchestrations]


async def test_create_returns_the_first_version_and_get_reads_it_back(stub: Stub, org: str) -> None:
    created = await create_orchestration(stub, org, tags=("finance", "weekly"), label="1.0.0")
    o, v = created.orchestration, created.version
    assert o.name == name(org)
    assert (o.current_version, o.status) == (1, opb.ORCHESTRATION_STATUS_ACTIVE)
    assert list(o.tags) == ["finance", "weekly"]
    assert (v.version_number, v.label, v.name) == (1, "1.0.0", f"{name(org)}/versions/1")
    assert len(v.digest) == 64
    assert [p.name for p in v.parameters] == ["topic", "depth"]
    assert v.parameters[1].default_value.number_value == 2
    fetched = await stub.GetOrchestration(pb.GetOrchestrationRequest(name=o.name))
    assert fetched.orchestration == o
    assert fetched.version == v
    assert fetched.version.definition["phases"][0]["steps"][0]["prompt"] == "Plan research on {{ params.topic }}"


async def test_invalid_create_reports_every_problem_and_writes_nothing(stub: Stub, org: str) -> None:
    broken = definition()
    broken["phases"][0]["steps"][1]["depends_on"] = ["nope"]
    request = pb.CreateOrchestrationRequest(
        parent=f"organizations/{org}/agents/helper",
        orchestration_id="Bad Slug",
        orchestration=opb.Orchestration(display_name="", tags=["Not A Tag"]),
        version=version_message(broken, label="bad label!"),
    )
    error = await expect_error(stub.CreateOrchestration(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert error_reason(error) == "VALIDATION_FAILED"
    fields = bad_request_fields(error)
    assert {
        "orchestration_id",
        "orchestration.display_name",
        "orchestration.tags[0]",
        "version.label",
        "version.definition.phases[0].steps[1].depends_on[0]",
    } <= fields
    assert await listed(stub, org) == []


async def test_create_under_unknown_agent_is_not_found(stub: Stub, org: str) -> None:
    error = await expect_error(create_orchestration(stub, org, agent="ghost"), grpc.StatusCode.NOT_FOUND)
    assert error_reason(error) == "NOT_FOUND"
    assert await listed(stub, org) == []


async def test_platform_wide_agent_can_own_org_orchestrations(stub: Stub) -> None:
    org = new_org()
    shared = f"shared-{org}"
    await create_agent(stub, "", shared)
    created = await create_orchestration(stub, org, agent=shared)
    assert created.orchestration.agent_slug == shared


async def test_duplicate_slug_is_already_exists(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org)
    error = await expect_error(create_orchestration(stub, org), grpc.StatusCode.ALREADY_EXISTS)
    assert error_reason(error) == "ALREADY_EXISTS"


async def test_new_versions_are_immutable_and_pinned_by_number_or_label(stub: Stub, org: str) -> None:
    first = await create_orchestration(stub, org, label="1.0.0")
    changed = definition()
    changed["phases"][0]["steps"][0]["prompt"] = "Plan deep research on {{ params.topic }}"
    second = await stub.CreateOrchestrationVersion(
        pb.CreateOrchestrationVersionRequest(
            parent=name(org),
            version=version_message(changed, label="1.1.0", change_note="deeper"),
            etag=first.orchestration.etag,
        )
    )
    assert second.orchestration.current_version == 2
    assert second.version.author == "service:tests"
    assert second.version.digest != first.version.digest
    v1 = await stub.GetOrchestration(pb.GetOrchestrationRequest(name=name(org), version_number=1))
    assert v1.version == first.version
    by_label = await stub.GetOrchestrationVersion(pb.GetOrchestrationVersionRequest(name=f"{name(org)}/versions/1.1.0"))
    assert by_label.version == second.version
    await expect_error(
        stub.GetOrchestrationVersion(pb.GetOrchestrationVersionRequest(name=f"{name(org)}/versions/9")),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_stale_etag_is_aborted_and_saves_nothing(stub: Stub, org: str) -> None:
    first = await create_orchestration(stub, org)
    etag = first.orchestration.etag
    await stub.CreateOrchestrationVersion(
        pb.CreateOrchestrationVersionRequest(parent=name(org), version=edited(1), etag=etag)
    )
    request = pb.CreateOrchestrationVersionRequest(parent=name(org), version=edited(2), etag=etag)
    error = await expect_error(stub.CreateOrchestrationVersion(request), grpc.StatusCode.ABORTED)
    assert error_reason(error) == "ETAG_MISMATCH"
    got = await stub.GetOrchestration(pb.GetOrchestrationRequest(name=name(org)))
    assert got.orchestration.current_version == 2


async def test_concurrent_saves_with_one_etag_let_exactly_one_win(stub: Stub, org: str) -> None:
    first = await create_orchestration(stub, org)
    requests = [
        pb.CreateOrchestrationVersionRequest(parent=name(org), version=edited(i), etag=first.orchestration.etag)
        for i in range(6)
    ]
    results = await asyncio.gather(*(stub.CreateOrchestrationVersion(r) for r in requests), return_exceptions=True)
    winners = [r for r in results if isinstance(r, pb.CreateOrchestrationVersionResponse)]
    losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(winners) == 1
    assert {e.code() for e in losers} == {grpc.StatusCode.ABORTED}
    versions = await stub.ListOrchestrationVersions(pb.ListOrchestrationVersionsRequest(parent=name(org)))
    assert [v.version_number for v in versions.versions] == [2, 1]


async def test_concurrent_saves_without_etag_get_distinct_numbers(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org)
    requests = [pb.CreateOrchestrationVersionRequest(parent=name(org), version=edited(i)) for i in range(5)]
    await asyncio.gather(*(stub.CreateOrchestrationVersion(r) for r in requests))
    versions = await stub.ListOrchestrationVersions(pb.ListOrchestrationVersionsRequest(parent=name(org)))
    assert [v.version_number for v in versions.versions] == [6, 5, 4, 3, 2, 1]


async def test_duplicate_label_is_already_exists(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org, label="1.0.0")
    request = pb.CreateOrchestrationVersionRequest(parent=name(org), version=edited(1, label="1.0.0"))
    await expect_error(stub.CreateOrchestrationVersion(request), grpc.StatusCode.ALREADY_EXISTS)
    got = await stub.GetOrchestration(pb.GetOrchestrationRequest(name=name(org)))
    assert got.orchestration.current_version == 1


async def test_invalid_new_version_is_rejected_and_saves_nothing(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org)
    bad = definition(phases=[])
    error = await expect_error(
        stub.CreateOrchestrationVersion(
            pb.CreateOrchestrationVersionRequest(parent=name(org), version=version_message(bad))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert any(f.startswith("version.definition.phases") for f in bad_request_fields(error))
    got = await stub.GetOrchestration(pb.GetOrchestrationRequest(name=name(org)))
    assert got.orchestration.current_version == 1


async def test_versions_page_newest_first(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org)
    for revision in range(4):
        await stub.CreateOrchestrationVersion(
            pb.CreateOrchestrationVersionRequest(parent=name(org), version=edited(revision))
        )
    seen, token = [], ""
    while True:
        page = await stub.ListOrchestrationVersions(
            pb.ListOrchestrationVersionsRequest(parent=name(org), page_size=2, page_token=token)
        )
        seen += [v.version_number for v in page.versions]
        token = page.next_page_token
        if not token:
            break
    assert seen == [5, 4, 3, 2, 1]


async def test_diff_reports_json_pointer_changes(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org)
    changed = definition()
    changed["phases"][0]["steps"][0]["prompt"] = "Plan {{ params.topic }} quickly"
    changed["phases"][1]["steps"].append({"id": "wait", "kind": "noop"})
    await stub.CreateOrchestrationVersion(
        pb.CreateOrchestrationVersionRequest(parent=name(org), version=version_message(changed, label="2.0.0"))
    )
    diff = await stub.DiffOrchestrationVersions(pb.DiffOrchestrationVersionsRequest(name=name(org), from_version=1))
    changes = {(c.path, c.kind) for c in diff.changes}
    assert changes == {
        ("/definition/phases/0/steps/0/prompt", opb.CHANGE_KIND_MODIFIED),
        ("/definition/phases/1/steps/1", opb.CHANGE_KIND_ADDED),
        ("/label", opb.CHANGE_KIND_MODIFIED),
    }
    prompt = next(c for c in diff.changes if c.path.endswith("/prompt"))
    assert prompt.old_value.string_value == "Plan research on {{ params.topic }}"
    same = await stub.DiffOrchestrationVersions(
        pb.DiffOrchestrationVersionsRequest(name=name(org), from_version=2, to_version=2)
    )
    assert list(same.changes) == []


async def test_list_filters_and_pages_in_stable_order(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org, "alpha", tags=("finance",), description="Quarterly REPORT")
    await create_orchestration(stub, org, "beta", tags=("finance", "weekly"))
    await create_orchestration(stub, org, "gamma", agent="writer", tags=("weekly",))
    await stub.SetOrchestrationStatus(
        pb.SetOrchestrationStatusRequest(name=name(org, "beta"), status=opb.ORCHESTRATION_STATUS_INACTIVE)
    )
    assert await listed(stub, org) == ["alpha", "beta", "gamma"]
    assert await listed(stub, org, filter='tag = "finance"') == ["alpha", "beta"]
    assert await listed(stub, org, filter='tag = "finance" AND tag = "weekly"') == ["beta"]
    assert await listed(stub, org, filter="status = ACTIVE") == ["alpha", "gamma"]
    assert await listed(stub, org, filter='agent = "writer"') == ["gamma"]
    assert await listed(stub, org, filter='text : "report"') == ["alpha"]
    one_agent = await stub.ListOrchestrations(pb.ListOrchestrationsRequest(parent=f"organizations/{org}/agents/helper"))
    assert [o.slug for o in one_agent.orchestrations] == ["alpha", "beta"]
    seen, token = [], ""
    while True:
        page = await stub.ListOrchestrations(
            pb.ListOrchestrationsRequest(parent=f"organizations/{org}/agents/-", page_size=1, page_token=token)
        )
        seen += [o.slug for o in page.orchestrations]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize(
    "bad_filter", ["status = DONE", "colour = red", "tag =", 'text : "open', "status = ACTIVE OR tag = x"]
)
async def test_bad_filter_names_the_field(stub: Stub, org: str, bad_filter: str) -> None:
    error = await expect_error(
        stub.ListOrchestrations(
            pb.ListOrchestrationsRequest(parent=f"organizations/{org}/agents/-", filter=bad_filter)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_request_fields(error) == {"filter"}


async def test_page_token_is_bound_to_its_filter(stub: Stub, org: str) -> None:
    for slug in ("a1", "a2"):
        await create_orchestration(stub, org, slug)
    first = await stub.ListOrchestrations(
        pb.ListOrchestrationsRequest(parent=f"organizations/{org}/agents/-", page_size=1)
    )
    error = await expect_error(
        stub.ListOrchestrations(
            pb.ListOrchestrationsRequest(
                parent=f"organizations/{org}/agents/-", page_token=first.next_page_token, filter="status = ACTIVE"
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert error_reason(error) == "INVALID_PAGE_TOKEN"


async def test_update_changes_only_masked_fields(stub: Stub, org: str) -> None:
    created = await create_orchestration(stub, org, description="old")
    updated = await stub.UpdateOrchestration(
        pb.UpdateOrchestrationRequest(
            orchestration=opb.Orchestration(name=name(org), display_name="Renamed", description="ignored"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
            etag=created.orchestration.etag,
        )
    )
    assert (updated.orchestration.display_name, updated.orchestration.description) == ("Renamed", "old")
    assert updated.orchestration.etag != created.orchestration.etag
    assert updated.orchestration.current_version == 1


@pytest.mark.parametrize(
    ("paths", "display_name", "field"),
    [([], "x", "update_mask"), (["status"], "x", "update_mask"), (["display_name"], "", "orchestration.display_name")],
)
async def test_bad_updates_are_rejected_and_change_nothing(
    stub: Stub, org: str, paths: list[str], display_name: str, field: str
) -> None:
    created = await create_orchestration(stub, org)
    error = await expect_error(
        stub.UpdateOrchestration(
            pb.UpdateOrchestrationRequest(
                orchestration=opb.Orchestration(name=name(org), display_name=display_name),
                update_mask=field_mask_pb2.FieldMask(paths=paths),
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_request_fields(error) == {field}
    got = await stub.GetOrchestration(pb.GetOrchestrationRequest(name=name(org)))
    assert got.orchestration == created.orchestration


async def test_status_tags_and_their_validation(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org, tags=("a",))
    tagged = await stub.TagOrchestration(pb.TagOrchestrationRequest(name=name(org), tags=["b", "a"]))
    assert list(tagged.orchestration.tags) == ["a", "b"]
    again = await stub.TagOrchestration(pb.TagOrchestrationRequest(name=name(org), tags=["b"]))
    assert again.orchestration.etag == tagged.orchestration.etag
    untagged = await stub.UntagOrchestration(pb.UntagOrchestrationRequest(name=name(org), tags=["a", "zzz"]))
    assert list(untagged.orchestration.tags) == ["b"]
    for request, field in (
        (pb.TagOrchestrationRequest(name=name(org), tags=["BAD TAG"]), "tags[0]"),
        (pb.TagOrchestrationRequest(name=name(org)), "tags"),
    ):
        error = await expect_error(stub.TagOrchestration(request), grpc.StatusCode.INVALID_ARGUMENT)
        assert bad_request_fields(error) == {field}
    archived = await stub.SetOrchestrationStatus(
        pb.SetOrchestrationStatusRequest(name=name(org), status=opb.ORCHESTRATION_STATUS_ARCHIVED)
    )
    assert archived.orchestration.status == opb.ORCHESTRATION_STATUS_ARCHIVED
    error = await expect_error(
        stub.SetOrchestrationStatus(pb.SetOrchestrationStatusRequest(name=name(org))), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert bad_request_fields(error) == {"status"}


async def test_promote_copies_a_version_with_lineage(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org, label="1.0.0")
    source = f"{name(org)}/versions/1.0.0"
    promoted = await stub.PromoteOrchestrationVersion(
        pb.PromoteOrchestrationVersionRequest(
            name=source, target_parent=f"organizations/{org}/agents/writer", label="1.0.0"
        )
    )
    assert promoted.orchestration.name == name(org, agent="writer")
    assert promoted.version.copied_from == f"{name(org)}/versions/1"
    assert promoted.version.version_number == 1
    again = await stub.PromoteOrchestrationVersion(
        pb.PromoteOrchestrationVersionRequest(
            name=source, target_parent=f"organizations/{org}/agents/writer", label="1.0.1"
        )
    )
    assert (again.version.version_number, again.version.label) == (2, "1.0.1")  # a new label: a new version
    assert again.version.digest == promoted.version.digest
    error = await expect_error(
        stub.PromoteOrchestrationVersion(
            pb.PromoteOrchestrationVersionRequest(name=source, target_parent=f"organizations/{org}/agents/helper")
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_request_fields(error) == {"target_parent"}


async def test_delete_is_soft_and_blocks_changes(stub: Stub, org: str) -> None:
    await create_orchestration(stub, org)
    error = await expect_error(
        stub.DeleteAgent(pb.DeleteAgentRequest(name=f"organizations/{org}/agents/helper")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error_reason(error) == "FAILED_PRECONDITION"
    deleted = await stub.DeleteOrchestration(pb.DeleteOrchestrationRequest(name=name(org)))
    assert deleted.orchestration.delete_time.seconds > 0
    assert deleted.orchestration.status == opb.ORCHESTRATION_STATUS_ARCHIVED
    still = await stub.GetOrchestration(pb.GetOrchestrationRequest(name=name(org)))
    assert still.version.version_number == 1
    assert await listed(stub, org) == []
    assert await listed(stub, org, show_deleted=True) == ["research"]
    await expect_error(
        stub.CreateOrchestrationVersion(
            pb.CreateOrchestrationVersionRequest(parent=name(org), version=version_message())
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await expect_error(create_orchestration(stub, org), grpc.StatusCode.ALREADY_EXISTS)
    await stub.DeleteAgent(pb.DeleteAgentRequest(name=f"organizations/{org}/agents/helper"))


@pytest.mark.parametrize(
    ("method", "request_message", "field"),
    [
        ("GetOrchestration", pb.GetOrchestrationRequest(name="organizations/x/orchestrations/y"), "name"),
        (
            "GetOrchestration",
            pb.GetOrchestrationRequest(name="organizations/a/agents/b/orchestrations/c", version_number=-1),
            "version_number",
        ),
        ("ListOrchestrations", pb.ListOrchestrationsRequest(parent="organizations/a"), "parent"),
        ("ListOrchestrationVersions", pb.ListOrchestrationVersionsRequest(parent="x"), "parent"),
        (
            "GetOrchestrationVersion",
            pb.GetOrchestrationVersionRequest(name="organizations/a/agents/b/orchestrations/c/versions/0"),
            "name",
        ),
        (
            "DiffOrchestrationVersions",
            pb.DiffOrchestrationVersionsRequest(name="organizations/a/agents/b/orchestrations/c"),
            "from_version",
        ),
        ("DeleteOrchestration", pb.DeleteOrchestrationRequest(name="bad"), "name"),
        (
            "PromoteOrchestrationVersion",
            pb.PromoteOrchestrationVersionRequest(
                name="organizations/a/agents/b/orchestrations/c/versions/1", target_parent="nowhere"
            ),
            "target_parent",
        ),
    ],
)
async def test_malformed_requests_name_the_field(stub: Stub, method: str, request_message: object, field: str) -> None:
    error = await expect_error(getattr(stub, method)(request_message), grpc.StatusCode.INVALID_ARGUMENT)
    assert field in bad_request_fields(error)


async def test_validate_definition_saves_nothing_and_lists_violations(stub: Stub, org: str) -> None:
    reply = await stub.ValidateOrchestrationDefinition(
        pb.ValidateOrchestrationDefinitionRequest(
            parent=f"organizations/{org}", definition=version_message().definition, prompt_templates=TEMPLATES
        )
    )
    assert [p.name for p in reply.parameters] == ["topic", "depth"]
    assert list(reply.referenced_agents) == ["helper"]
    broken = definition()
    broken["phases"][0]["steps"][0]["kind"] = "teleport"
    error = await expect_error(
        stub.ValidateOrchestrationDefinition(
            pb.ValidateOrchestrationDefinitionRequest(
                parent=f"organizations/{org}", definition=version_message(broken).definition
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "definition.phases[0].steps[0].kind" in bad_request_fields(error)
    error = await expect_error(
        stub.ValidateOrchestrationDefinition(pb.ValidateOrchestrationDefinitionRequest(parent="nope")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert bad_request_fields(error) == {"parent"}
    assert await listed(stub, org) == []
