"""Reassigning and extending open checkpoints (issue 14, i14-routing): operator+, audited as run events.

Both run under the run's row lock, like a decision (DecideCheckpoint), and write the checkpoint only while it is
still open, so a reassignment or extension racing a decision or an expiry has exactly one outcome: whichever
commits first; the other sees the checkpoint decided (FAILED_PRECONDITION) or decides under the new routing.

Who may reassign: operator or above (approvers and admins included). An admin may route a checkpoint anywhere;
anyone else is refused (SELF_ASSIGNMENT_FORBIDDEN) a reassignment after which they could decide a checkpoint they
could not decide before — an approver cannot hand a checkpoint to themselves (or to a group of theirs).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.common import authz
from services.common.db import utcnow
from services.common.errors import ValidationFailed
from services.runs.app import routing_input
from services.runs.app.transitions import Transitions
from services.runs.app.unit_of_work import RunsUnitOfWork, UnitOfWorkFactory
from services.runs.domain import machine, routing
from services.runs.domain.errors import CheckpointNotFound, InvalidTransition, SelfAssignment
from services.runs.domain.model import CheckpointStatus, EventType, RunState
from services.runs.domain.names import CheckpointName
from services.runs.domain.records import CheckpointRecord

ROUTING_ROLE = "operator"


class CheckpointRouting:
    def __init__(self, uow_factory: UnitOfWorkFactory, transitions: Transitions) -> None:
        self._uow = uow_factory
        self._transitions = transitions

    async def reassign(self, name: str, assignees: list[str], role: str, reason: str) -> CheckpointRecord:
        principal = authz.require_principal()
        parsed = CheckpointName.parse(name)
        violations = routing_input.assignee_violations(assignees, role) + routing_input.reason_violations(reason)
        if violations:
            raise ValidationFailed(violations)
        self._authorize(parsed)
        async with self._uow() as uow:
            run, record = await self._open(uow, parsed, "reassign")
            new_role = role or record.role
            before = routing.may_decide(principal, record.role, record.assignees)
            after = routing.may_decide(principal, new_role, assignees)
            gains = isinstance(after, routing.Permission) and not isinstance(before, routing.Permission)
            if gains and not authz.has_role(principal, routing.OVERRIDE_ROLE):
                raise SelfAssignment(
                    "only an admin may reassign a checkpoint so that they could decide it themselves",
                    metadata={"required_role": routing.OVERRIDE_ROLE},
                )
            if not await uow.checkpoints.update_open(record, assignees=list(assignees), role=new_role):
                raise await self._refused(uow, parsed, record, "reassign")
            data: dict[str, Any] = {
                "before": {"assignees": list(record.assignees), "role": record.role},
                "after": {"assignees": list(assignees), "role": new_role},
                "by": principal.subject,
                "reason": reason,
            }
            step = run.steps[record.step_id]
            machine.checkpoint_changed(run, record.step_id, EventType.CHECKPOINT_REASSIGNED, data, step.due_at)
            await self._transitions.commit(uow, [run], utcnow())
        return await self._reload(parsed)

    async def extend(self, name: str, due: dt.datetime | None, reason: str) -> CheckpointRecord:
        principal = authz.require_principal()
        parsed = CheckpointName.parse(name)
        now = utcnow()
        violations = routing_input.due_violations(due, now) + routing_input.reason_violations(reason)
        if violations:
            raise ValidationFailed(violations)
        assert due is not None
        self._authorize(parsed)
        async with self._uow() as uow:
            run, record = await self._open(uow, parsed, "extend")
            timers = routing.extended(record.timers, due, record.remind_before_seconds, now)
            if not await uow.checkpoints.update_open(record, timers=timers):
                raise await self._refused(uow, parsed, record, "extend")
            data: dict[str, Any] = {
                "before": record.due_at.isoformat() if record.due_at else "",
                "after": due.isoformat(),
                "remind_time": timers.remind_at.isoformat() if timers.remind_at else "",
                "by": principal.subject,
                "reason": reason,
            }
            machine.checkpoint_changed(run, record.step_id, EventType.CHECKPOINT_EXTENDED, data, timers.next_at)
            await self._transitions.commit(uow, [run], now)
        return await self._reload(parsed)

    def _authorize(self, name: CheckpointName) -> None:
        principal = authz.require_principal()
        authz.authorize(
            principal, name.run.organization_slug, ROUTING_ROLE, hidden=lambda: CheckpointNotFound(str(name))
        )

    async def _open(self, uow: RunsUnitOfWork, name: CheckpointName, action: str) -> tuple[RunState, CheckpointRecord]:
        """The run (locked) and the checkpoint, which must be open and waited on."""
        run = await uow.runs.load(name.run.run_id)
        record = await uow.checkpoints.get(name.checkpoint_id)
        if (
            run is None
            or record is None
            or record.run_id != name.run.run_id
            or record.organization_slug != name.run.organization_slug
        ):
            raise CheckpointNotFound(str(name))
        machine.check_open(run, record.step_id, str(name), record.status, action)
        return run, record

    async def _refused(
        self, uow: RunsUnitOfWork, name: CheckpointName, record: CheckpointRecord, action: str
    ) -> InvalidTransition:
        """Decided (or closed) since it was read: the refusal naming its status now."""
        current = await uow.checkpoints.get(record.checkpoint_id)
        status = current.status if current is not None else CheckpointStatus.CLOSED
        if status is CheckpointStatus.OPEN:
            status = CheckpointStatus.CLOSED
        return machine.refused_change(str(name), status, action)

    async def _reload(self, name: CheckpointName) -> CheckpointRecord:
        async with self._uow() as uow:
            record = await uow.checkpoints.get(name.checkpoint_id)
        if record is None:
            raise CheckpointNotFound(str(name))
        return record
