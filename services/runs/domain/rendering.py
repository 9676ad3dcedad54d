"""What a step's templates see, and rendering them (sandboxed, shared with the registry's validation).

Every function renders within `limits` (iterations, output, memory, time: `services.common.template_budget`) and
raises TemplateRenderError, TemplateLimitExceeded for a limit. `*_sources` list the templates a step will render,
so that the engine can tell whether they need a worker thread before rendering them.
"""

from __future__ import annotations

from typing import Any

from services.common.templating import DEFAULT_LIMITS, TemplateLimits, render
from services.runs.domain.model import CheckpointSpec, RunState, StepSpec, StepStatus
from services.runs.domain.revisions import template_revision, with_feedback


def template_context(run: RunState) -> dict[str, Any]:
    """`params` and the outputs of the steps that ended (`steps.<id>.output`)."""
    steps = {
        sid: {"output": state.output}
        for sid, state in run.steps.items()
        if state.status in (StepStatus.SUCCEEDED, StepStatus.FAILED)
    }
    return {"params": run.inputs, "steps": steps}


def step_context(run: RunState, spec: StepSpec) -> dict[str, Any]:
    """What a step's own templates see: `template_context` plus `revision`, None until a reviewer sent the step
    back (so `{% if revision %}` works under strict undefined)."""
    return {**template_context(run), "revision": template_revision(run.steps[spec.id])}


def step_sources(run: RunState, spec: StepSpec) -> list[str]:
    """The templates the engine renders for `spec`: a checkpoint's texts, or a step's inputs and text."""
    if spec.kind == "noop":
        return []
    if spec.checkpoint is not None:
        return checkpoint_sources(spec.checkpoint)
    return [source for _, source in spec.inputs] + [_text_source(run, spec)]


def render_inputs(run: RunState, spec: StepSpec, limits: TemplateLimits = DEFAULT_LIMITS) -> dict[str, str]:
    context = step_context(run, spec)
    return {name: render(source, context, limits) for name, source in spec.inputs}


def render_step_text(
    run: RunState, spec: StepSpec, inputs: dict[str, str], limits: TemplateLimits = DEFAULT_LIMITS
) -> str:
    """The prompt of an agent step, the text of a template step or the message of an echo step. A revised agent
    step whose template does not read `revision` gets the reviewer's feedback appended (see revisions.py)."""
    source = _text_source(run, spec)
    rendered = render(source, {**step_context(run, spec), "inputs": inputs}, limits)
    if spec.kind != "agent":
        return rendered
    return with_feedback(rendered, source, template_revision(run.steps[spec.id]))


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
