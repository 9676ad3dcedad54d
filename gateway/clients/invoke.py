"""The registry and runs calls that carry out each Invoke action (gateway.app.invoke_service routes and authorizes).

Every backend call carries the caller's principal, freshly signed by the gateway, and the request id, exactly as
the proxy forwards re-exposed calls, so each service re-checks tenancy and roles on its own resources. A backend's
error is not translated: it propagates as grpc.aio.AioRpcError and the servicer relays it unchanged.

plan/build ("single-call pass-through to the agent") never calls an agent from the gateway: only the runs service
resolves vault credentials and owns the agent executors. The call is a one-step ad hoc run addressed to the agent,
followed on WatchRun until it ends (or pauses on the agent's question) within the client's deadline; the answer is
the step's output and the run stays as the audit trail. In plan mode with a conversation id, the agent's plan is
then recorded as a draft plan of that conversation (CreatePlan, which supersedes the conversation's older drafts),
so that approve → save → launch follows from its name; `metadata.conversation_plan` says whether it was stored.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import struct_pb2

from agentorch.registry.v1 import orchestration_pb2, plan_pb2
from agentorch.registry.v1 import registry_service_pb2 as reg
from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from agentorch.runs.v1 import runs_service_pb2_grpc as runs_grpc
from gateway.config import InvokeSettings
from gateway.domain import invoke as modes
from gateway.domain.errors import RecipeUnavailable
from gateway.domain.invoke import InvalidInvoke, PromptTemplate
from services.common import context, names
from services.common.context import Principal
from services.common.errors import FieldViolation
from services.common.principals import KeyRing
from services.common.remote_errors import RemoteError
from services.common.structs import struct_to_dict, value_to_python

ISSUER = "gateway"
#: Run statuses at which a pass-through stops following its run: ended, or paused (an agent's question opened a
#: checkpoint, or an operator paused it); nothing more happens without someone acting.
SETTLED = frozenset(
    {run_pb2.RUN_STATUS_COMPLETED, run_pb2.RUN_STATUS_FAILED, run_pb2.RUN_STATUS_CANCELLED, run_pb2.RUN_STATUS_PAUSED}
)
MAX_RECONNECTS = 3  # consecutive dropped watch streams without a new event before giving up


@dataclass
class InvokeResult:
    mode: str
    output: str = ""
    run: str = ""
    open_checkpoints: list[str] = field(default_factory=list)
    plan: str = ""
    orchestration_version: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


class _Backends:
    """The registry and runs stubs for one Invoke call: the caller's principal signed on every call, the client's
    deadline passed on."""

    def __init__(
        self, registry: grpc.aio.Channel, runs_channel: grpc.aio.Channel, signer: KeyRing, principal: Principal
    ) -> None:
        self.registry = reg_grpc.RegistryServiceStub(registry)
        self.runs = runs_grpc.RunsServiceStub(runs_channel)
        self._signer = signer
        self._principal = principal
        self._deadline: float | None = None

    def bound(self, time_remaining: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = None if time_remaining is None else loop.time() + time_remaining

    def remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(self._deadline - asyncio.get_running_loop().time(), 0.0)

    def metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return (
            (context.REQUEST_ID_HEADER, context.current().request_id),
            *self._signer.metadata(self._principal, issuer=ISSUER),
        )

    def options(self) -> dict[str, Any]:
        return {"metadata": self.metadata(), "timeout": self.remaining()}


class InvokeBackends:
    """Carries out routed Invoke actions on the registry and the runs service, for one caller per call."""

    def __init__(
        self, registry: grpc.aio.Channel, runs_channel: grpc.aio.Channel, signer: KeyRing, settings: InvokeSettings
    ) -> None:
        self._registry = registry
        self._runs = runs_channel
        self._signer = signer
        self._settings = settings

    async def run(self, principal: Principal, action: modes.Action, time_remaining: float | None) -> InvokeResult:
        """Carry out `action` as `principal` within the client's deadline. Raises RecipeUnavailable, InvalidInvoke,
        or the backend's grpc.aio.AioRpcError (relayed unchanged by the servicer)."""
        backends = _Backends(self._registry, self._runs, self._signer, principal)
        backends.bound(time_remaining)
        return await _Mode(backends, self._settings).run(action)


class _Mode:
    def __init__(self, backends: _Backends, settings: InvokeSettings) -> None:
        self.b = backends
        self.settings = settings

    async def run(self, action: modes.Action) -> InvokeResult:
        match action:
            case modes.PassThrough():
                return await self.pass_through(action)
            case modes.RecordPlan():
                return await self.record_plan(action)
            case modes.SaveDefinition():
                return await self.save_definition(action)
            case modes.Launch():
                return await self.launch(action)
            case modes.Decide():
                return await self.decide(action)
            case modes.Resume():
                reply = await self.b.runs.ResumeRun(runs.ResumeRunRequest(name=action.run), **self.b.options())
                return run_result(reply.run)
            case modes.SavePlanRecipe():
                return await self.save_plan_recipe(action)
            case modes.SaveRunRecipe():
                return await self.save_run_recipe(action)
        raise AssertionError(f"unrouted action {action!r}")

    # --- plan / build ------------------------------------------------------------------------------------------

    async def pass_through(self, action: modes.PassThrough) -> InvokeResult:
        request = runs.CreateRunRequest(
            parent=f"organizations/{action.org}",
            ad_hoc=runs.AdHocDefinition(definition=struct(action.definition())),
            prompt_inputs=struct({modes.MESSAGE_PARAMETER: action.message}),
            metadata=struct({"invoke": {"mode": modes.short(action.mode), "agent": action.agent_slug}}),
            request_id=action.request_id,
        )
        run = (await self.b.runs.CreateRun(request, **self.b.options())).run
        run = await self.follow(run)
        result = run_result(run)
        step = next((s for s in run.steps if s.step_id == modes.ANSWER_STEP), None)
        result.metadata["agent"] = action.agent_slug
        if step is not None:
            result.metadata["step_status"] = run_pb2.StepStatus.Name(step.status)
            if step.error:
                result.metadata["error"] = step.error
            if step.status == run_pb2.STEP_STATUS_SUCCEEDED:
                result.output = text_of(step.output)
        if action.mode == modes.PLAN:
            result.metadata["conversation_plan"] = await self.store_plan(action, step, result)
        return result

    async def store_plan(
        self, action: modes.PassThrough, step: run_pb2.StepState | None, result: InvokeResult
    ) -> dict[str, Any]:
        """Record a plan-mode answer as a draft plan of the conversation (setting `result.plan`); what happened, for
        `metadata.conversation_plan`. A plan the registry refuses is reported, not raised: the agent did answer."""
        if not action.conversation_id:
            return {"stored": False, "reason": "no conversation_id was given: the answer was not stored as a plan"}
        if step is None or step.status != run_pb2.STEP_STATUS_SUCCEEDED:
            return {"stored": False, "reason": "the agent did not answer (see metadata.status): no plan to store"}
        document = modes.plan_from_answer(value_to_python(step.output))
        if isinstance(document, str):
            return {"stored": False, "reason": document}
        try:
            recorded = await self.record_plan(
                modes.RecordPlan(action.org, action.agent_slug, action.conversation_id, document)
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            return {"stored": False, "reason": "the registry refused the plan", "validation": rejected(exc)}
        result.plan = recorded.plan
        return {"stored": True, "plan": recorded.plan, **recorded.metadata}

    async def follow(self, run: run_pb2.Run) -> run_pb2.Run:
        """Follow the run's events until it settles or the wait budget is spent; then its current state.

        The budget is the client's deadline less a reply margin (so the answer, with the run's name, arrives before
        the deadline), at most `max_wait_seconds`. A dropped stream is reopened after the last sequence seen."""
        if run.status in SETTLED:
            return run
        budget = self.settings.max_wait_seconds
        remaining = self.b.remaining()
        if remaining is not None:
            budget = min(budget, max(remaining - self.settings.reply_margin_seconds, 0.0))
        loop = asyncio.get_running_loop()
        until = loop.time() + budget
        cursor = run.last_event_sequence
        reconnects = 0
        settled = False
        while not settled and (left := until - loop.time()) > 0:
            call = self.b.runs.WatchRun(
                runs.WatchRunRequest(name=run.name, after_sequence=cursor),
                metadata=self.b.metadata(),
                timeout=left,
                wait_for_ready=True,
            )
            seen = cursor
            try:
                async for item in call:
                    if item.HasField("event"):
                        cursor = item.event.sequence
                        if item.event.run_status in SETTLED:
                            settled = True
                            break
                else:
                    settled = True  # the server ends the stream after the run's final event
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    break
                reconnects = 0 if cursor > seen else reconnects + 1
                if exc.code() != grpc.StatusCode.UNAVAILABLE or reconnects >= MAX_RECONNECTS:
                    raise
            finally:
                call.cancel()
        current: run_pb2.Run = (await self.b.runs.GetRun(runs.GetRunRequest(name=run.name), **self.b.options())).run
        return current

    # --- orchestrate_create ------------------------------------------------------------------------------------

    async def record_plan(self, action: modes.RecordPlan) -> InvokeResult:
        request = reg.CreatePlanRequest(
            parent=f"organizations/{action.org}",
            plan=plan_pb2.ConversationPlan(
                conversation_id=action.conversation_id, agent_slug=action.agent_slug, plan=struct(action.plan)
            ),
        )
        plan = (await self.b.registry.CreatePlan(request, **self.b.options())).plan
        metadata: dict[str, Any] = {
            "status": plan_pb2.PlanStatus.Name(plan.status),
            "conversation_id": plan.conversation_id,
            "agent_slug": plan.agent_slug,
        }
        # What the plan converts to (read only): its templates and parameters, or why it would not launch.
        try:
            converted = await self.b.registry.ConvertPlanToOrchestration(
                reg.ConvertPlanToOrchestrationRequest(name=plan.name), **self.b.options()
            )
        except grpc.aio.AioRpcError as exc:
            metadata["validation"] = rejected(exc)
        else:
            definition = struct_to_dict(converted.definition)
            metadata["validation"] = {"valid": True, "notes": list(converted.notes)}
            metadata["prompt_templates"] = [t.name for t in converted.prompt_templates]
            metadata["parameters"] = [p.get("name", "") for p in definition.get("parameters") or ()]
        return InvokeResult("", plan=plan.name, metadata=metadata)

    async def save_definition(self, action: modes.SaveDefinition) -> InvokeResult:
        request = reg.CreateOrchestrationRequest(
            parent=f"organizations/{action.org}/agents/{action.agent_slug}",
            orchestration_id=action.orchestration_id,
            orchestration=orchestration_pb2.Orchestration(display_name=action.display_name or action.orchestration_id),
            version=orchestration_pb2.OrchestrationVersion(
                definition=struct(action.definition),
                prompt_templates=registry_templates(action.prompt_templates),
                label=action.label,
                change_note=action.change_note,
            ),
        )
        reply = await self.b.registry.CreateOrchestration(request, **self.b.options())
        return version_result(reply.orchestration, reply.version, created=True)

    # --- orchestrate_execute -----------------------------------------------------------------------------------

    async def launch(self, action: modes.Launch) -> InvokeResult:
        request = runs.CreateRunRequest(
            parent=f"organizations/{action.org}",
            prompt_inputs=struct(action.prompt_inputs),
            request_id=action.request_id,
        )
        if action.orchestration:  # the runs service pins a version given by number or by label
            version = f"/versions/{action.version}" if action.version else ""
            request.orchestration = action.orchestration + version
        elif action.plan:
            request.plan = action.plan
        else:
            request.ad_hoc.CopyFrom(
                runs.AdHocDefinition(
                    definition=struct(action.definition or {}),
                    prompt_templates=[
                        runs.AdHocPromptTemplate(name=t.name, template=t.template) for t in action.prompt_templates
                    ],
                )
            )
        run = (await self.b.runs.CreateRun(request, **self.b.options())).run
        return run_result(run)

    # --- orchestrate_continue ----------------------------------------------------------------------------------

    async def decide(self, action: modes.Decide) -> InvokeResult:
        request = runs.DecideCheckpointRequest(
            name=action.checkpoint, decision=run_pb2.Decision.Value(action.decision), comment=action.comment
        )
        reply = await self.b.runs.DecideCheckpoint(request, **self.b.options())
        result = run_result(reply.run)
        result.metadata["checkpoint"] = reply.checkpoint.name
        result.metadata["checkpoint_status"] = run_pb2.CheckpointStatus.Name(reply.checkpoint.status)
        return result

    # --- orchestrate_save_recipe -------------------------------------------------------------------------------

    async def save_plan_recipe(self, action: modes.SavePlanRecipe) -> InvokeResult:
        request = reg.SavePlanAsOrchestrationRequest(
            name=action.plan,
            orchestration_id=action.orchestration_id,
            display_name=action.display_name,
            label=action.label,
            change_note=action.change_note,
        )
        reply = await self.b.registry.SavePlanAsOrchestration(request, **self.b.options())
        result = version_result(reply.orchestration, reply.version, created=reply.created, unchanged=reply.unchanged)
        result.plan = action.plan
        return result

    async def save_run_recipe(self, action: modes.SaveRunRecipe) -> InvokeResult:
        """The run's pinned definition and prompt templates (GetRun), saved as a new orchestration or a new version
        of an existing one; the lineage goes into the version's change note."""
        run = (await self.b.runs.GetRun(runs.GetRunRequest(name=action.run), **self.b.options())).run
        templates = [orchestration_pb2.PromptTemplate(name=t.name, template=t.template) for t in run.prompt_templates]
        agent = action.agent_slug or await self.origin_agent(run)
        if not agent:
            violation = FieldViolation("agent_slug", "required to save an ad hoc run (it has no agent of origin)")
            raise InvalidInvoke([violation])
        definition = struct_to_dict(run.definition)
        missing = [n for n in modes.prompt_template_names(definition) if n not in {t.name for t in templates}]
        if missing:  # a run pinned every template its definition names; a run from before they were exposed may not
            raise RecipeUnavailable(
                run.name,
                f"run {run.name} does not carry the prompt templates {', '.join(missing)}; save its definition with "
                "orchestrate_create instead",
            )
        lineage = f"saved from run {run.name}" + (f" (origin {run.origin})" if run.origin else " (ad hoc)")
        note = f"{action.comment} — {lineage}" if action.comment else lineage
        version = orchestration_pb2.OrchestrationVersion(
            definition=run.definition, prompt_templates=templates, label=action.label, change_note=note
        )
        name = f"organizations/{action.org}/agents/{agent}/orchestrations/{action.orchestration_id}"
        try:
            current = await self.b.registry.GetOrchestration(reg.GetOrchestrationRequest(name=name), **self.b.options())
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            created = await self.b.registry.CreateOrchestration(
                reg.CreateOrchestrationRequest(
                    parent=f"organizations/{action.org}/agents/{agent}",
                    orchestration_id=action.orchestration_id,
                    orchestration=orchestration_pb2.Orchestration(
                        display_name=action.display_name or action.orchestration_id
                    ),
                    version=version,
                ),
                **self.b.options(),
            )
            result = version_result(created.orchestration, created.version, created=True)
        else:
            saved = await self.b.registry.CreateOrchestrationVersion(
                reg.CreateOrchestrationVersionRequest(parent=name, version=version, etag=current.orchestration.etag),
                **self.b.options(),
            )
            result = version_result(saved.orchestration, saved.version, created=False, unchanged=saved.unchanged)
        result.run = run.name
        result.metadata["lineage"] = {
            "source_run": run.name,
            "source_origin": run.origin,
            "source_origin_type": run_pb2.OriginType.Name(run.origin_type),
        }
        return result

    async def origin_agent(self, run: run_pb2.Run) -> str:
        """The agent of the run's origin ("" for an ad hoc run)."""
        if run.origin_type == run_pb2.ORIGIN_TYPE_SAVED_ORCHESTRATION:
            match = names.ORCHESTRATION_VERSION.match(run.origin)
            return match["agent"] if match else ""
        if run.origin_type == run_pb2.ORIGIN_TYPE_PLAN:
            plan = (await self.b.registry.GetPlan(reg.GetPlanRequest(name=run.origin), **self.b.options())).plan
            return str(plan.agent_slug)
        return ""


# --- conversions -------------------------------------------------------------------------------------------------


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def registry_templates(templates: tuple[PromptTemplate, ...]) -> list[orchestration_pb2.PromptTemplate]:
    return [orchestration_pb2.PromptTemplate(name=t.name, template=t.template) for t in templates]


def text_of(value: struct_pb2.Value) -> str:
    """A step output as text: strings as they are, anything else as JSON."""
    if value.WhichOneof("kind") == "string_value":
        text: str = value.string_value
        return text
    if value.WhichOneof("kind") is None:
        return ""
    return json.dumps(value_to_python(value), sort_keys=True)


def run_result(run: run_pb2.Run) -> InvokeResult:
    result = InvokeResult("", run=run.name, open_checkpoints=list(run.open_checkpoints))
    result.metadata = {
        "status": run_pb2.RunStatus.Name(run.status),
        "status_reason": run.status_reason,
        "origin_type": run_pb2.OriginType.Name(run.origin_type),
        "origin": run.origin,
        "last_event_sequence": run.last_event_sequence,
    }
    if run.origin_type == run_pb2.ORIGIN_TYPE_SAVED_ORCHESTRATION:
        result.orchestration_version = run.origin
    elif run.origin_type == run_pb2.ORIGIN_TYPE_PLAN:
        result.plan = run.origin
    return result


def version_result(
    orchestration: orchestration_pb2.Orchestration,
    version: orchestration_pb2.OrchestrationVersion,
    *,
    created: bool,
    unchanged: bool = False,
) -> InvokeResult:
    metadata: dict[str, Any] = {
        "status": orchestration_pb2.OrchestrationStatus.Name(orchestration.status),
        "orchestration": orchestration.name,
        "created": created,
        "unchanged": unchanged,  # identical to the current version: nothing saved, the version is the current one
        "version_number": version.version_number,
        "label": version.label,
        "digest": version.digest,
        "source_plan": version.source_plan,
        "prompt_templates": [t.name for t in version.prompt_templates],
        "parameters": [
            {"name": p.name, "type": p.type, "required": p.required, "description": p.description}
            for p in version.parameters
        ],
        "validation": {"valid": True},  # the registry validated the definition before saving it
    }
    return InvokeResult("", orchestration_version=version.name, metadata=metadata)


def rejected(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    """The validation outcome of a plan the registry would not convert, with its field violations if any."""
    remote = RemoteError.from_call(error)
    outcome: dict[str, Any] = {"valid": False, "code": remote.code.name, "message": remote.message}
    if remote.violations:
        outcome["violations"] = [{"field": v.field, "description": v.description} for v in remote.violations]
    return outcome
