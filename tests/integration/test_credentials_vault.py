"""The credential vault through real gRPC, on SQLite and PostgreSQL: write-only values, rotation, crypto-shred,
audited resolution, tampering, key rotation; and no secret in any log line or error text."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
import structlog
from google.protobuf import field_mask_pb2

from agentorch.credentials.v1 import credential_pb2 as cpb
from agentorch.credentials.v1 import credentials_service_pb2 as pb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as pb_grpc
from services.common import db
from services.common.settings import DatabaseSettings
from services.credentials.bootstrap import spec
from services.credentials.config import CredentialsSettings, VaultSettings
from services.credentials.store.tables import credential_versions, credentials
from tests.support.principals import AUTH, as_member, as_platform, as_resolver
from tests.support.rpc import bad_request_fields, channel_as, error_info, error_reason
from tests.support.servers import RunningServer, running
from tests.support.vault import VAULT, random_key, vault_settings

Stub = pb_grpc.CredentialsServiceStub
SECRET = "sk-test-" + uuid.uuid4().hex  # searched for in every log line and error text


def vault(database: DatabaseSettings, settings: VaultSettings = VAULT) -> AbstractAsyncContextManager[RunningServer]:
    return running(spec(CredentialsSettings(database=database, auth=AUTH, vault=settings)))


@pytest.fixture
async def server(database: DatabaseSettings) -> AsyncIterator[RunningServer]:
    async with vault(database) as srv:
        yield srv


@pytest.fixture
def org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def connect(server: RunningServer) -> Callable[[Any], AbstractAsyncContextManager[grpc.aio.Channel]]:
    return lambda metadata: channel_as(server.target, metadata)


@pytest.fixture
async def admin(connect: Any, org: str) -> AsyncIterator[Stub]:
    async with connect(as_member(org, "admin")) as channel:
        yield pb_grpc.CredentialsServiceStub(channel)


@pytest.fixture
async def resolver(connect: Any) -> AsyncIterator[Stub]:
    async with connect(as_resolver()) as channel:
        yield pb_grpc.CredentialsServiceStub(channel)


def name(org: str, alias: str = "openai.api-key") -> str:
    return f"organizations/{org}/credentials/{alias}"


DESTINATION = "agent.example.com:443"


def resolve_request(
    credential: str, run: str = "r", step: str = "s", agent: str | None = None, destination: str = DESTINATION
) -> pb.ResolveCredentialRequest:
    """A resolution as the runs service sends it: by default for the organization's `helper` agent (the agent
    `create` binds credentials to) at agent.example.com:443."""
    org = credential.split("/")[1]
    agent = f"organizations/{org}/agents/helper" if agent is None else agent
    return pb.ResolveCredentialRequest(name=credential, run=run, step=step, agent=agent, destination=destination)


async def create(
    stub: Stub, org: str, alias: str = "openai.api-key", value: str = SECRET, **meta: Any
) -> cpb.Credential:
    """A credential bound to the organization's `helper` agent, unless `meta` says otherwise."""
    fields: dict[str, Any] = {
        "provider": "openai",
        "type": cpb.CREDENTIAL_TYPE_API_KEY,
        "retained_versions": 1,
        "allowed_agents": ["helper"],
    }
    fields.update(meta)
    reply = await stub.CreateCredential(
        pb.CreateCredentialRequest(
            parent=f"organizations/{org}", alias=alias, credential=cpb.Credential(**fields), value=value
        )
    )
    return reply.credential


async def fails(call: Any, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    assert SECRET not in (caught.value.details() or "")
    return caught.value


async def audit(stub: Stub, org: str, **filters: Any) -> list[cpb.AuditEvent]:
    reply = await stub.ListAuditEvents(
        pb.ListAuditEventsRequest(parent=f"organizations/{org}", page_size=500, **filters)
    )
    return list(reply.events)


async def test_metadata_is_visible_and_the_value_never_is(admin: Stub, org: str) -> None:
    created = await create(admin, org, labels={"team": "research"})
    assert created.name == name(org)
    assert (created.version, created.encryption.key_id) == (1, "k1")
    assert created.encryption.algorithm == "AES-256-GCM/A256GCMKW"
    assert created.rotation_age_seconds >= 0
    assert not created.HasField("last_used_time")
    got = (await admin.GetCredential(pb.GetCredentialRequest(name=name(org)))).credential
    listed = (await admin.ListCredentials(pb.ListCredentialsRequest(parent=f"organizations/{org}"))).credentials
    for message in (created, got, *listed):
        assert SECRET not in str(message)
        assert SECRET.encode() not in message.SerializeToString()
    assert [e.action for e in await audit(admin, org)] == [cpb.AUDIT_ACTION_CREATE]


async def test_resolve_returns_the_value_to_the_runs_service_and_audits_it(
    admin: Stub, resolver: Stub, org: str
) -> None:
    await create(admin, org)
    reply = await resolver.ResolveCredential(
        resolve_request(name(org), run=f"organizations/{org}/runs/r1", step="plan")
    )
    assert (reply.value, reply.version, reply.type) == (SECRET, 1, cpb.CREDENTIAL_TYPE_API_KEY)
    got = (await admin.GetCredential(pb.GetCredentialRequest(name=name(org)))).credential
    assert got.HasField("last_used_time")
    (event,) = await audit(admin, org, action=cpb.AUDIT_ACTION_RESOLVE)
    assert (event.outcome, event.actor, event.run, event.step, event.version) == (
        cpb.AUDIT_OUTCOME_ALLOWED,
        "service:runs",
        f"organizations/{org}/runs/r1",
        "plan",
        1,
    )


@pytest.mark.parametrize(
    "who",
    [
        lambda org: as_member(org, "admin"),
        lambda org: as_platform("admin"),
        lambda org: as_resolver("service:gateway"),
    ],
    ids=["org-admin", "platform-admin", "other-service"],
)
async def test_anyone_but_a_resolver_is_denied_and_audited(admin: Stub, connect: Any, org: str, who: Any) -> None:
    await create(admin, org)
    async with connect(who(org)) as channel:
        error = await fails(
            pb_grpc.CredentialsServiceStub(channel).ResolveCredential(resolve_request(name(org), run="r", step="s")),
            grpc.StatusCode.PERMISSION_DENIED,
        )
    assert error_reason(error) == "PERMISSION_DENIED"
    (event,) = await audit(admin, org, action=cpb.AUDIT_ACTION_RESOLVE)
    assert event.outcome == cpb.AUDIT_OUTCOME_DENIED


async def test_resolver_key_ids_pin_who_may_resolve(database: DatabaseSettings, org: str) -> None:
    settings = VAULT.model_copy(update={"resolvers": ["service:runs"], "resolver_key_ids": ["runs-only-key"]})
    async with vault(database, settings) as srv, channel_as(srv.target, as_member(org, "admin")) as channel:
        await create(pb_grpc.CredentialsServiceStub(channel), org)
        async with channel_as(srv.target, as_resolver()) as resolver_channel:  # signed with the shared test key
            await fails(
                pb_grpc.CredentialsServiceStub(resolver_channel).ResolveCredential(
                    resolve_request(name(org), run="r", step="s")
                ),
                grpc.StatusCode.PERMISSION_DENIED,
            )


async def test_rotation_keeps_n_versions_and_shreds_older_ones(
    admin: Stub, resolver: Stub, org: str, database: DatabaseSettings
) -> None:
    created = await create(admin, org, retained_versions=1)
    rotated = (
        await admin.RotateCredentialValue(
            pb.RotateCredentialValueRequest(name=name(org), value=SECRET + "-v2", etag=created.etag)
        )
    ).credential
    assert rotated.version == 2
    await fails(
        admin.RotateCredentialValue(pb.RotateCredentialValueRequest(name=name(org), value="x", etag=created.etag)),
        grpc.StatusCode.ABORTED,
    )
    await admin.RotateCredentialValue(pb.RotateCredentialValueRequest(name=name(org), value=SECRET + "-v3"))
    reply = await resolver.ResolveCredential(resolve_request(name(org), run="r", step="s"))
    assert (reply.value, reply.version) == (SECRET + "-v3", 3)
    assert await stored_versions(database, org) == [2, 3]


async def stored_versions(database: DatabaseSettings, org: str, alias: str = "openai.api-key") -> list[int]:
    engine = db.create_engine(database, "credentials")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(credential_versions.c.version)
                .select_from(credential_versions.join(credentials))
                .where(credentials.c.organization_slug == org, credentials.c.alias == alias)
                .order_by(credential_versions.c.version)
            )
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


async def tamper(database: DatabaseSettings, org: str, **values: Any) -> None:
    engine = db.create_engine(database, "credentials")
    try:
        async with engine.begin() as conn:
            ids = sa.select(credentials.c.id).where(credentials.c.organization_slug == org).scalar_subquery()
            await conn.execute(
                credential_versions.update().where(credential_versions.c.credential_id == ids).values(**values)
            )
    finally:
        await engine.dispose()


async def test_tampered_ciphertext_is_a_clear_audited_error(
    admin: Stub, resolver: Stub, org: str, database: DatabaseSettings
) -> None:
    await create(admin, org)
    await tamper(database, org, ciphertext=b"\x00" * 40)
    error = await fails(
        resolver.ResolveCredential(resolve_request(name(org), run="r", step="s")),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "cannot be decrypted" in (error.details() or "")
    (event,) = await audit(admin, org, action=cpb.AUDIT_ACTION_RESOLVE)
    assert event.outcome == cpb.AUDIT_OUTCOME_FAILED


async def test_a_key_missing_from_the_ring_is_named(database: DatabaseSettings, org: str) -> None:
    async with (
        vault(database, vault_settings(old=random_key())) as srv,
        channel_as(srv.target, as_member(org, "admin")) as channel,
    ):
        await create(pb_grpc.CredentialsServiceStub(channel), org)
    async with (
        vault(database, vault_settings(new=random_key())) as srv,
        channel_as(srv.target, as_resolver()) as channel,
    ):
        error = await fails(
            pb_grpc.CredentialsServiceStub(channel).ResolveCredential(resolve_request(name(org), run="r", step="s")),
            grpc.StatusCode.FAILED_PRECONDITION,
        )
    assert "'old'" in (error.details() or "")


async def test_key_rotation_rewraps_online_and_resumably(database: DatabaseSettings, org: str) -> None:
    old, new = random_key(), random_key()
    async with (
        vault(database, vault_settings(old=old)) as srv,
        channel_as(srv.target, as_member(org, "admin")) as channel,
    ):
        stub = pb_grpc.CredentialsServiceStub(channel)
        for i in range(5):
            await create(stub, org, alias=f"key-{i}", value=f"{SECRET}-{i}")
    async with (
        vault(database, vault_settings(old=old, new=new)) as srv,
        channel_as(srv.target, as_platform("admin")) as channel,
    ):
        platform = pb_grpc.CredentialsServiceStub(channel)
        status = await platform.GetKeyRingStatus(pb.GetKeyRingStatusRequest())
        assert status.active_key_id == "new"
        assert status.versions_by_key_id["old"] >= 5
        first = await platform.RewrapCredentials(pb.RewrapCredentialsRequest(batch_size=2))
        assert (first.rewrapped, first.active_key_id) == (2, "new")
        while (report := await platform.RewrapCredentials(pb.RewrapCredentialsRequest(batch_size=2))).remaining:
            assert report.rewrapped > 0
        again = await platform.RewrapCredentials(pb.RewrapCredentialsRequest())
        assert (again.rewrapped, again.remaining, again.failed) == (0, 0, 0)
    async with vault(database, vault_settings(new=new)) as srv, channel_as(srv.target, as_resolver()) as channel:
        stub = pb_grpc.CredentialsServiceStub(channel)
        for i in range(5):
            reply = await stub.ResolveCredential(resolve_request(name(org, f"key-{i}"), run="r", step="s"))
            assert reply.value == f"{SECRET}-{i}"


async def test_rewrap_and_key_status_need_a_platform_admin(admin: Stub) -> None:
    await fails(admin.RewrapCredentials(pb.RewrapCredentialsRequest()), grpc.StatusCode.PERMISSION_DENIED)
    await fails(admin.GetKeyRingStatus(pb.GetKeyRingStatusRequest()), grpc.StatusCode.PERMISSION_DENIED)


async def test_delete_crypto_shreds_and_keeps_the_audit_trail(
    admin: Stub, resolver: Stub, org: str, database: DatabaseSettings
) -> None:
    created = await create(admin, org)
    await fails(
        admin.DeleteCredential(pb.DeleteCredentialRequest(name=name(org), etag="stale")), grpc.StatusCode.ABORTED
    )
    await admin.DeleteCredential(pb.DeleteCredentialRequest(name=name(org), etag=created.etag))
    assert await stored_versions(database, org) == []
    await fails(admin.GetCredential(pb.GetCredentialRequest(name=name(org))), grpc.StatusCode.NOT_FOUND)
    await fails(
        resolver.ResolveCredential(resolve_request(name(org), run="r", step="s")),
        grpc.StatusCode.NOT_FOUND,
    )
    actions = [(e.action, e.outcome) for e in await audit(admin, org)]
    assert actions == [
        (cpb.AUDIT_ACTION_CREATE, cpb.AUDIT_OUTCOME_ALLOWED),
        (cpb.AUDIT_ACTION_DELETE, cpb.AUDIT_OUTCOME_ALLOWED),
        (cpb.AUDIT_ACTION_RESOLVE, cpb.AUDIT_OUTCOME_FAILED),
    ]
    await create(admin, org, value="a new value")  # the alias is free again


async def test_update_changes_metadata_only(admin: Stub, org: str) -> None:
    created = await create(admin, org)
    updated = (
        await admin.UpdateCredential(
            pb.UpdateCredentialRequest(
                credential=cpb.Credential(name=name(org), description="prod key", provider="ignored"),
                update_mask=field_mask_pb2.FieldMask(paths=["description"]),
                etag=created.etag,
            )
        )
    ).credential
    assert (updated.description, updated.provider, updated.version) == ("prod key", "openai", 1)
    assert updated.etag != created.etag


async def test_tenancy(admin: Stub, connect: Any, org: str) -> None:
    await create(admin, org)
    async with connect(as_member("someone-else", "admin")) as channel:
        stranger = pb_grpc.CredentialsServiceStub(channel)
        await fails(stranger.GetCredential(pb.GetCredentialRequest(name=name(org))), grpc.StatusCode.NOT_FOUND)
        await fails(
            stranger.RotateCredentialValue(pb.RotateCredentialValueRequest(name=name(org), value="x")),
            grpc.StatusCode.NOT_FOUND,
        )
        await fails(
            stranger.ListAuditEvents(pb.ListAuditEventsRequest(parent=f"organizations/{org}")),
            grpc.StatusCode.NOT_FOUND,
        )
    async with connect(as_member(org, "operator")) as channel:
        operator = pb_grpc.CredentialsServiceStub(channel)
        assert (await operator.GetCredential(pb.GetCredentialRequest(name=name(org)))).credential.alias
        await fails(create(operator, org, alias="nope"), grpc.StatusCode.PERMISSION_DENIED)
    assert [
        c.alias
        for c in (await admin.ListCredentials(pb.ListCredentialsRequest(parent=f"organizations/{org}"))).credentials
    ] == ["openai.api-key"]


@pytest.mark.parametrize(
    ("request_fields", "fields"),
    [
        ({"alias": "Bad Alias!", "value": SECRET}, {"alias"}),
        ({"alias": "ok", "value": ""}, {"value"}),
        ({"alias": "ok", "value": "x" * (64 * 1024 + 1)}, {"value"}),
        (
            {
                "alias": "ok",
                "value": SECRET,
                "credential": cpb.Credential(provider="Bad Provider", retained_versions=11),
            },
            {"credential.provider", "credential.retained_versions"},
        ),
        (
            {"alias": "ok", "value": SECRET, "credential": cpb.Credential(labels={"Bad Key": "v"})},
            {"credential.labels['Bad Key']"},
        ),
        ({"parent": "orgs/x", "alias": "ok", "value": SECRET}, {"parent"}),
    ],
)
async def test_invalid_creates_name_the_fields_and_write_nothing(
    admin: Stub, org: str, request_fields: dict[str, Any], fields: set[str]
) -> None:
    request = pb.CreateCredentialRequest(**{"parent": f"organizations/{org}", **request_fields})
    error = await fails(admin.CreateCredential(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert bad_request_fields(error) == fields
    assert (await admin.ListCredentials(pb.ListCredentialsRequest(parent=f"organizations/{org}"))).credentials == []
    assert await audit(admin, org) == []


async def test_duplicate_alias_is_already_exists(admin: Stub, org: str) -> None:
    await create(admin, org)
    await fails(create(admin, org, value="other"), grpc.StatusCode.ALREADY_EXISTS)


@pytest.mark.parametrize(
    ("method", "request_message", "field"),
    [
        ("GetCredential", pb.GetCredentialRequest(name="organizations/x/creds/y"), "name"),
        ("ListCredentials", pb.ListCredentialsRequest(parent="organizations/x", page_size=-1), "page_size"),
        (
            "UpdateCredential",
            pb.UpdateCredentialRequest(credential=cpb.Credential(name="organizations/x/credentials/y")),
            "update_mask",
        ),
        ("RotateCredentialValue", pb.RotateCredentialValueRequest(name="organizations/x/credentials/y"), "value"),
        ("DeleteCredential", pb.DeleteCredentialRequest(name="x"), "name"),
        ("ResolveCredential", pb.ResolveCredentialRequest(name="organizations/x/credentials/y", step="s"), "run"),
        ("ListAuditEvents", pb.ListAuditEventsRequest(parent="x"), "parent"),
        ("ListAuditEvents", pb.ListAuditEventsRequest(parent="organizations/x", action=99), "action"),
        ("RewrapCredentials", pb.RewrapCredentialsRequest(batch_size=5000), "batch_size"),
    ],
)
async def test_malformed_requests_name_the_field(connect: Any, method: str, request_message: Any, field: str) -> None:
    async with connect(as_platform("admin")) as channel:
        stub = pb_grpc.CredentialsServiceStub(channel)
        error = await fails(getattr(stub, method)(request_message), grpc.StatusCode.INVALID_ARGUMENT)
    assert field in bad_request_fields(error)


async def test_audit_pages_and_filters(admin: Stub, resolver: Stub, org: str) -> None:
    await create(admin, org)
    for step in ("a", "b", "c"):
        await resolver.ResolveCredential(resolve_request(name(org), run="r", step=step))
    seen, token = [], ""
    while True:
        page = await admin.ListAuditEvents(
            pb.ListAuditEventsRequest(parent=f"organizations/{org}", page_size=2, page_token=token)
        )
        seen += [e.step for e in page.events]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["", "a", "b", "c"]
    assert [e.step for e in await audit(admin, org, action=cpb.AUDIT_ACTION_RESOLVE)] == ["a", "b", "c"]


async def test_no_secret_reaches_logs_or_errors(
    database: DatabaseSettings, org: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every log event (structlog and stdlib) and every error text of a busy session is scanned for the values."""
    caplog.set_level(logging.DEBUG)
    settings = CredentialsSettings(database=database, auth=AUTH, vault=VAULT)
    errors: list[str] = []
    with structlog.testing.capture_logs() as events:
        async with running(spec(settings), access_log=True) as srv:
            async with channel_as(srv.target, as_member(org, "admin")) as channel:
                admin = pb_grpc.CredentialsServiceStub(channel)
                await create(admin, org)
                await admin.RotateCredentialValue(pb.RotateCredentialValueRequest(name=name(org), value=SECRET + "-2"))
                for bad, code in (
                    (create(admin, org, value=SECRET), grpc.StatusCode.ALREADY_EXISTS),
                    (create(admin, org, alias="Bad!", value=SECRET), grpc.StatusCode.INVALID_ARGUMENT),
                    (create(admin, org, alias="big", value=SECRET * 5000), grpc.StatusCode.INVALID_ARGUMENT),
                    (
                        admin.RotateCredentialValue(
                            pb.RotateCredentialValueRequest(name=name(org, "nope"), value=SECRET)
                        ),
                        grpc.StatusCode.NOT_FOUND,
                    ),
                ):
                    error = await fails(bad, code)
                    errors += [error.details() or "", str(error.trailing_metadata())]
            async with channel_as(srv.target, as_resolver()) as channel:
                await pb_grpc.CredentialsServiceStub(channel).ResolveCredential(
                    resolve_request(name(org), run="r", step="s")
                )
    assert any(e.get("event") == "rpc" for e in events), "expected access log events"
    texts = [str(e) for e in events] + [r.getMessage() + str(r.__dict__) for r in caplog.records] + errors
    for text in texts:
        assert SECRET not in text


# --- bindings: where a credential may be sent ------------------------------------------------------------------------


async def test_a_binding_is_set_by_admins_normalized_and_shown(admin: Stub, org: str) -> None:
    created = await create(
        admin,
        org,
        allowed_agents=["helper", f"organizations/{org}/agents/writer", "agents/shared"],
        allowed_hosts=["api.example.com", "*.corp.example.com:8443", "[fd00:0::0001]:9000", "10.0.0.7"],
    )
    expected_agents = [f"organizations/{org}/agents/helper", f"organizations/{org}/agents/writer", "agents/shared"]
    expected_hosts = ["api.example.com", "*.corp.example.com:8443", "[fd00::1]:9000", "10.0.0.7"]
    got = (await admin.GetCredential(pb.GetCredentialRequest(name=name(org)))).credential
    (listed,) = (await admin.ListCredentials(pb.ListCredentialsRequest(parent=f"organizations/{org}"))).credentials
    for message in (created, got, listed):
        assert (list(message.allowed_agents), list(message.allowed_hosts)) == (expected_agents, expected_hosts)
    (event,) = await audit(admin, org)
    assert event.reason == (
        f"allowed_agents=[{', '.join(expected_agents)}]; allowed_hosts=[{', '.join(expected_hosts)}]"
    )


async def test_update_replaces_or_clears_a_binding(admin: Stub, org: str) -> None:
    created = await create(admin, org, allowed_hosts=["api.example.com"])

    async def update(etag: str, paths: list[str], **fields: Any) -> cpb.Credential:
        request = pb.UpdateCredentialRequest(
            credential=cpb.Credential(name=name(org), **fields),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
            etag=etag,
        )
        return (await admin.UpdateCredential(request)).credential

    moved = await update(created.etag, ["allowed_agents"], allowed_agents=["writer"], allowed_hosts=["ignored.test"])
    assert (list(moved.allowed_agents), list(moved.allowed_hosts)) == (
        [f"organizations/{org}/agents/writer"],
        ["api.example.com"],
    )
    cleared = await update(moved.etag, ["allowed_agents", "allowed_hosts"])
    assert (list(cleared.allowed_agents), list(cleared.allowed_hosts)) == ([], [])
    reasons = [e.reason for e in await audit(admin, org, action=cpb.AUDIT_ACTION_UPDATE)]
    assert reasons == [
        f"changed allowed_agents; now allowed_agents=[organizations/{org}/agents/writer]; "
        "allowed_hosts=[api.example.com]",
        "changed allowed_agents, allowed_hosts; now unbound (no agent call may use it)",
    ]


BAD_BINDINGS = [
    ({"allowed_hosts": ["*"]}, {"credential.allowed_hosts[0]"}),
    ({"allowed_hosts": ["*.com"]}, {"credential.allowed_hosts[0]"}),
    ({"allowed_hosts": ["ok.example.com", "https://x.example.com/"]}, {"credential.allowed_hosts[1]"}),
    ({"allowed_hosts": ["Upper.example.com"]}, {"credential.allowed_hosts[0]"}),
    ({"allowed_hosts": ["bad host"]}, {"credential.allowed_hosts[0]"}),
    ({"allowed_hosts": ["x.example.com:0"]}, {"credential.allowed_hosts[0]"}),
    ({"allowed_hosts": ["x.example.com:65536"]}, {"credential.allowed_hosts[0]"}),
    ({"allowed_hosts": ["[::1"]}, {"credential.allowed_hosts[0]"}),
    ({"allowed_hosts": ["10.0.0.0/8"]}, {"credential.allowed_hosts[0]"}),
    ({"allowed_hosts": ["*.10.0.0.1"]}, {"credential.allowed_hosts[0]"}),
    ({"allowed_hosts": ["a.example.com", "a.example.com"]}, {"credential.allowed_hosts[1]"}),
    ({"allowed_hosts": [f"h{i}.example.com" for i in range(21)]}, {"credential.allowed_hosts"}),
    ({"allowed_agents": ["organizations/someone-else/agents/helper"]}, {"credential.allowed_agents[0]"}),
    ({"allowed_agents": ["Not_A_Slug"]}, {"credential.allowed_agents[0]"}),
    ({"allowed_agents": ["organizations/x/agents"]}, {"credential.allowed_agents[0]"}),
    ({"allowed_agents": ["helper", "organizations/{org}/agents/helper"]}, {"credential.allowed_agents[1]"}),
    ({"allowed_agents": [f"a{i}" for i in range(21)]}, {"credential.allowed_agents"}),
    (
        {"allowed_agents": ["x/y"], "allowed_hosts": ["*"]},
        {"credential.allowed_agents[0]", "credential.allowed_hosts[0]"},
    ),
]


@pytest.mark.parametrize(("binding", "fields"), BAD_BINDINGS)
async def test_an_invalid_binding_on_create_names_the_entry_and_writes_nothing(
    admin: Stub, org: str, binding: dict[str, list[str]], fields: set[str]
) -> None:
    binding = {k: [v.replace("{org}", org) for v in values] for k, values in binding.items()}
    error = await fails(create(admin, org, **{"allowed_agents": [], **binding}), grpc.StatusCode.INVALID_ARGUMENT)
    assert error_reason(error) == "VALIDATION_FAILED"
    assert bad_request_fields(error) == fields
    assert (await admin.ListCredentials(pb.ListCredentialsRequest(parent=f"organizations/{org}"))).credentials == []
    assert await audit(admin, org) == []


@pytest.mark.parametrize(("binding", "fields"), BAD_BINDINGS)
async def test_an_invalid_binding_on_update_names_the_entry_and_changes_nothing(
    admin: Stub, org: str, binding: dict[str, list[str]], fields: set[str]
) -> None:
    created = await create(admin, org)
    binding = {k: [v.replace("{org}", org) for v in values] for k, values in binding.items()}
    request = pb.UpdateCredentialRequest(
        credential=cpb.Credential(name=name(org), **binding),
        update_mask=field_mask_pb2.FieldMask(paths=sorted(binding)),
    )
    error = await fails(admin.UpdateCredential(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert bad_request_fields(error) == fields
    got = (await admin.GetCredential(pb.GetCredentialRequest(name=name(org)))).credential
    assert (got.etag, list(got.allowed_agents), list(got.allowed_hosts)) == (
        created.etag,
        [f"organizations/{org}/agents/helper"],
        [],
    )
    assert [e.action for e in await audit(admin, org)] == [cpb.AUDIT_ACTION_CREATE]


async def test_only_admins_bind(connect: Any, admin: Stub, org: str) -> None:
    created = await create(admin, org)
    async with connect(as_member(org, "operator", "author", "approver")) as channel:
        request = pb.UpdateCredentialRequest(
            credential=cpb.Credential(name=name(org), allowed_agents=["drain"]),
            update_mask=field_mask_pb2.FieldMask(paths=["allowed_agents"]),
        )
        error = await fails(
            pb_grpc.CredentialsServiceStub(channel).UpdateCredential(request), grpc.StatusCode.PERMISSION_DENIED
        )
    assert error_reason(error) == "PERMISSION_DENIED"
    got = (await admin.GetCredential(pb.GetCredentialRequest(name=name(org)))).credential
    assert (got.etag, list(got.allowed_agents)) == (created.etag, [f"organizations/{org}/agents/helper"])


@pytest.mark.parametrize(
    ("binding", "agent", "destination", "why"),
    [
        ({"allowed_agents": []}, "helper", DESTINATION, "it is bound to no agent and no host"),
        ({}, "drain", DESTINATION, "the agent is not in its allowed_agents"),
        ({}, "agents/helper", DESTINATION, "the agent is not in its allowed_agents"),  # platform agent, same slug
        (
            {"allowed_agents": [], "allowed_hosts": ["api.example.com"]},
            "drain",
            "evil.example.net:443",
            "the destination is not in its allowed_hosts",
        ),
        (
            {"allowed_agents": [], "allowed_hosts": ["api.example.com:443"]},
            "helper",
            "api.example.com:8443",
            "the destination is not in its allowed_hosts",
        ),
        (
            {"allowed_agents": [], "allowed_hosts": ["*.example.com"]},
            "helper",
            "example.com:443",
            "the destination is not in its allowed_hosts",
        ),
        (
            {"allowed_hosts": ["api.example.com"]},  # both lists: both must allow
            "helper",
            "127.0.0.1:50063",
            "the destination is not in its allowed_hosts",
        ),
    ],
)
async def test_a_resolution_the_binding_does_not_allow_is_refused_and_audited(
    admin: Stub,
    resolver: Stub,
    org: str,
    binding: dict[str, list[str]],
    agent: str,
    destination: str,
    why: str,
) -> None:
    await create(admin, org, **binding)
    agent_name = agent if agent.startswith("agents/") else f"organizations/{org}/agents/{agent}"
    run = f"organizations/{org}/runs/r-{uuid.uuid4().hex[:8]}"
    error = await fails(
        resolver.ResolveCredential(resolve_request(name(org), run, "write", agent_name, destination)),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    info = error_info(error)
    assert info.reason == "CREDENTIAL_NOT_BOUND"
    assert dict(info.metadata) == {
        "resource": name(org),
        "alias": "openai.api-key",
        "agent": agent_name,
        "destination": destination,
    }
    assert why in (error.details() or "")
    (event,) = await audit(admin, org, action=cpb.AUDIT_ACTION_RESOLVE)
    assert (event.outcome, event.actor, event.run, event.step, event.agent, event.destination, event.version) == (
        cpb.AUDIT_OUTCOME_DENIED,
        "service:runs",
        run,
        "write",
        agent_name,
        destination,
        1,
    )
    assert why in event.reason
    got = (await admin.GetCredential(pb.GetCredentialRequest(name=name(org)))).credential
    assert not got.HasField("last_used_time")


@pytest.mark.parametrize(
    ("binding", "agent", "destination"),
    [
        ({}, "helper", "anything.example.org:1234"),  # agents only: any host
        ({"allowed_agents": ["agents/shared"]}, "agents/shared", DESTINATION),
        ({"allowed_agents": [], "allowed_hosts": ["api.example.com"]}, "other", "api.example.com:443"),
        ({"allowed_agents": [], "allowed_hosts": ["*.example.com:443"]}, "other", "eu.api.example.com:443"),
        ({"allowed_agents": [], "allowed_hosts": ["[::1]:8080"]}, "other", "[::1]:8080"),
        ({"allowed_hosts": ["api.example.com"]}, "helper", "api.example.com:443"),
    ],
)
async def test_a_resolution_the_binding_allows_returns_the_value(
    admin: Stub, resolver: Stub, org: str, binding: dict[str, list[str]], agent: str, destination: str
) -> None:
    await create(admin, org, **binding)
    agent_name = agent if agent.startswith("agents/") else f"organizations/{org}/agents/{agent}"
    reply = await resolver.ResolveCredential(resolve_request(name(org), "r", "s", agent_name, destination))
    assert reply.value == SECRET
    (event,) = await audit(admin, org, action=cpb.AUDIT_ACTION_RESOLVE)
    assert (event.outcome, event.agent, event.destination) == (cpb.AUDIT_OUTCOME_ALLOWED, agent_name, destination)


@pytest.mark.parametrize(
    ("agent", "destination", "fields"),
    [
        ("", DESTINATION, {"agent"}),
        ("helper", DESTINATION, {"agent"}),
        ("organizations/o/agents/helper", "", {"destination"}),
        ("organizations/o/agents/helper", "api.example.com", {"destination"}),  # no port
        ("organizations/o/agents/helper", "*.example.com:443", {"destination"}),
        ("", "not a host:1", {"agent", "destination"}),
    ],
)
async def test_a_resolution_must_name_the_agent_and_the_destination(
    admin: Stub, resolver: Stub, org: str, agent: str, destination: str, fields: set[str]
) -> None:
    await create(admin, org)
    request = pb.ResolveCredentialRequest(name=name(org), run="r", step="s", agent=agent, destination=destination)
    error = await fails(resolver.ResolveCredential(request), grpc.StatusCode.INVALID_ARGUMENT)
    assert bad_request_fields(error) == fields
    assert await audit(admin, org, action=cpb.AUDIT_ACTION_RESOLVE) == []
