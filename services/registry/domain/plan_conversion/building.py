"""The orchestration definition built from the draft: an agent or echo step per plan step, a checkpoint after each
step that requires approval, and where each emitted step came from (to map validation problems back)."""

from __future__ import annotations

from typing import Any

from services.registry.domain.definition import analyze_template
from services.registry.domain.definition.model import MAX_TITLE_CHARS
from services.registry.domain.plan_conversion.model import Draft, PlanStep, StepOrigin
from services.registry.domain.plan_conversion.text import literal, output_ref


class DefinitionBuilder:
    """Builds the definition document from a linked draft (ids and dependencies resolved)."""

    def __init__(self, draft: Draft) -> None:
        self.d = draft

    def build(self, parameters: Any) -> tuple[dict[str, Any], dict[tuple[int, int], StepOrigin]]:
        origins: dict[tuple[int, int], StepOrigin] = {}
        phases: list[dict[str, Any]] = []
        for g, group in enumerate(self.d.groups):
            steps: list[dict[str, Any]] = []
            for step in group.steps:
                origins[(g, len(steps))] = self.origin(step)
                steps.append(self.work_step(step))
                if step.requires_approval:
                    origins[(g, len(steps))] = self.approval_origin(step)
                    steps.append(self.approval_step(step))
            phase: dict[str, Any] = {"id": group.id}
            if group.title:
                phase["title"] = group.title
            phase["steps"] = steps
            phases.append(phase)
        defaulted = [step.path for step in self.d.steps if step.runs_agent and not step.agent]
        if defaulted:
            self.d.note(
                f"no agent given, so these run on the planning agent {self.d.default_agent!r}: {', '.join(defaulted)}"
            )
        definition: dict[str, Any] = {"schema_version": 1}
        if parameters is not None:
            definition["parameters"] = parameters
        definition["phases"] = phases
        return definition, origins

    def work_step(self, step: PlanStep) -> dict[str, Any]:
        out: dict[str, Any] = {"id": step.id, "kind": "agent" if step.runs_agent else "echo"}
        if step.title:
            out["title"] = step.title
        if step.message is not None:
            out["message"] = step.message
        elif step.runs_agent:
            out["agent"] = step.agent or self.d.default_agent
            if step.prompt_template is not None:
                out["prompt_template"] = step.prompt_template
                if step.reads or step.deliverables:
                    self.d.note(
                        f"{step.path}: uses a prompt template, so deliverables and earlier results are not added"
                    )
            else:
                if step.instructions is None:
                    self.d.note(f"{step.path}: no instructions, so its title is the prompt")
                out["prompt"] = self.prompt(step)
        else:
            out["message"] = literal(step.title or step.id)
            self.d.note(f"{step.path}: nothing to run (no agent, instructions or message): an echo step (milestone)")
        if step.dependencies:
            out["depends_on"] = [target.gate for target, _ in step.dependencies]
        return out

    def prompt(self, step: PlanStep) -> str:
        instructions = step.instructions
        parts = [instructions if instructions is not None else literal(step.title or step.id)]
        if step.deliverables:
            parts.append("Deliverables:\n" + "\n".join(f"- {literal(text)}" for text, _ in step.deliverables))
        reads = _results_read(step)
        if reads and not (instructions is not None and _reads_steps(instructions)):
            sections = [f"### {literal(read.title or read.id)}\n{output_ref(read.id)}" for read in reads]
            parts.append("Results of earlier steps:\n\n" + "\n\n".join(sections))
        return "\n\n".join(parts)

    def approval_step(self, step: PlanStep) -> dict[str, Any]:
        title = self.approval_title(step)
        checkpoint: dict[str, Any] = {"title": title, "context": output_ref(step.id)}
        if step.deliverables:
            checkpoint["deliverables"] = [literal(text) for text, _ in step.deliverables]
        if step.approvers:
            checkpoint["assignees"] = [name for name, _ in step.approvers]
        return {
            "id": step.approval_id,
            "kind": "checkpoint",
            "title": title,
            "depends_on": [step.id],
            "checkpoint": checkpoint,
        }

    def approval_title(self, step: PlanStep) -> str:
        title = f"Approve: {step.title or step.id}"
        return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1].rstrip() + "…"

    def origin(self, step: PlanStep) -> StepOrigin:
        p = step.path
        id_path = f"{p}.id" if step.raw_id is not None else f"{p}.title"
        text_path = f"{p}.instructions" if step.instructions is not None else f"{p}.title"
        fields = {
            "id": id_path,
            "title": f"{p}.title",
            "agent": f"{p}.agent" if step.agent else p,
            "prompt": text_path,
            "prompt_template": f"{p}.prompt_template",
            "message": f"{p}.message" if step.message is not None else f"{p}.title",
        }
        return StepOrigin(p, fields, tuple(path for _, path in step.dependencies), {})

    def approval_origin(self, step: PlanStep) -> StepOrigin:
        p = step.path
        approval = f"{p}.requires_approval"
        lists = {
            "checkpoint.assignees": (f"{p}.approvers", tuple(i for _, i in step.approvers)),
            "checkpoint.deliverables": (f"{p}.deliverables", tuple(i for _, i in step.deliverables)),
        }
        return StepOrigin(approval, {"title": f"{p}.title", "checkpoint.title": f"{p}.title"}, (), lists)


def _results_read(step: PlanStep) -> list[PlanStep]:
    """The steps whose output `step`'s prompt shows: what it reads, looking through milestones to what they read."""
    found: dict[int, PlanStep] = {}
    visited: set[int] = set()
    stack = list(reversed(step.reads))
    while stack:
        current = stack.pop()
        if current.position in visited or current is step:
            continue
        visited.add(current.position)
        if current.milestone:
            stack.extend(reversed(current.reads))
        else:
            found[current.position] = current
    return list(found.values())


def _reads_steps(source: str) -> bool:
    return any(reference.root == "steps" for reference in analyze_template(source).references)
