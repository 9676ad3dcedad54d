"""The runs domain model: a run's pinned plan (phases and steps) and the mutable state of a run and its steps.

Pure Python: no I/O. The store loads a `RunState`, the state machine (`machine.py`) changes it and records the
events, and the store writes exactly what changed, with the events, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from services.runs.domain import routing
from services.runs.domain.routing import EscalationLevel, Timers


class OriginType(enum.StrEnum):
    PLAN = "plan"
    SAVED_ORCHESTRATION = "saved_orchestration"
    AD_HOC = "ad_hoc"


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED)


class EventType(enum.StrEnum):
    RUN_CREATED = "run_created"
    RUN_STATUS_CHANGED = "run_status_changed"
    STEP_READY = "step_ready"
    STEP_STARTED = "step_started"
    STEP_SUCCEEDED = "step_succeeded"
    STEP_FAILED = "step_failed"
    STEP_SKIPPED = "step_skipped"
    STEP_TAKEN_OVER = "step_taken_over"
    STEP_OUTPUT_DELTA = "step_output_delta"
    CHECKPOINT_OPENED = "checkpoint_opened"
    CHECKPOINT_DECIDED = "checkpoint_decided"
    CHECKPOINT_ESCALATED = "checkpoint_escalated"
    # run controls (issue 14): an operator acted on the run (data: kind, step_id, by)
    OPERATOR_INTERVENTION = "operator_intervention"
    CHECKPOINT_VOTE_RECORDED = "checkpoint_vote_recorded"  # i14-decisions
    CHECKPOINT_DUE_SOON = "checkpoint_due_soon"  # issue 14, i14-routing
    CHECKPOINT_REASSIGNED = "checkpoint_reassigned"
    CHECKPOINT_EXTENDED = "checkpoint_extended"


class Decision(enum.StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"


class CheckpointStatus(enum.StrEnum):
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"
    EXPIRED = "expired"
    CLOSED = "closed"


BUILT_IN_KINDS = frozenset({"noop", "echo", "template"})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 1
    initial_backoff: float = 1.0
    max_backoff: float = 60.0
    multiplier: float = 2.0

    def backoff(self, attempt: int) -> float:
        """Delay before attempt `attempt + 1`, after `attempt` failed (exponential, capped)."""
        return float(min(self.max_backoff, self.initial_backoff * self.multiplier ** max(attempt - 1, 0)))


@dataclass(frozen=True)
class CheckpointSpec:
    title: str
    context: str = ""
    deliverables: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    role: str = "approver"
    due_in_seconds: float | None = None
    on_expiry: str = "reject"
    escalate_to: str = ""
    # request-changes revisions (issue 14): how many times the checkpoint may send its dependencies back
    max_revisions: int = 3

    # i14-decisions: quorum, four-eyes (None: the launcher's organization default, pinned at launch), reason codes
    approvals_required: int = 1
    forbid_self_approval: bool | None = None
    reason_codes: tuple[str, ...] = ()

    # --- routing and escalation (issue 14, i14-routing) ---
    remind_before_seconds: float | None = None
    escalation: tuple[EscalationLevel, ...] = ()


DEFAULT_MAX_REVISIONS = 3


@dataclass(frozen=True)
class StepSpec:
    id: str
    kind: str
    phase_index: int
    title: str = ""
    depends_on: tuple[str, ...] = ()
    agent: str = ""
    prompt: str = ""
    prompt_template: str = ""
    template: str = ""
    message: str = ""
    inputs: tuple[tuple[str, str], ...] = ()
    credentials: tuple[str, ...] = ()
    timeout_seconds: float | None = None
    retry: RetryPolicy = RetryPolicy()
    on_failure: str = "fail_run"
    checkpoint: CheckpointSpec | None = None


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: str
    required: bool = False
    default: Any = None
    has_default: bool = False
    enum: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class RunSpec:
    """The pinned definition a run executes."""

    phases: tuple[str, ...]
    steps: tuple[StepSpec, ...]
    parameters: tuple[ParameterSpec, ...] = ()
    prompt_templates: tuple[tuple[str, str], ...] = ()

    def step(self, step_id: str) -> StepSpec:
        return self._by_id[step_id]

    @property
    def _by_id(self) -> dict[str, StepSpec]:
        cached: dict[str, StepSpec] | None = self.__dict__.get("_index")
        if cached is None:
            cached = {s.id: s for s in self.steps}
            object.__setattr__(self, "_index", cached)
        return cached

    def template(self, name: str) -> str:
        return dict(self.prompt_templates)[name]

    def referenced_agents(self) -> list[str]:
        return list(dict.fromkeys(s.agent for s in self.steps if s.kind == "agent" and s.agent))


@dataclass
class StepState:
    step_id: str
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    output: Any = None
    error: str = ""
    due_at: dt.datetime | None = None
    lease_owner: str = ""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    checkpoint_id: str = ""
    # run controls and revisions (issue 14):
    retry_base: int = 0  # attempts made before the current retry policy window (RetryRun, request_changes)
    revision: dict[str, Any] | None = None  # the reviewer feedback the step's next attempts see (see revisions.py)
    agent_context: dict[str, Any] | None = None  # where the agent's last answer came from (A2A task/context ids)


@dataclass(frozen=True)
class NewEvent:
    type: EventType
    step_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewCheckpoint:
    checkpoint_id: str
    step_id: str
    title: str
    context: str
    deliverables: tuple[str, ...]
    assignees: tuple[str, ...]
    role: str
    due_at: dt.datetime | None
    on_expiry: str
    revision: int = 0  # how many times this checkpoint step sent its dependencies back before this opening
    # i14-decisions: pinned when the checkpoint opens
    approvals_required: int = 1
    forbid_self_approval: bool = False
    reason_codes: tuple[str, ...] = ()
    # --- routing and escalation (issue 14, i14-routing) ---
    remind_before_seconds: float | None = None
    escalation: tuple[EscalationLevel, ...] = ()

    def timers(self, now: dt.datetime) -> Timers:
        """Its timers when it opens at `now` (the waiting step's due_at is their `next_at`)."""
        return routing.opened(now, self.due_at, self.remind_before_seconds, self.escalation)


@dataclass
class RunState:
    """A run and its steps as loaded for one transaction; `events`, `dirty` (the steps changed),
    `checkpoints_opened` and `checkpoints_closed` say what to write back (the run's row is written every time)."""

    run_id: str
    organization_slug: str
    spec: RunSpec
    status: RunStatus
    inputs: dict[str, Any]
    steps: dict[str, StepState]
    last_sequence: int = 0
    status_reason: str = ""
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    current_phase: int = 0
    agents: dict[str, Any] = field(default_factory=dict)  # the agents' registry snapshot, pinned at launch
    # i14-decisions: the launcher's organization default for forbid_self_approval, pinned at launch
    forbid_self_approval: bool = False
    events: list[NewEvent] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)
    checkpoints_opened: list[NewCheckpoint] = field(default_factory=list)
    checkpoints_closed: list[tuple[str, str]] = field(default_factory=list)  # (checkpoint_id, status)

    @property
    def name(self) -> str:
        return f"organizations/{self.organization_slug}/runs/{self.run_id}"

    def touch(self, step_id: str) -> StepState:
        self.dirty.add(step_id)
        return self.steps[step_id]
