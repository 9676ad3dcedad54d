"""Protobuf ⇄ domain conversion for conversation plans."""

from __future__ import annotations

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import plan_pb2
from agentorch.registry.v1 import registry_service_pb2 as pb
from services.registry.api.convert import struct_from_dict, timestamp
from services.registry.domain.plan import Plan, PlanStatus
from services.registry.domain.plan_conversion import Conversion

_STATUS_TO_PB = {
    PlanStatus.DRAFT: plan_pb2.PLAN_STATUS_DRAFT,
    PlanStatus.APPROVED: plan_pb2.PLAN_STATUS_APPROVED,
    PlanStatus.REJECTED: plan_pb2.PLAN_STATUS_REJECTED,
    PlanStatus.SUPERSEDED: plan_pb2.PLAN_STATUS_SUPERSEDED,
}
_STATUS_FROM_PB: dict[int, PlanStatus] = {int(v): k for k, v in _STATUS_TO_PB.items()}


def status_filter(value: int) -> tuple[PlanStatus | None, bool]:
    """A ListPlans status filter: (status or None for "any", whether the value is valid)."""
    if value == plan_pb2.PLAN_STATUS_UNSPECIFIED:
        return None, True
    status = _STATUS_FROM_PB.get(value)
    return status, status is not None


def plan_message(plan: Plan) -> plan_pb2.ConversationPlan:
    message = plan_pb2.ConversationPlan(
        name=str(plan.name),
        organization_slug=plan.name.organization_slug,
        plan_id=plan.name.plan_id,
        conversation_id=plan.conversation_id,
        agent_slug=plan.agent_slug,
        plan=struct_from_dict(plan.document),
        status=_STATUS_TO_PB[plan.status],
        created_by=plan.created_by,
        create_time=timestamp(plan.created_at),
        update_time=timestamp(plan.updated_at),
        decided_by=plan.decided_by,
        decision_comment=plan.decision_comment,
        saved_versions=list(plan.saved_versions),
        etag=plan.etag,
    )
    if plan.decided_at is not None:
        message.decide_time.CopyFrom(timestamp(plan.decided_at))
    return message


def conversion_message(conversion: Conversion) -> pb.ConvertPlanToOrchestrationResponse:
    return pb.ConvertPlanToOrchestrationResponse(
        definition=struct_from_dict(conversion.definition),
        prompt_templates=[
            opb.PromptTemplate(name=t.name, template=t.template, description=t.description)
            for t in conversion.prompt_templates
        ],
        notes=list(conversion.notes),
    )
