"""The role matrix, end to end: for every method the gateway serves, a caller with the role just below the
required one is stopped at the gateway (PERMISSION_DENIED), and a caller with the role gets through to the
backend (whose own answer may be a success, NOT_FOUND or a validation error, but never a denial).

Parametrized over gateway.edge.authz_matrix.MATRIX, so a method added there is covered here without a line of test.
One platform per database for the whole module: each case is a single call.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from pydantic import SecretStr

from gateway.bootstrap import DESCRIPTOR as GATEWAY
from gateway.bootstrap import REEXPOSED
from gateway.edge.authz_matrix import MATRIX, Rule
from services.common import authz
from services.common.settings import DatabaseSettings
from tests.support.gateway import JWT, Platform, bearer, drop_schemas, mint, new_org, platform
from tests.support.rpc import error_info

pytestmark = pytest.mark.asyncio(loop_scope="module")

PLATFORM_ORG = "platform-ops"
METHODS: dict[str, MethodDescriptor] = {
    f"/{service.full_name}/{method.name}": method
    for service in (*REEXPOSED.values(), GATEWAY)
    for method in service.methods
}
RUN_ID, PLAN_ID, CHECKPOINT_ID = (str(uuid.uuid4()) for _ in range(3))


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
async def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("matrix") / "test.db"
        database = DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{path}"))
    else:
        url = request.getfixturevalue("postgres_url")
        database = DatabaseSettings(url=SecretStr(url), schema_name=f"t_{uuid.uuid4().hex[:16]}")
    jwt = JWT.model_copy(update={"platform_organization": PLATFORM_ORG})
    try:
        async with platform(database, jwt=jwt) as running:
            yield running
    finally:
        if database.is_postgresql:
            await drop_schemas(database.url.get_secret_value(), database.schema_name)


def request_for(path: str, org: str) -> bytes:
    """A well-formed request in the caller's organization, naming resources that do not exist."""
    method = METHODS[path]
    agent = f"organizations/{org}/agents/ghost"
    orchestration = f"{agent}/orchestrations/none"
    run = f"organizations/{org}/runs/{RUN_ID}"
    credential = f"organizations/{org}/credentials/ghost"
    service, verb = method.containing_service.name, method.name
    if service == "RegistryService":
        name = f"organizations/{org}/plans/{PLAN_ID}" if "Plan" in verb else orchestration
        name = agent if verb in ("GetAgent", "DeleteAgent") else name
        name = f"{orchestration}/versions/1" if verb == "GetOrchestrationVersion" else name
    elif service == "RunsService":
        name = f"{run}/checkpoints/{CHECKPOINT_ID}" if "Checkpoint" in verb else run
    elif service == "CredentialsService":
        name = credential
    else:
        name = f"organizations/{org}/apiKeys/0123456789abcdef"
    values: dict[str, Any] = {}
    for field in method.input_type.fields:
        if field.name == "parent":
            values["parent"] = orchestration if "OrchestrationVersion" in verb else f"organizations/{org}"
        elif field.name == "name":
            values["name"] = name
    overrides: dict[str, dict[str, Any]] = {
        "CreateOrchestration": {"parent": agent},
        "ListOrchestrations": {"parent": agent},
        "PromoteOrchestrationVersion": {"name": f"{orchestration}/versions/1", "targetParent": agent},
        "DiffOrchestrationVersions": {"fromVersion": 1, "toVersion": 2},
        "SetOrchestrationStatus": {"status": "ORCHESTRATION_STATUS_ACTIVE"},
        "TagOrchestration": {"tags": ["x"]},
        "UntagOrchestration": {"tags": ["x"]},
        "CreateRun": {"orchestration": orchestration},
        "DecideCheckpoint": {"decision": "DECISION_APPROVE"},
        "RotateCredentialValue": {"value": "s3cret"},
        "UpdateAgent": {"agent": {"name": agent}, "updateMask": "displayName"},
        "UpdateOrchestration": {"orchestration": {"name": orchestration}, "updateMask": "displayName"},
        "UpdateCredential": {"credential": {"name": credential}, "updateMask": "description"},
    }
    values.update(overrides.get(verb, {}))
    message = message_factory.GetMessageClass(method.input_type)()
    json_format.ParseDict(values, message)
    return bytes(message.SerializeToString())


async def call(gateway: Platform, path: str, token: str | None, org: str) -> grpc.aio.AioRpcError | None:
    """Call `path` through the gateway with raw bytes; the error, or None on success (first stream item)."""
    metadata = bearer(token) if token else ()
    method = METHODS[path]
    try:
        if method.server_streaming:
            stream = gateway.gateway.channel.unary_stream(path)(request_for(path, org), metadata=metadata, timeout=10)
            try:
                await asyncio.wait_for(stream.read(), 5)
            finally:
                stream.cancel()
        else:
            await gateway.gateway.channel.unary_unary(path)(request_for(path, org), metadata=metadata, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc
    return None


def below(rule: Rule) -> list[tuple[str, tuple[str, ...]]]:
    """(organization, roles) of callers just short of `rule`."""
    assert rule.role is not None
    rank = authz.ROLES.index(rule.role)
    lower = (authz.ROLES[rank - 1],) if rank else ()
    if rule.platform:
        return [("member", (rule.role,)), (PLATFORM_ORG, lower)]
    return [("member", lower)]


def holder(rule: Rule) -> tuple[str, tuple[str, ...]]:
    return (PLATFORM_ORG if rule.platform else "member", (rule.role,) if rule.role else ())


# Methods open to every (authenticated) caller have no role below them; they are covered by the allow test.
GATED = sorted(path for path, rule in MATRIX.items() if not rule.public and rule.role is not None)


@pytest.mark.parametrize("path", GATED)
async def test_the_role_just_below_is_denied_at_the_gateway(gateway: Platform, path: str) -> None:
    rule = MATRIX[path]
    for org_kind, roles in below(rule):
        org = new_org() if org_kind == "member" else org_kind
        error = await call(gateway, path, mint(org, *roles), org)
        assert error is not None, f"{path} let {roles} of {org_kind} through"
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, (path, roles, error.code(), error.details())
        info = error_info(error)
        assert info.reason == "PERMISSION_DENIED"
        assert info.metadata["enforced_by"] == "gateway"
        assert info.metadata["required_role"] == rule.role


@pytest.mark.parametrize("path", sorted(MATRIX))
async def test_the_required_role_gets_through_to_the_backend(gateway: Platform, path: str) -> None:
    rule = MATRIX[path]
    org_kind, roles = holder(rule)
    org = new_org() if org_kind == "member" else org_kind
    token = None if rule.public else mint(org, *roles)
    error = await call(gateway, path, token, new_org() if rule.platform else org)
    if error is not None:
        assert error.code() not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED), (
            path,
            roles,
            error.code(),
            error.details(),
        )
        assert error.code() != grpc.StatusCode.UNIMPLEMENTED, path


async def test_calls_without_credentials_are_unauthenticated_everywhere_but_public_methods(gateway: Platform) -> None:
    org = new_org()
    for path, rule in sorted(MATRIX.items()):
        error = await call(gateway, path, None, org)
        if rule.public:
            assert error is None, path
            continue
        assert error is not None, path
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, path
        assert error_info(error).reason == "UNAUTHENTICATED"


# --- requests that need more than their method's role ---------------------------------------------------------------


def escalating_request(path: str, org: str) -> bytes:
    """A request of `path` that triggers its escalation (gateway.edge.escalations)."""
    if path.endswith("/CreateRun"):
        step = {"id": "s", "kind": "agent", "agent": "ghost", "prompt": "hi", "credentials": ["vendor.key"]}
        definition = {"schema_version": 1, "phases": [{"id": "p", "steps": [step]}]}
        values: dict[str, Any] = {"parent": f"organizations/{org}", "adHoc": {"definition": definition}}
    else:
        agent = {"organizationSlug": org, "slug": "ghost", "displayName": "Ghost"}
        values = {"agent": {**agent, "config": {"protocol": "a2a", "endpoint": "https://agents.example.com/a2a"}}}
    message = message_factory.GetMessageClass(METHODS[path].input_type)()
    json_format.ParseDict(values, message)
    return bytes(message.SerializeToString())


# Every escalated method of the matrix (tests/unit/test_gateway_authz_matrix.py pins which they are).
ESCALATED = sorted(path for path, rule in MATRIX.items() if rule.escalation is not None)


@pytest.mark.parametrize("path", ESCALATED)
async def test_a_request_that_escalates_needs_the_higher_role_at_the_gateway(gateway: Platform, path: str) -> None:
    rule = MATRIX[path]
    escalation, role = rule.escalation, rule.role
    assert escalation is not None
    assert role is not None
    org = new_org()
    call = gateway.gateway.channel.unary_unary(path)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(escalating_request(path, org), metadata=bearer(mint(org, role)), timeout=10)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = error_info(caught.value)
    assert dict(info.metadata) == {"required_role": escalation.role, "enforced_by": "gateway"}
    higher: grpc.aio.AioRpcError | None = None
    try:
        await call(escalating_request(path, org), metadata=bearer(mint(org, escalation.role)), timeout=10)
    except grpc.aio.AioRpcError as exc:  # the backend may refuse it for its own reasons, never for the role
        higher = exc
    if higher is not None:
        assert higher.code() not in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
