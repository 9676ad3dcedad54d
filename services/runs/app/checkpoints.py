"""Checkpoint use cases: the approvals inbox, and decisions recorded exactly once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
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
from services.runs.domain import machine, routing, votes
from services.runs.domain.errors import CheckpointNotFound, NotAnAssignee, RunNotFound
from services.runs.domain.model import CheckpointStatus, Decision, RunState
from services.runs.domain.names import CheckpointName, RunName, parse_org
from services.runs.domain.records import CheckpointQuery, CheckpointRecord, RunRecord, VoteRecord
from services.runs.domain.revisions import check_revisions_left

NO_DUE_TIME = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)  # the due-time order's key without a due time (last)
MAX_COMMENT = 4000
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_REASON_CODE = 63
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
            found = await uow.votes.for_checkpoints([r.checkpoint_id for r in rows])
            rows = [dataclasses.replace(r, votes=tuple(found[r.checkpoint_id])) for r in rows]
        if query.order_by_due:
            return paging.page(rows, lambda c: (c.due_at or NO_DUE_TIME, c.checkpoint_id))
        return paging.page(rows, lambda c: (c.opened_at, c.checkpoint_id))

    async def decide(
        self,
        name: str,
        decision: Decision | None,
        comment: str,
        payload: dict[str, Any],
        reason_code: str = "",
        *,
        override: bool = False,
        justification: str = "",
    ) -> Decided:
        """Record the caller's vote; the vote that reaches the outcome (domain/votes.py) decides the checkpoint."""
        principal = authz.require_principal()
        parsed = CheckpointName.parse(name)
        violations = routing_input.override_violations(override, justification)
        if decision is None:
            violations.append(FieldViolation("decision", "must be APPROVE, REJECT or REQUEST_CHANGES"))
        if len(comment) > MAX_COMMENT:
            violations.append(FieldViolation("comment", f"must be at most {MAX_COMMENT} characters"))
        if len(json.dumps(payload).encode()) > MAX_PAYLOAD_BYTES:
            violations.append(FieldViolation("payload", f"must be at most {MAX_PAYLOAD_BYTES} bytes of JSON"))
        if len(reason_code) > MAX_REASON_CODE:
            violations.append(FieldViolation("reason_code", f"must be at most {MAX_REASON_CODE} characters"))
        if violations:
            raise ValidationFailed(violations)
        assert decision is not None
        self._authorize(principal, parsed, "viewer")
        async with self._uow() as uow:
            # Loading the run locks it: votes on a run's checkpoints are serialized, so a quorum is reached once.
            run = await uow.runs.load(parsed.run.run_id)
            checkpoint = await self._load(uow, parsed)
            view = await uow.runs.load_view(parsed.run.run_id)
            if run is None or view is None:
                raise CheckpointNotFound(str(parsed))
            record = view[1]
            # Routing (issue 14): the role, then the assignees; an admin's override is explicit and recorded. An
            # override bypasses routing only: the quorum, four-eyes and the revision cap still apply.
            allowed = routing.may_decide(principal, checkpoint.role, checkpoint.assignees, override=override)
            if isinstance(allowed, routing.Refusal):
                if allowed.kind is routing.RefusalKind.ROLE:
                    raise PermissionDenied(allowed.message, metadata={"required_role": allowed.required_role})
                raise NotAnAssignee(allowed.message, allowed.required_role, tuple(checkpoint.assignees))
            if reason_code and reason_code not in checkpoint.reason_codes:
                allowed_codes = ", ".join(checkpoint.reason_codes) or "none: this checkpoint declares no reason codes"
                raise ValidationFailed.single(
                    "reason_code", f"must be one of the checkpoint's reason codes ({allowed_codes})"
                )
            # A checkpoint that is not open (or whose step no longer waits) is refused before anything is written.
            machine.check_decision(run, checkpoint.step_id, str(parsed), checkpoint.status)
            if decision is Decision.REQUEST_CHANGES:  # a capped number of revisions, then only approve or reject
                check_revisions_left(
                    str(parsed), run.spec.step(checkpoint.step_id).checkpoint, run.steps[checkpoint.step_id]
                )
            ballot = votes.Ballot(principal.subject, decision, comment, reason_code, payload)
            votes.check_ballot(checkpoint, record.created_by, ballot, str(parsed))
            now = utcnow()
            vote = _vote(checkpoint, run, record, ballot, now)
            await uow.votes.insert(vote)
            counted = (*checkpoint.votes, vote)
            outcome = votes.outcome(counted, checkpoint.approvals_required)
            tally: dict[str, Any] = {
                "vote": vote.vote_id,
                "voter": principal.subject,
                "approvals": votes.approvals(counted),
                "approvals_required": checkpoint.approvals_required,
                "evidence_sha256": vote.evidence_sha256,
            }
            if allowed.override:
                tally["override"] = {"by": principal.subject, "justification": justification}
                override_kind = machine.InterventionKind.OVERRIDE
                machine.record_intervention(run, override_kind, checkpoint.step_id, principal.subject)
            if outcome is None:
                machine.record_vote(run, checkpoint.step_id, {"decision": decision.value, **tally})
            else:
                final_payload = vote.payload if outcome is not Decision.APPROVE else votes.proposed_payload(counted)
                output: dict[str, Any] = {"comment": comment, "payload": final_payload, "decided_by": principal.subject}
                if allowed.override:
                    output["override"] = tally["override"]
                machine.decide(run, checkpoint.step_id, outcome, {**output, "tally": tally}, now)
                _strip_tally(run, checkpoint.step_id)
                recorded = await uow.checkpoints.record_decision(
                    checkpoint.checkpoint_id,
                    _STATUS_AFTER[outcome],
                    outcome.value,
                    comment,
                    final_payload,
                    principal.subject,
                    now,
                    reason_code,
                    override_justification=justification if allowed.override else None,
                )
                if not recorded:  # decided meanwhile (by an expiry): nothing of the above is written
                    current = await uow.checkpoints.get(checkpoint.checkpoint_id)
                    decided = current.status if current is not None else CheckpointStatus.CLOSED
                    raise machine.refused_decision(str(parsed), decided)
            await self._transitions.commit(uow, [run], now)
        async with self._uow() as uow:
            return Decided(await self._load(uow, parsed), await self._queries.view(uow, parsed.run))

    async def votes_of(self, parent: str) -> list[VoteRecord]:
        """The checkpoint's votes with their evidence, oldest first (viewer role)."""
        principal = authz.require_principal()
        parsed = CheckpointName.parse(parent, "parent")
        self._authorize(principal, parsed, "viewer")
        async with self._uow() as uow:
            return list((await self._load(uow, parsed)).votes)

    def _authorize(self, principal: Principal, name: CheckpointName, role: str) -> None:
        authz.authorize(principal, name.run.organization_slug, role, hidden=lambda: CheckpointNotFound(str(name)))

    async def _load(self, uow: RunsUnitOfWork, name: CheckpointName) -> CheckpointRecord:
        record = await uow.checkpoints.get(name.checkpoint_id)
        if record is None or record.run_id != name.run.run_id or record.organization_slug != name.run.organization_slug:
            raise CheckpointNotFound(str(name))
        found = await uow.votes.for_checkpoints([record.checkpoint_id])
        return dataclasses.replace(record, votes=tuple(found[record.checkpoint_id]))


def _vote(
    checkpoint: CheckpointRecord, run: RunState, record: RunRecord, ballot: votes.Ballot, now: dt.datetime
) -> VoteRecord:
    """The decision record of `ballot`: its effective payload, the diff of its edit, and its evidence."""
    origin = {"origin_type": record.origin_type.value, "origin": record.origin, "orchestration": record.orchestration}
    evidence = votes.canonical_json(votes.evidence(checkpoint, run, origin))
    return VoteRecord(
        vote_id=str(uuid.uuid4()),
        checkpoint_id=checkpoint.checkpoint_id,
        run_id=checkpoint.run_id,
        organization_slug=checkpoint.organization_slug,
        voter=ballot.voter,
        decision=ballot.decision.value,
        comment=ballot.comment,
        reason_code=ballot.reason_code,
        payload=votes.effective_payload(checkpoint, ballot),
        payload_diff=votes.payload_diff(votes.shown_document(checkpoint), ballot.payload),
        evidence=evidence,
        evidence_sha256=votes.sha256_hex(evidence),
        created_at=now,
    )


def _strip_tally(run: RunState, step_id: str) -> None:
    """The tally belongs in the CHECKPOINT_DECIDED event, not in the step's output (which later steps read)."""
    state = run.steps[step_id]
    if isinstance(state.output, dict) and "tally" in state.output:
        state.output = {k: v for k, v in state.output.items() if k != "tally"}
