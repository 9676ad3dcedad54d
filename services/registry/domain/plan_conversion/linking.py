"""Step ids (explicit, or generated from ids, titles or positions) and dependencies (by id, title or number)."""

from __future__ import annotations

from typing import Any

from services.registry.domain.definition.model import STEP_ID_RE
from services.registry.domain.plan_conversion.model import APPROVAL_SUFFIX, Draft, PlanStep
from services.registry.domain.plan_conversion.text import ref_key, slugify, title_key, unique


class Linker:
    """Gives every step of the draft its id (and its approval checkpoint's), then resolves what each depends on."""

    def __init__(self, draft: Draft) -> None:
        self.d = draft

    def assign_ids(self) -> None:
        taken: dict[str, str] = {}
        for step in self.d.steps:
            raw = step.raw_id
            if isinstance(raw, str) and STEP_ID_RE.match(raw):
                if raw in taken:
                    self.d.add(f"{step.path}.id", f"duplicate step id {raw!r} (first at {taken[raw]})")
                    continue
                step.id, step.explicit_id = raw, True
                taken[raw] = step.path
        for step in self.d.steps:
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
            step.id = unique(base, set(taken))
            taken[step.id] = step.path
            clash = f" ({base!r} was taken)" if step.id != base else ""
            self.d.note(f"{step.path}: step id {step.id!r} generated {what}{clash}")
        for step in self.d.steps:
            if step.requires_approval:
                step.approval_id = unique(f"{step.id[: 63 - len(APPROVAL_SUFFIX)]}{APPROVAL_SUFFIX}", set(taken))
                taken[step.approval_id] = step.path
                self.d.note(f"{step.path}: requires approval, so checkpoint step {step.approval_id!r} follows it")

    def resolve_dependencies(self) -> None:
        by_raw: dict[str, PlanStep] = {}
        by_id: dict[str, PlanStep] = {}
        by_title: dict[str, list[PlanStep]] = {}
        for step in self.d.steps:
            raw_key = ref_key(step.raw_id)
            if raw_key is not None:
                by_raw.setdefault(raw_key, step)
            by_id.setdefault(step.id, step)
            if step.title:
                by_title.setdefault(title_key(step.title), []).append(step)
        if all(step.dep_refs is None for step in self.d.steps):
            self.sequential()
            return
        for step in self.d.steps:
            seen: set[int] = set()
            for ref, path in step.dep_refs or ():
                target = self.resolve(ref, path, by_raw, by_id, by_title)
                if target is None or target.position in seen:
                    continue
                seen.add(target.position)
                if target is step:
                    self.d.add(path, "a step cannot depend on itself")
                elif target.group > step.group:
                    self.d.add(
                        path,
                        f"step {target.id!r} is in phase {self.d.groups[target.group].id!r}, which runs after this "
                        f"step's phase {self.d.groups[step.group].id!r}; reorder the phases or drop the dependency",
                    )
                elif target.group < step.group:
                    step.reads.append(target)
                    self.d.note(
                        f"{path}: dropped, step {target.id!r} is in an earlier phase, which always finishes first"
                    )
                else:
                    step.dependencies.append((target, path))
                    step.reads.append(target)

    def resolve(
        self,
        ref: Any,
        path: str,
        by_raw: dict[str, PlanStep],
        by_id: dict[str, PlanStep],
        by_title: dict[str, list[PlanStep]],
    ) -> PlanStep | None:
        key = ref_key(ref)
        if key is None:
            self.d.add(path, "must be a step id, a step title or a 1-based step number")
            return None
        if key in by_raw:
            return by_raw[key]
        if key in by_id:
            return by_id[key]
        if isinstance(ref, str):
            matches = by_title.get(title_key(ref), [])
            if len(matches) > 1:
                self.d.add(path, f"matches {len(matches)} steps by title; refer to the step by its id")
                return None
            if matches:
                return matches[0]
        if key.isdigit() and 1 <= int(key) <= len(self.d.steps):
            return self.d.steps[int(key) - 1]
        self.d.add(path, f"unknown step {ref!r}: use a step's id, its title or its number (1 to {len(self.d.steps)})")
        return None

    def sequential(self) -> None:
        previous: PlanStep | None = None
        for group in self.d.groups:
            for position, step in enumerate(group.steps):
                if position > 0:
                    step.dependencies.append((group.steps[position - 1], step.path))
                if previous is not None:
                    step.reads.append(previous)
                previous = step
        if len(self.d.steps) > 1:
            self.d.note(
                f"{self.d.prefix}: no step declares depends_on, so the steps of each phase run one after another"
            )
