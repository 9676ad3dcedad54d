"""Checkpoint use cases: the approvals inbox, and decisions recorded exactly once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from services.common import authz, pagination
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import FieldViolation, OrganizationNotFound, PermissionDenied, ValidationFailed
from services.runs.app.runs import RunQueries, RunView, authorize_run
from services.runs.app.transitions import Transitions
from services.runs.app.unit_of_work import RunsUnitOfWork, UnitOfWorkFactory
from services.runs.domain import machine
from services.runs.domain.errors import CheckpointNotFound, RunNotFound
from services.runs.domain.model import CheckpointStatus, Decision
from services.runs.domain.names import CheckpointName, RunName, parse_org
from services.runs.domain.records import CheckpointQuery, CheckpointRecord

MAX_COMMENT = 4000
MAX_PAYLOAD_BYTES = 64 * 1024
_STATUS_AFTER = {
    Decision.APPROVE: CheckpointStatus.APPROVED,
    Decision.REJECT: CheckpointStatus.REJECTED,
    Decision.REQUEST_CHANGES: CheckpointStatus.CHANGES_REQUESTED,
}


@dataclass(frozen=True)
class Decided:
    checkpoint: CheckpointRecord
    run: RunView


class CheckpointService:
    def __init__(self, uow_factory: UnitOfWorkFactory, transitions: Transitions, queries: RunQueries) -> None:
        self._uow = uow_factory
        self._transitions = transitions
        self._queries = queries

    async def get(self, name: str) -> CheckpointRecord:
        principal = authz.require_principal()
        parsed = CheckpointName.parse(name)
        self._authorize(principal, parsed, "viewer")
        async with self._uow() as uow:
            return await self._load(uow, parsed)

    async def list_page(
        self, parent: str, query: CheckpointQuery, page_size: int, page_token: str
    ) -> tuple[list[CheckpointRecord], str]:
        principal = authz.require_principal()
        if query.role and query.role not in authz.ROLES:
            raise ValidationFailed.single("role", f"must be one of {', '.join(authz.ROLES)} (or empty for any)")
        run: RunName | None = None
        if "/runs/" in parent:
            run = RunName.parse(parent, "parent")
            org, query = run.organization_slug, CheckpointQuery(**{**query.__dict__, "run_id": run.run_id})
            authorize_run(principal, run, "viewer")  # another organization's run is not found, as everywhere
        else:
            org = parse_org(parent)
            authz.authorize(principal, org, "viewer", hidden=lambda: OrganizationNotFound(org))
        query = CheckpointQuery(**{**query.__dict__, "organization_slug": org})
        fingerprint = [org, query.run_id, str(query.status), query.assignee, query.role, str(bool(query.overdue_at))]
        paging = pagination.Paging(page_size, page_token, pagination.TIME_AND_ID, "checkpoints", *fingerprint)
        async with self._uow() as uow:
            if run is not None and await uow.runs.organization_of(run.run_id) != org:
                raise RunNotFound(str(run))
            rows = await uow.checkpoints.list_page(query, after=paging.after, limit=paging.limit)
        return paging.page(rows, lambda c: (c.opened_at, c.checkpoint_id))

    async def decide(self, name: str, decision: Decision | None, comment: str, payload: dict[str, Any]) -> Decided:
        principal = authz.require_principal()
        parsed = CheckpointName.parse(name)
        violations = []
        if decision is None:
            violations.append(FieldViolation("decision", "must be APPROVE, REJECT or REQUEST_CHANGES"))
        if len(comment) > MAX_COMMENT:
            violations.append(FieldViolation("comment", f"must be at most {MAX_COMMENT} characters"))
        if len(json.dumps(payload).encode()) > MAX_PAYLOAD_BYTES:
            violations.append(FieldViolation("payload", f"must be at most {MAX_PAYLOAD_BYTES} bytes of JSON"))
        if violations:
            raise ValidationFailed(violations)
        assert decision is not None
        self._authorize(principal, parsed, "viewer")
        async with self._uow() as uow:
            run = await uow.runs.load(parsed.run.run_id)
            checkpoint = await self._load(uow, parsed)
            if run is None:
                raise CheckpointNotFound(str(parsed))
            required = checkpoint.role if checkpoint.role in authz.ROLES else "approver"
            if not authz.has_role(principal, required):
                raise PermissionDenied(
                    f"deciding this checkpoint needs the {required} role", metadata={"required_role": required}
                )
            now = utcnow()
            output = {"comment": comment, "payload": payload, "decided_by": principal.subject}
            # The state machine refuses a checkpoint that is not open (or whose step no longer waits) before
            # anything is written; the conditional write below settles a race with a concurrent decision.
            machine.decide(run, checkpoint.step_id, decision, output, now, checkpoint=(str(parsed), checkpoint.status))
            recorded = await uow.checkpoints.record_decision(
                checkpoint.checkpoint_id,
                _STATUS_AFTER[decision],
                decision.value,
                comment,
                payload,
                principal.subject,
                now,
            )
            if not recorded:  # decided meanwhile (by a concurrent call): nothing of the above is written
                current = await uow.checkpoints.get(checkpoint.checkpoint_id)
                decided = current.status if current is not None else CheckpointStatus.CLOSED
                raise machine.refused_decision(str(parsed), decided)
            await self._transitions.commit(uow, [run], now)
        async with self._uow() as uow:
            return Decided(await self._load(uow, parsed), await self._queries.view(uow, parsed.run))

    def _authorize(self, principal: Principal, name: CheckpointName, role: str) -> None:
        authz.authorize(principal, name.run.organization_slug, role, hidden=lambda: CheckpointNotFound(str(name)))

    async def _load(self, uow: RunsUnitOfWork, name: CheckpointName) -> CheckpointRecord:
        record = await uow.checkpoints.get(name.checkpoint_id)
        if record is None or record.run_id != name.run.run_id or record.organization_slug != name.run.organization_slug:
            raise CheckpointNotFound(str(name))
        return record
