"""The run state machine (pure). Each function applies one transition to a loaded `RunState` and records its events.

Run statuses::

    pending ──first step starts──▶ running ◀──resume / decision──▶ paused (operator, or only checkpoints left)
       │                              │
       └──────────── cancel ──────────┼──▶ cancelled (final)
                                      ├──▶ completed (every step ended)            (final)
                                      └──▶ failed (a fail_run step failed) ──retry──▶ running

Step statuses::

    pending ──deps and phase done──▶ ready ──claimed──▶ running ──▶ succeeded
                                      ▲  │                 │ └────▶ failed (no attempts left)
                                      │  │                 └──retryable failure──▶ ready (due after backoff)
                                      │  └──checkpoint step──▶ waiting ──approve──▶ succeeded
                                      │                                 ├─reject───▶ failed
                                      └────── request_changes (its dependencies) ◀┘
    (ready | pending | running | waiting) ──run ends──▶ skipped | cancelled

Phases run in order: a step becomes ready when every step of earlier phases has ended (a failed step with
on_failure=continue counts as ended) and its depends_on steps have too. Transitions that report a worker's result
are fenced: a result from a worker that lost its lease, or for an attempt that is no longer current, changes
nothing (returns False), so a step never succeeds twice.

What people ask of a run (cancel, pause, resume, retry, decide a checkpoint) is refused here, by the transition
itself, when the run's state does not accept it: `RULES` lists the states each action accepts (as Prefect's
orchestration rules declare their FROM_STATES), and a refusal is an `InvalidTransition` carrying the current state
and the refused action (FAILED_PRECONDITION, with a typed detail clients read).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from services.runs.domain.errors import InvalidTransition, UnknownStep
from services.runs.domain.model import (
    CheckpointStatus,
    Decision,
    EventType,
    NewCheckpoint,
    NewEvent,
    RunState,
    RunStatus,
    StepSpec,
    StepState,
    StepStatus,
)
from services.runs.domain.revisions import check_revisions_left, next_revision, revision_count

PAUSED_BY_OPERATOR = "operator"
WAITING_FOR_CHECKPOINT = "checkpoint"


class Action(enum.StrEnum):
    """What a person (an operator, an approver) asks of a run."""

    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"
    DECIDE = "decide"


@dataclass(frozen=True)
class Rule:
    """The run states an action accepts: any of `statuses`, or `paused` for one of `paused_because` (a run paused
    by an operator and one waiting on its checkpoints accept different actions). `only` explains a refusal."""

    statuses: frozenset[RunStatus]
    paused_because: frozenset[str] = frozenset()
    only: str = ""

    def accepts(self, status: RunStatus, reason: str) -> bool:
        return status in self.statuses or (status is RunStatus.PAUSED and reason in self.paused_because)


RULES: dict[Action, Rule] = {
    Action.CANCEL: Rule(frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED})),
    Action.PAUSE: Rule(
        frozenset({RunStatus.PENDING, RunStatus.RUNNING}),
        frozenset({WAITING_FOR_CHECKPOINT}),
        "only a pending or running run, or one waiting on a checkpoint",
    ),
    Action.RESUME: Rule(frozenset(), frozenset({PAUSED_BY_OPERATOR}), "only a run paused by an operator"),
    Action.RETRY: Rule(
        frozenset({RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.COMPLETED}),
        only="only failed, cancelled or completed runs",
    ),
}


def accepts(run: RunState, action: Action) -> bool:
    """Whether the run's current state accepts `action` (cancel, pause, resume, retry; see `RULES`)."""
    return RULES[action].accepts(run.status, run.status_reason)


def check(run: RunState, action: Action) -> None:
    """Refuse `action` (InvalidTransition) unless the run's current state accepts it."""
    if not accepts(run, action):
        raise _refused(run, action, RULES[action].only)


def _refused(run: RunState, action: Action, why: str) -> InvalidTransition:
    return InvalidTransition(
        f"run {run.name}", run.name, run.status.value, action.value, status_reason=run.status_reason, why=why
    )


def idempotency_key(run: RunState, step_id: str, attempt: int) -> str:
    return f"{run.run_id}/{step_id}/{attempt}"


# --- launch and progress ------------------------------------------------------------------------------------------


def create(run: RunState, now: dt.datetime) -> None:
    """A new run: record its creation and make its first steps due."""
    run.events.append(NewEvent(EventType.RUN_CREATED, data={"step_count": len(run.spec.steps)}))
    advance(run, now)


def claim(run: RunState, step_id: str, worker: str, now: dt.datetime, lease: dt.timedelta) -> int:
    """A worker starts the next attempt of a ready step; returns the attempt number."""
    state = run.touch(step_id)
    assert state.status is StepStatus.READY, state.status
    state.status = StepStatus.RUNNING
    state.attempt += 1
    state.lease_owner = worker
    state.due_at = now + lease
    state.started_at = now
    state.error = ""
    if run.started_at is None:
        run.started_at = now
    run.events.append(
        NewEvent(
            EventType.STEP_STARTED,
            step_id,
            {
                "attempt": state.attempt,
                "worker": worker,
                "idempotency_key": idempotency_key(run, step_id, state.attempt),
            },
        )
    )
    _set_status(run, _derived_status(run))
    return state.attempt


def take_over(run: RunState, step_id: str, worker: str, now: dt.datetime, lease: dt.timedelta) -> int:
    """A worker adopts a running step whose lease expired; the attempt (and its idempotency key) stays the same."""
    state = run.touch(step_id)
    assert state.status is StepStatus.RUNNING, state.status
    previous, state.lease_owner, state.due_at = state.lease_owner, worker, now + lease
    run.events.append(
        NewEvent(EventType.STEP_TAKEN_OVER, step_id, {"attempt": state.attempt, "worker": worker, "previous": previous})
    )
    return state.attempt


def holds(run: RunState, step_id: str, attempt: int, worker: str) -> bool:
    """Whether `worker` still owns `attempt` of the step (the fence for reporting results)."""
    state = run.steps.get(step_id)
    return (
        state is not None
        and not run.status.final
        and state.status is StepStatus.RUNNING
        and state.attempt == attempt
        and state.lease_owner == worker
    )


def succeed(
    run: RunState,
    step_id: str,
    attempt: int,
    worker: str,
    output: Any,
    now: dt.datetime,
    *,
    agent_context: dict[str, Any] | None = None,
) -> bool:
    """A successful attempt. `agent_context` (A2A task and context ids) is kept so that a revision can continue
    the agent's conversation."""
    if not holds(run, step_id, attempt, worker):
        return False
    state = _finish(run, step_id, StepStatus.SUCCEEDED, now, output=output)
    if agent_context:
        state.agent_context = agent_context
    run.events.append(NewEvent(EventType.STEP_SUCCEEDED, step_id, {"attempt": attempt, "output": output}))
    advance(run, now)
    return True


def fail(
    run: RunState, step_id: str, attempt: int, worker: str, error: str, now: dt.datetime, *, retryable: bool = True
) -> bool:
    """A failed attempt: retried after backoff while attempts remain (and the error is retryable), else the step
    fails and its on_failure policy applies."""
    if not holds(run, step_id, attempt, worker):
        return False
    spec, state = run.spec.step(step_id), run.touch(step_id)
    tried = attempt - state.retry_base  # attempts in the current window: RetryRun and revisions open a new one
    if retryable and tried < spec.retry.max_attempts:
        retry_at = now + dt.timedelta(seconds=spec.retry.backoff(tried))
        due = None if _frozen(run) else retry_at  # an operator pause holds retries too; resume makes them due
        state.status, state.due_at, state.lease_owner, state.error = StepStatus.READY, due, "", error
        run.events.append(
            NewEvent(
                EventType.STEP_FAILED, step_id, {"attempt": attempt, "error": error, "retry_at": retry_at.isoformat()}
            )
        )
        _set_status(run, _derived_status(run))
        return True
    _finish(run, step_id, StepStatus.FAILED, now, error=error)
    run.events.append(NewEvent(EventType.STEP_FAILED, step_id, {"attempt": attempt, "error": error, "final": True}))
    _after_failure(run, spec, error, now)
    return True


def advance(run: RunState, now: dt.datetime) -> None:
    """Make every step whose phase and dependencies are done due now; complete the run when all steps ended."""
    if run.status.final:
        return
    if all(s.status.terminal for s in run.steps.values()):
        _end(run, RunStatus.COMPLETED, completion_reason(run), now)
        return
    gate = _open_phase(run)
    run.current_phase = max(run.current_phase, gate)
    frozen = _frozen(run)
    for spec in run.spec.steps:
        state = run.steps[spec.id]
        if (
            state.status is StepStatus.PENDING
            and spec.phase_index <= gate
            and all(_ended_ok(run, d) for d in spec.depends_on)
        ):
            state = run.touch(spec.id)
            state.status = StepStatus.READY
            state.due_at = None if frozen else now
    _set_status(run, _derived_status(run))


# --- checkpoints --------------------------------------------------------------------------------------------------


def open_checkpoint(run: RunState, step_id: str, checkpoint: NewCheckpoint, now: dt.datetime) -> None:
    """A ready checkpoint step starts waiting for a human; it holds no lease, only an optional expiry time."""
    state = run.touch(step_id)
    assert state.status is StepStatus.READY, state.status
    state.status, state.attempt, state.started_at = StepStatus.WAITING, state.attempt + 1, now
    # Its earliest timer (reminder, escalation level, due time): see domain/routing.py.
    state.due_at, state.checkpoint_id, state.lease_owner = checkpoint.timers(now).next_at, checkpoint.checkpoint_id, ""
    if run.started_at is None:
        run.started_at = now
    run.checkpoints_opened.append(checkpoint)
    run.events.append(
        NewEvent(
            EventType.CHECKPOINT_OPENED, step_id, {"checkpoint": checkpoint.checkpoint_id, "title": checkpoint.title}
        )
    )
    _set_status(run, _derived_status(run))


def await_input(
    run: RunState,
    step_id: str,
    attempt: int,
    worker: str,
    checkpoint: NewCheckpoint,
    question: str,
    agent_context: dict[str, Any],
    now: dt.datetime,
) -> bool:
    """An agent asked a person a question (A2A input-required): the agent step waits on a checkpoint, holding no
    lease; the answer is sent back to the agent by the step's next attempt. Fenced like a result."""
    if not holds(run, step_id, attempt, worker):
        return False
    state = run.touch(step_id)
    state.status, state.due_at, state.lease_owner = StepStatus.WAITING, checkpoint.due_at, ""
    state.checkpoint_id = checkpoint.checkpoint_id
    state.output = {"input_required": {"question": question, "context": agent_context}}
    run.checkpoints_opened.append(checkpoint)
    run.events.append(
        NewEvent(
            EventType.CHECKPOINT_OPENED,
            step_id,
            {"checkpoint": checkpoint.checkpoint_id, "title": checkpoint.title, "kind": "input_required"},
        )
    )
    _set_status(run, _derived_status(run))
    return True


def check_decision(run: RunState, step_id: str, checkpoint: str, status: CheckpointStatus) -> None:
    """Refuse a decision (InvalidTransition) unless the checkpoint (`checkpoint`, its resource name) is open and its
    step waits on it: a checkpoint is decided exactly once."""
    state = run.steps.get(step_id)
    if status is not CheckpointStatus.OPEN or state is None or state.status is not StepStatus.WAITING:
        raise refused_decision(checkpoint, status)


def refused_decision(checkpoint: str, status: CheckpointStatus) -> InvalidTransition:
    """The refusal of a decision on `checkpoint` (its resource name), found in `status`."""
    return InvalidTransition(f"checkpoint {checkpoint}", checkpoint, status.value, Action.DECIDE.value, again=True)


def decide(
    run: RunState,
    step_id: str,
    decision: Decision,
    output: dict[str, Any],
    now: dt.datetime,
    *,
    expired: bool = False,
    checkpoint: tuple[str, CheckpointStatus] | None = None,
) -> None:
    """Apply a decision to a waiting step. `checkpoint` (resource name, status as stored) is checked first: a
    decision on a checkpoint that is not open, or whose step no longer waits, is refused (`check_decision`)."""
    if checkpoint is not None:
        check_decision(run, step_id, *checkpoint)
        if decision is Decision.REQUEST_CHANGES:  # a capped number of revisions, then only approve or reject
            check_revisions_left(checkpoint[0], run.spec.step(step_id).checkpoint, run.steps[step_id])
    state = run.steps[step_id]
    if state.status is not StepStatus.WAITING:
        raise InvalidTransition(
            f"step {step_id!r} of run {run.name}", run.name, state.status.value, Action.DECIDE.value, again=True
        )
    data = {"checkpoint": state.checkpoint_id, "decision": decision.value, "expired": expired, **output}
    run.events.append(NewEvent(EventType.CHECKPOINT_DECIDED, step_id, data))
    if run.spec.step(step_id).kind == "agent" and decision is not Decision.REJECT:
        _answer_agent(run, step_id, output, now)
        return
    if decision is Decision.APPROVE:
        _finish(run, step_id, StepStatus.SUCCEEDED, now, output={"decision": decision.value, **output})
        run.events.append(NewEvent(EventType.STEP_SUCCEEDED, step_id, {"attempt": state.attempt}))
        advance(run, now)
    elif decision is Decision.REJECT:
        reason = f"checkpoint {'expired' if expired else 'rejected'}" + (
            f": {output['comment']}" if output.get("comment") else ""
        )
        _finish(run, step_id, StepStatus.FAILED, now, error=reason, output={"decision": decision.value, **output})
        run.events.append(
            NewEvent(EventType.STEP_FAILED, step_id, {"attempt": state.attempt, "error": reason, "final": True})
        )
        _after_failure(run, run.spec.step(step_id), reason, now)
    else:
        _send_back(run, step_id, output, now)


def record_vote(run: RunState, step_id: str, data: dict[str, Any]) -> None:
    """A vote that does not decide the checkpoint yet (a quorum still short): only an event; the step waits on."""
    state = run.steps[step_id]
    if state.status is not StepStatus.WAITING:
        raise InvalidTransition(
            f"step {step_id!r} of run {run.name}", run.name, state.status.value, Action.DECIDE.value, again=True
        )
    run.events.append(
        NewEvent(EventType.CHECKPOINT_VOTE_RECORDED, step_id, {"checkpoint": state.checkpoint_id, **data})
    )


def _answer_agent(run: RunState, step_id: str, output: dict[str, Any], now: dt.datetime) -> None:
    """The person answered the agent's question: the step is due again, and its next attempt sends the answer
    (the decision's comment) to the agent together with the agent's task context."""
    state = run.touch(step_id)
    waiting = state.output if isinstance(state.output, dict) else {}
    asked = waiting.get("input_required", {})
    state.output = {"reply": output.get("comment", ""), "payload": output.get("payload", {}), **asked}
    state.status, state.checkpoint_id = StepStatus.READY, ""
    state.due_at = None if _frozen(run) else now
    _set_status(run, _derived_status(run))


def reply_for(state: StepState) -> tuple[str, dict[str, Any]]:
    """The answer (and agent context) an agent step carries into its next attempt after input-required."""
    if isinstance(state.output, dict) and "reply" in state.output:
        return str(state.output.get("reply", "")), dict(state.output.get("context") or {})
    return "", {}


def escalate(
    run: RunState, step_id: str, role: str, due_at: dt.datetime, *, timer_at: dt.datetime | None = None
) -> None:
    """An expired checkpoint moves to a higher role with a new due time (it stays open); `timer_at`, its next
    timer when that comes before the new due time (a reminder)."""
    state = run.touch(step_id)
    assert state.status is StepStatus.WAITING, state.status
    state.due_at = timer_at or due_at
    run.events.append(
        NewEvent(
            EventType.CHECKPOINT_ESCALATED,
            step_id,
            {"checkpoint": state.checkpoint_id, "role": role, "due_time": due_at.isoformat()},
        )
    )


def fail_run_on_expiry(run: RunState, step_id: str, now: dt.datetime) -> None:
    reason = "checkpoint expired (on_expiry: fail_run)"
    run.events.append(
        NewEvent(
            EventType.CHECKPOINT_DECIDED, step_id, {"checkpoint": run.steps[step_id].checkpoint_id, "expired": True}
        )
    )
    _finish(run, step_id, StepStatus.FAILED, now, error=reason)
    _end(run, RunStatus.FAILED, f"step {step_id!r} failed: {reason}", now)


def _send_back(run: RunState, step_id: str, decision: dict[str, Any], now: dt.datetime) -> None:
    """request_changes: the steps the checkpoint depends on (or, without any, the previous phase) run again, each
    with a `revision` (the comment, the edited payload, its previous output: see revisions.py) and a fresh retry
    policy, then the checkpoint opens anew with its revision count one higher."""
    spec = run.spec.step(step_id)
    redo = list(spec.depends_on) or [s.id for s in run.spec.steps if s.phase_index == spec.phase_index - 1]
    state = run.touch(step_id)
    state.status, state.due_at, state.checkpoint_id = StepStatus.PENDING, None, ""
    state.revision = {"number": revision_count(state) + 1}
    comment, payload = str(decision.get("comment") or ""), dict(decision.get("payload") or {})
    due = None if _frozen(run) else now
    for dep in redo:
        dep_state = run.touch(dep)
        dep_state.revision = next_revision(dep_state, comment, payload)
        dep_state.retry_base = dep_state.attempt
        dep_state.status, dep_state.due_at, dep_state.lease_owner, dep_state.finished_at = (
            StepStatus.READY,
            due,
            "",
            None,
        )
    advance(run, now)


# --- operator controls --------------------------------------------------------------------------------------------


def cancel(run: RunState, reason: str, now: dt.datetime) -> None:
    """End the run, cancelled; refused once it ended."""
    check(run, Action.CANCEL)
    _end(run, RunStatus.CANCELLED, reason or "cancelled by an operator", now)


def pause(run: RunState, now: dt.datetime) -> None:
    """Start no step until `resume` (running attempts finish); refused unless pending, running or only waiting on
    checkpoints."""
    check(run, Action.PAUSE)
    for state in run.steps.values():
        if state.status is StepStatus.READY:
            run.touch(state.step_id).due_at = None
    _set_status(run, RunStatus.PAUSED, PAUSED_BY_OPERATOR)


def resume(run: RunState, now: dt.datetime, *, by: str = "") -> None:
    """Undo an operator's pause: what is ready is due now. Refused for a run an operator did not pause."""
    check(run, Action.RESUME)
    record_intervention(run, InterventionKind.RESUME, "", by)
    for state in run.steps.values():
        if state.status is StepStatus.READY and state.due_at is None:
            run.touch(state.step_id).due_at = now
    run.status_reason = ""
    _set_status(run, _derived_status(run))


def retry_from(run: RunState, step_id: str, now: dt.datetime, *, by: str = "") -> list[str]:
    """Reset `step_id` ("": the first step that failed or was cancelled), the steps after it (its dependents and
    later phases) and every step that did not succeed; keep other outputs. Attempt numbers continue from where they
    were, so every new attempt has a new idempotency key, and each reset step gets its full retry policy again
    (max_attempts new attempts, with backoff). A completed run can be retried from a named step ("": its first
    failed step), keeping every earlier result, failed ones (on_failure continue) included. Refused unless the
    run failed, was cancelled or completed; UnknownStep for a step the run does not have."""
    check(run, Action.RETRY)
    if not step_id:
        first = first_failed_step(run)
        if first is None:
            raise _refused(run, Action.RETRY, "no step failed; name from_step")
        step_id = first
    if step_id not in run.steps:
        raise UnknownStep(tuple(run.steps))
    origin = run.spec.step(step_id)
    after = _dependents(run, step_id)
    # A completed run keeps every earlier result, a continued failure too (retry that step to re-run it).
    kept = (StepStatus.SUCCEEDED, StepStatus.FAILED) if run.status is RunStatus.COMPLETED else (StepStatus.SUCCEEDED,)
    reset = [
        s.id
        for s in run.spec.steps
        if s.id == step_id or s.phase_index > origin.phase_index or s.id in after or run.steps[s.id].status not in kept
    ]
    for sid in reset:
        state = run.touch(sid)
        state.status, state.output, state.error, state.due_at = StepStatus.PENDING, None, "", None
        state.lease_owner, state.finished_at, state.checkpoint_id = "", None, ""
        state.retry_base, state.revision, state.agent_context = state.attempt, None, None
    record_intervention(run, InterventionKind.RETRY, step_id, by)
    run.ended_at = None
    run.current_phase = 0
    # One status change (failed|cancelled|completed → running), whose reason stays while the run runs: advance()
    # derives `running` again and must not record a `running → running` event.
    _set_status(run, RunStatus.RUNNING, f"retried from {step_id}")
    advance(run, now)
    return reset


class InterventionKind(enum.StrEnum):
    """Why an operator had to act on a run (what "completed without remediation" excludes)."""

    RETRY = "retry"
    RESUME = "resume"
    OVERRIDE = "override"  # an admin decided a checkpoint outside its routing (recorded by the routing use case)


def record_intervention(run: RunState, kind: InterventionKind, step_id: str, by: str) -> None:
    """Record that an operator acted on the run (an OPERATOR_INTERVENTION event: kind, step_id, by). The run's
    `operator_interventions` are read back from these events. Call it inside the transition that acts."""
    run.events.append(NewEvent(EventType.OPERATOR_INTERVENTION, step_id, {"kind": kind.value, "by": by}))


def failed_steps(run: RunState) -> list[str]:
    """The steps that ended failed (in definition order): in a completed run, those with on_failure=continue."""
    return [s.id for s in run.spec.steps if run.steps[s.id].status is StepStatus.FAILED]


def completion_reason(run: RunState) -> str:
    """A completed run's status_reason: empty, or how many steps failed and were continued past."""
    failed = failed_steps(run)
    if not failed:
        return ""
    return f"completed with {len(failed)} failed step(s) (on_failure: continue): {', '.join(failed)}"


def first_failed_step(run: RunState) -> str | None:
    for spec in run.spec.steps:
        if run.steps[spec.id].status in (StepStatus.FAILED, StepStatus.CANCELLED):
            return spec.id
    return None


# --- helpers ------------------------------------------------------------------------------------------------------


def _frozen(run: RunState) -> bool:
    """Paused by an operator: steps may become ready, but none is due (so none starts) until resume."""
    return run.status is RunStatus.PAUSED and run.status_reason == PAUSED_BY_OPERATOR


def _ended_ok(run: RunState, step_id: str) -> bool:
    state = run.steps[step_id]
    if state.status is StepStatus.SUCCEEDED:
        return True
    return state.status is StepStatus.FAILED and run.spec.step(step_id).on_failure == "continue"


def _open_phase(run: RunState) -> int:
    """The highest phase index whose earlier phases have all ended well enough to go on."""
    phase_count = len(run.spec.phases)
    for index in range(phase_count):
        if not all(
            _ended_ok(run, s.id) or run.steps[s.id].status is StepStatus.SKIPPED
            for s in run.spec.steps
            if s.phase_index == index
        ):
            return index
    return phase_count - 1


def _dependents(run: RunState, step_id: str) -> set[str]:
    found: set[str] = set()
    frontier = [step_id]
    while frontier:
        current = frontier.pop()
        for spec in run.spec.steps:
            if current in spec.depends_on and spec.id not in found:
                found.add(spec.id)
                frontier.append(spec.id)
    return found


def _finish(
    run: RunState, step_id: str, status: StepStatus, now: dt.datetime, *, output: Any = None, error: str = ""
) -> StepState:
    state = run.touch(step_id)
    state.status, state.output, state.error = status, output, error
    state.due_at, state.lease_owner, state.finished_at = None, "", now
    return state


def _after_failure(run: RunState, spec: StepSpec, error: str, now: dt.datetime) -> None:
    if spec.on_failure == "continue":
        advance(run, now)
    else:
        _end(run, RunStatus.FAILED, f"step {spec.id!r} failed: {error}", now)


def _end(run: RunState, status: RunStatus, reason: str, now: dt.datetime) -> None:
    """Final status: unfinished steps are skipped (never started) or cancelled (running or waiting)."""
    for state in run.steps.values():
        if state.status.terminal:
            continue
        started = state.status in (StepStatus.RUNNING, StepStatus.WAITING)
        if state.status is StepStatus.WAITING and state.checkpoint_id:
            run.checkpoints_closed.append((state.checkpoint_id, "closed"))
        _finish(run, state.step_id, StepStatus.CANCELLED if started else StepStatus.SKIPPED, now)
        run.events.append(
            NewEvent(EventType.STEP_SKIPPED, state.step_id, {"status": run.steps[state.step_id].status.value})
        )
    run.ended_at = now
    _set_status(run, status, reason)


def _derived_status(run: RunState) -> RunStatus:
    if run.status.final:
        return run.status
    if _frozen(run):
        return RunStatus.PAUSED
    statuses = {s.status for s in run.steps.values()}
    if StepStatus.RUNNING in statuses or StepStatus.READY in statuses:
        return RunStatus.RUNNING if run.started_at is not None or StepStatus.RUNNING in statuses else RunStatus.PENDING
    if StepStatus.WAITING in statuses:
        return RunStatus.PAUSED
    return run.status


def _set_status(run: RunState, status: RunStatus, reason: str | None = None) -> None:
    """Change the run's status (recording an event) if it differs; by default the reason follows the status."""
    if reason is None:
        reason = run.status_reason if status is run.status is RunStatus.RUNNING else ""
        if status is RunStatus.PAUSED:
            operator = run.status is RunStatus.PAUSED and run.status_reason == PAUSED_BY_OPERATOR
            reason = PAUSED_BY_OPERATOR if operator else WAITING_FOR_CHECKPOINT
    if status is run.status and reason == run.status_reason:
        return
    previous = run.status
    run.status, run.status_reason = status, reason
    run.events.append(
        NewEvent(EventType.RUN_STATUS_CHANGED, data={"from": previous.value, "to": status.value, "reason": reason})
    )


# --- routing and escalation (issue 14, i14-routing) ---------------------------------------------------------------


def checkpoint_changed(
    run: RunState, step_id: str, event: EventType, data: dict[str, Any], timer_at: dt.datetime | None
) -> None:
    """An open checkpoint was reminded, escalated one level, reassigned or extended: record `event` and move the
    waiting step's due_at to the checkpoint's next timer. The caller checked that the step waits on it."""
    state = run.touch(step_id)
    assert state.status is StepStatus.WAITING, state.status
    state.due_at = timer_at
    run.events.append(NewEvent(event, step_id, {"checkpoint": state.checkpoint_id, **data}))


def check_open(run: RunState, step_id: str, checkpoint: str, status: CheckpointStatus, action: str) -> None:
    """Refuse `action` (reassign, extend) on a checkpoint that is not open or whose step no longer waits on it."""
    state = run.steps.get(step_id)
    if state is None or state.status is not StepStatus.WAITING:
        status = status if status is not CheckpointStatus.OPEN else CheckpointStatus.CLOSED
    check_open_status(checkpoint, status, action)


def check_open_status(checkpoint: str, status: CheckpointStatus, action: str) -> None:
    if status is not CheckpointStatus.OPEN:
        raise refused_change(checkpoint, status, action)


def refused_change(checkpoint: str, status: CheckpointStatus, action: str) -> InvalidTransition:
    return InvalidTransition(f"checkpoint {checkpoint}", checkpoint, status.value, action, why="only open ones")
