"""Checkpoint use cases: the approvals inbox, and decisions recorded exactly once."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from services.common import authz, pagination
from services.common.context import Principal
from services.common.db import utcnow
from services.common.errors import FieldViolation, OrganizationNotFound, PermissionDenied, ValidationFailed
from services.runs.app import routing_input
from services.runs.app.runs import RunQueries, RunView, authorize_run
from services.runs.app.transitions import Transitions
from services.runs.app.unit_of_work import RunsUnitOfWork, UnitOfWorkFactory
from services.runs.domain import machine, routing
from services.runs.domain.errors import CheckpointNotFound, NotAnAssignee, RunNotFound
from services.runs.domain.model import CheckpointStatus, Decision
from services.runs.domain.names import CheckpointName, RunName, parse_org
from services.runs.domain.records import CheckpointQuery, CheckpointRecord

NO_DUE_TIME = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)  # the due-time order's key without a due time (last)
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
        if query.orchestration and not query.orchestration.startswith(f"organizations/{org}/"):
            raise ValidationFailed.single("orchestration", f"must be an orchestration of organizations/{org}")
        if query.assigned_to_me:  # assigned_to_me: the caller's own keys, never taken from the request
            query = CheckpointQuery(**{**query.__dict__, "assigned_to": tuple(routing.principal_keys(principal))})
        fingerprint = [org, query.run_id, str(query.status), query.assignee, query.role, str(bool(query.overdue_at))]
        fingerprint += [
            ",".join(query.assigned_to),
            query.group,
            query.due_before.isoformat() if query.due_before else "",
            query.orchestration,
            str(query.order_by_due),
        ]
        paging = pagination.Paging(page_size, page_token, pagination.TIME_AND_ID, "checkpoints", *fingerprint)
        async with self._uow() as uow:
            if run is not None and await uow.runs.organization_of(run.run_id) != org:
                raise RunNotFound(str(run))
            rows = await uow.checkpoints.list_page(query, after=paging.after, limit=paging.limit)
        if query.order_by_due:
            return paging.page(rows, lambda c: (c.due_at or NO_DUE_TIME, c.checkpoint_id))
        return paging.page(rows, lambda c: (c.opened_at, c.checkpoint_id))

    async def decide(
        self,
        name: str,
        decision: Decision | None,
        comment: str,
        payload: dict[str, Any],
        *,
        override: bool = False,
        justification: str = "",
    ) -> Decided:
        principal = authz.require_principal()
        parsed = CheckpointName.parse(name)
        violations = routing_input.override_violations(override, justification)
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
            # Routing (issue 14): the role, then the assignees; an admin's override is explicit and recorded.
            allowed = routing.may_decide(principal, checkpoint.role, checkpoint.assignees, override=override)
            if isinstance(allowed, routing.Refusal):
                if allowed.kind is routing.RefusalKind.ROLE:
                    raise PermissionDenied(allowed.message, metadata={"required_role": allowed.required_role})
                raise NotAnAssignee(allowed.message, allowed.required_role, tuple(checkpoint.assignees))
            now = utcnow()
            output: dict[str, Any] = {"comment": comment, "payload": payload, "decided_by": principal.subject}
            if allowed.override:
                output["override"] = {"by": principal.subject, "justification": justification}
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
                override_justification=justification if allowed.override else None,
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
