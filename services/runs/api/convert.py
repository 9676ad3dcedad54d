"""Protobuf ⇄ domain conversion for the runs API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from agentorch.runs.v1 import run_pb2 as rpb
from services.common.structs import struct_from_dict, value_from_python
from services.common.structs import struct_to_dict as struct_to_dict
from services.runs.app.runs import RunView
from services.runs.domain.model import CheckpointStatus, Decision, EventType, OriginType, RunStatus, StepStatus
from services.runs.domain.records import CheckpointRecord, StoredEvent, VoteRecord


def _enum_map(enum: Any, prefix: str, module_enum: Any) -> dict[Any, Any]:
    return {member: module_enum.Value(f"{prefix}_{member.name}") for member in enum}


RUN_STATUS = _enum_map(RunStatus, "RUN_STATUS", rpb.RunStatus)
STEP_STATUS = _enum_map(StepStatus, "STEP_STATUS", rpb.StepStatus)
ORIGIN = _enum_map(OriginType, "ORIGIN_TYPE", rpb.OriginType)
EVENT = _enum_map(EventType, "EVENT_TYPE", rpb.EventType)
CHECKPOINT_STATUS = _enum_map(CheckpointStatus, "CHECKPOINT_STATUS", rpb.CheckpointStatus)
DECISION = _enum_map(Decision, "DECISION", rpb.Decision)
RUN_STATUS_FROM: dict[int, RunStatus] = {v: k for k, v in RUN_STATUS.items()}
ORIGIN_FROM: dict[int, OriginType] = {v: k for k, v in ORIGIN.items()}
CHECKPOINT_STATUS_FROM: dict[int, CheckpointStatus] = {v: k for k, v in CHECKPOINT_STATUS.items()}
DECISION_FROM: dict[int, Decision] = {v: k for k, v in DECISION.items()}


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    return struct_from_dict(value)


def value(data: Any) -> struct_pb2.Value:
    return value_from_python(data)


def timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message


def run_message(view: RunView, *, with_definition: bool = True) -> rpb.Run:
    state, record = view.state, view.record
    message = rpb.Run(
        name=state.name,
        organization_slug=state.organization_slug,
        run_id=state.run_id,
        origin_type=ORIGIN[record.origin_type],
        origin=record.origin,
        status=RUN_STATUS[state.status],
        status_reason=state.status_reason,
        prompt_inputs=struct(state.inputs),
        metadata=struct(record.metadata),
        current_phase_index=state.current_phase,
        open_checkpoints=view.open_checkpoints,
        last_event_sequence=state.last_sequence,
        created_by=record.created_by,
        create_time=timestamp(record.created_at),
        update_time=timestamp(record.updated_at),
        failed_steps=sum(1 for s in state.steps.values() if s.status is StepStatus.FAILED),
    )
    message.operator_interventions.extend(
        rpb.OperatorIntervention(step_id=i.step_id, kind=i.kind, by=i.by, time=timestamp(i.time))
        for i in view.interventions
    )
    if with_definition:
        message.definition.CopyFrom(struct(record.definition))
        message.prompt_templates.extend(
            rpb.RunPromptTemplate(name=t["name"], template=t["template"]) for t in record.prompt_templates
        )
    for moment, target in ((state.started_at, message.start_time), (state.ended_at, message.end_time)):
        if moment is not None:
            target.CopyFrom(timestamp(moment))
    for spec in state.spec.steps:
        step = state.steps[spec.id]
        item = message.steps.add(
            step_id=spec.id,
            phase_id=state.spec.phases[spec.phase_index],
            kind=spec.kind,
            status=STEP_STATUS[step.status],
            attempt=step.attempt,
            error=step.error,
            idempotency_key=f"{state.run_id}/{spec.id}/{step.attempt}" if step.attempt else "",
            revision=int((step.revision or {}).get("number", 0)) if spec.kind != "checkpoint" else 0,
        )
        if step.output is not None:
            item.output.CopyFrom(value(step.output))
        if step.checkpoint_id:
            item.checkpoint = f"{state.name}/checkpoints/{step.checkpoint_id}"
        if step.started_at is not None:
            item.start_time.CopyFrom(timestamp(step.started_at))
        if step.finished_at is not None:
            item.end_time.CopyFrom(timestamp(step.finished_at))
        if step.status is StepStatus.READY and step.due_at is not None:
            item.next_attempt_time.CopyFrom(timestamp(step.due_at))
    return message


def event_message(event: StoredEvent) -> rpb.RunEvent:
    return rpb.RunEvent(
        run=f"organizations/{event.organization_slug}/runs/{event.run_id}",
        sequence=event.sequence,
        type=EVENT[EventType(event.type)],
        step_id=event.step_id,
        data=struct(event.data),
        event_time=timestamp(event.created_at),
        run_status=RUN_STATUS[RunStatus(event.run_status)],
    )


def checkpoint_message(record: CheckpointRecord) -> rpb.Checkpoint:
    message = rpb.Checkpoint(
        name=record.name,
        run=f"organizations/{record.organization_slug}/runs/{record.run_id}",
        organization_slug=record.organization_slug,
        step_id=record.step_id,
        title=record.title,
        context=record.context,
        deliverables=record.deliverables,
        assignees=record.assignees,
        role=record.role,
        status=CHECKPOINT_STATUS[record.status],
        open_time=timestamp(record.opened_at),
        on_expiry=record.on_expiry,
        comment=record.comment,
        payload=struct(record.payload),
        decided_by=record.decided_by,
        revision=record.revision,
        approvals_required=record.approvals_required,
        approvals=sum(1 for v in record.votes if v.decision == Decision.APPROVE.value),
        forbid_self_approval=record.forbid_self_approval,
        votes=[vote_message(v, with_evidence=False) for v in record.votes],
        reason_codes=record.reason_codes,
        reason_code=record.reason_code,
    )
    if record.decision in {d.value for d in Decision}:
        message.decision = DECISION[Decision(record.decision)]
    if record.due_at is not None:
        message.due_time.CopyFrom(timestamp(record.due_at))
    if record.decided_at is not None:
        message.decide_time.CopyFrom(timestamp(record.decided_at))
        message.latency_ms = int((record.decided_at - record.opened_at).total_seconds() * 1000)
    _routing_fields(message, record)
    return message


def vote_message(vote: VoteRecord, *, with_evidence: bool) -> rpb.CheckpointVote:
    """A decision record; its evidence document (canonical JSON, the text its hash covers) only on request."""
    message = rpb.CheckpointVote(
        name=vote.name,
        voter=vote.voter,
        comment=vote.comment,
        reason_code=vote.reason_code,
        payload=struct(vote.payload),
        evidence_sha256=vote.evidence_sha256,
        evidence_json=vote.evidence if with_evidence else "",
        create_time=timestamp(vote.created_at),
    )
    if vote.decision in {d.value for d in Decision}:
        message.decision = DECISION[Decision(vote.decision)]
    message.payload_diff.extend(vote.payload_diff)
    return message


def _routing_fields(message: rpb.Checkpoint, record: CheckpointRecord) -> None:
    """Checkpoint fields 20-25 (issue 14, i14-routing)."""
    message.escalation_level = record.escalation_level
    message.escalation_levels = len(record.escalation)
    message.override = record.override
    message.override_justification = record.override_justification
    if record.remind_at is not None:
        message.remind_time.CopyFrom(timestamp(record.remind_at))
    upcoming = record.timers.next_escalation_at
    if upcoming is not None and record.status is CheckpointStatus.OPEN:
        message.next_escalation_time.CopyFrom(timestamp(upcoming))
