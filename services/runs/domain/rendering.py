"""What a step's templates see, and rendering them (sandboxed, shared with the registry's validation)."""

from __future__ import annotations

from typing import Any

from services.common.templating import render
from services.runs.domain.model import RunState, StepSpec, StepStatus


def template_context(run: RunState) -> dict[str, Any]:
    """`params` and the outputs of the steps that ended (`steps.<id>.output`)."""
    steps = {
        sid: {"output": state.output}
        for sid, state in run.steps.items()
        if state.status in (StepStatus.SUCCEEDED, StepStatus.FAILED)
    }
    return {"params": run.inputs, "steps": steps}


def render_inputs(run: RunState, spec: StepSpec) -> dict[str, str]:
    context = template_context(run)
    return {name: render(source, context) for name, source in spec.inputs}


def render_step_text(run: RunState, spec: StepSpec, inputs: dict[str, str]) -> str:
    """The prompt of an agent step, the text of a template step or the message of an echo step."""
    source = spec.prompt or spec.template or spec.message
    if spec.prompt_template:
        source = run.spec.template(spec.prompt_template)
    return render(source, {**template_context(run), "inputs": inputs})
