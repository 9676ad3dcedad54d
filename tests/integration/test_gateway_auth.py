"""Authentication at the gateway: bad JWTs, forged principals, API keys from creation to revocation, rate limits.

Every rejected write is followed by a check, with valid credentials, that nothing was written.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import timestamp_pb2

from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from gateway.config import RateLimitSettings
from gateway.store.tables import api_keys
from services.common import db
from services.common.context import Principal
from services.common.principals import METADATA_KEY
from services.common.settings import DatabaseSettings
from tests.support.gateway import SECRET, Platform, mint, new_org, platform, sibling, unsigned
from tests.support.principals import KEY_RING
from tests.support.registry import agent_message
from tests.support.rpc import bad_request_fields, channel_as, error_info, retry_delay

HOUR = 3600


@pytest.fixture
async def gateway(database: DatabaseSettings) -> AsyncIterator[Platform]:
    async with platform(database) as running:
        yield running


async def expect(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, (caught.value.code(), caught.value.details())
    return caught.value


async def registry(gateway: Platform, token: str, *extra: tuple[str, str | bytes]) -> pb_grpc.RegistryServiceStub:
    return pb_grpc.RegistryServiceStub(await gateway.channel(token, *extra))


async def agents_of(gateway: Platform, org: str) -> list[str]:
    stub = await registry(gateway, mint(org, "viewer"))
    reply = await stub.ListAgents(pb.ListAgentsRequest(parent=f"organizations/{org}"))
    return [a.name for a in reply.agents]


def forged_tokens(org: str) -> dict[str, str]:
    now = int(time.time())
    other_secret = SECRET[::-1]
    return {
        "wrong secret": mint(org, "admin", secret=other_secret),
        "expired beyond leeway": mint(org, "admin", exp=now - 120, iat=now - HOUR),
        "not yet valid beyond leeway": mint(org, "admin", nbf=now + 120),
        "wrong issuer": mint(org, "admin", issuer="https://evil.example/"),
        "wrong audience": mint(org, "admin", audience="someone-else"),
        "alg none": unsigned(
            {"sub": "mallory", "org": org, "roles": ["admin"], "iss": "x", "aud": "y", "exp": now + 60}
        ),
        "HS512 (not accepted)": mint(org, "admin", algorithm="HS512"),
        "no expiry": mint(org, "admin", exp=None),
        "no organization": mint(None, "admin"),
        "organization is not a slug": mint("Not An Org", "admin"),
        "malformed": "not-a-jwt",
        "three garbage parts": "aaa.bbb.ccc",
        "api key lookalike": "ak_0123456789abcdef_" + "x" * 43,
        "malformed api key": "ak_nope",
    }


@pytest.mark.parametrize(
    "kind",
    list(forged_tokens("x")),
)
async def test_bad_tokens_are_unauthenticated_and_write_nothing(gateway: Platform, kind: str) -> None:
    org = new_org()
    token = forged_tokens(org)[kind]
    stub = await registry(gateway, token)
    error = await expect(
        stub.CreateAgent(pb.CreateAgentRequest(agent=agent_message(org))), grpc.StatusCode.UNAUTHENTICATED
    )
    assert error_info(error).reason == "UNAUTHENTICATED"
    assert token not in (error.details() or "")
    assert await agents_of(gateway, org) == []


async def test_malformed_authorization_headers(gateway: Platform) -> None:
    org = new_org()
    good = mint(org, "admin")
    for metadata in (
        (("authorization", f"Basic {good}"),),
        (("authorization", "Bearer "),),
        (("authorization", good),),
        (("authorization", f"Bearer {good}"), ("authorization", f"Bearer {good}")),
        (("authorization", "Bearer " + "a" * 7_000),),
    ):
        async with channel_as(gateway.gateway.target, metadata) as channel:
            stub = pb_grpc.RegistryServiceStub(channel)
            error = await expect(
                stub.CreateAgent(pb.CreateAgentRequest(agent=agent_message(org))), grpc.StatusCode.UNAUTHENTICATED
            )
            assert good not in (error.details() or "")
    assert await agents_of(gateway, org) == []


async def test_leeway_tolerates_small_clock_skew(gateway: Platform) -> None:
    org = new_org()
    now = int(time.time())
    for token in (mint(org, "viewer", exp=now - 10), mint(org, "viewer", nbf=now + 10)):
        stub = gw_grpc.GatewayServiceStub(await gateway.channel(token))
        assert (await stub.WhoAmI(gw.WhoAmIRequest())).organization_slug == org


async def test_a_forged_principal_header_never_passes(gateway: Platform) -> None:
    org = new_org()
    platform_admin = Principal(subject="mallory", organization_slug="", roles=frozenset({"admin"}), kind="service")
    # Even signed with the platform's real internal key, a principal from outside is refused.
    forged = KEY_RING.metadata(platform_admin, issuer="gateway")
    async with channel_as(gateway.gateway.target, forged) as channel:
        stub = pb_grpc.RegistryServiceStub(channel)
        await expect(stub.CreateAgent(pb.CreateAgentRequest(agent=agent_message(org))), grpc.StatusCode.UNAUTHENTICATED)
    stub = await registry(gateway, mint(org, "viewer"), *forged)
    await expect(stub.CreateAgent(pb.CreateAgentRequest(agent=agent_message(org))), grpc.StatusCode.UNAUTHENTICATED)
    stub = await registry(gateway, mint(org, "viewer"), (METADATA_KEY, b"\x00garbage"))
    await expect(stub.ListAgents(pb.ListAgentsRequest(parent=f"organizations/{org}")), grpc.StatusCode.UNAUTHENTICATED)
    assert await agents_of(gateway, org) == []


async def test_the_backend_sees_the_token_subject_and_roles(gateway: Platform) -> None:
    org = new_org()
    stub = await registry(gateway, mint(org, "author", subject="user-42"))
    agent = (await stub.CreateAgent(pb.CreateAgentRequest(agent=agent_message(org)))).agent
    assert (agent.created_by, agent.organization_slug) == ("user-42", org)
    who = await gw_grpc.GatewayServiceStub(await gateway.channel(mint(org, "author", "nonsense", "viewer"))).WhoAmI(
        gw.WhoAmIRequest()
    )
    assert (list(who.roles), who.authentication) == (["viewer", "author"], "jwt")


async def test_the_platform_status_needs_no_credentials(gateway: Platform) -> None:
    stub = gw_grpc.GatewayServiceStub(gateway.gateway.channel)
    assert (await stub.GetPlatformStatus(gw.GetPlatformStatusRequest())).all_serving
    stub = gw_grpc.GatewayServiceStub(await gateway.channel("garbage"))
    assert (await stub.GetPlatformStatus(gw.GetPlatformStatusRequest())).all_serving
    await expect(stub.WhoAmI(gw.WhoAmIRequest()), grpc.StatusCode.UNAUTHENTICATED)


# --- API keys -------------------------------------------------------------------------------------------------------


async def create_key(
    gateway: Platform, org: str, *roles: str, token: str | None = None, expire: dt.datetime | None = None
) -> gw.CreateApiKeyResponse:
    stub = gw_grpc.GatewayServiceStub(await gateway.channel(token or mint(org, "admin")))
    key = gw.ApiKey(display_name="ci pipeline", roles=list(roles))
    if expire is not None:
        key.expire_time.CopyFrom(timestamp_pb2.Timestamp(seconds=int(expire.timestamp())))
    response: gw.CreateApiKeyResponse = await stub.CreateApiKey(
        gw.CreateApiKeyRequest(parent=f"organizations/{org}", api_key=key)
    )
    return response


async def stored_hashes(database: DatabaseSettings) -> list[tuple[str, str]]:
    settings = sibling(database, "gateway")
    engine = db.create_engine(settings, "gateway")
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.select(api_keys.c.key_id, api_keys.c.secret_hash))
            return [(r.key_id, r.secret_hash) for r in rows]
    finally:
        await engine.dispose()


async def test_api_key_lifecycle(gateway: Platform, database: DatabaseSettings) -> None:
    org = new_org()
    created = await create_key(gateway, org, "author")
    key = created.api_key
    assert created.secret.startswith(f"ak_{key.key_id}_")
    assert (key.name, list(key.roles), key.created_by) == (
        f"organizations/{org}/apiKeys/{key.key_id}",
        ["author"],
        "alice@example.com",
    )

    # The secret is shown once: never listed, never stored.
    admin = gw_grpc.GatewayServiceStub(await gateway.channel(mint(org, "admin")))
    listed = await admin.ListApiKeys(gw.ListApiKeysRequest(parent=f"organizations/{org}"))
    assert [k.key_id for k in listed.api_keys] == [key.key_id]
    assert created.secret not in str(listed)
    secret_part = created.secret.split("_", 2)[2]
    (stored,) = [h for k, h in await stored_hashes(database) if k == key.key_id]
    assert stored.startswith("hmac-sha256$")
    assert secret_part not in stored

    # Use it: a service account of the organization with the key's roles.
    as_key = await gateway.channel(created.secret)
    who = await gw_grpc.GatewayServiceStub(as_key).WhoAmI(gw.WhoAmIRequest())
    assert (who.subject, who.organization_slug, list(who.roles), who.authentication) == (
        f"apikey:{key.key_id}",
        org,
        ["author"],
        "api_key",
    )
    agent = (
        await pb_grpc.RegistryServiceStub(as_key).CreateAgent(pb.CreateAgentRequest(agent=agent_message(org)))
    ).agent
    assert agent.created_by == f"apikey:{key.key_id}"
    await expect(
        pb_grpc.RegistryServiceStub(as_key).ApprovePlan(pb.ApprovePlanRequest(name=f"organizations/{org}/plans/x")),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    listed = await admin.ListApiKeys(gw.ListApiKeysRequest(parent=f"organizations/{org}"))
    assert listed.api_keys[0].HasField("last_used_time")

    # Revoke it: the next call with it is UNAUTHENTICATED (this replica drops its cache entry at once).
    revoked = (await admin.RevokeApiKey(gw.RevokeApiKeyRequest(name=key.name))).api_key
    assert revoked.HasField("revoke_time")
    error = await expect(gw_grpc.GatewayServiceStub(as_key).WhoAmI(gw.WhoAmIRequest()), grpc.StatusCode.UNAUTHENTICATED)
    assert created.secret not in (error.details() or "")
    again = (await admin.RevokeApiKey(gw.RevokeApiKeyRequest(name=key.name))).api_key
    assert again.revoke_time == revoked.revoke_time
    await expect(
        pb_grpc.RegistryServiceStub(as_key).DeleteAgent(pb.DeleteAgentRequest(name=agent.name)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert await agents_of(gateway, org) == [agent.name]


async def test_a_wrong_secret_for_a_real_key_is_unauthenticated(gateway: Platform) -> None:
    org = new_org()
    created = await create_key(gateway, org, "viewer")
    stub = gw_grpc.GatewayServiceStub(await gateway.channel(created.secret))
    await stub.WhoAmI(gw.WhoAmIRequest())  # cached now
    wrong = created.secret[:-4] + ("AAAA" if not created.secret.endswith("AAAA") else "BBBB")
    await expect(
        gw_grpc.GatewayServiceStub(await gateway.channel(wrong)).WhoAmI(gw.WhoAmIRequest()),
        grpc.StatusCode.UNAUTHENTICATED,
    )


async def test_expired_keys_stop_working(gateway: Platform, database: DatabaseSettings) -> None:
    org = new_org()
    created = await create_key(gateway, org, "viewer", expire=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    stub = gw_grpc.GatewayServiceStub(await gateway.channel(created.secret))
    await stub.WhoAmI(gw.WhoAmIRequest())
    engine = db.create_engine(sibling(database, "gateway"), "gateway")
    try:
        async with engine.begin() as conn:
            past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            await conn.execute(
                api_keys.update().where(api_keys.c.key_id == created.api_key.key_id).values(expire_at=past)
            )
    finally:
        await engine.dispose()
    # The cached entry still carries the old expiry; a fresh gateway (or the cache TTL) sees the new one.
    async with platform(database) as fresh:
        stub = gw_grpc.GatewayServiceStub(await fresh.channel(created.secret))
        error = await expect(stub.WhoAmI(gw.WhoAmIRequest()), grpc.StatusCode.UNAUTHENTICATED)
        assert "expired" in (error.details() or "")


async def test_key_requests_are_validated(gateway: Platform) -> None:
    org = new_org()
    admin = gw_grpc.GatewayServiceStub(await gateway.channel(mint(org, "admin")))
    past = timestamp_pb2.Timestamp(seconds=int(time.time()) - 60)
    cases = [
        (gw.ApiKey(display_name="x", roles=["owner"]), {"api_key.roles[0]"}),
        (gw.ApiKey(display_name="", roles=[]), {"api_key.display_name", "api_key.roles"}),
        (gw.ApiKey(display_name="x", roles=["viewer"], expire_time=past), {"api_key.expire_time"}),
    ]
    for key, fields in cases:
        error = await expect(
            admin.CreateApiKey(gw.CreateApiKeyRequest(parent=f"organizations/{org}", api_key=key)),
            grpc.StatusCode.INVALID_ARGUMENT,
        )
        assert bad_request_fields(error) == fields
    listed = await admin.ListApiKeys(gw.ListApiKeysRequest(parent=f"organizations/{org}"))
    assert list(listed.api_keys) == []


async def test_keys_cannot_mint_keys_nor_exceed_roles(gateway: Platform) -> None:
    org = new_org()
    admin_key = await create_key(gateway, org, "admin")
    as_key = gw_grpc.GatewayServiceStub(await gateway.channel(admin_key.secret))
    request = gw.CreateApiKeyRequest(
        parent=f"organizations/{org}", api_key=gw.ApiKey(display_name="x", roles=["viewer"])
    )
    await expect(as_key.CreateApiKey(request), grpc.StatusCode.PERMISSION_DENIED)
    operator = gw_grpc.GatewayServiceStub(await gateway.channel(mint(org, "operator")))
    await expect(operator.CreateApiKey(request), grpc.StatusCode.PERMISSION_DENIED)
    admin = gw_grpc.GatewayServiceStub(await gateway.channel(mint(org, "admin")))
    listed = await admin.ListApiKeys(gw.ListApiKeysRequest(parent=f"organizations/{org}"))
    assert [k.key_id for k in listed.api_keys] == [admin_key.api_key.key_id]


async def test_keys_are_scoped_to_their_organization(gateway: Platform) -> None:
    a, b = new_org(), new_org()
    created = await create_key(gateway, a, "admin")
    other = gw_grpc.GatewayServiceStub(await gateway.channel(mint(b, "admin")))
    error = await expect(
        other.RevokeApiKey(gw.RevokeApiKeyRequest(name=created.api_key.name)), grpc.StatusCode.NOT_FOUND
    )
    assert error_info(error).reason == "NOT_FOUND"
    await expect(other.ListApiKeys(gw.ListApiKeysRequest(parent=f"organizations/{a}")), grpc.StatusCode.NOT_FOUND)
    request = gw.CreateApiKeyRequest(parent=f"organizations/{a}", api_key=gw.ApiKey(display_name="x", roles=["viewer"]))
    await expect(other.CreateApiKey(request), grpc.StatusCode.NOT_FOUND)
    # The key itself only acts in its own organization.
    as_key = await registry(gateway, created.secret)
    await expect(as_key.ListAgents(pb.ListAgentsRequest(parent=f"organizations/{b}")), grpc.StatusCode.NOT_FOUND)
    stub = gw_grpc.GatewayServiceStub(await gateway.channel(created.secret))
    assert (await stub.WhoAmI(gw.WhoAmIRequest())).organization_slug == a


async def test_keys_are_listed_newest_first_in_pages(gateway: Platform) -> None:
    org = new_org()
    created = [await create_key(gateway, org, "viewer") for _ in range(3)]
    admin = gw_grpc.GatewayServiceStub(await gateway.channel(mint(org, "admin")))
    first = await admin.ListApiKeys(gw.ListApiKeysRequest(parent=f"organizations/{org}", page_size=2))
    assert first.next_page_token
    second = await admin.ListApiKeys(
        gw.ListApiKeysRequest(parent=f"organizations/{org}", page_size=2, page_token=first.next_page_token)
    )
    assert second.next_page_token == ""
    listed = [k.key_id for k in (*first.api_keys, *second.api_keys)]
    assert listed == [c.api_key.key_id for c in reversed(created)]
    await expect(
        admin.ListApiKeys(gw.ListApiKeysRequest(parent=f"organizations/{new_org()}", page_token=first.next_page_token)),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect(
        admin.ListApiKeys(gw.ListApiKeysRequest(parent=f"organizations/{org}", page_token="garbage")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


# --- rate limits ----------------------------------------------------------------------------------------------------


async def test_rate_limits_apply_per_principal_with_retry_info(database: DatabaseSettings) -> None:
    limits = RateLimitSettings(requests_per_second=0.5, burst=2)
    async with platform(database, rate_limit=limits) as gateway:
        org = new_org()
        stub = gw_grpc.GatewayServiceStub(await gateway.channel(mint(org, "viewer")))
        for _ in range(2):
            await stub.WhoAmI(gw.WhoAmIRequest())
        error = await expect(stub.WhoAmI(gw.WhoAmIRequest()), grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert error_info(error).reason == "RESOURCE_EXHAUSTED"
        assert 0 < retry_delay(error) <= 2.0
        # The limit is per principal: someone else is not affected.
        other = gw_grpc.GatewayServiceStub(await gateway.channel(mint(org, "viewer", subject="bob@example.com")))
        await other.WhoAmI(gw.WhoAmIRequest())
        # Proxied calls count too.
        registry_stub = pb_grpc.RegistryServiceStub(await gateway.channel(mint(org, "viewer")))
        await expect(
            registry_stub.ListAgents(pb.ListAgentsRequest(parent=f"organizations/{org}")),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        )
