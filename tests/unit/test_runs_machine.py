"""The run state machine (services/runs/domain/machine.py), pure: RunState and RunSpec built by hand, every
transition checked for the state it leaves and the events it records."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.runs.domain import machine
from services.runs.domain.model import (
    CheckpointSpec,
    Decision,
    EventType,
    NewCheckpoint,
    NewEvent,
    RetryPolicy,
    RunSpec,
    RunState,
    RunStatus,
    StepSpec,
    StepState,
    StepStatus,
)

NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=30)
W1, W2 = "worker-1", "worker-2"
R, P, W, OK, F, SK, C = (
    StepStatus.READY,
    StepStatus.PENDING,
    StepStatus.WAITING,
    StepStatus.SUCCEEDED,
    StepStatus.FAILED,
    StepStatus.SKIPPED,
    StepStatus.CANCELLED,
)


def at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


def s(step_id: str, phase: int = 0, *deps: str, kind: str = "echo", **fields: Any) -> StepSpec:
    return StepSpec(id=step_id, kind=kind, phase_index=phase, depends_on=deps, **fields)


def cp(step_id: str, phase: int = 0, *deps: str, **fields: Any) -> StepSpec:
    return s(step_id, phase, *deps, kind="checkpoint", checkpoint=CheckpointSpec(title="ok?"), **fields)


def new_run(*steps: StepSpec) -> RunState:
    phases = max(x.phase_index for x in steps) + 1
    spec = RunSpec(phases=tuple(f"p{i}" for i in range(phases)), steps=steps)
    return RunState(
        run_id="run-1",
        organization_slug="acme",
        spec=spec,
        status=RunStatus.PENDING,
        inputs={},
        steps={x.id: StepState(x.id) for x in steps},
    )


def created(*steps: StepSpec) -> RunState:
    run = new_run(*steps)
    machine.create(run, NOW)
    commit(run)
    return run


def commit(run: RunState) -> list[NewEvent]:
    """What the store does after a transition: take the events, forget what was dirty."""
    events = list(run.events)
    run.last_sequence += len(events)
    run.events.clear()
    run.dirty.clear()
    run.checkpoints_opened.clear()
    run.checkpoints_closed.clear()
    return events


def statuses(run: RunState) -> dict[str, StepStatus]:
    return {sid: state.status for sid, state in run.steps.items()}


def kinds(events: list[NewEvent]) -> list[tuple[EventType, str]]:
    return [(e.type, e.step_id) for e in events]


def run_to_success(run: RunState, step_id: str, now: dt.datetime = NOW, output: Any = None) -> None:
    attempt = machine.claim(run, step_id, W1, now, LEASE)
    assert machine.succeed(run, step_id, attempt, W1, output if output is not None else f"{step_id}!", now)


def opened(run: RunState, step_id: str, now: dt.datetime = NOW, due: dt.datetime | None = None) -> NewCheckpoint:
    checkpoint = NewCheckpoint(
        f"cp-{step_id}-{run.steps[step_id].attempt + 1}", step_id, "t", "", (), (), "approver", due, "reject"
    )
    machine.open_checkpoint(run, step_id, checkpoint, now)
    return checkpoint


# --- launch, claims, phases and dependencies -------------------------------------------------------------------


def test_create_readies_only_what_may_start() -> None:
    run = new_run(s("a"), s("b", 0, "a"), s("c", 1))
    machine.create(run, NOW)
    assert statuses(run) == {"a": R, "b": P, "c": P}
    assert run.steps["a"].due_at == NOW
    assert run.status is RunStatus.PENDING
    assert run.started_at is None
    assert kinds(run.events) == [(EventType.RUN_CREATED, "")]
    assert run.events[0].data == {"step_count": 3}
    assert run.dirty == {"a"}


def test_claim_starts_an_attempt_under_a_lease() -> None:
    run = created(s("a"), s("b", 1))
    assert machine.claim(run, "a", W1, NOW, LEASE) == 1
    state = run.steps["a"]
    assert (state.status, state.attempt, state.lease_owner, state.due_at) == (StepStatus.RUNNING, 1, W1, NOW + LEASE)
    assert state.started_at == NOW
    assert run.status is RunStatus.RUNNING
    assert run.started_at == NOW
    events = commit(run)
    assert kinds(events) == [(EventType.STEP_STARTED, "a"), (EventType.RUN_STATUS_CHANGED, "")]
    assert events[0].data == {"attempt": 1, "worker": W1, "idempotency_key": "run-1/a/1"}
    assert events[1].data == {"from": "pending", "to": "running", "reason": ""}


def test_claiming_a_step_that_is_not_ready_is_a_programming_error() -> None:
    run = created(s("a"), s("b", 1))
    with pytest.raises(AssertionError):
        machine.claim(run, "b", W1, NOW, LEASE)


def test_dependencies_within_a_phase_and_phases_in_order() -> None:
    run = created(s("a"), s("b", 0, "a"), s("x"), s("c", 1), s("d", 2, "c"))
    run_to_success(run, "a")
    assert statuses(run) == {"a": OK, "b": R, "x": R, "c": P, "d": P}
    run_to_success(run, "b")
    assert run.steps["c"].status is P  # x of phase 0 has not ended
    assert run.current_phase == 0
    run_to_success(run, "x", at(1))
    assert run.steps["c"].status is R
    assert run.steps["c"].due_at == at(1)
    assert run.current_phase == 1
    run_to_success(run, "c", at(2))
    assert run.current_phase == 2
    run_to_success(run, "d", at(3), output={"k": [1]})
    assert run.status is RunStatus.COMPLETED
    assert run.ended_at == at(3)
    assert run.steps["d"].output == {"k": [1]}
    assert all(state.due_at is None and state.lease_owner == "" for state in run.steps.values())


def test_success_records_the_output() -> None:
    run = created(s("a"), s("b", 1))
    attempt = machine.claim(run, "a", W1, NOW, LEASE)
    commit(run)
    assert machine.succeed(run, "a", attempt, W1, "hello", at(5))
    state = run.steps["a"]
    assert (state.status, state.output, state.finished_at, state.due_at, state.lease_owner) == (
        OK,
        "hello",
        at(5),
        None,
        "",
    )
    assert kinds(commit(run))[0] == (EventType.STEP_SUCCEEDED, "a")


# --- fencing ------------------------------------------------------------------------------------------------------


def test_results_of_stale_attempts_and_workers_change_nothing() -> None:
    run = created(s("a"), s("b", 1))
    attempt = machine.claim(run, "a", W1, NOW, LEASE)
    commit(run)
    before = copy.deepcopy(run)
    assert machine.holds(run, "a", attempt, W1)
    for stale in (
        lambda: machine.succeed(run, "a", attempt + 1, W1, "x", NOW),
        lambda: machine.succeed(run, "a", attempt - 1, W1, "x", NOW),
        lambda: machine.succeed(run, "a", attempt, W2, "x", NOW),
        lambda: machine.fail(run, "a", attempt, W2, "boom", NOW),
        lambda: machine.fail(run, "a", attempt + 1, W1, "boom", NOW, retryable=False),
        lambda: machine.succeed(run, "b", 1, W1, "x", NOW),
        lambda: machine.succeed(run, "ghost", 1, W1, "x", NOW),
    ):
        assert stale() is False
        assert run == before
    assert not machine.holds(run, "ghost", 1, W1)


def test_take_over_keeps_the_attempt_and_fences_the_previous_owner() -> None:
    run = created(s("a"), s("b", 1))
    attempt = machine.claim(run, "a", W1, NOW, LEASE)
    commit(run)
    assert machine.take_over(run, "a", W2, at(31), LEASE) == attempt
    state = run.steps["a"]
    assert (state.attempt, state.lease_owner, state.due_at, state.status) == (1, W2, at(31) + LEASE, StepStatus.RUNNING)
    events = commit(run)
    assert kinds(events) == [(EventType.STEP_TAKEN_OVER, "a")]
    assert events[0].data == {"attempt": 1, "worker": W2, "previous": W1}
    assert machine.idempotency_key(run, "a", attempt) == "run-1/a/1"
    before = copy.deepcopy(run)
    assert not machine.succeed(run, "a", attempt, W1, "late", at(32))
    assert run == before
    assert machine.succeed(run, "a", attempt, W2, "mine", at(33))
    assert run.steps["a"].output == "mine"
    after = copy.deepcopy(run)
    assert not machine.succeed(run, "a", attempt, W2, "twice", at(34))  # never succeeds twice
    assert run == after


def test_nothing_holds_once_the_run_ended() -> None:
    run = created(s("a"), s("b"))
    attempt = machine.claim(run, "a", W1, NOW, LEASE)
    machine.cancel(run, "", NOW)
    commit(run)
    before = copy.deepcopy(run)
    assert not machine.holds(run, "a", attempt, W1)
    assert not machine.succeed(run, "a", attempt, W1, "late", at(1))
    assert not machine.fail(run, "a", attempt, W1, "late", at(1))
    assert run == before


# --- retries and failure policies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "attempt", "delay"),
    [
        (RetryPolicy(initial_backoff=2, multiplier=3, max_backoff=10), 1, 2),
        (RetryPolicy(initial_backoff=2, multiplier=3, max_backoff=10), 2, 6),
        (RetryPolicy(initial_backoff=2, multiplier=3, max_backoff=10), 3, 10),
        (RetryPolicy(initial_backoff=2, multiplier=3, max_backoff=10), 0, 2),
        (RetryPolicy(initial_backoff=0, max_backoff=0), 5, 0),
        (RetryPolicy(initial_backoff=1, multiplier=1), 9, 1),
    ],
)
def test_backoff(policy: RetryPolicy, attempt: int, delay: float) -> None:
    assert policy.backoff(attempt) == delay


def test_retries_back_off_then_the_last_failure_fails_the_run() -> None:
    policy = RetryPolicy(max_attempts=4, initial_backoff=2, multiplier=3, max_backoff=10)
    run = created(s("a", retry=policy), s("b", 1))
    now = NOW
    for attempt, delay in ((1, 2), (2, 6), (3, 10)):
        assert machine.claim(run, "a", W1, now, LEASE) == attempt
        commit(run)
        assert machine.fail(run, "a", attempt, W1, f"boom {attempt}", now)
        state = run.steps["a"]
        assert (state.status, state.due_at, state.lease_owner, state.error) == (
            R,
            now + dt.timedelta(seconds=delay),
            "",
            f"boom {attempt}",
        )
        events = commit(run)
        assert kinds(events) == [(EventType.STEP_FAILED, "a")]
        assert events[0].data == {"attempt": attempt, "error": f"boom {attempt}", "retry_at": state.due_at.isoformat()}
        assert run.status is RunStatus.RUNNING
        now = state.due_at
    assert machine.claim(run, "a", W1, now, LEASE) == 4
    commit(run)
    assert machine.fail(run, "a", 4, W1, "boom 4", now)
    assert statuses(run) == {"a": F, "b": SK}
    assert run.status is RunStatus.FAILED
    assert run.status_reason == "step 'a' failed: boom 4"
    assert run.steps["a"].error == "boom 4"
    events = commit(run)
    assert events[0].data == {"attempt": 4, "error": "boom 4", "final": True}


def test_a_non_retryable_error_fails_at_once() -> None:
    run = created(s("a", retry=RetryPolicy(max_attempts=5)))
    machine.claim(run, "a", W1, NOW, LEASE)
    assert machine.fail(run, "a", 1, W1, "bad request", NOW, retryable=False)
    assert run.steps["a"].status is F
    assert run.status is RunStatus.FAILED


def test_on_failure_continue_lets_dependents_and_later_phases_run() -> None:
    run = created(s("a", on_failure="continue"), s("b", 0, "a"), s("c", 1))
    machine.claim(run, "a", W1, NOW, LEASE)
    machine.fail(run, "a", 1, W1, "meh", NOW, retryable=False)
    assert statuses(run) == {"a": F, "b": R, "c": P}
    assert run.status is RunStatus.RUNNING
    run_to_success(run, "b")
    assert run.steps["c"].status is R
    run_to_success(run, "c")
    assert run.status is RunStatus.COMPLETED


def test_a_failure_ends_the_run_skipping_and_cancelling_the_rest() -> None:
    run = created(s("a"), s("b"), s("c", 0, "b"), cp("w"), s("d", 1), s("r"))
    machine.claim(run, "a", W1, NOW, LEASE)
    machine.claim(run, "b", W2, NOW, LEASE)
    opened(run, "w")
    commit(run)
    assert run.steps["r"].status is R
    machine.fail(run, "a", 1, W1, "boom", at(1), retryable=False)
    assert statuses(run) == {"a": F, "b": C, "c": SK, "w": C, "d": SK, "r": SK}
    assert run.checkpoints_closed == [("cp-w-1", "closed")]
    assert run.ended_at == at(1)
    events = commit(run)
    skipped = {e.step_id: e.data["status"] for e in events if e.type is EventType.STEP_SKIPPED}
    assert skipped == {"b": "cancelled", "c": "skipped", "w": "cancelled", "d": "skipped", "r": "skipped"}
    assert events[-1].data == {"from": "running", "to": "failed", "reason": "step 'a' failed: boom"}


# --- operator controls --------------------------------------------------------------------------------------------


def test_cancel() -> None:
    run = created(s("a"), s("b"), cp("w"), s("c", 1))
    machine.claim(run, "a", W1, NOW, LEASE)
    opened(run, "w")
    commit(run)
    machine.cancel(run, "", at(1))
    assert run.status is RunStatus.CANCELLED
    assert run.status_reason == "cancelled by an operator"
    assert statuses(run) == {"a": C, "b": SK, "w": C, "c": SK}
    assert run.checkpoints_closed == [("cp-w-1", "closed")]
    assert all(state.due_at is None for state in run.steps.values())
    other = created(s("x"))
    machine.cancel(other, "because", NOW)
    assert other.status_reason == "because"


def test_pause_holds_every_start_until_resume() -> None:
    retry = RetryPolicy(max_attempts=2, initial_backoff=5)
    run = created(s("a", retry=retry), s("b"), s("c", 0, "a"), s("d", 1))
    machine.claim(run, "a", W1, NOW, LEASE)
    commit(run)
    machine.pause(run, NOW)
    assert (run.status, run.status_reason) == (RunStatus.PAUSED, machine.PAUSED_BY_OPERATOR)
    assert run.steps["b"].due_at is None
    assert run.steps["a"].due_at == NOW + LEASE  # running attempts go on
    events = commit(run)
    assert events[-1].data == {"from": "running", "to": "paused", "reason": "operator"}

    assert machine.fail(run, "a", 1, W1, "flaky", at(1))  # the retry is held too
    assert (run.steps["a"].status, run.steps["a"].due_at) == (R, None)
    assert run.status is RunStatus.PAUSED
    assert [x.step_id for x in run.steps.values() if x.due_at is not None] == []  # the engine finds nothing due
    commit(run)

    machine.resume(run, at(2))
    assert (run.status, run.status_reason) == (RunStatus.RUNNING, "")
    assert run.steps["a"].due_at == at(2)
    assert run.steps["b"].due_at == at(2)
    assert machine.claim(run, "a", W1, at(2), LEASE) == 2
    machine.pause(run, at(3))
    assert machine.succeed(run, "a", 2, W1, "ok", at(4))  # what a success readies is held
    assert (run.steps["c"].status, run.steps["c"].due_at) == (R, None)
    assert run.status is RunStatus.PAUSED
    machine.resume(run, at(5))
    run_to_success(run, "b", at(5))
    run_to_success(run, "c", at(5))
    run_to_success(run, "d", at(6))
    assert run.status is RunStatus.COMPLETED


def test_pausing_a_run_that_waits_on_a_checkpoint_and_resuming_it() -> None:
    run = created(cp("w"), s("after", 1))
    opened(run, "w")
    assert (run.status, run.status_reason) == (RunStatus.PAUSED, machine.WAITING_FOR_CHECKPOINT)
    machine.pause(run, NOW)
    assert run.status_reason == machine.PAUSED_BY_OPERATOR
    machine.resume(run, at(1))
    assert (run.status, run.status_reason) == (RunStatus.PAUSED, machine.WAITING_FOR_CHECKPOINT)
    machine.pause(run, at(2))
    machine.decide(run, "w", Decision.APPROVE, {}, at(3))
    assert (run.steps["after"].status, run.steps["after"].due_at) == (R, None)
    assert run.status_reason == machine.PAUSED_BY_OPERATOR
    machine.resume(run, at(4))
    assert run.steps["after"].due_at == at(4)
    assert run.status is RunStatus.RUNNING


def test_retry_from_the_failed_step_keeps_earlier_outputs() -> None:
    run = created(s("a"), s("b"), s("c", 1), s("d", 1, "c"), s("e", 2))
    run_to_success(run, "a")
    run_to_success(run, "b")
    machine.claim(run, "c", W1, NOW, LEASE)
    machine.fail(run, "c", 1, W1, "boom", NOW, retryable=False)
    assert run.status is RunStatus.FAILED
    assert machine.first_failed_step(run) == "c"
    commit(run)

    reset = machine.retry_from(run, "c", at(10))
    assert sorted(reset) == ["c", "d", "e"]
    assert statuses(run) == {"a": OK, "b": OK, "c": R, "d": P, "e": P}
    assert (run.steps["a"].output, run.steps["c"].output, run.steps["c"].error) == ("a!", None, "")
    assert run.status is RunStatus.RUNNING
    assert run.ended_at is None
    assert machine.claim(run, "c", W1, at(10), LEASE) == 2  # attempts go on: a new idempotency key
    assert machine.succeed(run, "c", 2, W1, "c2", at(11))
    run_to_success(run, "d", at(12))
    run_to_success(run, "e", at(13))
    assert run.status is RunStatus.COMPLETED
    assert run.steps["a"].attempt == 1


def test_retry_from_an_earlier_step_resets_it_its_dependents_and_later_phases() -> None:
    run = created(s("a"), s("b"), s("a2", 0, "a"), s("c", 1), s("d", 1))
    for step_id in ("a", "b", "a2"):
        run_to_success(run, step_id)
    machine.claim(run, "c", W1, NOW, LEASE)
    run_to_success(run, "d")
    machine.fail(run, "c", 1, W1, "boom", NOW, retryable=False)
    commit(run)
    reset = machine.retry_from(run, "a", at(1))
    assert sorted(reset) == ["a", "a2", "c", "d"]
    assert statuses(run) == {"a": R, "b": OK, "a2": P, "c": P, "d": P}
    assert run.current_phase == 0


def test_retry_of_a_cancelled_run_restarts_the_cancelled_steps() -> None:
    run = created(s("a"), s("b", 1))
    machine.claim(run, "a", W1, NOW, LEASE)
    machine.cancel(run, "", NOW)
    assert machine.first_failed_step(run) == "a"
    machine.retry_from(run, "a", at(1))
    assert statuses(run) == {"a": R, "b": P}
    assert machine.claim(run, "a", W1, at(1), LEASE) == 2


def test_first_failed_step_is_none_without_failures() -> None:
    run = created(s("a"))
    run_to_success(run, "a")
    assert machine.first_failed_step(run) is None


# --- checkpoints --------------------------------------------------------------------------------------------------


def test_a_checkpoint_waits_without_a_lease() -> None:
    run = created(s("a"), cp("w", 0, "a"), s("z", 1))
    run_to_success(run, "a")
    commit(run)
    checkpoint = opened(run, "w", at(1), due=at(61))
    state = run.steps["w"]
    assert (state.status, state.attempt, state.due_at, state.lease_owner) == (W, 1, at(61), "")
    assert state.checkpoint_id == checkpoint.checkpoint_id
    assert run.checkpoints_opened == [checkpoint]
    assert (run.status, run.status_reason) == (RunStatus.PAUSED, machine.WAITING_FOR_CHECKPOINT)
    events = commit(run)
    assert kinds(events) == [(EventType.CHECKPOINT_OPENED, "w"), (EventType.RUN_STATUS_CHANGED, "")]
    assert events[0].data == {"checkpoint": checkpoint.checkpoint_id, "title": "t"}


def test_approve_succeeds_the_step_with_the_decision_as_output() -> None:
    run = created(cp("w"), s("z", 1))
    opened(run, "w")
    commit(run)
    output = {"comment": "fine", "payload": {"x": 1}, "decided_by": "bob"}
    machine.decide(run, "w", Decision.APPROVE, output, at(1))
    assert run.steps["w"].status is OK
    assert run.steps["w"].output == {"decision": "approve", **output}
    assert run.steps["z"].status is R
    events = commit(run)
    assert kinds(events)[:2] == [(EventType.CHECKPOINT_DECIDED, "w"), (EventType.STEP_SUCCEEDED, "w")]
    assert events[0].data == {"checkpoint": "cp-w-1", "decision": "approve", "expired": False, **output}


@pytest.mark.parametrize(
    ("on_failure", "run_status"), [("fail_run", RunStatus.FAILED), ("continue", RunStatus.RUNNING)]
)
def test_reject_fails_the_step(on_failure: str, run_status: RunStatus) -> None:
    run = created(cp("w", on_failure=on_failure), s("z", 1))
    opened(run, "w")
    machine.decide(run, "w", Decision.REJECT, {"comment": "no", "decided_by": "bob"}, at(1))
    assert run.steps["w"].status is F
    assert run.steps["w"].error == "checkpoint rejected: no"
    assert run.status is run_status
    assert run.steps["z"].status is (SK if on_failure == "fail_run" else R)


def test_an_expired_rejection_says_so() -> None:
    run = created(cp("w"))
    opened(run, "w")
    machine.decide(run, "w", Decision.REJECT, {"comment": "", "decided_by": "system"}, at(1), expired=True)
    assert run.steps["w"].error == "checkpoint expired"
    assert run.status is RunStatus.FAILED


def test_request_changes_reruns_the_dependencies_then_reopens() -> None:
    run = created(s("a"), s("b"), cp("w", 0, "a"), s("z", 1))
    run_to_success(run, "a")
    run_to_success(run, "b")
    opened(run, "w")
    commit(run)
    machine.decide(run, "w", Decision.REQUEST_CHANGES, {"comment": "more"}, at(1))
    assert statuses(run) == {"a": R, "b": OK, "w": P, "z": P}
    assert run.steps["a"].due_at == at(1)
    assert run.steps["w"].checkpoint_id == ""
    assert run.status is RunStatus.RUNNING
    assert machine.claim(run, "a", W1, at(2), LEASE) == 2
    assert machine.succeed(run, "a", 2, W1, "better", at(3))
    assert run.steps["w"].status is R
    second = opened(run, "w", at(4))
    assert second.checkpoint_id == "cp-w-2"
    assert run.steps["w"].attempt == 2
    machine.decide(run, "w", Decision.APPROVE, {}, at(5))
    run_to_success(run, "z", at(6))
    assert run.status is RunStatus.COMPLETED


def test_request_changes_without_dependencies_reruns_the_previous_phase() -> None:
    run = created(s("a"), s("b"), cp("w", 1), s("z", 2))
    run_to_success(run, "a")
    run_to_success(run, "b")
    opened(run, "w")
    machine.decide(run, "w", Decision.REQUEST_CHANGES, {}, at(1))
    assert statuses(run) == {"a": R, "b": R, "w": P, "z": P}
    run_to_success(run, "a", at(2))
    assert run.steps["w"].status is P
    run_to_success(run, "b", at(3))
    assert run.steps["w"].status is R


def test_request_changes_on_a_first_phase_checkpoint_without_dependencies_reopens_it() -> None:
    run = created(cp("w"), s("z", 1))
    opened(run, "w")
    machine.decide(run, "w", Decision.REQUEST_CHANGES, {}, at(1))
    assert (run.steps["w"].status, run.steps["w"].due_at) == (R, at(1))


def test_request_changes_while_paused_holds_the_reruns() -> None:
    run = created(s("a"), cp("w", 0, "a"))
    run_to_success(run, "a")
    opened(run, "w")
    machine.pause(run, NOW)
    machine.decide(run, "w", Decision.REQUEST_CHANGES, {}, at(1))
    assert (run.steps["a"].status, run.steps["a"].due_at) == (R, None)
    assert (run.status, run.status_reason) == (RunStatus.PAUSED, machine.PAUSED_BY_OPERATOR)
    machine.resume(run, at(2))
    assert run.steps["a"].due_at == at(2)


def test_expiry_with_fail_run_ends_the_run_whatever_on_failure_says() -> None:
    run = created(cp("w", on_failure="continue"), cp("v"), s("z", 1))
    opened(run, "w")
    opened(run, "v")
    commit(run)
    machine.fail_run_on_expiry(run, "w", at(1))
    assert run.status is RunStatus.FAILED
    assert "fail_run" in run.status_reason
    assert statuses(run) == {"w": F, "v": C, "z": SK}
    assert run.checkpoints_closed == [("cp-v-1", "closed")]
    assert kinds(commit(run))[0] == (EventType.CHECKPOINT_DECIDED, "w")


def test_status_changes_chain_and_reasons_follow_the_status() -> None:
    run = created(s("a"), cp("w", 1), s("z", 2))
    run_to_success(run, "a")
    opened(run, "w")
    machine.pause(run, NOW)
    machine.resume(run, NOW)
    machine.decide(run, "w", Decision.APPROVE, {}, NOW)
    run_to_success(run, "z")
    changes = [e.data for e in commit(run) if e.type is EventType.RUN_STATUS_CHANGED]
    assert [(c["from"], c["to"], c["reason"]) for c in changes] == [
        ("pending", "running", ""),
        ("running", "paused", "checkpoint"),
        ("paused", "paused", "operator"),
        ("paused", "paused", "checkpoint"),
        ("paused", "running", ""),
        ("running", "completed", ""),
    ]


# --- property: any DAG of built-in steps, driven in any order, completes with every step succeeding once ----------


@st.composite
def dags(draw: st.DrawFn) -> RunSpec:
    phase_count = draw(st.integers(1, 4))
    steps: list[StepSpec] = []
    for phase in range(phase_count):
        for index in range(draw(st.integers(1, 4))):
            earlier = [x.id for x in steps]
            deps = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
            kind = draw(st.sampled_from(["echo", "noop", "template"]))
            steps.append(StepSpec(id=f"s{phase}{index}", kind=kind, phase_index=phase, depends_on=tuple(deps)))
    return RunSpec(phases=tuple(f"p{i}" for i in range(phase_count)), steps=tuple(steps))


@settings(max_examples=150, deadline=None)
@given(spec=dags(), data=st.data())
def test_random_dags_driven_in_any_order_complete(spec: RunSpec, data: st.DataObject) -> None:
    run = RunState("run-1", "acme", spec, RunStatus.PENDING, {}, {x.id: StepState(x.id) for x in spec.steps})
    log: list[NewEvent] = []
    now = NOW
    machine.create(run, now)
    log += commit(run)
    workers = iter(f"w{i}" for i in range(10_000))
    chaos = len(spec.steps)  # takeovers and stale reports, bounded so that the run always gets to its end
    for _ in range(3 * len(spec.steps) + 1):
        due = [x for x in run.steps.values() if x.status is R and x.due_at is not None and x.due_at <= now]
        running = [x for x in run.steps.values() if x.status is StepStatus.RUNNING]
        assert all(x.status in (P, R, StepStatus.RUNNING, OK) for x in run.steps.values())
        if not due and not running:
            break
        kinds_allowed = ("succeed", "take_over", "stale") if chaos else ("succeed",)
        actions = [("claim", x.step_id) for x in due] + [
            (action, x.step_id) for x in running for action in kinds_allowed
        ]
        action, step_id = data.draw(st.sampled_from(actions))
        chaos -= action in ("take_over", "stale")
        now += dt.timedelta(seconds=1)
        state = run.steps[step_id]
        if action == "claim":
            machine.claim(run, step_id, next(workers), now, LEASE)
        elif action == "succeed":
            assert machine.succeed(run, step_id, state.attempt, state.lease_owner, {"from": step_id}, now)
        elif action == "take_over":
            machine.take_over(run, step_id, next(workers), now, LEASE)
        else:
            before = copy.deepcopy(run)
            assert not machine.succeed(run, step_id, state.attempt, "someone-else", "stale", now)
            assert not machine.fail(run, step_id, state.attempt + 1, state.lease_owner, "stale", now)
            assert run == before
        log += commit(run)

    assert run.status is RunStatus.COMPLETED
    assert all(x.status is OK and x.attempt == 1 and x.output == {"from": x.step_id} for x in run.steps.values())
    assert run.last_sequence == len(log)
    assert log[0].type is EventType.RUN_CREATED
    assert log[-1].data == {"from": "running", "to": "completed", "reason": ""}
    started = [e.step_id for e in log if e.type is EventType.STEP_STARTED]
    succeeded = [e.step_id for e in log if e.type is EventType.STEP_SUCCEEDED]
    assert sorted(started) == sorted(succeeded) == sorted(x.id for x in spec.steps)
    position = {(e.type, e.step_id): i for i, e in enumerate(log)}
    for x in spec.steps:
        begin = position[(EventType.STEP_STARTED, x.id)]
        assert begin < position[(EventType.STEP_SUCCEEDED, x.id)]
        for earlier in spec.steps:
            if earlier.phase_index < x.phase_index or earlier.id in x.depends_on:
                assert position[(EventType.STEP_SUCCEEDED, earlier.id)] < begin
    changes = [e.data for e in log if e.type is EventType.RUN_STATUS_CHANGED]
    previous = "pending"
    for change in changes:
        assert change["from"] == previous
        previous = change["to"]
    assert previous == "completed"
