"""GatewayService servicer: what only makes sense at the edge. Proto → use case → proto; errors map in the shared
interceptor. Authentication, rate limits and the role check already happened in the edge interceptor."""

from __future__ import annotations

import asyncio

import grpc
from grpc.aio import ServicerContext
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentorch.gateway.v1 import gateway_service_pb2 as pb
from agentorch.gateway.v1 import gateway_service_pb2_grpc as pb_grpc
from agentorch.gateway.v1 import identity_pb2 as ipb
from gateway.api import identity_convert as idc
from gateway.api.convert import api_key_message, invoke_command, invoke_response, optional_time
from gateway.app.api_keys import ApiKeyService
from gateway.app.identity import IdentityService
from gateway.app.invoke_service import InvokeService
from gateway.auth import caller as caller_context
from gateway.edge.proxy import relay_error
from services.common import authz
from services.common.context import Principal


class GatewayServicer(pb_grpc.GatewayServiceServicer):
    def __init__(
        self,
        backends: dict[str, grpc.aio.Channel],
        targets: dict[str, str],
        timeout: float,
        api_keys: ApiKeyService,
        invoke: InvokeService,
        identity: IdentityService,
    ) -> None:
        self._backends = backends
        self._targets = targets
        self._timeout = timeout
        self._api_keys = api_keys
        self._invoke = invoke
        self._identity = identity

    async def GetPlatformStatus(
        self, request: pb.GetPlatformStatusRequest, context: ServicerContext
    ) -> pb.GetPlatformStatusResponse:
        names = sorted(self._backends)
        statuses = await asyncio.gather(*(self._check(self._backends[n]) for n in names))
        backends = [
            pb.BackendStatus(service=n, target=self._targets[n], status=s) for n, s in zip(names, statuses, strict=True)
        ]
        return pb.GetPlatformStatusResponse(
            backends=backends, all_serving=all(s == pb.SERVING_STATUS_SERVING for s in statuses)
        )

    async def WhoAmI(self, request: pb.WhoAmIRequest, context: ServicerContext) -> pb.WhoAmIResponse:
        caller = caller_context.require()
        principal = caller.principal
        return pb.WhoAmIResponse(
            subject=principal.subject,
            organization_slug=principal.organization_slug,
            roles=[r for r in authz.ROLES if r in principal.roles],
            authentication=caller.authentication,
            groups=sorted(principal.groups),
            managed_membership=caller.managed,
            forbid_self_approval=principal.policy.forbid_self_approval,
        )

    async def CreateApiKey(self, request: pb.CreateApiKeyRequest, context: ServicerContext) -> pb.CreateApiKeyResponse:
        caller = caller_context.require()
        created = await self._api_keys.create(
            caller.principal,
            caller.authentication,
            request.parent,
            request.api_key.display_name,
            list(request.api_key.roles),
            optional_time(request.api_key, "expire_time"),
        )
        return pb.CreateApiKeyResponse(api_key=api_key_message(created.key), secret=created.token)

    async def ListApiKeys(self, request: pb.ListApiKeysRequest, context: ServicerContext) -> pb.ListApiKeysResponse:
        caller = caller_context.require()
        page = await self._api_keys.list_page(caller.principal, request.parent, request.page_size, request.page_token)
        return pb.ListApiKeysResponse(
            api_keys=[api_key_message(k) for k in page.keys], next_page_token=page.next_page_token
        )

    async def RevokeApiKey(self, request: pb.RevokeApiKeyRequest, context: ServicerContext) -> pb.RevokeApiKeyResponse:
        caller = caller_context.require()
        key = await self._api_keys.revoke(caller.principal, request.name)
        return pb.RevokeApiKeyResponse(api_key=api_key_message(key))

    async def Invoke(self, request: pb.InvokeRequest, context: ServicerContext) -> pb.InvokeResponse:
        caller = caller_context.require()
        try:
            result = await self._invoke.invoke(caller.principal, invoke_command(request), context.time_remaining())
        except grpc.aio.AioRpcError as exc:  # a backend's answer: relayed with its code and details unchanged
            await relay_error(context, exc)
            raise
        return invoke_response(result)

    # --- identity: organizations, members, groups ---------------------------------------------------------------

    async def CreateOrganization(
        self, request: ipb.CreateOrganizationRequest, context: ServicerContext
    ) -> ipb.CreateOrganizationResponse:
        org = await self._identity.create_organization(
            _principal(), request.organization_id, idc.organization_fields(request.organization)
        )
        return ipb.CreateOrganizationResponse(organization=idc.organization_message(org))

    async def GetOrganization(
        self, request: ipb.GetOrganizationRequest, context: ServicerContext
    ) -> ipb.GetOrganizationResponse:
        org = await self._identity.get_organization(_principal(), request.name)
        return ipb.GetOrganizationResponse(organization=idc.organization_message(org))

    async def UpdateOrganization(
        self, request: ipb.UpdateOrganizationRequest, context: ServicerContext
    ) -> ipb.UpdateOrganizationResponse:
        org = await self._identity.update_organization(
            _principal(),
            request.organization.name,
            idc.organization_fields(request.organization),
            list(request.update_mask.paths),
        )
        return ipb.UpdateOrganizationResponse(organization=idc.organization_message(org))

    async def ListOrganizations(
        self, request: ipb.ListOrganizationsRequest, context: ServicerContext
    ) -> ipb.ListOrganizationsResponse:
        page = await self._identity.list_organizations(_principal(), request.page_size, request.page_token)
        return ipb.ListOrganizationsResponse(
            organizations=[idc.organization_message(o) for o in page.items], next_page_token=page.next_page_token
        )

    async def CreateMember(
        self, request: ipb.CreateMemberRequest, context: ServicerContext
    ) -> ipb.CreateMemberResponse:
        member = await self._identity.create_member(_principal(), request.parent, idc.member_fields(request.member))
        return ipb.CreateMemberResponse(member=idc.member_message(member))

    async def GetMember(self, request: ipb.GetMemberRequest, context: ServicerContext) -> ipb.GetMemberResponse:
        member = await self._identity.get_member(_principal(), request.name)
        return ipb.GetMemberResponse(member=idc.member_message(member))

    async def UpdateMember(
        self, request: ipb.UpdateMemberRequest, context: ServicerContext
    ) -> ipb.UpdateMemberResponse:
        member = await self._identity.update_member(
            _principal(), request.member.name, idc.member_fields(request.member), list(request.update_mask.paths)
        )
        return ipb.UpdateMemberResponse(member=idc.member_message(member))

    async def DeleteMember(
        self, request: ipb.DeleteMemberRequest, context: ServicerContext
    ) -> ipb.DeleteMemberResponse:
        member = await self._identity.delete_member(_principal(), request.name)
        return ipb.DeleteMemberResponse(member=idc.member_message(member))

    async def ListMembers(self, request: ipb.ListMembersRequest, context: ServicerContext) -> ipb.ListMembersResponse:
        page = await self._identity.list_members(
            _principal(), request.parent, request.page_size, request.page_token, request.subject
        )
        return ipb.ListMembersResponse(
            members=[idc.member_message(m) for m in page.items], next_page_token=page.next_page_token
        )

    async def CreateGroup(self, request: ipb.CreateGroupRequest, context: ServicerContext) -> ipb.CreateGroupResponse:
        group = await self._identity.create_group(
            _principal(), request.parent, request.group_id, idc.group_fields(request.group)
        )
        return ipb.CreateGroupResponse(group=idc.group_message(group))

    async def GetGroup(self, request: ipb.GetGroupRequest, context: ServicerContext) -> ipb.GetGroupResponse:
        group = await self._identity.get_group(_principal(), request.name)
        return ipb.GetGroupResponse(group=idc.group_message(group))

    async def UpdateGroup(self, request: ipb.UpdateGroupRequest, context: ServicerContext) -> ipb.UpdateGroupResponse:
        group = await self._identity.update_group(
            _principal(), request.group.name, idc.group_fields(request.group), list(request.update_mask.paths)
        )
        return ipb.UpdateGroupResponse(group=idc.group_message(group))

    async def DeleteGroup(self, request: ipb.DeleteGroupRequest, context: ServicerContext) -> ipb.DeleteGroupResponse:
        group = await self._identity.delete_group(_principal(), request.name)
        return ipb.DeleteGroupResponse(group=idc.group_message(group))

    async def ListGroups(self, request: ipb.ListGroupsRequest, context: ServicerContext) -> ipb.ListGroupsResponse:
        page = await self._identity.list_groups(_principal(), request.parent, request.page_size, request.page_token)
        return ipb.ListGroupsResponse(
            groups=[idc.group_message(g) for g in page.items], next_page_token=page.next_page_token
        )

    async def AddGroupMember(
        self, request: ipb.AddGroupMemberRequest, context: ServicerContext
    ) -> ipb.AddGroupMemberResponse:
        group = await self._identity.add_group_member(_principal(), request.group, request.subject)
        return ipb.AddGroupMemberResponse(group=idc.group_message(group))

    async def RemoveGroupMember(
        self, request: ipb.RemoveGroupMemberRequest, context: ServicerContext
    ) -> ipb.RemoveGroupMemberResponse:
        group = await self._identity.remove_group_member(_principal(), request.group, request.subject)
        return ipb.RemoveGroupMemberResponse(group=idc.group_message(group))

    async def _check(self, channel: grpc.aio.Channel) -> pb.ServingStatus:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=self._timeout)
        except grpc.aio.AioRpcError:
            return pb.SERVING_STATUS_UNREACHABLE
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return pb.SERVING_STATUS_SERVING
        return pb.SERVING_STATUS_NOT_SERVING


def _principal() -> Principal:
    return caller_context.require().principal
