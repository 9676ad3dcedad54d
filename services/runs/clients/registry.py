"""The registry, as the runs service sees it: where definitions and agents come from (over gRPC, never its tables).

Calls carry the caller's principal, re-signed by this service, so the registry applies the caller's own tenancy
and roles. Registry errors become runs errors with the same meaning (and field paths under the runs request).
"""

from __future__ import annotations

from typing import Any

import grpc

from agentorch.registry.v1 import orchestration_pb2, plan_pb2
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from services.common import errors
from services.common.context import Principal
from services.common.principals import KeyRing
from services.common.remote_errors import RemoteError
from services.common.structs import struct_to_dict
from services.runs.app.registry import ResolvedDefinition
from services.runs.domain.errors import InvalidLaunch, LaunchRejected, OrchestrationInactive

RPC_TIMEOUT = 10.0


class RegistryClient:
    """The `app.registry.Registry` the runs service uses: the registry's gRPC API."""

    def __init__(self, channel: grpc.aio.Channel, keys: KeyRing) -> None:
        self._stub = pb_grpc.RegistryServiceStub(channel)
        self._keys = keys

    def _metadata(self, principal: Principal) -> tuple[tuple[str, bytes], ...]:
        return self._keys.metadata(principal, issuer="runs")

    async def orchestration(self, principal: Principal, name: str, version: int) -> ResolvedDefinition:
        request = pb.GetOrchestrationRequest(name=name, version_number=version)
        reply = await self._call(self._stub.GetOrchestration, request, principal, "orchestration")
        if reply.orchestration.status == orchestration_pb2.ORCHESTRATION_STATUS_ARCHIVED:
            raise LaunchRejected(
                f"orchestration {name!r} is archived and cannot be launched", metadata={"resource": name}
            )
        if reply.orchestration.status == orchestration_pb2.ORCHESTRATION_STATUS_INACTIVE:
            raise OrchestrationInactive(
                f"orchestration {name!r} is inactive and cannot be launched; activate it first "
                "(SetOrchestrationStatus ACTIVE)",
                metadata={"resource": name},
            )
        return ResolvedDefinition(
            definition=_plain(reply.version.definition),
            prompt_templates=[{"name": t.name, "template": t.template} for t in reply.version.prompt_templates],
            origin=reply.version.name,
            orchestration=reply.orchestration.name,
        )

    async def version_number(self, principal: Principal, orchestration: str, label: str) -> int:
        """The number of the version labelled `label` (NotFound when the orchestration has no such label)."""
        request = pb.GetOrchestrationVersionRequest(name=f"{orchestration}/versions/{label}")
        reply = await self._call(self._stub.GetOrchestrationVersion, request, principal, "orchestration")
        number: int = reply.version.version_number
        return number

    async def plan(self, principal: Principal, name: str) -> ResolvedDefinition:
        plan = (await self._call(self._stub.GetPlan, pb.GetPlanRequest(name=name), principal, "plan")).plan
        if plan.status != plan_pb2.PLAN_STATUS_APPROVED:
            status = plan_pb2.PlanStatus.Name(plan.status).removeprefix("PLAN_STATUS_").lower()
            raise LaunchRejected(
                f"plan {name!r} is {status}; only an approved plan can be launched", metadata={"resource": name}
            )
        request = pb.ConvertPlanToOrchestrationRequest(name=name)
        converted = await self._call(self._stub.ConvertPlanToOrchestration, request, principal, "plan")
        return ResolvedDefinition(
            definition=_plain(converted.definition),
            prompt_templates=[{"name": t.name, "template": t.template} for t in converted.prompt_templates],
            origin=name,
            orchestration="",
        )

    async def validate(
        self, principal: Principal, organization_slug: str, definition: Any, templates: list[dict[str, str]]
    ) -> ResolvedDefinition:
        request = pb.ValidateOrchestrationDefinitionRequest(
            parent=f"organizations/{organization_slug}",
            definition=definition,
            prompt_templates=[orchestration_pb2.PromptTemplate(**t) for t in templates],
        )
        await self._call(self._stub.ValidateOrchestrationDefinition, request, principal, "ad_hoc")
        return ResolvedDefinition(_plain(definition), templates, "", "")

    async def agent(self, principal: Principal, organization_slug: str, slug: str) -> dict[str, Any] | None:
        """The agent as pinned into a run (its own organization's, else the platform-wide one), or None."""
        for name in (f"organizations/{organization_slug}/agents/{slug}", f"agents/{slug}"):
            try:
                reply = await self._call(self._stub.GetAgent, pb.GetAgentRequest(name=name), principal, "agent")
            except errors.NotFound:
                continue
            agent = reply.agent
            return {
                "name": agent.name,
                "version": agent.version,
                "config": _plain(agent.config),
                "agent_card": _plain(agent.agent_card),
            }
        return None

    async def _call(self, method: Any, request: Any, principal: Principal, field: str) -> Any:
        try:
            return await method(request, metadata=self._metadata(principal), timeout=RPC_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise _translate(exc, field) from None


def _plain(struct: Any) -> dict[str, Any]:
    return struct_to_dict(struct)


def _translate(exc: grpc.aio.AioRpcError, field: str) -> errors.ServiceError:
    remote = RemoteError.from_call(exc)
    code, details = remote.code, remote.message
    if code == grpc.StatusCode.NOT_FOUND:
        return errors.NotFound(details)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        violations = [
            errors.FieldViolation(f"{field}.{v.field}" if v.field else field, v.description) for v in remote.violations
        ]
        return InvalidLaunch(violations or [errors.FieldViolation(field, details)])
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return errors.PermissionDenied(details)
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return LaunchRejected(details)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return errors.Unavailable(f"the registry is unavailable ({code.name}); retry later")
    return errors.ServiceError(f"registry call failed: {code.name}")
