"""Reading a pinned definition (validated by the registry) into the runs model.

The registry owns validation; this reader trusts the shape but stays defensive: anything it cannot read raises
ValueError, which the launch turns into a clear error instead of a half-built run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.runs.domain.model import (
    DEFAULT_MAX_REVISIONS,
    CheckpointSpec,
    ParameterSpec,
    RetryPolicy,
    RunSpec,
    StepSpec,
)
from services.runs.domain.routing import GROUP_PREFIX, EscalationLevel, assignee_problem

MAX_APPROVALS_REQUIRED = 10  # as the registry's definition validation (i14-decisions)


def read_definition(document: Mapping[str, Any], prompt_templates: Iterable[tuple[str, str]] = ()) -> RunSpec:
    try:
        phases = document["phases"]
        steps = tuple(_step(step, index) for index, phase in enumerate(phases) for step in phase["steps"])
        parameters = tuple(_parameter(p) for p in document.get("parameters") or ())
        return RunSpec(
            phases=tuple(str(p["id"]) for p in phases),
            steps=steps,
            parameters=parameters,
            prompt_templates=tuple(prompt_templates),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"the definition cannot be read: {type(exc).__name__}: {exc}") from None


def _step(step: Mapping[str, Any], phase_index: int) -> StepSpec:
    retry = step.get("retry") or {}
    checkpoint = step.get("checkpoint")
    return StepSpec(
        id=str(step["id"]),
        kind=str(step["kind"]),
        phase_index=phase_index,
        title=str(step.get("title") or ""),
        depends_on=tuple(str(d) for d in step.get("depends_on") or ()),
        agent=str(step.get("agent") or ""),
        prompt=str(step.get("prompt") or ""),
        prompt_template=str(step.get("prompt_template") or ""),
        template=str(step.get("template") or ""),
        message=str(step.get("message") or ""),
        inputs=tuple((str(k), str(v)) for k, v in (step.get("inputs") or {}).items()),
        credentials=tuple(str(c) for c in step.get("credentials") or ()),
        timeout_seconds=float(step["timeout_seconds"]) if step.get("timeout_seconds") else None,
        retry=RetryPolicy(
            max_attempts=int(retry.get("max_attempts", 1)),
            initial_backoff=float(retry.get("initial_backoff_seconds", 1)),
            max_backoff=float(retry.get("max_backoff_seconds", max(60, retry.get("initial_backoff_seconds", 1)))),
            multiplier=float(retry.get("backoff_multiplier", 2)),
        ),
        on_failure=str(step.get("on_failure") or "fail_run"),
        checkpoint=_checkpoint(checkpoint) if checkpoint else None,
    )


def _checkpoint(block: Mapping[str, Any]) -> CheckpointSpec:
    due = block.get("due_in_seconds")
    max_revisions = block.get("max_revisions", DEFAULT_MAX_REVISIONS)
    if isinstance(max_revisions, bool) or not isinstance(max_revisions, int | float) or max_revisions < 0:
        raise ValueError(f"checkpoint.max_revisions must be a whole number of 0 or more, not {max_revisions!r}")
    declared = block.get("approvals_required")
    approvals = 1 if declared is None else int(declared)
    if not 1 <= approvals <= MAX_APPROVALS_REQUIRED:  # the registry refuses it; a pinned run must not bypass it
        raise ValueError(f"approvals_required must be between 1 and {MAX_APPROVALS_REQUIRED} (got {approvals})")
    return CheckpointSpec(
        title=str(block["title"]),
        context=str(block.get("context") or ""),
        deliverables=tuple(str(d) for d in block.get("deliverables") or ()),
        assignees=_checked(block.get("assignees") or ()),
        role=str(block.get("role") or "approver"),
        due_in_seconds=float(due) if due else None,
        on_expiry=str(block.get("on_expiry") or "reject"),
        escalate_to=str(block.get("escalate_to") or ""),
        max_revisions=int(max_revisions),
        approvals_required=approvals,
        forbid_self_approval=None if block.get("forbid_self_approval") is None else bool(block["forbid_self_approval"]),
        reason_codes=tuple(str(code) for code in block.get("reason_codes") or ()),
        remind_before_seconds=float(block["remind_before_seconds"]) if block.get("remind_before_seconds") else None,
        escalation=_escalation(block.get("escalation") or ()),
    )


def _escalation(levels: Iterable[Mapping[str, Any]]) -> tuple[EscalationLevel, ...]:
    """`escalation: [{after_seconds, to: {role, group, users}}]` (issue 14, i14-routing). The registry validated
    it; an assignee that is not a subject or `group:<slug>` is refused here too (ValueError), never guessed."""
    chain = []
    for level in levels:
        target = level.get("to") or {}
        assignees = [f"{GROUP_PREFIX}{str(target['group']).removeprefix(GROUP_PREFIX)}"] if target.get("group") else []
        assignees += [str(u) for u in target.get("users") or ()]
        chain.append(EscalationLevel(float(level["after_seconds"]), str(target.get("role") or ""), _checked(assignees)))
    return tuple(chain)


def _checked(assignees: Iterable[str]) -> tuple[str, ...]:
    kept = tuple(dict.fromkeys(str(a) for a in assignees))
    for assignee in kept:
        problem = assignee_problem(assignee)
        if problem:
            raise ValueError(f"assignee {assignee!r}: {problem}")
    return kept


def _parameter(declared: Mapping[str, Any]) -> ParameterSpec:
    enum = declared.get("enum")
    return ParameterSpec(
        name=str(declared["name"]),
        type=str(declared["type"]),
        required=bool(declared.get("required", False)),
        default=declared.get("default"),
        has_default=declared.get("default") is not None,
        enum=tuple(enum) if enum else None,
    )
