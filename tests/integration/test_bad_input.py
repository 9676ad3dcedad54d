"""Bad input is INVALID_ARGUMENT everywhere, never INTERNAL or UNKNOWN, and writes nothing — for every method of every
service, called directly and through the gateway, on SQLite and PostgreSQL.

The requests are generated from the service descriptors (tests.support.badinput), so a new method or field is
fuzzed without a line here:
- an unknown enum number, a Timestamp out of range, free-form JSON one level deeper than allowed, in every field of
  those kinds a request reaches: INVALID_ARGUMENT (VALIDATION_FAILED) naming that field;
- bytes protobuf cannot parse (corrupt, invalid UTF-8, JSON nested past protobuf's own limit): INVALID_ARGUMENT
  (MALFORMED_REQUEST), with the request id in the trailers like any other answer;
- junk that parses (every string oversize, every field with the wrong wire type): some refusal, never
  INTERNAL/UNKNOWN/OK.
After each sweep, the organization has nothing: no agent, orchestration, plan, run, credential, audit event or API
key, and the platform-wide agents are unchanged. One platform per database for the module.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from agentorch.credentials.v1 import credential_pb2
from agentorch.credentials.v1 import credentials_service_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as cpb_grpc
from agentorch.gateway.v1 import gateway_service_pb2 as gpb
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gpb_grpc
from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.registry.v1 import registry_service_pb2_grpc as rpb_grpc
from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from gateway.bootstrap import DESCRIPTOR as GATEWAY
from gateway.bootstrap import REEXPOSED
from gateway.edge.authz_matrix import BLOCKED, MATRIX
from services.common.context import REQUEST_ID_HEADER
from services.common.jsondepth import MAX_JSON_DEPTH
from services.common.timestamps import MAX_SECONDS, MIN_SECONDS
from tests.support.badinput import (
    PROTOBUF_TOO_DEEP,
    REFUSALS,
    WRONG_WIRE_TYPES,
    Case,
    call_raw,
    described,
    loose_cases,
    methods,
    path_of,
    typed_cases,
    unparsable_cases,
)
from tests.support.gateway import Platform, bearer, mint, module_platform, new_org, organization_contents
from tests.support.http import client
from tests.support.http import error_reason as http_reason
from tests.support.http import violations as http_violations
from tests.support.principals import as_member
from tests.support.registry import agent_message
from tests.support.rpc import bad_request_fields, channel_as, error_reason

pytestmark = pytest.mark.asyncio(loop_scope="module")

Metadata = Sequence[tuple[str, str | bytes]]


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def plat(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    async with module_platform(request.param, tmp_path_factory, lambda: request.getfixturevalue("postgres_url")) as p:
        yield p


@dataclass(frozen=True)
class Target:
    """Where the calls go: a service directly (with a signed principal), or the gateway (with a bearer token)."""

    name: str
    channel: grpc.aio.Channel
    metadata: Metadata
    methods: list[MethodDescriptor]


def targets(plat: Platform, org: str) -> list[Target]:
    member = as_member(org, "admin")
    servers = {"registry": plat.registry, "runs": plat.runs, "credentials": plat.credentials}
    direct = [Target(name, servers[name].channel, member, methods(d)) for name, d in REEXPOSED.items()]
    relayed = [m for m in methods(*REEXPOSED.values(), GATEWAY) if path_of(m) not in BLOCKED]
    return [*direct, Target("gateway", plat.gateway.channel, bearer(mint(org, "admin")), relayed)]


def denied_at_the_gateway(target: Target, method: MethodDescriptor) -> bool:
    """Platform-only methods: an organization's admin is stopped by the role matrix before the request is read."""
    return target.name == "gateway" and MATRIX[path_of(method)].platform


async def sweep(
    plat: Platform, org: str, cases: Callable[[Descriptor, str], list[Case]], verdict: Callable[..., str | None]
) -> int:
    """Send every case of every method to every target; assert no verdict complains and nothing was written."""
    before = await organization_contents(plat, org)
    assert not any(names for kind, names in before.items() if kind != "platform agents")  # a new organization
    problems: list[str] = []
    sent = 0
    for target in targets(plat, org):
        for method in target.methods:
            for case in cases(method.input_type, org):
                error = await call_raw(target.channel, method, case.data, target.metadata)
                sent += 1
                complaint = verdict(target, method, case, error)
                if complaint:
                    problems.append(f"{target.name} {path_of(method)} [{case.label}]: {complaint}")
    assert not problems, f"{len(problems)} of {sent}:\n" + "\n".join(problems)
    assert await organization_contents(plat, org) == before
    return sent


async def test_unknown_enums_out_of_range_timestamps_and_deep_json_name_the_field(plat: Platform) -> None:
    def verdict(target: Target, method: MethodDescriptor, case: Case, error: grpc.aio.AioRpcError | None) -> str | None:
        if error is None or error.code() != grpc.StatusCode.INVALID_ARGUMENT:
            return described(error)
        if error_reason(error) != "VALIDATION_FAILED":
            return f"reason {error_reason(error)}"
        fields = bad_request_fields(error)
        if not any(f == case.field or f.startswith((f"{case.field}.", f"{case.field}[")) for f in fields):
            return f"fields {sorted(fields)}, expected {case.field}"
        return None

    sent = await sweep(plat, new_org(), lambda d, org: typed_cases(d, {"parent": f"organizations/{org}"}), verdict)
    assert sent > 200  # every slot of every method, on four targets


async def test_requests_protobuf_cannot_parse_are_malformed_not_unknown(plat: Platform) -> None:
    def verdict(target: Target, method: MethodDescriptor, case: Case, error: grpc.aio.AioRpcError | None) -> str | None:
        expected = grpc.StatusCode.PERMISSION_DENIED if denied_at_the_gateway(target, method) else None
        if expected is not None:
            return None if error is not None and error.code() == expected else described(error)
        if error is None or error.code() != grpc.StatusCode.INVALID_ARGUMENT:
            return described(error)
        if error_reason(error) != "MALFORMED_REQUEST":
            return f"reason {error_reason(error)}"
        if not dict(error.trailing_metadata() or ()).get(REQUEST_ID_HEADER):
            return "no request id in the trailers"
        return None

    await sweep(plat, new_org(), lambda d, org: unparsable_cases(d), verdict)


async def test_junk_that_parses_is_refused_never_internal(plat: Platform) -> None:
    def verdict(target: Target, method: MethodDescriptor, case: Case, error: grpc.aio.AioRpcError | None) -> str | None:
        if error is None and case.label == WRONG_WIRE_TYPES and method.name.startswith(("Get", "List")):
            # Every field unknown: protobuf skips them, so this is the empty request, which a read may answer
            # (ListAgents without a parent lists the platform-wide agents). A write never accepts it (snapshot).
            return None
        return None if error is not None and error.code() in REFUSALS else described(error)

    await sweep(plat, new_org(), lambda d, org: loose_cases(d), verdict)


# --- the instances the issue names, one by one ---------------------------------------------------------------------


def nested(levels: int) -> dict[str, Any]:
    """A JSON object `levels` objects deep (`{"k": {"k": ... {"leaf": true}}}`)."""
    document: dict[str, Any] = {"leaf": True}
    for _ in range(levels - 1):
        document = {"k": document}
    return document


def deep_struct(levels: int) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(nested(levels))
    return message


async def test_out_of_range_timestamps_are_invalid_argument_not_internal(plat: Platform) -> None:
    org = new_org()
    far = timestamp_pb2.Timestamp(seconds=10**12)
    async with channel_as(plat.runs.target, as_member(org, "viewer")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await pb_grpc.RunsServiceStub(channel).ListRuns(
                pb.ListRunsRequest(parent=f"organizations/{org}", end_time=far)
            )
    assert (caught.value.code(), bad_request_fields(caught.value)) == (grpc.StatusCode.INVALID_ARGUMENT, {"end_time"})
    async with channel_as(plat.credentials.target, as_member(org, "admin")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await cpb_grpc.CredentialsServiceStub(channel).ListAuditEvents(
                cpb.ListAuditEventsRequest(parent=f"organizations/{org}", start_time=timestamp_pb2.Timestamp(nanos=-1))
            )
    assert (caught.value.code(), bad_request_fields(caught.value)) == (grpc.StatusCode.INVALID_ARGUMENT, {"start_time"})
    gateway = gpb_grpc.GatewayServiceStub(plat.gateway.channel)
    token = bearer(mint(org, "admin"))
    key = gpb.ApiKey(display_name="ci", roles=["viewer"], expire_time=far)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.CreateApiKey(gpb.CreateApiKeyRequest(parent=f"organizations/{org}", api_key=key), metadata=token)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (error_reason(caught.value), bad_request_fields(caught.value)) == (
        "VALIDATION_FAILED",
        {"api_key.expire_time"},
    )
    listed = await gateway.ListApiKeys(gpb.ListApiKeysRequest(parent=f"organizations/{org}"), metadata=token)
    assert list(listed.api_keys) == []


async def test_the_timestamp_range_is_inclusive(plat: Platform) -> None:
    org = new_org()
    first = timestamp_pb2.Timestamp(seconds=MIN_SECONDS)
    last = timestamp_pb2.Timestamp(seconds=MAX_SECONDS, nanos=999_999_999)
    async with channel_as(plat.runs.target, as_member(org, "viewer")) as channel:
        listed = await pb_grpc.RunsServiceStub(channel).ListRuns(
            pb.ListRunsRequest(parent=f"organizations/{org}", start_time=first, end_time=last)
        )
    assert list(listed.runs) == []
    async with channel_as(plat.credentials.target, as_member(org, "admin")) as channel:
        audit = await cpb_grpc.CredentialsServiceStub(channel).ListAuditEvents(
            cpb.ListAuditEventsRequest(parent=f"organizations/{org}", start_time=first, end_time=last)
        )
    assert list(audit.events) == []


async def test_an_unknown_credential_type_is_refused_and_not_stored(plat: Platform) -> None:
    org = new_org()
    name = f"organizations/{org}/credentials/api.key"
    async with channel_as(plat.credentials.target, as_member(org, "admin")) as channel:
        vault = cpb_grpc.CredentialsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await vault.CreateCredential(
                cpb.CreateCredentialRequest(
                    parent=f"organizations/{org}",
                    alias="api.key",
                    value="s3cret",
                    credential=credential_pb2.Credential(type=99),  # type: ignore[arg-type]
                )
            )
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (error_reason(caught.value), bad_request_fields(caught.value)) == (
            "VALIDATION_FAILED",
            {"credential.type"},
        )
        assert (
            list((await vault.ListCredentials(cpb.ListCredentialsRequest(parent=f"organizations/{org}"))).credentials)
            == []
        )
        created = await vault.CreateCredential(
            cpb.CreateCredentialRequest(
                parent=f"organizations/{org}",
                alias="api.key",
                value="s3cret",
                credential=credential_pb2.Credential(type=credential_pb2.CREDENTIAL_TYPE_API_KEY),
            )
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await vault.UpdateCredential(
                cpb.UpdateCredentialRequest(
                    credential=credential_pb2.Credential(name=name, type=42),  # type: ignore[arg-type]
                    update_mask={"paths": ["type"]},
                )
            )
        assert (caught.value.code(), bad_request_fields(caught.value)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            {"credential.type"},
        )
        got = await vault.GetCredential(cpb.GetCredentialRequest(name=name))
    assert (got.credential.type, got.credential.etag) == (
        credential_pb2.CREDENTIAL_TYPE_API_KEY,
        created.credential.etag,
    )


async def test_json_past_protobufs_depth_is_malformed_at_the_services_and_the_gateway(plat: Platform) -> None:
    org = new_org()
    request = rpb.CreateOrchestrationRequest(parent=f"organizations/{org}/agents/helper", orchestration_id="deep")
    request.version.definition.update(nested(50))  # CopyFrom would re-parse it, which is what cannot be done
    invoke = gpb.InvokeRequest(mode=gpb.AGENT_MODE_ORCHESTRATE_CREATE, parent=f"organizations/{org}", agent_slug="a")
    invoke.definition.update(nested(50))
    calls = [
        (
            plat.registry.target,
            as_member(org, "admin"),
            f"/{REEXPOSED['registry'].full_name}/CreateOrchestration",
            request,
        ),
        (
            plat.gateway.target,
            bearer(mint(org, "admin")),
            f"/{REEXPOSED['registry'].full_name}/CreateOrchestration",
            request,
        ),
        (plat.gateway.target, bearer(mint(org, "admin")), f"/{GATEWAY.full_name}/Invoke", invoke),
    ]
    for target, metadata, path, message in calls:
        async with channel_as(target, tuple(metadata)) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await channel.unary_unary(path)(message.SerializeToString(), timeout=10)
        assert (caught.value.code(), error_reason(caught.value)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "MALFORMED_REQUEST",
        ), path
        assert "cannot be parsed" in (caught.value.details() or "")
    assert (await organization_contents(plat, org))["orchestrations"] == []


async def test_json_a_level_too_deep_is_refused_at_its_path_and_the_limit_itself_is_fine(plat: Platform) -> None:
    org = new_org()
    async with channel_as(plat.registry.target, as_member(org, "author")) as channel:
        registry = rpb_grpc.RegistryServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await registry.CreateAgent(
                rpb.CreateAgentRequest(agent=agent_message(org, "deep", context=deep_struct(MAX_JSON_DEPTH + 1)))
            )
        (field,) = bad_request_fields(caught.value)
        assert field == "agent.context" + ".k" * MAX_JSON_DEPTH
        assert (await organization_contents(plat, org))["agents"] == []
        created = await registry.CreateAgent(
            rpb.CreateAgentRequest(agent=agent_message(org, "deep", context=deep_struct(MAX_JSON_DEPTH)))
        )
    assert created.agent.name == f"organizations/{org}/agents/deep"


async def test_deep_json_over_http_is_a_400_not_a_500(plat: Platform) -> None:
    org = new_org()
    async with client(plat.gateway, mint(org, "author")) as http:
        url = f"/v1/organizations/{org}/agents"
        too_deep = await http.post(url, json={"slug": "a", "displayName": "A", "config": nested(MAX_JSON_DEPTH + 1)})
        past_protobuf = await http.post(
            url, json={"slug": "b", "displayName": "B", "config": nested(PROTOBUF_TOO_DEEP)}
        )
    assert (too_deep.status_code, http_reason(too_deep.json())) == (400, "VALIDATION_FAILED")
    assert http_violations(too_deep.json()) == {"agent.config" + ".k" * MAX_JSON_DEPTH}
    assert (past_protobuf.status_code, http_reason(past_protobuf.json())) == (400, "VALIDATION_FAILED")
    assert http_violations(past_protobuf.json()) == {"agent.config" + ".k" * MAX_JSON_DEPTH}
    assert (await organization_contents(plat, org))["agents"] == []


async def test_health_and_reflection_refuse_garbage_as_malformed(plat: Platform) -> None:
    for server in (plat.registry, plat.runs, plat.credentials, plat.gateway):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await server.channel.unary_unary("/grpc.health.v1.Health/Check")(b"\xff\xff\xff", timeout=5)
        assert (caught.value.code(), error_reason(caught.value)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "MALFORMED_REQUEST",
        )
        reflection = server.channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
        call = reflection(iter([b"\xff\xff\xff"]), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
        assert (caught.value.code(), error_reason(caught.value)) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "MALFORMED_REQUEST",
        )
        healthy = health_pb2.HealthCheckResponse.FromString(
            await server.channel.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)
        )
        assert healthy.status == health_pb2.HealthCheckResponse.SERVING
        listed = server.channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")(
            iter([reflection_pb2.ServerReflectionRequest(list_services="").SerializeToString()]), timeout=5
        )
        async for reply in listed:
            assert reflection_pb2.ServerReflectionResponse.FromString(reply).list_services_response.service
            break
        listed.cancel()
