"""Issue 14, pure: run controls that hold (a retry's full policy, retrying a completed run, no spurious status
event, failed steps of a completed run, operator interventions) and request-changes revisions (what a sent-back
step's templates see, the feedback block, the revision cap)."""

from __future__ import annotations

from typing import Any

import pytest

from services.runs.app.launch import LaunchRequest, launch_fingerprint, same_request
from services.runs.domain import machine
from services.runs.domain.definition import read_definition
from services.runs.domain.errors import InvalidTransition, RequestIdReused, RevisionsExhausted
from services.runs.domain.model import (
    CheckpointSpec,
    Decision,
    EventType,
    OriginType,
    RetryPolicy,
    RunStatus,
    StepStatus,
)
from services.runs.domain.rendering import render_step_text
from services.runs.domain.revisions import FEEDBACK_HEADER, with_feedback
from tests.unit.test_runs_machine import LEASE, NOW, W1, at, commit, cp, created, opened, run_to_success, s

OK, F, R, P = StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.READY, StepStatus.PENDING
POLICY = RetryPolicy(max_attempts=3, initial_backoff=2.0, max_backoff=60.0, multiplier=2.0)


def status_events(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.data["from"], e.data["to"]) for e in events if e.type is EventType.RUN_STATUS_CHANGED]


def fail_all_attempts(run: Any, step_id: str, first: int, count: int, start: float) -> list[Any]:
    """Claim and fail `count` attempts of `step_id` from attempt `first`, each when due; returns the events."""
    events: list[Any] = []
    moment = start
    for attempt in range(first, first + count):
        due = run.steps[step_id].due_at
        moment = max(moment, (due - NOW).total_seconds()) if due is not None else moment
        assert machine.claim(run, step_id, W1, at(moment), LEASE) == attempt
        assert machine.fail(run, step_id, attempt, W1, "boom", at(moment))
        events += commit(run)
    return events


# --- RetryRun -----------------------------------------------------------------------------------------------------


def test_a_retried_step_gets_its_full_retry_policy_again_with_backoff() -> None:
    run = created(s("a", retry=POLICY), s("z", 1))
    fail_all_attempts(run, "a", 1, 3, 0)
    assert run.status is RunStatus.FAILED
    assert run.steps["a"].attempt == 3

    machine.retry_from(run, "", at(100))
    commit(run)
    # attempts 4 and 5 fail and are retried with the policy's backoff (2 s, then 4 s); attempt 6 is the last
    assert machine.claim(run, "a", W1, at(100), LEASE) == 4
    assert machine.fail(run, "a", 4, W1, "boom", at(100))
    assert (run.steps["a"].status, run.steps["a"].due_at) == (R, at(102))
    assert machine.claim(run, "a", W1, at(102), LEASE) == 5
    assert machine.fail(run, "a", 5, W1, "boom", at(102))
    assert (run.steps["a"].status, run.steps["a"].due_at) == (R, at(106))
    assert machine.claim(run, "a", W1, at(106), LEASE) == 6
    assert machine.fail(run, "a", 6, W1, "boom", at(106))
    assert run.steps["a"].status is F
    assert run.status is RunStatus.FAILED


def test_a_retry_records_one_status_change_and_no_running_to_running() -> None:
    run = created(s("a"), s("b", 1))
    run_to_success(run, "a")
    machine.claim(run, "b", W1, NOW, LEASE)
    machine.fail(run, "b", 1, W1, "boom", NOW, retryable=False)
    commit(run)

    machine.retry_from(run, "b", at(1), by="ops@x")
    events = commit(run)
    run_to_success(run, "b", at(2))
    events += commit(run)
    assert status_events(events) == [("failed", "running"), ("running", "completed")]
    assert ("running", "running") not in status_events(events)


def test_a_completed_run_retries_from_a_named_step_and_everything_after_it() -> None:
    run = created(s("a"), s("b"), s("c", 0, "b"), s("d", 1), s("e", 2))
    for step_id in ("a", "b", "c", "d", "e"):
        run_to_success(run, step_id)
    assert run.status is RunStatus.COMPLETED
    commit(run)

    reset = machine.retry_from(run, "b", at(1), by="ops@x")
    assert sorted(reset) == ["b", "c", "d", "e"]
    assert {k: v.status for k, v in run.steps.items()} == {"a": OK, "b": R, "c": P, "d": P, "e": P}
    assert run.steps["a"].output == "a!"  # earlier outputs kept
    assert (run.status, run.ended_at, run.status_reason) == (RunStatus.RUNNING, None, "retried from b")
    events = commit(run)
    assert [(e.type, e.step_id, e.data) for e in events if e.type is EventType.OPERATOR_INTERVENTION] == [
        (EventType.OPERATOR_INTERVENTION, "b", {"kind": "retry", "by": "ops@x"})
    ]
    assert status_events(events) == [("completed", "running")]
    for step_id in ("b", "c", "d", "e"):
        run_to_success(run, step_id, at(2))
    assert run.status is RunStatus.COMPLETED
    assert run.steps["b"].attempt == 2


def test_a_completed_run_without_a_failed_step_needs_from_step() -> None:
    run = created(s("a"))
    run_to_success(run, "a")
    commit(run)
    with pytest.raises(InvalidTransition) as caught:
        machine.retry_from(run, "", at(1))
    assert "name from_step" in caught.value.message
    assert run.events == []
    assert run.status is RunStatus.COMPLETED


def test_resume_is_an_operator_intervention() -> None:
    run = created(s("a"), s("b", 1))
    machine.pause(run, NOW)
    commit(run)
    machine.resume(run, at(1), by="ops@x")
    interventions = [e for e in commit(run) if e.type is EventType.OPERATOR_INTERVENTION]
    assert [(e.step_id, e.data) for e in interventions] == [("", {"kind": "resume", "by": "ops@x"})]


def test_the_override_seam_records_an_intervention() -> None:
    run = created(cp("w"))
    machine.record_intervention(run, machine.InterventionKind.OVERRIDE, "w", "admin@x")
    assert [(e.type, e.step_id, e.data) for e in commit(run)][-1] == (
        EventType.OPERATOR_INTERVENTION,
        "w",
        {"kind": "override", "by": "admin@x"},
    )


def test_a_run_whose_continue_steps_failed_completes_and_says_how_many() -> None:
    run = created(s("a", on_failure="continue"), s("b", on_failure="continue"), s("c"), s("d", 1))
    for step_id in ("a", "b"):
        machine.claim(run, step_id, W1, NOW, LEASE)
        machine.fail(run, step_id, 1, W1, "boom", NOW, retryable=False)
    run_to_success(run, "c")
    run_to_success(run, "d")
    assert run.status is RunStatus.COMPLETED
    assert machine.failed_steps(run) == ["a", "b"]
    assert run.status_reason == "completed with 2 failed step(s) (on_failure: continue): a, b"


def test_a_clean_completion_has_no_reason() -> None:
    run = created(s("a"))
    run_to_success(run, "a")
    assert (run.status, run.status_reason, machine.failed_steps(run)) == (RunStatus.COMPLETED, "", [])


# --- revisions ----------------------------------------------------------------------------------------------------


def agent(step_id: str, prompt: str, *deps: str, **fields: Any) -> Any:
    return s(step_id, 0, *deps, kind="agent", agent="helper", prompt=prompt, **fields)


def sent_back(comment: str = "shorter please", payload: dict[str, Any] | None = None, **checkpoint: Any) -> Any:
    block = CheckpointSpec(title="ok?", **checkpoint)
    run = created(
        agent("draft", "Write about {{ params.topic | default('x') }}", retry=POLICY),
        s("w", 0, "draft", kind="checkpoint", checkpoint=block),
    )
    run_to_success(run, "draft", output="a long draft")
    opened(run, "w")
    commit(run)
    decision = {"comment": comment, "payload": payload or {}, "decided_by": "rev@x"}
    machine.decide(
        run, "w", Decision.REQUEST_CHANGES, decision, at(1), checkpoint=("cp", machine.CheckpointStatus.OPEN)
    )
    return run


def test_request_changes_gives_the_dependency_a_numbered_revision_and_a_fresh_policy() -> None:
    run = sent_back(payload={"tone": "formal"})
    state = run.steps["draft"]
    assert state.status is R
    assert state.revision == {
        "number": 1,
        "comment": "shorter please",
        "payload": {"tone": "formal"},
        "previous_output": "a long draft",
    }
    assert state.retry_base == 1
    assert run.steps["w"].revision == {"number": 1}
    assert machine.claim(run, "draft", W1, at(2), LEASE) == 2
    assert machine.fail(run, "draft", 2, W1, "boom", at(2))  # a retry is still scheduled: 1 of 3 in this window
    assert run.steps["draft"].status is R


def test_the_revised_prompt_carries_the_feedback_when_the_template_does_not_read_revision() -> None:
    run = sent_back(payload={"tone": "formal"})
    prompt = render_step_text(run, run.spec.step("draft"), {})
    assert prompt.startswith("Write about x\n\n" + FEEDBACK_HEADER.format(number=1))
    assert "shorter please" in prompt
    assert 'Edited payload: {"tone": "formal"}' in prompt
    assert "Your previous output: a long draft" in prompt


def test_a_template_that_reads_revision_renders_it_itself() -> None:
    template = "Write.{% if revision %} Revision {{ revision.number }}: {{ revision.comment }}{% endif %}"
    run = created(agent("draft", template), cp("w", 0, "draft"))
    assert render_step_text(run, run.spec.step("draft"), {}) == "Write."  # undefined on the first run
    run_to_success(run, "draft", output="v1")
    opened(run, "w")
    machine.decide(run, "w", Decision.REQUEST_CHANGES, {"comment": "add numbers"}, at(1))
    assert render_step_text(run, run.spec.step("draft"), {}) == "Write. Revision 1: add numbers"


def test_with_feedback_leaves_unrevised_prompts_alone() -> None:
    assert with_feedback("hello", "hello", None) == "hello"


def test_revisions_are_numbered_and_capped_by_max_revisions() -> None:
    run = sent_back(max_revisions=2)
    run_to_success(run, "draft", at(2), output="v2")
    opened(run, "w", at(3))
    assert run.steps["w"].revision == {"number": 1}
    machine.decide(run, "w", Decision.REQUEST_CHANGES, {"comment": "again"}, at(4), checkpoint=("cp", OPEN))
    assert run.steps["draft"].revision is not None
    assert run.steps["draft"].revision["number"] == 2
    assert run.steps["draft"].revision["previous_output"] == "v2"
    run_to_success(run, "draft", at(5), output="v3")
    opened(run, "w", at(6))
    commit(run)
    with pytest.raises(RevisionsExhausted) as caught:
        machine.decide(run, "w", Decision.REQUEST_CHANGES, {"comment": "more"}, at(7), checkpoint=("cp", OPEN))
    assert caught.value.reason == "REVISIONS_EXHAUSTED"
    assert "approve or reject" in caught.value.message
    assert run.events == []
    assert run.steps["w"].status is StepStatus.WAITING
    machine.decide(run, "w", Decision.APPROVE, {}, at(8), checkpoint=("cp", OPEN))
    assert run.status is RunStatus.COMPLETED


OPEN = machine.CheckpointStatus.OPEN


@pytest.mark.parametrize("bad", [-1, "three", True, None])
def test_the_runs_reader_refuses_a_bad_max_revisions(bad: Any) -> None:
    document = {"phases": [{"id": "p", "steps": [{"id": "w", "kind": "checkpoint", "checkpoint": {"title": "t"}}]}]}
    assert read_definition(document).steps[0].checkpoint == CheckpointSpec(title="t", max_revisions=3)
    document["phases"][0]["steps"][0]["checkpoint"]["max_revisions"] = bad  # type: ignore[index]
    with pytest.raises(ValueError, match="max_revisions"):
        read_definition(document)


def test_a_completed_run_retried_from_a_later_step_keeps_an_earlier_continued_failure() -> None:
    run = created(s("a", on_failure="continue"), s("b"), s("c", 1))
    machine.claim(run, "a", W1, NOW, LEASE)
    machine.fail(run, "a", 1, W1, "boom", NOW, retryable=False)
    run_to_success(run, "b")
    run_to_success(run, "c")
    assert run.status is RunStatus.COMPLETED
    commit(run)
    assert sorted(machine.retry_from(run, "c", at(1))) == ["c"]
    assert (run.steps["a"].status, run.steps["a"].error) == (F, "boom")
    run_to_success(run, "c", at(2))
    commit(run)
    assert sorted(machine.retry_from(run, "", at(3))) == ["a", "c"]  # no from_step: its first failed step


# --- request_id fingerprints --------------------------------------------------------------------------------------


def test_the_launch_fingerprint_covers_every_parameter_and_ignores_key_order() -> None:
    base = LaunchRequest(
        parent="organizations/o",
        origin_type=OriginType.SAVED_ORCHESTRATION,
        orchestration="organizations/o/agents/a/orchestrations/f",
        prompt_inputs={"a": 1, "b": 2},
        metadata={"k": "v"},
        request_id="r",
    )
    same = LaunchRequest(**{**base.__dict__, "prompt_inputs": {"b": 2, "a": 1}})
    assert launch_fingerprint(same) == launch_fingerprint(base)
    for change in (
        {"prompt_inputs": {"a": 1, "b": 3}},
        {"metadata": {}},
        {"orchestration_version": 2},
        {"orchestration": "organizations/o/agents/a/orchestrations/g"},
    ):
        assert launch_fingerprint(LaunchRequest(**{**base.__dict__, **change})) != launch_fingerprint(base), change
    fingerprint = launch_fingerprint(base)
    assert same_request("o", "r", ("run-1", fingerprint), fingerprint) == "run-1"
    assert same_request("o", "r", ("run-1", ""), fingerprint) == "run-1"  # launched before fingerprints were kept
    with pytest.raises(RequestIdReused) as caught:
        same_request("o", "r", ("run-1", "0" * 64), fingerprint)
    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert caught.value.metadata == {"request_id": "r", "resource": "organizations/o/runs/run-1"}
