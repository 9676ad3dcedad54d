"""Reading the plan JSON into steps and phases (docs/plan-format.md), recording each problem at its plan path."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.common.names import SLUG_RE, SLUG_RULE
from services.registry.domain.definition import PromptTemplate
from services.registry.domain.definition.model import MAX_TITLE_CHARS, STEP_ID_RE
from services.registry.domain.plan_conversion.model import DEFAULT_PHASE_ID, Draft, PhaseGroup, PlanStep
from services.registry.domain.plan_conversion.text import slugify, title_key, unique

PLAN_FIELDS = ("title", "summary", "parameters", "steps", "phases", "prompt_templates")
PHASE_FIELDS = ("id", "title", "name", "steps")
STEP_FIELDS = (
    "id",
    "title",
    "agent",
    "instructions",
    "message",
    "prompt_template",
    "depends_on",
    "phase",
    "requires_approval",
    "approvers",
    "deliverables",
)
TEMPLATE_FIELDS = ("name", "template", "description")


class PlanReader:
    """Reads a plan document into the draft's steps and phases."""

    def __init__(self, draft: Draft) -> None:
        self.d = draft

    def read(self, document: dict[Any, Any]) -> tuple[str, str, tuple[PromptTemplate, ...]]:
        """The plan's title, summary and prompt templates; its steps and phases go into the draft."""
        p = self.d.prefix
        self.unknown(document, p, PLAN_FIELDS)
        title = self.text(document.get("title"), f"{p}.title") or ""
        summary = self.text(document.get("summary"), f"{p}.summary") or ""
        templates = self.templates(document.get("prompt_templates"), f"{p}.prompt_templates")
        has_steps, has_phases = document.get("steps") is not None, document.get("phases") is not None
        if has_steps and has_phases:
            self.d.add(f"{p}.phases", "set either steps (optionally with a phase each) or phases, not both")
        elif has_phases:
            self.d.phased = True
            self.read_phases(document["phases"], f"{p}.phases")
        elif has_steps:
            self.read_flat(document["steps"], f"{p}.steps", title)
        else:
            self.d.add(f"{p}.steps", "is required: list the plan's steps (or group them in phases)")
        return title, summary, templates

    def unknown(self, obj: dict[Any, Any], path: str, known: Sequence[str]) -> None:
        extra = sorted(str(key) for key in obj if key not in known)
        if extra:
            self.d.note(f"{path}: ignored unknown field(s) {', '.join(extra)}")

    def text(self, value: Any, path: str) -> str | None:
        """An optional string field, stripped; None when absent or blank."""
        if value is None:
            return None
        if not isinstance(value, str):
            self.d.add(path, "must be a string")
            return None
        return value.strip() or None

    def templates(self, value: Any, path: str) -> tuple[PromptTemplate, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.d.add(path, "must be an array of {name, template, description} objects")
            return ()
        found: list[PromptTemplate] = []
        for position, item in enumerate(value):
            item_path = f"{path}[{position}]"
            if not isinstance(item, dict):
                self.d.add(item_path, "must be an object with name, template and description")
                continue
            self.unknown(item, item_path, TEMPLATE_FIELDS)
            parts = {}
            for name in TEMPLATE_FIELDS:
                raw = item.get(name)
                if raw is not None and not isinstance(raw, str):
                    self.d.add(f"{item_path}.{name}", "must be a string")
                parts[name] = raw if isinstance(raw, str) else ""
            found.append(PromptTemplate(parts["name"], parts["template"], parts["description"]))
        return tuple(found)

    def items(self, value: Any, path: str, what: str) -> list[Any]:
        if not isinstance(value, list):
            self.d.add(path, f"must be an array of {what}")
            return []
        if not value:
            self.d.add(path, f"must have at least one of the {what}")
        return value

    def read_phases(self, value: Any, path: str) -> None:
        items = self.items(value, path, "phases")
        # Valid explicit phase ids are reserved first, so that generated ones never take them.
        reserved = {
            item["id"]
            for item in items
            if isinstance(item, dict) and isinstance(item.get("id"), str) and STEP_ID_RE.match(item["id"])
        }
        for position, item in enumerate(items):
            phase_path = f"{path}[{position}]"
            if not isinstance(item, dict):
                self.d.add(phase_path, "must be an object with a title and steps")
                continue
            self.unknown(item, phase_path, PHASE_FIELDS)
            title = self.text(item.get("title"), f"{phase_path}.title")
            if title is None and item.get("title") is None:
                title = self.text(item.get("name"), f"{phase_path}.name")
            raw_id = item.get("id")
            explicit = raw_id if isinstance(raw_id, str) and STEP_ID_RE.match(raw_id) else None
            if raw_id is not None and explicit is None:
                self.d.note(f"{phase_path}.id: {raw_id!r} is not a usable phase id; generated one instead")
            base = explicit or slugify(title or "", fallback=f"phase-{position + 1}")
            if explicit is not None:
                phase_id = self.unique_phase_id(explicit, exact=True, path=phase_path)
            else:
                phase_id = self.unique_phase_id(base, exact=False, reserved=reserved)
            group = PhaseGroup(phase_id, "", phase_path)
            group.title = self.clip(title or "", f"{phase_path}.title")
            self.d.groups.append(group)
            for step_position, raw in enumerate(self.items(item.get("steps"), f"{phase_path}.steps", "steps")):
                step = self.read_step(raw, f"{phase_path}.steps[{step_position}]", flat=False)
                if step is not None:
                    step.group = len(self.d.groups) - 1
                    group.steps.append(step)

    def read_flat(self, value: Any, path: str, plan_title: str) -> None:
        for position, raw in enumerate(self.items(value, path, "steps")):
            self.read_step(raw, f"{path}[{position}]", flat=True)
        names = list(dict.fromkeys(title_key(s.phase_name) for s in self.d.steps if s.phase_name is not None))
        if not names:
            self.d.groups.append(PhaseGroup(DEFAULT_PHASE_ID, self.clip(plan_title, f"{path}") or "Plan", path))
            for step in self.d.steps:
                step.group = 0
                self.d.groups[0].steps.append(step)
            return
        first_title: dict[str, str] = {}
        for step in self.d.steps:
            if step.phase_name is not None:
                first_title.setdefault(title_key(step.phase_name), step.phase_name)
        for name in names:
            title = self.clip(first_title[name], path)
            self.d.groups.append(PhaseGroup(self.unique_phase_id(slugify(title, "phase"), exact=False), title, path))
        current = 0
        inherited = False
        for step in self.d.steps:
            if step.phase_name is not None:
                current = names.index(title_key(step.phase_name))
            else:
                inherited = True
            step.group = current
            self.d.groups[current].steps.append(step)
        self.d.note(
            f"{path}: steps grouped into phases by their phase field (in order of first appearance): "
            + ", ".join(g.id for g in self.d.groups)
        )
        if inherited:
            self.d.note(
                f"{path}: a step without a phase joins the phase of the step before it (the first phase if none)"
            )

    def unique_phase_id(
        self, base: str, *, exact: bool, path: str = "", reserved: frozenset[str] | set[str] = frozenset()
    ) -> str:
        taken = {g.id for g in self.d.groups} | (set() if exact else set(reserved))
        if exact and base in taken:
            self.d.add(f"{path}.id", f"duplicate phase id {base!r}")
            return base
        return unique(base, taken)

    def clip(self, title: str, path: str) -> str:
        if len(title) <= MAX_TITLE_CHARS:
            return title
        self.d.note(f"{path}: title cut to {MAX_TITLE_CHARS} characters")
        return title[: MAX_TITLE_CHARS - 1].rstrip() + "…"

    def read_step(self, value: Any, path: str, *, flat: bool) -> PlanStep | None:
        if not isinstance(value, dict):
            self.d.add(path, "must be an object with at least a title")
            return None
        self.unknown(value, path, STEP_FIELDS)
        step = PlanStep(position=len(self.d.steps), path=path)
        self.d.steps.append(step)
        step.raw_id = value.get("id")
        if isinstance(step.raw_id, bool) or not isinstance(step.raw_id, str | int | float | type(None)):
            self.d.add(f"{path}.id", "must be a string (a step id such as research-market)")
            step.raw_id = None
        step.title = self.clip(self.text(value.get("title"), f"{path}.title") or "", f"{path}.title")
        if not step.title and step.raw_id is None:
            self.d.add(f"{path}.title", "is required: every step needs a title (or an id)")
        agent = value.get("agent")
        if agent is not None and (not isinstance(agent, str) or not SLUG_RE.match(agent)):
            self.d.add(f"{path}.agent", f"must be an agent slug: it {SLUG_RULE}")
        elif agent is not None:
            step.agent = agent
        step.instructions = self.text(value.get("instructions"), f"{path}.instructions")
        step.message = self.text(value.get("message"), f"{path}.message")
        step.prompt_template = self.text(value.get("prompt_template"), f"{path}.prompt_template")
        if step.instructions is not None and step.prompt_template is not None:
            self.d.add(f"{path}.prompt_template", "set either instructions or prompt_template, not both")
        if step.message is not None and (step.agent or step.instructions or step.prompt_template):
            self.d.add(f"{path}.message", "a message step has no agent, instructions or prompt_template")
        phase = value.get("phase")
        if phase is not None and not flat:
            self.d.note(f"{path}.phase: ignored, the step belongs to the phase that lists it")
        elif phase is not None:
            step.phase_name = self.text(phase, f"{path}.phase")
        step.dep_refs = self.dependency_refs(value, f"{path}.depends_on")
        approval = value.get("requires_approval")
        if approval is not None and not isinstance(approval, bool):
            self.d.add(f"{path}.requires_approval", "must be true or false")
        step.requires_approval = approval is True
        step.approvers = self.strings(value.get("approvers"), f"{path}.approvers", "approvers (user ids or emails)")
        if step.approvers and not step.requires_approval:
            self.d.note(f"{path}.approvers: ignored, the step does not require approval")
        step.deliverables = self.strings(value.get("deliverables"), f"{path}.deliverables", "deliverables (text)")
        if step.runs_agent and not step.agent and not self.d.default_agent:
            self.d.add(f"{path}.agent", "is required: the plan has no default (planning) agent")
        return step

    def dependency_refs(self, obj: dict[Any, Any], path: str) -> list[tuple[Any, str]] | None:
        if "depends_on" not in obj:
            return None
        value = obj["depends_on"]
        if value is None:
            return []
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return [(value, path)]
        if not isinstance(value, list):
            self.d.add(path, "must be an array of step ids, titles or 1-based step numbers")
            return []
        return [(ref, f"{path}[{i}]") for i, ref in enumerate(value)]

    def strings(self, value: Any, path: str, what: str) -> list[tuple[str, int]]:
        if value is None:
            return []
        if isinstance(value, str):
            return [(value.strip(), 0)] if value.strip() else []
        if not isinstance(value, list):
            self.d.add(path, f"must be an array of {what}")
            return []
        found: dict[str, int] = {}
        for position, item in enumerate(value):
            if not isinstance(item, str):
                self.d.add(f"{path}[{position}]", "must be a string")
            elif item.strip():
                found.setdefault(item.strip(), position)
        return list(found.items())
