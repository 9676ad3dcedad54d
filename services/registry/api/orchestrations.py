"""Orchestration RPCs of RegistryService."""

from __future__ import annotations

from grpc.aio import ServicerContext

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as pb
from services.registry.api.convert_orchestrations import (
    change_message,
    orchestration_message,
    parameter_messages,
    status_from_pb,
    version_content,
    version_message,
)
from services.registry.app.orchestrations import NewOrchestration, OrchestrationService


class OrchestrationsApi:
    _orchestrations: OrchestrationService

    async def CreateOrchestration(
        self, request: pb.CreateOrchestrationRequest, context: ServicerContext
    ) -> pb.CreateOrchestrationResponse:
        meta = NewOrchestration(
            request.orchestration.display_name, request.orchestration.description, tuple(request.orchestration.tags)
        )
        saved = await self._orchestrations.create(
            request.parent, request.orchestration_id, meta, version_content(request.version)
        )
        return pb.CreateOrchestrationResponse(
            orchestration=orchestration_message(saved.orchestration), version=version_message(saved.version)
        )

    async def GetOrchestration(
        self, request: pb.GetOrchestrationRequest, context: ServicerContext
    ) -> pb.GetOrchestrationResponse:
        orchestration, version = await self._orchestrations.get(request.name, request.version_number)
        return pb.GetOrchestrationResponse(
            orchestration=orchestration_message(orchestration), version=version_message(version)
        )

    async def ListOrchestrations(
        self, request: pb.ListOrchestrationsRequest, context: ServicerContext
    ) -> pb.ListOrchestrationsResponse:
        page = await self._orchestrations.list_page(
            request.parent, request.filter, request.page_size, request.page_token, request.show_deleted
        )
        return pb.ListOrchestrationsResponse(
            orchestrations=[orchestration_message(o) for o in page.orchestrations],
            next_page_token=page.next_page_token,
        )

    async def UpdateOrchestration(
        self, request: pb.UpdateOrchestrationRequest, context: ServicerContext
    ) -> pb.UpdateOrchestrationResponse:
        o = request.orchestration
        updated = await self._orchestrations.update(
            o.name, o.display_name, o.description, list(request.update_mask.paths), request.etag
        )
        return pb.UpdateOrchestrationResponse(orchestration=orchestration_message(updated))

    async def CreateOrchestrationVersion(
        self, request: pb.CreateOrchestrationVersionRequest, context: ServicerContext
    ) -> pb.CreateOrchestrationVersionResponse:
        saved = await self._orchestrations.create_version(
            request.parent, version_content(request.version), request.etag
        )
        return pb.CreateOrchestrationVersionResponse(
            orchestration=orchestration_message(saved.orchestration),
            version=version_message(saved.version),
            unchanged=saved.unchanged,
        )

    async def ListOrchestrationVersions(
        self, request: pb.ListOrchestrationVersionsRequest, context: ServicerContext
    ) -> pb.ListOrchestrationVersionsResponse:
        page = await self._orchestrations.list_versions(request.parent, request.page_size, request.page_token)
        return pb.ListOrchestrationVersionsResponse(
            versions=[version_message(v) for v in page.versions], next_page_token=page.next_page_token
        )

    async def GetOrchestrationVersion(
        self, request: pb.GetOrchestrationVersionRequest, context: ServicerContext
    ) -> pb.GetOrchestrationVersionResponse:
        version = await self._orchestrations.get_version(request.name)
        return pb.GetOrchestrationVersionResponse(version=version_message(version))

    async def DiffOrchestrationVersions(
        self, request: pb.DiffOrchestrationVersionsRequest, context: ServicerContext
    ) -> pb.DiffOrchestrationVersionsResponse:
        changes = await self._orchestrations.diff(request.name, request.from_version, request.to_version)
        return pb.DiffOrchestrationVersionsResponse(changes=[change_message(c) for c in changes])

    async def SetOrchestrationStatus(
        self, request: pb.SetOrchestrationStatusRequest, context: ServicerContext
    ) -> pb.SetOrchestrationStatusResponse:
        updated = await self._orchestrations.set_status(request.name, status_from_pb(request.status), request.etag)
        return pb.SetOrchestrationStatusResponse(orchestration=orchestration_message(updated))

    async def TagOrchestration(
        self, request: pb.TagOrchestrationRequest, context: ServicerContext
    ) -> pb.TagOrchestrationResponse:
        updated = await self._orchestrations.retag(request.name, list(request.tags), add=True)
        return pb.TagOrchestrationResponse(orchestration=orchestration_message(updated))

    async def UntagOrchestration(
        self, request: pb.UntagOrchestrationRequest, context: ServicerContext
    ) -> pb.UntagOrchestrationResponse:
        updated = await self._orchestrations.retag(request.name, list(request.tags), add=False)
        return pb.UntagOrchestrationResponse(orchestration=orchestration_message(updated))

    async def PromoteOrchestrationVersion(
        self, request: pb.PromoteOrchestrationVersionRequest, context: ServicerContext
    ) -> pb.PromoteOrchestrationVersionResponse:
        saved = await self._orchestrations.promote(
            request.name, request.target_parent, request.target_orchestration_id, request.label, request.change_note
        )
        return pb.PromoteOrchestrationVersionResponse(
            orchestration=orchestration_message(saved.orchestration),
            version=version_message(saved.version),
            unchanged=saved.unchanged,
        )

    async def DeleteOrchestration(
        self, request: pb.DeleteOrchestrationRequest, context: ServicerContext
    ) -> pb.DeleteOrchestrationResponse:
        deleted = await self._orchestrations.delete(request.name, request.etag)
        return pb.DeleteOrchestrationResponse(orchestration=orchestration_message(deleted))

    async def ValidateOrchestrationDefinition(
        self, request: pb.ValidateOrchestrationDefinitionRequest, context: ServicerContext
    ) -> pb.ValidateOrchestrationDefinitionResponse:
        content = version_content(
            opb.OrchestrationVersion(definition=request.definition, prompt_templates=request.prompt_templates)
        )
        definition = await self._orchestrations.validate(request.parent, content)
        return pb.ValidateOrchestrationDefinitionResponse(
            parameters=parameter_messages(content.definition), referenced_agents=list(definition.referenced_agents())
        )
