"""Invoke's agent modes, as pure rules: which fields each mode needs and refuses, and what action it routes to.

`route(command)` turns a request into exactly one typed action or raises InvalidInvoke with every violation at once
(field paths are InvokeRequest's field names), so a bad request is refused before any backend is called and
nothing is written. Resource names are checked for shape and for belonging to `parent`; whether they exist, and
whether the caller may see them, is for the services to say.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from gateway.domain.errors import GatewayError
from services.common import names
from services.common.errors import FieldViolation, ValidationFailed

PLAN = "AGENT_MODE_PLAN"
BUILD = "AGENT_MODE_BUILD"
CREATE = "AGENT_MODE_ORCHESTRATE_CREATE"
EXECUTE = "AGENT_MODE_ORCHESTRATE_EXECUTE"
CONTINUE = "AGENT_MODE_ORCHESTRATE_CONTINUE"
SAVE_RECIPE = "AGENT_MODE_ORCHESTRATE_SAVE_RECIPE"
MODES = (PLAN, BUILD, CREATE, EXECUTE, CONTINUE, SAVE_RECIPE)

#: Decisions as callers write them → agentorch.runs.v1.Decision names.
DECISIONS: Mapping[str, str] = {
    "approve": "DECISION_APPROVE",
    "reject": "DECISION_REJECT",
    "request_changes": "DECISION_REQUEST_CHANGES",
}

ANSWER_STEP = "answer"
MESSAGE_PARAMETER = "message"
MAX_CONVERSATION_ID = 200  # as the registry's plans take it
_FENCED = re.compile(r"```(?:json)?[ \t]*\n(.*?)\n```", re.DOTALL)


class InvalidInvoke(GatewayError, ValidationFailed):
    """An Invoke request that its mode cannot route; every violation is listed."""


def short(mode: str) -> str:
    """`AGENT_MODE_ORCHESTRATE_EXECUTE` → `orchestrate_execute` (how the README and messages name modes)."""
    return mode.removeprefix("AGENT_MODE_").lower()


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    template: str


@dataclass(frozen=True)
class InvokeCommand:
    """An Invoke request in plain Python: strings empty and documents None when not given."""

    mode: str
    parent: str = ""
    agent_slug: str = ""
    message: str = ""
    conversation_id: str = ""
    plan: dict[str, Any] | None = None
    target: str = ""
    definition: dict[str, Any] | None = None
    prompt_inputs: dict[str, Any] | None = None
    checkpoint: str = ""
    decision: str = ""
    comment: str = ""
    orchestration_id: str = ""
    request_id: str = ""
    prompt_templates: tuple[PromptTemplate, ...] = ()
    display_name: str = ""
    label: str = ""
    credentials: tuple[str, ...] = ()

    def given(self) -> set[str]:
        """The optional fields the caller set (mode and parent aside)."""
        names = (f.name for f in fields(self) if f.name not in ("mode", "parent"))
        return {n for n in names if getattr(self, n) not in ("", None, ())}


# --- the actions modes route to ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassThrough:
    """plan/build: one agent step, run to its end; the answer is the step's output. In plan mode with a
    `conversation_id`, the answer is then recorded as a draft plan of that conversation (`plan_from_answer`)."""

    org: str
    mode: str
    agent_slug: str
    message: str
    request_id: str = ""
    credentials: tuple[str, ...] = ()
    conversation_id: str = ""

    def definition(self) -> dict[str, Any]:
        """The one-step definition. The message travels as a launch input, so it is never rendered as a template
        (a `{{ ... }}` in it reaches the agent verbatim)."""
        return {
            "schema_version": 1,
            "parameters": [{"name": MESSAGE_PARAMETER, "type": "string", "required": True}],
            "phases": [
                {
                    "id": "main",
                    "steps": [
                        {
                            "id": ANSWER_STEP,
                            "kind": "agent",
                            "agent": self.agent_slug,
                            "prompt": f"{{{{ params.{MESSAGE_PARAMETER} }}}}",
                            **({"credentials": list(self.credentials)} if self.credentials else {}),
                        }
                    ],
                }
            ],
        }


@dataclass(frozen=True)
class RecordPlan:
    org: str
    agent_slug: str
    conversation_id: str
    plan: dict[str, Any]


@dataclass(frozen=True)
class SaveDefinition:
    """orchestrate_create with a definition: a new orchestration of `agent_slug` whose first version it is."""

    org: str
    agent_slug: str
    orchestration_id: str
    definition: dict[str, Any]
    prompt_templates: tuple[PromptTemplate, ...] = ()
    display_name: str = ""
    label: str = ""
    change_note: str = ""


@dataclass(frozen=True)
class Launch:
    """orchestrate_execute: exactly one of orchestration (with version: a number, a label or "" for current), plan
    or definition (ad hoc)."""

    org: str
    orchestration: str = ""
    version: str = ""
    plan: str = ""
    definition: dict[str, Any] | None = None
    prompt_templates: tuple[PromptTemplate, ...] = ()
    prompt_inputs: dict[str, Any] = field(default_factory=dict)
    request_id: str = ""


@dataclass(frozen=True)
class Decide:
    checkpoint: str
    decision: str  # a runs.v1.Decision name
    comment: str = ""

    @property
    def run(self) -> str:
        return self.checkpoint.rsplit("/checkpoints/", 1)[0]


@dataclass(frozen=True)
class Resume:
    run: str


@dataclass(frozen=True)
class SavePlanRecipe:
    plan: str
    orchestration_id: str
    display_name: str = ""
    label: str = ""
    change_note: str = ""


@dataclass(frozen=True)
class SaveRunRecipe:
    org: str
    run: str
    orchestration_id: str
    agent_slug: str = ""  # empty: the agent of the run's origin
    display_name: str = ""
    label: str = ""
    comment: str = ""


Action = PassThrough | RecordPlan | SaveDefinition | Launch | Decide | Resume | SavePlanRecipe | SaveRunRecipe


# --- routing -------------------------------------------------------------------------------------------------------


def route(command: InvokeCommand) -> Action:
    """The action `command` asks for, or InvalidInvoke listing every problem. Call after the role check."""
    if command.mode not in MODES:
        raise InvalidInvoke([FieldViolation("mode", f"must be one of {', '.join(short(m) for m in MODES)}")])
    check = _Check(command)
    match = names.ORGANIZATION.match(command.parent)
    if not match:
        check.bad("parent", "must look like organizations/{org}")
    org = match["org"] if match else ""
    action = _ROUTES[command.mode](command, check, org)
    check.raise_if_any()
    assert action is not None
    return action


class _Check:
    def __init__(self, command: InvokeCommand) -> None:
        self.command = command
        self.violations: list[FieldViolation] = []

    def bad(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def allow(self, *names: str, required: tuple[str, ...] = (), what: str = "") -> None:
        """Refuse every given field outside `names` + `required`; ask for each missing one of `required`."""
        mode = short(self.command.mode) + (f" ({what})" if what else "")
        given = self.command.given()
        for name in sorted(given - set(names) - set(required)):
            self.bad(name, f"not used by mode {mode}")
        for name in required:
            if name not in given:
                self.bad(name, f"required by mode {mode}")

    def slug(self, path: str, value: str) -> None:
        if value and not names.is_slug(value):
            self.bad(path, "must be 1-63 lowercase letters, digits or hyphens, starting with a letter")

    def within(self, path: str, name_org: str, org: str) -> None:
        if org and name_org != org:
            self.bad(path, f"must name a resource of organizations/{org} (the parent)")

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidInvoke(self.violations)


def _pass_through(c: InvokeCommand, check: _Check, org: str) -> Action | None:
    stores_plan = ("conversation_id",) if c.mode == PLAN else ()  # plan mode records the answer as a plan
    check.allow("request_id", "credentials", *stores_plan, required=("agent_slug", "message"))
    check.slug("agent_slug", c.agent_slug)
    conversation = c.conversation_id
    if (
        stores_plan
        and conversation
        and (len(conversation) > MAX_CONVERSATION_ID or not conversation.isprintable() or not conversation.strip())
    ):
        check.bad("conversation_id", f"must be 1-{MAX_CONVERSATION_ID} printable characters, not only spaces")
    for index, alias in enumerate(c.credentials):
        if not alias or len(alias) > 200 or not alias.isprintable() or " " in alias:
            check.bad(f"credentials[{index}]", "must be a credential alias (1-200 printable characters, no spaces)")
    return PassThrough(org, c.mode, c.agent_slug, c.message, c.request_id, c.credentials, c.conversation_id)


def _create(c: InvokeCommand, check: _Check, org: str) -> Action | None:
    check.slug("agent_slug", c.agent_slug)
    if c.plan is not None and c.definition is not None:
        check.bad("definition", "give either plan (a conversation plan) or definition (an orchestration), not both")
        return None
    if c.definition is not None:
        check.allow(
            "prompt_templates",
            "display_name",
            "label",
            "comment",
            required=("agent_slug", "orchestration_id", "definition"),
            what="definition",
        )
        return SaveDefinition(
            org,
            c.agent_slug,
            c.orchestration_id,
            c.definition,
            c.prompt_templates,
            c.display_name,
            c.label,
            c.comment,
        )
    if c.plan is None:
        check.bad("plan", "give plan (with conversation_id) or definition (with orchestration_id)")
        return None
    check.allow(required=("agent_slug", "conversation_id", "plan"), what="plan")
    return RecordPlan(org, c.agent_slug, c.conversation_id, c.plan)


def _execute(c: InvokeCommand, check: _Check, org: str) -> Action | None:
    inputs = dict(c.prompt_inputs or {})
    if c.definition is not None:
        if c.target:
            check.bad("target", "give either target or definition (ad hoc), not both")
        check.allow("definition", "prompt_templates", "prompt_inputs", "request_id", "target")
        return Launch(
            org,
            definition=c.definition,
            prompt_templates=c.prompt_templates,
            prompt_inputs=inputs,
            request_id=c.request_id,
        )
    check.allow("prompt_inputs", "request_id", required=("target",))
    if not c.target:
        return None
    if match := names.ORCHESTRATION.match(c.target) or names.ORCHESTRATION_VERSION.match(c.target):
        check.within("target", match["org"], org)
        version = match.pop("version", "")
        orchestration = names.ORCHESTRATION.format(**match)
        return Launch(org, orchestration=orchestration, version=version, prompt_inputs=inputs, request_id=c.request_id)
    if match := names.PLAN.match(c.target):
        check.within("target", match["org"], org)
        return Launch(org, plan=c.target, prompt_inputs=inputs, request_id=c.request_id)
    check.bad(
        "target",
        "must be an orchestration (organizations/{org}/agents/{agent}/orchestrations/{slug}, optionally "
        "/versions/{version}) or an approved plan (organizations/{org}/plans/{plan_id}); or leave it empty and "
        "give definition",
    )
    return None


def _continue(c: InvokeCommand, check: _Check, org: str) -> Action | None:
    if c.decision:
        check.allow("comment", required=("checkpoint", "decision"), what="decide")
        decision = DECISIONS.get(c.decision.strip().lower().replace("-", "_"))
        if decision is None:
            check.bad("decision", f"must be one of {', '.join(DECISIONS)}")
        if not c.checkpoint:
            return None
        match = names.CHECKPOINT.match(c.checkpoint)
        if not match:
            check.bad("checkpoint", f"must look like {names.CHECKPOINT.template}")
            return None
        check.within("checkpoint", match["org"], org)
        return Decide(c.checkpoint, decision or "", c.comment)
    if names.CHECKPOINT.match(c.checkpoint):
        check.bad("decision", f"required to decide a checkpoint: one of {', '.join(DECISIONS)}")
        return None
    if c.target and c.checkpoint:
        check.bad("checkpoint", "give the run to resume in target or in checkpoint, not both")
        return None
    path = "target" if c.target else "checkpoint"
    check.allow(path, what="resume")
    run = c.target or c.checkpoint
    if not run:
        check.bad("checkpoint", "give a checkpoint and a decision, or a run to resume (in target)")
        return None
    match = names.RUN.match(run)
    if not match:
        check.bad(path, f"must look like {names.RUN.template} (a run to resume)")
        return None
    check.within(path, match["org"], org)
    return Resume(run)


def _save_recipe(c: InvokeCommand, check: _Check, org: str) -> Action | None:
    check.slug("orchestration_id", c.orchestration_id)
    if match := names.PLAN.match(c.target):
        check.allow("display_name", "label", "comment", required=("target", "orchestration_id"), what="plan")
        check.within("target", match["org"], org)
        return SavePlanRecipe(c.target, c.orchestration_id, c.display_name, c.label, c.comment)
    check.allow("agent_slug", "display_name", "label", "comment", required=("target", "orchestration_id"))
    check.slug("agent_slug", c.agent_slug)
    if not c.target:
        return None
    if match := names.RUN.match(c.target):
        check.within("target", match["org"], org)
        return SaveRunRecipe(org, c.target, c.orchestration_id, c.agent_slug, c.display_name, c.label, c.comment)
    check.bad("target", "must be a plan (organizations/{org}/plans/{id}) or a run (organizations/{org}/runs/{id})")
    return None


_ROUTES = {
    PLAN: _pass_through,
    BUILD: _pass_through,
    CREATE: _create,
    EXECUTE: _execute,
    CONTINUE: _continue,
    SAVE_RECIPE: _save_recipe,
}


def plan_from_answer(answer: Any) -> dict[str, Any] | str:
    """The plan document in a plan-mode agent's answer, or why there is none.

    The answer is a JSON object (docs/plan-format.md): the step's output itself, its text parsed as JSON, or the
    first fenced block (```json … ```) holding one in a text that explains around it, as chat models tend to write.
    Whether it is a valid plan is the registry's to say (CreatePlan)."""
    if isinstance(answer, dict):
        return answer
    if not isinstance(answer, str) or not answer.strip():
        return "the agent's answer is empty: there is no plan to store"
    candidates = [answer.strip(), *(block.strip() for block in _FENCED.findall(answer))]
    for text in candidates:
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            continue
        if isinstance(document, dict):
            return document
    return "the agent's answer is not a plan: expected a JSON object (docs/plan-format.md), alone or in a ```json block"


def prompt_template_names(definition: Mapping[str, Any]) -> list[str]:
    """The prompt templates a definition's steps refer to by name (`prompt_template`), in order, without repeats."""
    names: list[str] = []
    for phase in definition.get("phases") or ():
        for step in (phase.get("steps") or ()) if isinstance(phase, Mapping) else ():
            name = step.get("prompt_template") if isinstance(step, Mapping) else None
            if isinstance(name, str) and name not in names:
                names.append(name)
    return names
