"""Conversation plan RPCs of RegistryService."""

from __future__ import annotations

from grpc.aio import ServicerContext

from agentorch.registry.v1 import registry_service_pb2 as pb
from services.registry.api.convert import struct_to_dict
from services.registry.api.convert_orchestrations import orchestration_message, version_message
from services.registry.api.convert_plans import conversion_message, plan_message, status_filter
from services.registry.app.plans import PlanService, SaveRequest


class PlansApi:
    _plans: PlanService

    async def CreatePlan(self, request: pb.CreatePlanRequest, context: ServicerContext) -> pb.CreatePlanResponse:
        p = request.plan
        plan = await self._plans.create(request.parent, p.conversation_id, p.agent_slug, struct_to_dict(p.plan))
        return pb.CreatePlanResponse(plan=plan_message(plan))

    async def GetPlan(self, request: pb.GetPlanRequest, context: ServicerContext) -> pb.GetPlanResponse:
        plan = await self._plans.get(request.name)
        return pb.GetPlanResponse(plan=plan_message(plan))

    async def ListPlans(self, request: pb.ListPlansRequest, context: ServicerContext) -> pb.ListPlansResponse:
        status, status_valid = status_filter(request.status)
        page = await self._plans.list(
            request.parent,
            request.page_size,
            request.page_token,
            conversation_id=request.conversation_id,
            agent_slug=request.agent_slug,
            status=status,
            status_valid=status_valid,
        )
        return pb.ListPlansResponse(plans=[plan_message(p) for p in page.plans], next_page_token=page.next_page_token)

    async def ApprovePlan(self, request: pb.ApprovePlanRequest, context: ServicerContext) -> pb.ApprovePlanResponse:
        plan = await self._plans.decide(request.name, approve=True, comment=request.comment, etag=request.etag)
        return pb.ApprovePlanResponse(plan=plan_message(plan))

    async def RejectPlan(self, request: pb.RejectPlanRequest, context: ServicerContext) -> pb.RejectPlanResponse:
        plan = await self._plans.decide(request.name, approve=False, comment=request.comment, etag=request.etag)
        return pb.RejectPlanResponse(plan=plan_message(plan))

    async def ConvertPlanToOrchestration(
        self, request: pb.ConvertPlanToOrchestrationRequest, context: ServicerContext
    ) -> pb.ConvertPlanToOrchestrationResponse:
        return conversion_message(await self._plans.convert(request.name))

    async def SavePlanAsOrchestration(
        self, request: pb.SavePlanAsOrchestrationRequest, context: ServicerContext
    ) -> pb.SavePlanAsOrchestrationResponse:
        saved = await self._plans.save(
            request.name,
            SaveRequest(request.orchestration_id, request.display_name, request.label, request.change_note),
        )
        return pb.SavePlanAsOrchestrationResponse(
            orchestration=orchestration_message(saved.orchestration),
            version=version_message(saved.version),
            created=saved.created,
            unchanged=saved.unchanged,
        )
