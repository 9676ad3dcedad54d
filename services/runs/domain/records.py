"""Read models: what was committed about a run, as the use cases and the api layer read it.

The store builds these from its rows and the app layer hands them out; the api layer converts them to protobuf. They
live in the domain so that neither of the outer layers imports the other (api never imports store/).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from services.runs.domain.model import CheckpointStatus, OriginType, RunStatus


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

    @property
    def name(self) -> str:
        return f"organizations/{self.organization_slug}/runs/{self.run_id}/checkpoints/{self.checkpoint_id}"


@dataclass(frozen=True)
class CheckpointQuery:
    """The approvals inbox's filter (ListCheckpoints)."""

    organization_slug: str
    run_id: str = ""
    status: CheckpointStatus | None = None
    assignee: str = ""
    role: str = ""
    overdue_at: dt.datetime | None = None
