"""The structural pass over a version-1 document: shapes, types, bounds and ids of parameters, phases and steps.

It records where each step and each template string sits (`StepSite`, `TemplateSite`), so that the later passes
(dependencies, template references) can report violations at exact paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.common.names import SLUG_RE, SLUG_RULE
from services.registry.domain.definition.model import (
    CHECKPOINT_ROLES,
    CREDENTIAL_ALIAS_RE,
    CREDENTIAL_ALIAS_RULE,
    DEFAULT_BACKOFF_MULTIPLIER,
    DEFAULT_INITIAL_BACKOFF_SECONDS,
    DEFAULT_MAX_BACKOFF_SECONDS,
    DEFAULT_MAX_REVISIONS,
    GROUP_ASSIGNEE_PREFIX,
    MAX_ASSIGNEE_CHARS,
    MAX_ASSIGNEES,
    MAX_ATTEMPTS,
    MAX_BACKOFF_MULTIPLIER,
    MAX_BACKOFF_SECONDS,
    MAX_CREDENTIALS,
    MAX_DELIVERABLES,
    MAX_DEPENDENCIES,
    MAX_DUE_IN_SECONDS,
    MAX_ESCALATION_LEVELS,
    MAX_INITIAL_BACKOFF_SECONDS,
    MAX_INPUTS,
    MAX_PHASES,
    MAX_STEPS,
    MAX_TIMEOUT_SECONDS,
    MAX_TITLE_CHARS,
    MIN_BACKOFF_MULTIPLIER,
    MIN_DUE_IN_SECONDS,
    ON_EXPIRY,
    ON_FAILURE,
    PARAMETER_NAME_RE,
    PARAMETER_NAME_RULE,
    STEP_ID_RE,
    STEP_ID_RULE,
    STEP_KINDS,
    TEMPLATE_NAME_RE,
    TEMPLATE_NAME_RULE,
    CheckpointSpec,
    EscalationLevel,
    Parameter,
    Phase,
    RetryPolicy,
    Step,
)
from services.registry.domain.definition.parameters import parse_parameters
from services.registry.domain.definition.reader import Reader, index, join

TOP_FIELDS = ("schema_version", "parameters", "phases")
PHASE_FIELDS = ("id", "title", "steps")
COMMON_STEP_FIELDS = ("id", "kind", "title", "depends_on", "on_failure")
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "agent": ("agent", "prompt_template", "prompt", "inputs", "credentials", "timeout_seconds", "retry"),
    "checkpoint": ("checkpoint",),
    "noop": ("timeout_seconds", "retry"),
    "echo": ("message", "inputs", "timeout_seconds", "retry"),
    "template": ("template", "prompt_template", "inputs", "timeout_seconds", "retry"),
}
ALL_STEP_FIELDS = tuple(dict.fromkeys(COMMON_STEP_FIELDS + tuple(f for kind in STEP_KINDS for f in KIND_FIELDS[kind])))
RETRY_FIELDS = ("max_attempts", "initial_backoff_seconds", "max_backoff_seconds", "backoff_multiplier")
CHECKPOINT_FIELDS = (
    "title",
    "context",
    "deliverables",
    "assignees",
    "role",
    "due_in_seconds",
    "on_expiry",
    "escalate_to",
    "max_revisions",  # issue 14: request-changes revisions
    # i14-decisions
    "approvals_required",
    "forbid_self_approval",
    "reason_codes",
    "remind_before_seconds",  # issue 14, i14-routing
    "escalation",  # issue 14, i14-routing
)
# i14-decisions: quorum, four-eyes and reason codes of a checkpoint.
MAX_APPROVALS_REQUIRED = 10
MAX_REASON_CODES = 20
ESCALATION_FIELDS = ("after_seconds", "to")
ESCALATION_TARGET_FIELDS = ("role", "group", "users")


@dataclass(frozen=True)
class TemplateSite:
    """One inline template string; `allows_inputs` is false inside `inputs` values and checkpoint texts."""

    path: str
    source: str
    allows_inputs: bool


@dataclass(frozen=True)
class StepSite:
    """A parsed step and where it sits. `id_is_unique` is false for a valid id used by an earlier step too."""

    step: Step
    path: str
    phase_index: int
    id_is_unique: bool
    dependency_paths: tuple[str, ...]  # parallel to step.depends_on
    templates: tuple[TemplateSite, ...]


@dataclass(frozen=True)
class Structure:
    parameters: tuple[Parameter, ...]
    phases: tuple[Phase, ...]
    sites: tuple[StepSite, ...]
    too_many_steps: bool


def parse_structure(reader: Reader, document: dict[Any, Any], prefix: str) -> Structure:
    reader.unknown_keys(document, prefix, TOP_FIELDS)
    parameters = parse_parameters(reader, document.get("parameters"), join(prefix, "parameters"))
    path = join(prefix, "phases")
    items = reader.array(document.get("phases"), path, required=True, max_items=MAX_PHASES, what="phases")
    if items == []:
        reader.add(path, "must have at least one phase")
    phases: list[Phase] = []
    sites: list[StepSite] = []
    phase_ids: dict[str, str] = {}
    step_ids: dict[str, str] = {}
    for position, item in enumerate(items or ()):
        phase_path = index(path, position)
        phase, phase_sites = _phase(reader, item, phase_path, position, phase_ids, step_ids)
        if phase is None:
            continue
        phases.append(phase)
        sites.extend(phase_sites)
    total = sum(len(phase.steps) for phase in phases)
    if total > MAX_STEPS:
        reader.add(path, f"must have at most {MAX_STEPS} steps in total (got {total})")
    return Structure(parameters, tuple(phases), tuple(sites), total > MAX_STEPS)


def _phase(
    reader: Reader, value: Any, path: str, position: int, phase_ids: dict[str, str], step_ids: dict[str, str]
) -> tuple[Phase | None, list[StepSite]]:
    obj = reader.mapping(value, path, PHASE_FIELDS)
    if obj is None:
        return None, []
    phase_id = reader.string(obj.get("id"), join(path, "id"), required=True, pattern=STEP_ID_RE, rule=STEP_ID_RULE)
    if phase_id is not None and phase_id in phase_ids:
        reader.add(join(path, "id"), f"duplicate phase id {phase_id!r} (first at {phase_ids[phase_id]})")
    elif phase_id is not None:
        phase_ids[phase_id] = path
    title = reader.string(obj.get("title"), join(path, "title"), max_chars=MAX_TITLE_CHARS)
    steps_path = join(path, "steps")
    # No bound per phase: the total is bounded (and the structure of a 512 KiB document is cheap to check).
    items = reader.array(obj.get("steps"), steps_path, required=True, max_items=None, what="steps")
    if items == []:
        reader.add(steps_path, "must have at least one step")
    sites: list[StepSite] = []
    for step_position, item in enumerate(items or ()):
        step_path = index(steps_path, step_position)
        site = _step(reader, item, step_path, phase_id or "", position, step_ids)
        if site is not None:
            sites.append(site)
    return Phase(phase_id or "", title or "", tuple(site.step for site in sites)), sites


def _step(
    reader: Reader, value: Any, path: str, phase_id: str, phase_index: int, step_ids: dict[str, str]
) -> StepSite | None:
    obj = reader.mapping(value, path)
    if obj is None:
        return None
    kind = reader.string(obj.get("kind"), join(path, "kind"), required=True, choices=STEP_KINDS)
    allowed = COMMON_STEP_FIELDS + KIND_FIELDS[kind] if kind else ALL_STEP_FIELDS
    reader.unknown_keys(obj, path, allowed, explain=_misplaced)

    def own(name: str) -> Any:
        """A kind-specific field, or None when it is not allowed here (that is already reported)."""
        return obj.get(name) if name in allowed else None

    step_id = reader.string(obj.get("id"), join(path, "id"), required=True, pattern=STEP_ID_RE, rule=STEP_ID_RULE)
    unique = step_id is not None and step_id not in step_ids
    if step_id is not None and not unique:
        reader.add(
            join(path, "id"),
            f"duplicate step id {step_id!r} (first at {step_ids[step_id]}); step ids are unique across all phases",
        )
    elif step_id is not None:
        step_ids[step_id] = path
    depends_on, dependency_paths = _depends_on(reader, obj.get("depends_on"), join(path, "depends_on"))
    templates: list[TemplateSite] = []
    inputs = _inputs(reader, own("inputs"), join(path, "inputs"), templates)
    prompt = reader.template(own("prompt"), join(path, "prompt"))
    template = reader.template(own("template"), join(path, "template"))
    message = reader.template(own("message"), join(path, "message"), required=kind == "echo")
    templates.extend(
        TemplateSite(join(path, name), source, allows_inputs=True)
        for name, source in (("prompt", prompt), ("template", template), ("message", message))
        if source is not None
    )
    if kind == "agent":
        _exactly_one(reader, obj, path, "prompt", "prompt_template")
    elif kind == "template":
        _exactly_one(reader, obj, path, "template", "prompt_template")
    step = Step(
        id=step_id or "",
        kind=kind or "",
        phase_id=phase_id,
        depends_on=depends_on,
        agent=reader.string(
            own("agent"), join(path, "agent"), required=kind == "agent", pattern=SLUG_RE, rule=SLUG_RULE
        ),
        prompt_template=reader.string(
            own("prompt_template"), join(path, "prompt_template"), pattern=TEMPLATE_NAME_RE, rule=TEMPLATE_NAME_RULE
        ),
        prompt=prompt,
        inputs=inputs,
        credentials=_credentials(reader, own("credentials"), join(path, "credentials")),
        timeout_seconds=reader.number(
            own("timeout_seconds"),
            join(path, "timeout_seconds"),
            minimum=0,
            maximum=MAX_TIMEOUT_SECONDS,
            exclusive_minimum=True,
        ),
        retry=_retry(reader, own("retry"), join(path, "retry")),
        on_failure=reader.string(obj.get("on_failure"), join(path, "on_failure"), choices=ON_FAILURE) or "fail_run",
        checkpoint=_checkpoint(reader, own("checkpoint"), join(path, "checkpoint"), kind == "checkpoint", templates),
        message=message,
        template=template,
        title=reader.string(obj.get("title"), join(path, "title"), max_chars=MAX_TITLE_CHARS) or "",
    )
    return StepSite(step, path, phase_index, unique, dependency_paths, tuple(templates))


def _misplaced(key: str) -> str | None:
    kinds = [kind for kind in STEP_KINDS if key in KIND_FIELDS[kind]]
    return f"is only allowed on steps of kind {' or '.join(kinds)}" if kinds else None


def _exactly_one(reader: Reader, obj: dict[Any, Any], path: str, inline: str, named: str) -> None:
    has_inline, has_named = obj.get(inline) is not None, obj.get(named) is not None
    if has_inline and has_named:
        reader.add(join(path, named), f"set either {inline} or {named}, not both")
    elif not has_inline and not has_named:
        reader.add(join(path, inline), f"is required: set {inline} (an inline template) or {named} (a named one)")


def _depends_on(reader: Reader, value: Any, path: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Dependency ids and the path of each; whether they exist is checked once all steps are known."""
    items = reader.array(value, path, max_items=MAX_DEPENDENCIES, what="dependencies")
    seen: dict[str, str] = {}
    for position, item in enumerate(items or ()):
        item_path = index(path, position)
        dependency = reader.string(item, item_path, required=True, pattern=STEP_ID_RE, rule=STEP_ID_RULE)
        if dependency is None:
            continue
        if dependency in seen:
            reader.add(item_path, f"duplicate dependency {dependency!r} (also at {seen[dependency]})")
            continue
        seen[dependency] = item_path
    return tuple(seen), tuple(seen.values())


def _inputs(reader: Reader, value: Any, path: str, templates: list[TemplateSite]) -> dict[str, str]:
    """Input name → template string; inputs are rendered before the prompt, which reads them as `inputs.<name>`."""
    if value is None:
        return {}
    obj = reader.mapping(value, path)
    if obj is None:
        return {}
    if len(obj) > MAX_INPUTS:
        reader.add(path, f"must have at most {MAX_INPUTS} inputs (got {len(obj)})")
    inputs: dict[str, str] = {}
    for name, raw in obj.items():
        item_path = join(path, name)
        if not isinstance(name, str) or not PARAMETER_NAME_RE.match(name):
            reader.add(item_path, f"input name {PARAMETER_NAME_RULE}")
            continue
        source = reader.template(raw, item_path, required=True)
        if source is not None:
            inputs[name] = source
            templates.append(TemplateSite(item_path, source, allows_inputs=False))
    return inputs


def _credentials(reader: Reader, value: Any, path: str) -> tuple[str, ...]:
    items = reader.array(value, path, max_items=MAX_CREDENTIALS, what="credentials")
    aliases: dict[str, str] = {}
    for position, item in enumerate(items or ()):
        item_path = index(path, position)
        alias = reader.string(item, item_path, required=True, pattern=CREDENTIAL_ALIAS_RE, rule=CREDENTIAL_ALIAS_RULE)
        if alias is None:
            continue
        if alias in aliases:
            reader.add(item_path, f"duplicate credential {alias!r} (also at {aliases[alias]})")
            continue
        aliases[alias] = item_path
    return tuple(aliases)


def _retry(reader: Reader, value: Any, path: str) -> RetryPolicy | None:
    if value is None:
        return None
    obj = reader.mapping(value, path, RETRY_FIELDS)
    if obj is None:
        return None
    attempts = reader.integer(
        obj.get("max_attempts"), join(path, "max_attempts"), minimum=1, maximum=MAX_ATTEMPTS, required=True
    )
    initial = reader.number(
        obj.get("initial_backoff_seconds"),
        join(path, "initial_backoff_seconds"),
        minimum=0,
        maximum=MAX_INITIAL_BACKOFF_SECONDS,
    )
    longest = reader.number(
        obj.get("max_backoff_seconds"), join(path, "max_backoff_seconds"), minimum=0, maximum=MAX_BACKOFF_SECONDS
    )
    multiplier = reader.number(
        obj.get("backoff_multiplier"),
        join(path, "backoff_multiplier"),
        minimum=MIN_BACKOFF_MULTIPLIER,
        maximum=MAX_BACKOFF_MULTIPLIER,
    )
    initial = DEFAULT_INITIAL_BACKOFF_SECONDS if initial is None else initial
    if longest is not None and longest < initial:
        reader.add(join(path, "max_backoff_seconds"), f"must be at least initial_backoff_seconds ({initial:g})")
    if attempts is None:
        return None
    # An unset cap never undercuts an explicit initial backoff.
    longest = max(DEFAULT_MAX_BACKOFF_SECONDS, initial) if longest is None else longest
    return RetryPolicy(attempts, initial, longest, DEFAULT_BACKOFF_MULTIPLIER if multiplier is None else multiplier)


def _checkpoint(
    reader: Reader, value: Any, path: str, required: bool, templates: list[TemplateSite]
) -> CheckpointSpec | None:
    if value is None:
        if required:
            reader.add(path, "is required for a checkpoint step")
        return None
    obj = reader.mapping(value, path, CHECKPOINT_FIELDS)
    if obj is None:
        return None
    title = reader.string(obj.get("title"), join(path, "title"), required=True, max_chars=MAX_TITLE_CHARS)
    context = reader.template(obj.get("context"), join(path, "context"))
    if context is not None:
        templates.append(TemplateSite(join(path, "context"), context, allows_inputs=False))
    deliverables: list[str] = []
    deliverables_path = join(path, "deliverables")
    items = reader.array(obj.get("deliverables"), deliverables_path, max_items=MAX_DELIVERABLES, what="deliverables")
    for position, item in enumerate(items or ()):
        source = reader.template(item, index(deliverables_path, position), required=True)
        if source is not None:
            deliverables.append(source)
            templates.append(TemplateSite(index(deliverables_path, position), source, allows_inputs=False))
    role = reader.string(obj.get("role"), join(path, "role"), choices=CHECKPOINT_ROLES) or "approver"
    due_in_seconds = reader.integer(
        obj.get("due_in_seconds"),
        join(path, "due_in_seconds"),
        minimum=MIN_DUE_IN_SECONDS,
        maximum=MAX_DUE_IN_SECONDS,
    )
    on_expiry = reader.string(obj.get("on_expiry"), join(path, "on_expiry"), choices=ON_EXPIRY) or "reject"
    escalate_to = reader.string(obj.get("escalate_to"), join(path, "escalate_to"), choices=CHECKPOINT_ROLES)
    _check_escalation(reader, path, role, due_in_seconds, on_expiry, escalate_to)
    # issue 14: how many times request_changes may send the dependencies back (then only approve or reject)
    max_revisions = reader.integer(obj.get("max_revisions"), join(path, "max_revisions"), minimum=0, maximum=100)
    approvals_required, forbid_self_approval, reason_codes = _decision_rules(reader, obj, path)
    remind_before, chain = _routing(reader, obj, path, due_in_seconds)
    return CheckpointSpec(
        title=title or "",
        context=context,
        deliverables=tuple(deliverables),
        assignees=_assignees(reader, obj.get("assignees"), join(path, "assignees")),
        role=role,
        due_in_seconds=due_in_seconds,
        on_expiry=on_expiry,
        escalate_to=escalate_to,
        max_revisions=DEFAULT_MAX_REVISIONS if max_revisions is None else max_revisions,
        approvals_required=approvals_required,
        forbid_self_approval=forbid_self_approval,
        reason_codes=reason_codes,
        remind_before_seconds=remind_before,
        escalation=chain,
    )


def _decision_rules(reader: Reader, obj: dict[Any, Any], path: str) -> tuple[int, bool | None, tuple[str, ...]]:
    """i14-decisions: `approvals_required` (1..10, default 1), `forbid_self_approval` (unset: the launcher's
    organization default at launch) and `reason_codes` (unique slugs a vote may carry)."""
    approvals = reader.integer(
        obj.get("approvals_required"), join(path, "approvals_required"), minimum=1, maximum=MAX_APPROVALS_REQUIRED
    )
    forbid = reader.boolean(obj.get("forbid_self_approval"), join(path, "forbid_self_approval"))
    codes_path = join(path, "reason_codes")
    items = reader.array(obj.get("reason_codes"), codes_path, max_items=MAX_REASON_CODES, what="reason codes")
    codes: dict[str, str] = {}
    for position, item in enumerate(items or ()):
        item_path = index(codes_path, position)
        code = reader.string(item, item_path, required=True, pattern=SLUG_RE, rule=SLUG_RULE)
        if code is None:
            continue
        if code in codes:
            reader.add(item_path, f"duplicate reason code (also at {codes[code]})")
            continue
        codes[code] = item_path
    return approvals or 1, forbid, tuple(codes)


def _check_escalation(
    reader: Reader, path: str, role: str, due: int | None, on_expiry: str, escalate_to: str | None
) -> None:
    """on_expiry "escalate" hands the checkpoint to a higher role when due_in_seconds passes (once)."""
    if on_expiry == "escalate":
        if escalate_to is None:
            reader.add(join(path, "escalate_to"), "is required when on_expiry is escalate")
        elif CHECKPOINT_ROLES.index(escalate_to) <= CHECKPOINT_ROLES.index(role):
            reader.add(join(path, "escalate_to"), f"must be a role above {role!r}")
        if due is None:
            reader.add(join(path, "due_in_seconds"), "is required when on_expiry is escalate")
    elif escalate_to is not None:
        reader.add(join(path, "escalate_to"), "is only allowed with on_expiry escalate")


def _assignees(reader: Reader, value: Any, path: str) -> tuple[str, ...]:
    items = reader.array(value, path, max_items=MAX_ASSIGNEES, what="assignees")
    assignees: dict[str, str] = {}
    for position, item in enumerate(items or ()):
        item_path = index(path, position)
        assignee = reader.string(item, item_path, required=True, max_chars=MAX_ASSIGNEE_CHARS)
        if assignee is None:
            continue
        problem = _assignee_problem(assignee)
        if problem:
            reader.add(item_path, problem)
            continue
        if assignee in assignees:
            reader.add(item_path, f"duplicate assignee (also at {assignees[assignee]})")
            continue
        assignees[assignee] = item_path
    return tuple(assignees)


# --- routing and escalation (issue 14, i14-routing) ---------------------------------------------------------------


def _assignee_problem(assignee: str) -> str:
    """An assignee is a subject (an e-mail address or identity-provider subject, no spaces) or `group:<slug>`."""
    if assignee.startswith(GROUP_ASSIGNEE_PREFIX):
        slug = assignee[len(GROUP_ASSIGNEE_PREFIX) :]
        return "" if SLUG_RE.match(slug) else f"a group assignee is group:<slug>; the slug {SLUG_RULE}"
    if not assignee.isprintable() or any(ch.isspace() for ch in assignee):
        return "must be a subject (an e-mail address, no spaces) or group:<slug>"
    return ""


def _routing(
    reader: Reader, obj: dict[Any, Any], path: str, due: int | None
) -> tuple[int | None, tuple[EscalationLevel, ...]]:
    """`remind_before_seconds` (a reminder before the due time) and `escalation` (levels reached in order)."""
    remind_path = join(path, "remind_before_seconds")
    remind = reader.integer(obj.get("remind_before_seconds"), remind_path, minimum=1, maximum=MAX_DUE_IN_SECONDS)
    if remind is not None and due is None:
        reader.add(remind_path, "needs due_in_seconds (a reminder comes before the due time)")
    elif remind is not None and due is not None and remind >= due:
        reader.add(remind_path, f"must be less than due_in_seconds ({due})")
    chain_path = join(path, "escalation")
    items = reader.array(obj.get("escalation"), chain_path, max_items=MAX_ESCALATION_LEVELS, what="levels")
    levels: list[EscalationLevel] = []
    previous = 0
    for position, item in enumerate(items or ()):
        level = _level(reader, item, index(chain_path, position))
        if level is None:
            continue
        after_path = join(index(chain_path, position), "after_seconds")
        if level.after_seconds <= previous:
            reader.add(after_path, "must be greater than the previous level's after_seconds")
        elif due is not None and level.after_seconds >= due:
            reader.add(after_path, f"must be less than due_in_seconds ({due}): on_expiry applies at the due time")
        previous = max(previous, level.after_seconds)
        levels.append(level)
    return remind, tuple(levels)


def _level(reader: Reader, value: Any, path: str) -> EscalationLevel | None:
    obj = reader.mapping(value, path, ESCALATION_FIELDS)
    if obj is None:
        return None
    after = reader.integer(
        obj.get("after_seconds"),
        join(path, "after_seconds"),
        minimum=MIN_DUE_IN_SECONDS,
        maximum=MAX_DUE_IN_SECONDS,
        required=True,
    )
    to_path = join(path, "to")
    if obj.get("to") is None:
        reader.add(to_path, "is required: {role, group, users} (at least one)")
        return None
    target = reader.mapping(obj.get("to"), to_path, ESCALATION_TARGET_FIELDS)
    if target is None:
        return None
    role = reader.string(target.get("role"), join(to_path, "role"), choices=CHECKPOINT_ROLES)
    group = reader.string(target.get("group"), join(to_path, "group"))
    assignees: list[str] = []
    if group is not None:
        if SLUG_RE.match(group.removeprefix(GROUP_ASSIGNEE_PREFIX)):
            assignees.append(GROUP_ASSIGNEE_PREFIX + group.removeprefix(GROUP_ASSIGNEE_PREFIX))
        else:
            reader.add(join(to_path, "group"), f"must be a group slug: {SLUG_RULE}")
    assignees.extend(_assignees(reader, target.get("users"), join(to_path, "users")))
    if role is None and not assignees and not any(k in target for k in ESCALATION_TARGET_FIELDS):
        reader.add(to_path, "must name a role, a group or users")
    if after is None:
        return None
    return EscalationLevel(after, role, tuple(dict.fromkeys(assignees)))
