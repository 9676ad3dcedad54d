"""Read models: what was committed about a run, as the use cases and the api layer read it.

The store builds these from its rows and the app layer hands them out; the api layer converts them to protobuf. They
live in the domain so that neither of the outer layers imports the other (api never imports store/).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from services.runs.domain.model import CheckpointStatus, NewCheckpoint, OriginType, RunState, RunStatus
from services.runs.domain.routing import EscalationLevel, Timers


@dataclass(frozen=True)
class RunRecord:
    """What a run was launched with (immutable), next to its state."""

    origin_type: OriginType
    origin: str
    orchestration: str
    definition: dict[str, Any]
    prompt_templates: list[dict[str, str]]
    agents: dict[str, Any]
    metadata: dict[str, Any]
    request_id: str | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    request_fingerprint: str = ""  # SHA-256 of the canonical launch request (issue 14: REQUEST_ID_REUSED)


@dataclass(frozen=True)
class StoredEvent:
    """An event of the run's log, with its sequence number and the run's status when it was written."""

    run_id: str
    organization_slug: str
    sequence: int
    type: str
    step_id: str
    data: dict[str, Any]
    run_status: str
    created_at: dt.datetime

    @property
    def final(self) -> bool:
        """Whether the run had ended with this event."""
        return RunStatus(self.run_status).final


def number_events(run: RunState, now: dt.datetime) -> list[StoredEvent]:
    """Take the run's new events, numbered after its last sequence, each with the run's status: what a store writes
    under the run's row lock (which makes the numbers gap-free)."""
    stored = [
        StoredEvent(
            run.run_id,
            run.organization_slug,
            run.last_sequence + i,
            event.type.value,
            event.step_id,
            event.data,
            run.status.value,
            now,
        )
        for i, event in enumerate(run.events, start=1)
    ]
    if stored:
        run.last_sequence = stored[-1].sequence
    run.events.clear()
    return stored


@dataclass(frozen=True)
class VoteRecord:
    """One principal's vote on a checkpoint: an immutable decision record (i14-decisions).

    `evidence` is the canonical JSON text of what the voter saw (domain/votes.py builds it) and `evidence_sha256`
    the hex SHA-256 of its UTF-8 bytes; `payload_diff` the RFC 6902 patch of the vote's edit."""

    vote_id: str
    checkpoint_id: str
    run_id: str
    organization_slug: str
    voter: str
    decision: str
    comment: str
    reason_code: str
    payload: dict[str, Any]
    payload_diff: list[dict[str, Any]]
    evidence: str
    evidence_sha256: str
    created_at: dt.datetime

    @property
    def name(self) -> str:
        return (
            f"organizations/{self.organization_slug}/runs/{self.run_id}/checkpoints/{self.checkpoint_id}"
            f"/votes/{self.vote_id}"
        )


@dataclass(frozen=True)
class CheckpointRecord:
    checkpoint_id: str
    run_id: str
    organization_slug: str
    step_id: str
    title: str
    context: str
    deliverables: list[str]
    assignees: list[str]
    role: str
    status: CheckpointStatus
    on_expiry: str
    opened_at: dt.datetime
    due_at: dt.datetime | None
    decision: str
    comment: str
    payload: dict[str, Any]
    decided_by: str
    decided_at: dt.datetime | None
    revision: int = 0  # revisions of the step before this opening (issue 14)
    # i14-decisions: pinned when it opened; `votes` are read with the checkpoint, oldest first
    approvals_required: int = 1
    forbid_self_approval: bool = False
    reason_codes: tuple[str, ...] = ()
    reason_code: str = ""
    votes: tuple[VoteRecord, ...] = ()
    # --- routing and escalation (issue 14, i14-routing) ---
    orchestration: str = ""
    remind_before_seconds: float | None = None
    remind_at: dt.datetime | None = None
    reminded: bool = False
    escalation: tuple[EscalationLevel, ...] = ()
    escalation_level: int = 0
    escalation_base_at: dt.datetime | None = None
    override: bool = False
    override_justification: str = ""

    @property
    def timers(self) -> Timers:
        return Timers(
            self.due_at,
            self.remind_at,
            self.reminded,
            self.escalation,
            self.escalation_level,
            self.escalation_base_at,
        )

    @property
    def name(self) -> str:
        return f"organizations/{self.organization_slug}/runs/{self.run_id}/checkpoints/{self.checkpoint_id}"

    @classmethod
    def opened(cls, run_id: str, organization_slug: str, new: NewCheckpoint, now: dt.datetime) -> CheckpointRecord:
        """A checkpoint as it is stored when it opens: open, undecided."""
        timers = new.timers(now)
        return cls(
            checkpoint_id=new.checkpoint_id,
            run_id=run_id,
            organization_slug=organization_slug,
            step_id=new.step_id,
            title=new.title,
            context=new.context,
            deliverables=list(new.deliverables),
            assignees=list(new.assignees),
            role=new.role,
            status=CheckpointStatus.OPEN,
            on_expiry=new.on_expiry,
            opened_at=now,
            due_at=new.due_at,
            decision="",
            comment="",
            payload={},
            decided_by="",
            decided_at=None,
            revision=new.revision,
            approvals_required=new.approvals_required,
            forbid_self_approval=new.forbid_self_approval,
            reason_codes=tuple(new.reason_codes),
            remind_before_seconds=new.remind_before_seconds,
            remind_at=timers.remind_at,
            escalation=timers.escalation,
            escalation_base_at=timers.escalation_base_at,
        )


@dataclass(frozen=True)
class CheckpointQuery:
    """The approvals inbox's filter (ListCheckpoints)."""

    organization_slug: str
    run_id: str = ""
    status: CheckpointStatus | None = None
    assignee: str = ""
    role: str = ""
    overdue_at: dt.datetime | None = None
    # --- the inbox (issue 14, i14-routing) ---
    assigned_to_me: bool = False  # the app layer fills assigned_to with the caller's subject and groups
    assigned_to: tuple[str, ...] = ()  # normalized assignees, any of which matches
    group: str = ""  # `group:<slug>`, normalized
    due_before: dt.datetime | None = None
    orchestration: str = ""
    order_by_due: bool = False
