"""Which run states accept which operator action (domain/machine.py `RULES`), every state and every action: the state
machine refuses what a state does not accept, with an InvalidTransition naming the current state and the refused
action, and leaves the run as it was; it accepts the rest."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable

import pytest

from services.runs.domain import machine
from services.runs.domain.errors import InvalidTransition
from services.runs.domain.machine import Action
from services.runs.domain.model import (
    CheckpointSpec,
    CheckpointStatus,
    Decision,
    NewCheckpoint,
    RunSpec,
    RunState,
    RunStatus,
    StepSpec,
    StepState,
    StepStatus,
)

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=30)


def run_of(*steps: StepSpec) -> RunState:
    spec = RunSpec(phases=("p0",), steps=steps)
    run = RunState("run-1", "acme", spec, RunStatus.PENDING, {}, {s.id: StepState(s.id) for s in steps})
    machine.create(run, NOW)
    return run


def echo_run() -> RunState:
    return run_of(StepSpec("a", "echo", 0))


def checkpoint_run() -> RunState:
    run = run_of(StepSpec("w", "checkpoint", 0, checkpoint=CheckpointSpec(title="ok?")))
    opened = NewCheckpoint("cp-1", "w", "ok?", "", (), (), "approver", None, "reject")
    machine.open_checkpoint(run, "w", opened, NOW)
    return run


def running() -> RunState:
    run = echo_run()
    machine.claim(run, "a", "w1", NOW, LEASE)
    return run


def paused_by_operator() -> RunState:
    run = echo_run()
    machine.pause(run, NOW)
    return run


def completed() -> RunState:
    run = running()
    machine.succeed(run, "a", 1, "w1", "done", NOW)
    return run


def failed() -> RunState:
    run = running()
    machine.fail(run, "a", 1, "w1", "boom", NOW, retryable=False)
    return run


def cancelled() -> RunState:
    run = running()  # its running step is cancelled (a pending run's would be skipped: nothing to retry)
    machine.cancel(run, "", NOW)
    return run


# Every state a run can be in, as far as the operator actions can tell (a paused run is two of them).
STATES: dict[str, Callable[[], RunState]] = {
    "pending": echo_run,
    "running": running,
    "paused by an operator": paused_by_operator,
    "paused at a checkpoint": checkpoint_run,
    "completed": completed,
    "failed": failed,
    "cancelled": cancelled,
}
ACCEPTED: dict[Action, set[str]] = {
    Action.CANCEL: {"pending", "running", "paused by an operator", "paused at a checkpoint"},
    Action.PAUSE: {"pending", "running", "paused at a checkpoint"},
    Action.RESUME: {"paused by an operator"},
    Action.RETRY: {"failed", "cancelled", "completed"},  # a completed run retries from a named step (issue 14)
}
APPLY: dict[Action, Callable[[RunState], object]] = {
    Action.CANCEL: lambda run: machine.cancel(run, "", NOW),
    Action.PAUSE: lambda run: machine.pause(run, NOW),
    Action.RESUME: lambda run: machine.resume(run, NOW),
    Action.RETRY: lambda run: machine.retry_from(run, "a", NOW),
}


def test_the_states_are_what_their_names_say() -> None:
    shapes = {name: (make().status, make().status_reason) for name, make in STATES.items()}
    assert shapes == {
        "pending": (RunStatus.PENDING, ""),
        "running": (RunStatus.RUNNING, ""),
        "paused by an operator": (RunStatus.PAUSED, machine.PAUSED_BY_OPERATOR),
        "paused at a checkpoint": (RunStatus.PAUSED, machine.WAITING_FOR_CHECKPOINT),
        "completed": (RunStatus.COMPLETED, ""),
        "failed": (RunStatus.FAILED, "step 'a' failed: boom"),
        "cancelled": (RunStatus.CANCELLED, "cancelled by an operator"),
    }
    assert {s for s in RunStatus} == {make().status for make in STATES.values()}  # every status is covered


@pytest.mark.parametrize("action", list(APPLY))
@pytest.mark.parametrize("state", list(STATES))
def test_every_action_in_every_state(state: str, action: Action) -> None:
    run = STATES[state]()
    run.events.clear()
    before = copy.deepcopy(run)
    assert machine.accepts(run, action) is (state in ACCEPTED[action])
    if state in ACCEPTED[action]:
        APPLY[action](run)
        assert run.events, "an accepted action records what it did"
        return
    with pytest.raises(InvalidTransition) as caught:
        APPLY[action](run)
    refused = caught.value
    assert (refused.resource, refused.current_status, refused.status_reason, refused.action) == (
        run.name,
        run.status.value,
        run.status_reason,
        action.value,
    )
    assert refused.reason == "FAILED_PRECONDITION"
    assert refused.message.startswith(f"run {run.name} is {run.status.value}")
    assert f"; cannot {action.value} it" in refused.message
    assert run == before  # refused: nothing changed, nothing to write


def test_the_rules_table_is_the_one_the_machine_applies() -> None:
    assert set(machine.RULES) == set(APPLY)
    assert {a for a in Action} == {*APPLY, Action.DECIDE}


def test_a_paused_run_s_reason_is_in_the_refusal() -> None:
    with pytest.raises(InvalidTransition) as caught:
        machine.resume(checkpoint_run(), NOW)
    assert caught.value.message == (
        "run organizations/acme/runs/run-1 is paused (checkpoint); cannot resume it (only a run paused by an operator)"
    )


def test_retry_without_a_failed_step_names_from_step() -> None:
    run = cancelled()
    run.steps["a"].status = StepStatus.SKIPPED
    with pytest.raises(InvalidTransition, match=r"cannot retry it \(no step failed; name from_step\)"):
        machine.retry_from(run, "", NOW)


# --- decisions ----------------------------------------------------------------------------------------------------

CHECKPOINT = "organizations/acme/runs/run-1/checkpoints/cp-1"


@pytest.mark.parametrize("status", list(CheckpointStatus))
@pytest.mark.parametrize("step", [StepStatus.WAITING, StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED])
def test_a_decision_needs_an_open_checkpoint_and_a_waiting_step(status: CheckpointStatus, step: StepStatus) -> None:
    run = checkpoint_run()
    run.events.clear()
    run.steps["w"].status = step
    before = copy.deepcopy(run)
    decide = lambda: machine.decide(run, "w", Decision.APPROVE, {}, NOW, checkpoint=(CHECKPOINT, status))  # noqa: E731
    if status is CheckpointStatus.OPEN and step is StepStatus.WAITING:
        decide()
        assert run.steps["w"].status is StepStatus.SUCCEEDED
        return
    with pytest.raises(InvalidTransition) as caught:
        decide()
    refused = caught.value
    assert (refused.resource, refused.current_status, refused.action) == (CHECKPOINT, status.value, "decide")
    assert refused.message == f"checkpoint {CHECKPOINT} is {status.value}; cannot decide it again"
    assert run == before


@pytest.mark.parametrize("step", [s for s in StepStatus if s is not StepStatus.WAITING])
def test_a_decision_on_a_step_that_no_longer_waits_is_refused(step: StepStatus) -> None:
    """The engine's own decisions (a checkpoint's expiry) name no stored checkpoint: the step's status decides."""
    run = checkpoint_run()
    run.steps["w"].status = step
    with pytest.raises(InvalidTransition) as caught:
        machine.decide(run, "w", Decision.REJECT, {}, NOW, expired=True)
    assert (caught.value.current_status, caught.value.action) == (step.value, "decide")
