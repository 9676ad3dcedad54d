"""What a step's templates see, and rendering them (sandboxed, shared with the registry's validation).

Every function renders within `limits` (iterations, output, memory, time: `services.common.template_budget`) and
raises TemplateRenderError, TemplateLimitExceeded for a limit. `*_sources` list the templates a step will render,
so that the engine can tell whether they need a worker thread before rendering them.
"""

from __future__ import annotations

from typing import Any

from services.common.templating import DEFAULT_LIMITS, TemplateLimits, render
from services.runs.domain.model import CheckpointSpec, RunState, StepSpec, StepStatus


def template_context(run: RunState) -> dict[str, Any]:
    """`params` and the outputs of the steps that ended (`steps.<id>.output`)."""
    steps = {
        sid: {"output": state.output}
        for sid, state in run.steps.items()
        if state.status in (StepStatus.SUCCEEDED, StepStatus.FAILED)
    }
    return {"params": run.inputs, "steps": steps}


def step_sources(run: RunState, spec: StepSpec) -> list[str]:
    """The templates the engine renders for `spec`: a checkpoint's texts, or a step's inputs and text."""
    if spec.kind == "noop":
        return []
    if spec.checkpoint is not None:
        return checkpoint_sources(spec.checkpoint)
    return [source for _, source in spec.inputs] + [_text_source(run, spec)]


def render_inputs(run: RunState, spec: StepSpec, limits: TemplateLimits = DEFAULT_LIMITS) -> dict[str, str]:
    context = template_context(run)
    return {name: render(source, context, limits) for name, source in spec.inputs}


def render_step_text(
    run: RunState, spec: StepSpec, inputs: dict[str, str], limits: TemplateLimits = DEFAULT_LIMITS
) -> str:
    """The prompt of an agent step, the text of a template step or the message of an echo step."""
    return render(_text_source(run, spec), {**template_context(run), "inputs": inputs}, limits)


def _text_source(run: RunState, spec: StepSpec) -> str:
    if spec.prompt_template:
        return run.spec.template(spec.prompt_template)
    return spec.prompt or spec.template or spec.message


def checkpoint_sources(block: CheckpointSpec) -> list[str]:
    return [source for source in (block.title, block.context, *block.deliverables) if source]


def render_checkpoint(
    run: RunState, block: CheckpointSpec, limits: TemplateLimits = DEFAULT_LIMITS
) -> tuple[str, str, tuple[str, ...]]:
    """A checkpoint's title, context and deliverables."""
    context = template_context(run)
    title = render(block.title, context, limits)
    text = render(block.context, context, limits) if block.context else ""
    return title, text, tuple(render(d, context, limits) for d in block.deliverables)
