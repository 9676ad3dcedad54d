"""A member's roles and groups, and the organization's policy, reach the backend services in the signed principal
the gateway forwards (a scripted RunsService records what arrives), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

from agentorch.common.v1 import principal_pb2 as ppb
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.gateway.v1 import identity_pb2 as ipb
from agentorch.runs.v1 import runs_service_pb2 as rpb
from gateway.bootstrap import REEXPOSED
from gateway.bootstrap import spec as gateway_spec
from gateway.config import BackendSettings
from services.common.interceptors import ServerInterceptor
from services.common.server import GrpcService, Server
from services.common.settings import DatabaseSettings, ServerSettings
from tests.integration.test_gateway_proxy import ScriptedRuns
from tests.support.gateway import JWT, bearer, gateway_settings, mint
from tests.support.principals import KEY_RING
from tests.support.servers import running

PLATFORM_ORG = "platform-ops"
PLATFORM_JWT = JWT.model_copy(update={"platform_organization": PLATFORM_ORG})
ADMIN, APPROVER = ppb.ROLE_ADMIN, ppb.ROLE_APPROVER


def platform_admin() -> tuple[tuple[str, str | bytes], ...]:
    return bearer(mint(PLATFORM_ORG, "admin", subject="ops@platform.test"))


def user(org: str, *roles: str, subject: str) -> tuple[tuple[str, str | bytes], ...]:
    return bearer(mint(org, *roles, subject=subject))


async def test_a_members_groups_and_the_org_policy_reach_the_backends(database: DatabaseSettings) -> None:
    backend = ScriptedRuns()
    server = Server(
        "scripted-runs",
        ServerSettings(port=0),
        [GrpcService(REEXPOSED["runs"], backend, lambda s, srv: srv.add_generic_rpc_handlers((s.handler(),)))],
        interceptors=[ServerInterceptor(access_log=False, key_ring=KEY_RING)],
    )
    await server.start()
    backends = BackendSettings(registry="127.0.0.1:1", runs=f"127.0.0.1:{server.port}", credentials="127.0.0.1:1")
    try:
        async with running(gateway_spec(gateway_settings(database, backends, jwt=PLATFORM_JWT))) as gateway:
            s = gw_grpc.GatewayServiceStub(gateway.channel)
            org = f"org-{uuid.uuid4().hex[:10]}"
            settings = ipb.Organization(settings=ipb.OrganizationSettings(forbid_self_approval=True))
            await s.CreateOrganization(
                ipb.CreateOrganizationRequest(organization_id=org, organization=settings), metadata=platform_admin()
            )
            admin = user(org, "admin", subject="dana@example.com")
            await s.CreateMember(
                ipb.CreateMemberRequest(
                    parent=f"organizations/{org}",
                    member=ipb.Member(subject="dana@example.com", roles=[ADMIN, APPROVER]),
                ),
                metadata=admin,
            )
            for slug in ("legal", "finance"):
                await s.CreateGroup(
                    ipb.CreateGroupRequest(parent=f"organizations/{org}", group_id=slug), metadata=admin
                )
                await s.AddGroupMember(
                    ipb.AddGroupMemberRequest(group=f"organizations/{org}/groups/{slug}", subject="dana@example.com"),
                    metadata=admin,
                )
            request = rpb.GetRunRequest(name=f"organizations/{org}/runs/x").SerializeToString()
            await gateway.channel.unary_unary("/agentorch.runs.v1.RunsService/GetRun")(
                request, metadata=user(org, "viewer", subject="dana@example.com"), timeout=5
            )
            (seen,) = backend.seen
            assert seen.principal is not None
            assert seen.principal.subject == "dana@example.com"
            assert seen.principal.groups == {"legal", "finance"}
            assert seen.principal.roles == {"admin", "approver"}
            assert seen.principal.policy.forbid_self_approval is True
    finally:
        await server.stop(0)
