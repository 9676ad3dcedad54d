"""Conversation plan JSON → orchestration definition. Pure and deterministic: the same plan gives the same result.

docs/plan-format.md describes the accepted plan shape and the mapping; in short::

    {"title": "...", "summary": "...", "parameters": [...as in a definition...],
     "steps": [{"id"?, "title", "agent"?, "instructions"?, "message"?, "prompt_template"?, "phase"?,
                "depends_on"?: [id | title | 1-based number], "requires_approval"?, "approvers"?, "deliverables"?}],
     "prompt_templates"?: [{"name", "template", "description"?}]}

or `"phases": [{"id"?, "title" (or "name"), "steps": [...]}]` instead of `steps`. The result always passes
`validate_definition`; a plan that cannot be converted raises InvalidPlan whose violations sit at paths of the
plan (`plan.steps[2].depends_on[0]`), including the problems the definition validator finds in the converted
document, which are mapped back to the plan field they came from.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import FieldViolation, ValidationFailed
from services.common.names import SLUG_RE, SLUG_RULE
from services.registry.domain.definition import PromptTemplate, analyze_template, validate_definition
from services.registry.domain.definition.model import MAX_TITLE_CHARS, STEP_ID_RE
from services.registry.domain.errors import InvalidPlan

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
DEFAULT_PHASE_ID = "plan"
APPROVAL_SUFFIX = "-approval"
# Generated ids keep room for "-approval" and a "-NN" disambiguation suffix within the 63 characters allowed.
_MAX_GENERATED_BASE = 48
_JINJA_OPENERS = ("{{", "{%", "{#")
_JINJA_WORDS = frozenset({"true", "false", "none", "and", "or", "not", "in", "is", "if", "else", "with", "without"})
_STEP_PATH_RE = re.compile(r"^definition\.phases\[(\d+)\]\.steps\[(\d+)\](.*)$")
_PHASE_PATH_RE = re.compile(r"^definition\.phases\[(\d+)\](.*)$")
_INDEXED_RE = re.compile(r"^\[(\d+)\](.*)$")


@dataclass(frozen=True)
class Conversion:
    """An orchestration-ready definition (valid), its prompt templates, and what the conversion assumed."""

    definition: dict[str, Any]
    prompt_templates: tuple[PromptTemplate, ...]
    notes: tuple[str, ...]
    title: str
    summary: str


def convert_plan(document: Any, default_agent: str = "", *, prefix: str = "plan") -> Conversion:
    """Convert a plan; InvalidPlan (a ValidationFailed) lists every reason it cannot be converted."""
    return _Converter(prefix, default_agent).convert(document)


def slugify(text: str, fallback: str = "step") -> str:
    """A step/phase id from free text: `Research the market!` → `research-the-market`."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    if not slug:
        return fallback
    if not slug[0].isalpha():
        slug = f"{fallback}-{slug}"
    return slug[:_MAX_GENERATED_BASE].rstrip("-")


def literal(text: str) -> str:
    """A Jinja template that renders exactly `text` (plan titles and deliverables are plain text, not templates)."""
    if not any(opener in text for opener in _JINJA_OPENERS):
        return text
    return text.replace("{", '{{ "{" }}')


def output_ref(step_id: str) -> str:
    """`{{ steps.x.output }}`, or `{{ steps["x-y"].output }}` for ids that are not identifiers."""
    if step_id.isidentifier() and not keyword.iskeyword(step_id) and step_id not in _JINJA_WORDS:
        return "{{ steps." + step_id + ".output }}"
    return '{{ steps["' + step_id + '"].output }}'


# --- internals ----------------------------------------------------------------------------------------------------


@dataclass
class _Step:
    position: int  # 0-based, in plan order
    path: str
    group: int = 0
    raw_id: Any = None
    id: str = ""
    explicit_id: bool = False
    title: str = ""
    agent: str | None = None
    instructions: str | None = None
    prompt_template: str | None = None
    message: str | None = None
    phase_name: str | None = None
    dep_refs: list[tuple[Any, str]] | None = None
    requires_approval: bool = False
    approvers: list[tuple[str, int]] = field(default_factory=list)  # (approver, index in the plan)
    deliverables: list[tuple[str, int]] = field(default_factory=list)
    # Resolved: same-phase dependencies (target, path of the reference) and steps whose output the prompt shows.
    dependencies: list[tuple[_Step, str]] = field(default_factory=list)
    reads: list[_Step] = field(default_factory=list)
    approval_id: str = ""

    @property
    def runs_agent(self) -> bool:
        return self.message is None and bool(self.agent or self.instructions is not None or self.prompt_template)

    @property
    def milestone(self) -> bool:
        """Nothing to run and no message: its output is its own title, not worth showing to later steps."""
        return self.message is None and not self.runs_agent

    @property
    def gate(self) -> str:
        """The id dependents wait for: the approval checkpoint when there is one."""
        return self.approval_id or self.id


@dataclass
class _Group:
    id: str
    title: str
    path: str
    steps: list[_Step] = field(default_factory=list)


@dataclass(frozen=True)
class _Origin:
    """Where an emitted definition step came from, to report the validator's violations at plan paths."""

    path: str
    fields: dict[str, str]
    dependency_paths: tuple[str, ...]
    lists: dict[str, tuple[str, tuple[int, ...]]]  # definition list field → (plan field, plan indexes)


class _Converter:
    def __init__(self, prefix: str, default_agent: str) -> None:
        self.prefix = prefix
        self.default_agent = default_agent
        self.violations: list[FieldViolation] = []
        self.notes: list[str] = []
        self.steps: list[_Step] = []
        self.groups: list[_Group] = []
        self.phased = False

    def add(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def check(self) -> None:
        if self.violations:
            raise InvalidPlan(self.violations)

    # --- reading the plan -----------------------------------------------------------------------------------------

    def convert(self, document: Any) -> Conversion:
        p = self.prefix
        if not isinstance(document, dict) or not document:
            raise InvalidPlan([FieldViolation(p, "must be a non-empty JSON object (see docs/plan-format.md)")])
        self.unknown(document, p, PLAN_FIELDS)
        title = self.text(document.get("title"), f"{p}.title") or ""
        summary = self.text(document.get("summary"), f"{p}.summary") or ""
        templates = self.templates(document.get("prompt_templates"), f"{p}.prompt_templates")
        has_steps, has_phases = document.get("steps") is not None, document.get("phases") is not None
        if has_steps and has_phases:
            self.add(f"{p}.phases", "set either steps (optionally with a phase each) or phases, not both")
        elif has_phases:
            self.phased = True
            self.read_phases(document["phases"], f"{p}.phases")
        elif has_steps:
            self.read_flat(document["steps"], f"{p}.steps", title)
        else:
            self.add(f"{p}.steps", "is required: list the plan's steps (or group them in phases)")
        self.check()
        self.assign_ids()
        self.resolve_dependencies()
        self.check()
        definition, origins = self.build(document.get("parameters"))
        self.validate(definition, templates, origins)
        return Conversion(definition, templates, tuple(self.notes), title, summary)

    def unknown(self, obj: dict[Any, Any], path: str, known: Sequence[str]) -> None:
        extra = sorted(str(key) for key in obj if key not in known)
        if extra:
            self.note(f"{path}: ignored unknown field(s) {', '.join(extra)}")

    def text(self, value: Any, path: str) -> str | None:
        """An optional string field, stripped; None when absent or blank."""
        if value is None:
            return None
        if not isinstance(value, str):
            self.add(path, "must be a string")
            return None
        return value.strip() or None

    def templates(self, value: Any, path: str) -> tuple[PromptTemplate, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.add(path, "must be an array of {name, template, description} objects")
            return ()
        found: list[PromptTemplate] = []
        for position, item in enumerate(value):
            item_path = f"{path}[{position}]"
            if not isinstance(item, dict):
                self.add(item_path, "must be an object with name, template and description")
                continue
            self.unknown(item, item_path, TEMPLATE_FIELDS)
            parts = {}
            for name in TEMPLATE_FIELDS:
                raw = item.get(name)
                if raw is not None and not isinstance(raw, str):
                    self.add(f"{item_path}.{name}", "must be a string")
                parts[name] = raw if isinstance(raw, str) else ""
            found.append(PromptTemplate(parts["name"], parts["template"], parts["description"]))
        return tuple(found)

    def items(self, value: Any, path: str, what: str) -> list[Any]:
        if not isinstance(value, list):
            self.add(path, f"must be an array of {what}")
            return []
        if not value:
            self.add(path, f"must have at least one of the {what}")
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
                self.add(phase_path, "must be an object with a title and steps")
                continue
            self.unknown(item, phase_path, PHASE_FIELDS)
            title = self.text(item.get("title"), f"{phase_path}.title")
            if title is None and item.get("title") is None:
                title = self.text(item.get("name"), f"{phase_path}.name")
            raw_id = item.get("id")
            explicit = raw_id if isinstance(raw_id, str) and STEP_ID_RE.match(raw_id) else None
            if raw_id is not None and explicit is None:
                self.note(f"{phase_path}.id: {raw_id!r} is not a usable phase id; generated one instead")
            base = explicit or slugify(title or "", fallback=f"phase-{position + 1}")
            if explicit is not None:
                phase_id = self.unique_phase_id(explicit, exact=True, path=phase_path)
            else:
                phase_id = self.unique_phase_id(base, exact=False, reserved=reserved)
            group = _Group(phase_id, "", phase_path)
            group.title = self.clip(title or "", f"{phase_path}.title")
            self.groups.append(group)
            for step_position, raw in enumerate(self.items(item.get("steps"), f"{phase_path}.steps", "steps")):
                step = self.read_step(raw, f"{phase_path}.steps[{step_position}]", flat=False)
                if step is not None:
                    step.group = len(self.groups) - 1
                    group.steps.append(step)

    def read_flat(self, value: Any, path: str, plan_title: str) -> None:
        for position, raw in enumerate(self.items(value, path, "steps")):
            self.read_step(raw, f"{path}[{position}]", flat=True)
        names = list(dict.fromkeys(_key(s.phase_name) for s in self.steps if s.phase_name is not None))
        if not names:
            self.groups.append(_Group(DEFAULT_PHASE_ID, self.clip(plan_title, f"{path}") or "Plan", path))
            for step in self.steps:
                step.group = 0
                self.groups[0].steps.append(step)
            return
        first_title: dict[str, str] = {}
        for step in self.steps:
            if step.phase_name is not None:
                first_title.setdefault(_key(step.phase_name), step.phase_name)
        for name in names:
            title = self.clip(first_title[name], path)
            self.groups.append(_Group(self.unique_phase_id(slugify(title, "phase"), exact=False), title, path))
        current = 0
        inherited = False
        for step in self.steps:
            if step.phase_name is not None:
                current = names.index(_key(step.phase_name))
            else:
                inherited = True
            step.group = current
            self.groups[current].steps.append(step)
        self.note(
            f"{path}: steps grouped into phases by their phase field (in order of first appearance): "
            + ", ".join(g.id for g in self.groups)
        )
        if inherited:
            self.note(f"{path}: a step without a phase joins the phase of the step before it (the first phase if none)")

    def unique_phase_id(
        self, base: str, *, exact: bool, path: str = "", reserved: frozenset[str] | set[str] = frozenset()
    ) -> str:
        taken = {g.id for g in self.groups} | (set() if exact else set(reserved))
        if exact and base in taken:
            self.add(f"{path}.id", f"duplicate phase id {base!r}")
            return base
        return _unique(base, taken)

    def clip(self, title: str, path: str) -> str:
        if len(title) <= MAX_TITLE_CHARS:
            return title
        self.note(f"{path}: title cut to {MAX_TITLE_CHARS} characters")
        return title[: MAX_TITLE_CHARS - 1].rstrip() + "…"

    def read_step(self, value: Any, path: str, *, flat: bool) -> _Step | None:
        if not isinstance(value, dict):
            self.add(path, "must be an object with at least a title")
            return None
        self.unknown(value, path, STEP_FIELDS)
        step = _Step(position=len(self.steps), path=path)
        self.steps.append(step)
        step.raw_id = value.get("id")
        if isinstance(step.raw_id, bool) or not isinstance(step.raw_id, str | int | float | type(None)):
            self.add(f"{path}.id", "must be a string (a step id such as research-market)")
            step.raw_id = None
        step.title = self.clip(self.text(value.get("title"), f"{path}.title") or "", f"{path}.title")
        if not step.title and step.raw_id is None:
            self.add(f"{path}.title", "is required: every step needs a title (or an id)")
        agent = value.get("agent")
        if agent is not None and (not isinstance(agent, str) or not SLUG_RE.match(agent)):
            self.add(f"{path}.agent", f"must be an agent slug: it {SLUG_RULE}")
        elif agent is not None:
            step.agent = agent
        step.instructions = self.text(value.get("instructions"), f"{path}.instructions")
        step.message = self.text(value.get("message"), f"{path}.message")
        step.prompt_template = self.text(value.get("prompt_template"), f"{path}.prompt_template")
        if step.instructions is not None and step.prompt_template is not None:
            self.add(f"{path}.prompt_template", "set either instructions or prompt_template, not both")
        if step.message is not None and (step.agent or step.instructions or step.prompt_template):
            self.add(f"{path}.message", "a message step has no agent, instructions or prompt_template")
        phase = value.get("phase")
        if phase is not None and not flat:
            self.note(f"{path}.phase: ignored, the step belongs to the phase that lists it")
        elif phase is not None:
            step.phase_name = self.text(phase, f"{path}.phase")
        step.dep_refs = self.dependency_refs(value, f"{path}.depends_on")
        approval = value.get("requires_approval")
        if approval is not None and not isinstance(approval, bool):
            self.add(f"{path}.requires_approval", "must be true or false")
        step.requires_approval = approval is True
        step.approvers = self.strings(value.get("approvers"), f"{path}.approvers", "approvers (user ids or emails)")
        if step.approvers and not step.requires_approval:
            self.note(f"{path}.approvers: ignored, the step does not require approval")
        step.deliverables = self.strings(value.get("deliverables"), f"{path}.deliverables", "deliverables (text)")
        if step.runs_agent and not step.agent and not self.default_agent:
            self.add(f"{path}.agent", "is required: the plan has no default (planning) agent")
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
            self.add(path, "must be an array of step ids, titles or 1-based step numbers")
            return []
        return [(ref, f"{path}[{i}]") for i, ref in enumerate(value)]

    def strings(self, value: Any, path: str, what: str) -> list[tuple[str, int]]:
        if value is None:
            return []
        if isinstance(value, str):
            return [(value.strip(), 0)] if value.strip() else []
        if not isinstance(value, list):
            self.add(path, f"must be an array of {what}")
            return []
        found: dict[str, int] = {}
        for position, item in enumerate(value):
            if not isinstance(item, str):
                self.add(f"{path}[{position}]", "must be a string")
            elif item.strip():
                found.setdefault(item.strip(), position)
        return list(found.items())

    # --- ids and dependencies ---------------------------------------------------------------------------------

    def assign_ids(self) -> None:
        taken: dict[str, str] = {}
        for step in self.steps:
            raw = step.raw_id
            if isinstance(raw, str) and STEP_ID_RE.match(raw):
                if raw in taken:
                    self.add(f"{step.path}.id", f"duplicate step id {raw!r} (first at {taken[raw]})")
                    continue
                step.id, step.explicit_id = raw, True
                taken[raw] = step.path
        for step in self.steps:
            if step.explicit_id:
                continue
            raw = step.raw_id
            if isinstance(raw, str) and raw.strip():
                source, what = raw, f"from its id {raw!r}"
            elif step.title:
                source, what = step.title, "from its title"
            else:
                source, what = f"step {step.position + 1}", "from its position"
            base = slugify(source)
            step.id = _unique(base, set(taken))
            taken[step.id] = step.path
            clash = f" ({base!r} was taken)" if step.id != base else ""
            self.note(f"{step.path}: step id {step.id!r} generated {what}{clash}")
        for step in self.steps:
            if step.requires_approval:
                step.approval_id = _unique(f"{step.id[: 63 - len(APPROVAL_SUFFIX)]}{APPROVAL_SUFFIX}", set(taken))
                taken[step.approval_id] = step.path
                self.note(f"{step.path}: requires approval, so checkpoint step {step.approval_id!r} follows it")

    def resolve_dependencies(self) -> None:
        by_raw: dict[str, _Step] = {}
        by_id: dict[str, _Step] = {}
        by_title: dict[str, list[_Step]] = {}
        for step in self.steps:
            raw_key = _ref_key(step.raw_id)
            if raw_key is not None:
                by_raw.setdefault(raw_key, step)
            by_id.setdefault(step.id, step)
            if step.title:
                by_title.setdefault(_key(step.title), []).append(step)
        if all(step.dep_refs is None for step in self.steps):
            self.sequential()
            return
        for step in self.steps:
            seen: set[int] = set()
            for ref, path in step.dep_refs or ():
                target = self.resolve(ref, path, by_raw, by_id, by_title)
                if target is None or target.position in seen:
                    continue
                seen.add(target.position)
                if target is step:
                    self.add(path, "a step cannot depend on itself")
                elif target.group > step.group:
                    self.add(
                        path,
                        f"step {target.id!r} is in phase {self.groups[target.group].id!r}, which runs after this "
                        f"step's phase {self.groups[step.group].id!r}; reorder the phases or drop the dependency",
                    )
                elif target.group < step.group:
                    step.reads.append(target)
                    self.note(
                        f"{path}: dropped, step {target.id!r} is in an earlier phase, which always finishes first"
                    )
                else:
                    step.dependencies.append((target, path))
                    step.reads.append(target)

    def resolve(
        self,
        ref: Any,
        path: str,
        by_raw: dict[str, _Step],
        by_id: dict[str, _Step],
        by_title: dict[str, list[_Step]],
    ) -> _Step | None:
        key = _ref_key(ref)
        if key is None:
            self.add(path, "must be a step id, a step title or a 1-based step number")
            return None
        if key in by_raw:
            return by_raw[key]
        if key in by_id:
            return by_id[key]
        if isinstance(ref, str):
            matches = by_title.get(_key(ref), [])
            if len(matches) > 1:
                self.add(path, f"matches {len(matches)} steps by title; refer to the step by its id")
                return None
            if matches:
                return matches[0]
        if key.isdigit() and 1 <= int(key) <= len(self.steps):
            return self.steps[int(key) - 1]
        self.add(path, f"unknown step {ref!r}: use a step's id, its title or its number (1 to {len(self.steps)})")
        return None

    def sequential(self) -> None:
        previous: _Step | None = None
        for group in self.groups:
            for position, step in enumerate(group.steps):
                if position > 0:
                    step.dependencies.append((group.steps[position - 1], step.path))
                if previous is not None:
                    step.reads.append(previous)
                previous = step
        if len(self.steps) > 1:
            self.note(f"{self.prefix}: no step declares depends_on, so the steps of each phase run one after another")

    # --- building and validating --------------------------------------------------------------------------------

    def build(self, parameters: Any) -> tuple[dict[str, Any], dict[tuple[int, int], _Origin]]:
        origins: dict[tuple[int, int], _Origin] = {}
        phases: list[dict[str, Any]] = []
        for g, group in enumerate(self.groups):
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
        defaulted = [step.path for step in self.steps if step.runs_agent and not step.agent]
        if defaulted:
            self.note(
                f"no agent given, so these run on the planning agent {self.default_agent!r}: {', '.join(defaulted)}"
            )
        definition: dict[str, Any] = {"schema_version": 1}
        if parameters is not None:
            definition["parameters"] = parameters
        definition["phases"] = phases
        return definition, origins

    def work_step(self, step: _Step) -> dict[str, Any]:
        out: dict[str, Any] = {"id": step.id, "kind": "agent" if step.runs_agent else "echo"}
        if step.title:
            out["title"] = step.title
        if step.message is not None:
            out["message"] = step.message
        elif step.runs_agent:
            out["agent"] = step.agent or self.default_agent
            if step.prompt_template is not None:
                out["prompt_template"] = step.prompt_template
                if step.reads or step.deliverables:
                    self.note(f"{step.path}: uses a prompt template, so deliverables and earlier results are not added")
            else:
                if step.instructions is None:
                    self.note(f"{step.path}: no instructions, so its title is the prompt")
                out["prompt"] = self.prompt(step)
        else:
            out["message"] = literal(step.title or step.id)
            self.note(f"{step.path}: nothing to run (no agent, instructions or message): an echo step (milestone)")
        if step.dependencies:
            out["depends_on"] = [target.gate for target, _ in step.dependencies]
        return out

    def prompt(self, step: _Step) -> str:
        instructions = step.instructions
        parts = [instructions if instructions is not None else literal(step.title or step.id)]
        if step.deliverables:
            parts.append("Deliverables:\n" + "\n".join(f"- {literal(text)}" for text, _ in step.deliverables))
        reads = _results_read(step)
        if reads and not (instructions is not None and _reads_steps(instructions)):
            sections = [f"### {literal(read.title or read.id)}\n{output_ref(read.id)}" for read in reads]
            parts.append("Results of earlier steps:\n\n" + "\n\n".join(sections))
        return "\n\n".join(parts)

    def approval_step(self, step: _Step) -> dict[str, Any]:
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

    def approval_title(self, step: _Step) -> str:
        title = f"Approve: {step.title or step.id}"
        return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1].rstrip() + "…"

    def origin(self, step: _Step) -> _Origin:
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
        return _Origin(p, fields, tuple(path for _, path in step.dependencies), {})

    def approval_origin(self, step: _Step) -> _Origin:
        p = step.path
        approval = f"{p}.requires_approval"
        lists = {
            "checkpoint.assignees": (f"{p}.approvers", tuple(i for _, i in step.approvers)),
            "checkpoint.deliverables": (f"{p}.deliverables", tuple(i for _, i in step.deliverables)),
        }
        return _Origin(approval, {"title": f"{p}.title", "checkpoint.title": f"{p}.title"}, (), lists)

    def validate(
        self, definition: dict[str, Any], templates: tuple[PromptTemplate, ...], origins: dict[tuple[int, int], _Origin]
    ) -> None:
        try:
            validate_definition(
                definition, templates, prefix="definition", templates_prefix=f"{self.prefix}.prompt_templates"
            )
        except ValidationFailed as exc:
            mapped = {FieldViolation(self.plan_path(v.field, origins), v.description): None for v in exc.violations}
            raise InvalidPlan(list(mapped)) from None

    def plan_path(self, path: str, origins: dict[tuple[int, int], _Origin]) -> str:
        """The plan field a violation of the converted definition comes from."""
        if not path.startswith("definition"):
            return path  # prompt templates are validated at their plan paths already
        container = f"{self.prefix}.{'phases' if self.phased else 'steps'}"
        if match := _STEP_PATH_RE.match(path):
            origin = origins.get((int(match[1]), int(match[2])))
            return container if origin is None else _within(origin, match[3])
        if match := _PHASE_PATH_RE.match(path):
            position = int(match[1])
            return self.groups[position].path if position < len(self.groups) else container
        if path.startswith("definition.parameters"):
            return self.prefix + ".parameters" + path[len("definition.parameters") :]
        if path.startswith("definition.phases"):
            return container
        return self.prefix


def _within(origin: _Origin, rest: str) -> str:
    """Map `.prompt`, `.depends_on[1]`, `.checkpoint.assignees[0]`... of an emitted step to its plan field."""
    if rest.startswith(".depends_on"):
        indexed = _INDEXED_RE.match(rest[len(".depends_on") :])
        if indexed and int(indexed[1]) < len(origin.dependency_paths):
            return origin.dependency_paths[int(indexed[1])]
        return origin.path if origin.path.endswith("requires_approval") else f"{origin.path}.depends_on"
    for name, (plan_field, positions) in origin.lists.items():
        if rest.startswith(f".{name}"):
            indexed = _INDEXED_RE.match(rest[len(name) + 1 :])
            if indexed and int(indexed[1]) < len(positions):
                return f"{plan_field}[{positions[int(indexed[1])]}]"
            return plan_field
    for name, plan_field in origin.fields.items():
        if rest == f".{name}" or rest.startswith((f".{name}.", f".{name}[")):
            return plan_field
    return origin.path


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _key(text: str) -> str:
    """Titles and phase names match case-insensitively, whatever the spacing."""
    return " ".join(text.split()).casefold()


def _ref_key(value: Any) -> str | None:
    """A dependency reference (or a step's original id) as a lookup key; None when it cannot be one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def _results_read(step: _Step) -> list[_Step]:
    """The steps whose output `step`'s prompt shows: what it reads, looking through milestones to what they read."""
    found: dict[int, _Step] = {}
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
