"""What the engine does when a waiting checkpoint's timer is due (issue 14, i14-routing): remind, escalate one
level, or expire. The step's due_at is the checkpoint's earliest timer (domain/routing.py), found by the engine's
one indexed sweep, so open checkpoints cost no task or timer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable

from services.runs.app.unit_of_work import RunsUnitOfWork
from services.runs.domain import machine
from services.runs.domain.model import EventType, RunState, StepSpec
from services.runs.domain.records import CheckpointRecord
from services.runs.domain.routing import TimerKind

Expire = Callable[[RunsUnitOfWork, RunState, StepSpec, dt.datetime], Awaitable[None]]


async def fire(uow: RunsUnitOfWork, run: RunState, spec: StepSpec, now: dt.datetime, expire: Expire) -> None:
    """Apply the checkpoint's due timer: expiry first, then the next escalation level, then the reminder. A step due
    with no timer of its checkpoint due (rows written before routing existed) expires, as it always did."""
    record = await uow.checkpoints.get(run.steps[spec.id].checkpoint_id)
    if record is None:
        return
    kind = record.timers.due(now)
    if kind is TimerKind.ESCALATE:
        await _escalate(uow, run, record)
    elif kind is TimerKind.REMIND:
        await _remind(uow, run, record)
    else:
        await expire(uow, run, spec, now)


async def _escalate(uow: RunsUnitOfWork, run: RunState, record: CheckpointRecord) -> None:
    """Reach the next level: its role (if it names one) and its assignees (a level naming only a role opens the
    checkpoint to anyone holding that role)."""
    level = record.escalation[record.escalation_level]
    role = level.role or record.role
    assignees = list(level.assignees)
    timers = dataclasses.replace(record.timers, escalation_level=record.escalation_level + 1)
    if not await uow.checkpoints.update_open(record, timers=timers, assignees=assignees, role=role):
        return  # decided meanwhile
    data = {
        "level": timers.escalation_level,
        "role": role,
        "assignees": assignees,
        "before": {"assignees": list(record.assignees), "role": record.role},
        "due_time": record.due_at.isoformat() if record.due_at else "",
    }
    machine.checkpoint_changed(run, record.step_id, EventType.CHECKPOINT_ESCALATED, data, timers.next_at)


async def _remind(uow: RunsUnitOfWork, run: RunState, record: CheckpointRecord) -> None:
    timers = dataclasses.replace(record.timers, reminded=True)
    if not await uow.checkpoints.update_open(record, timers=timers):
        return
    data = {
        "due_time": record.due_at.isoformat() if record.due_at else "",
        "remind_before_seconds": record.remind_before_seconds or 0,
        "assignees": list(record.assignees),
        "role": record.role,
    }
    machine.checkpoint_changed(run, record.step_id, EventType.CHECKPOINT_DUE_SOON, data, timers.next_at)
