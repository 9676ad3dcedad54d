"""What the conversion works on: the plan's steps and phases as read, and where each emitted step came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.common.errors import FieldViolation
from services.registry.domain.errors import InvalidPlan

DEFAULT_PHASE_ID = "plan"
APPROVAL_SUFFIX = "-approval"


@dataclass
class PlanStep:
    """A plan step as read, then as linked (its id, what it depends on and reads) by the later stages."""

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
    dependencies: list[tuple[PlanStep, str]] = field(default_factory=list)
    reads: list[PlanStep] = field(default_factory=list)
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
class PhaseGroup:
    """A phase of the definition: a plan phase, or a group of flat steps (by their `phase` field, or all of them)."""

    id: str
    title: str
    path: str
    steps: list[PlanStep] = field(default_factory=list)


@dataclass(frozen=True)
class StepOrigin:
    """Where an emitted definition step came from, to report the validator's violations at plan paths."""

    path: str
    fields: dict[str, str]
    dependency_paths: tuple[str, ...]
    lists: dict[str, tuple[str, tuple[int, ...]]]  # definition list field → (plan field, plan indexes)


@dataclass
class Draft:
    """One conversion in progress: the plan's steps and phases, what is wrong with the plan (violations, at plan
    paths) and what the conversion assumed (notes). Each stage reads and extends it."""

    prefix: str
    default_agent: str
    steps: list[PlanStep] = field(default_factory=list)
    groups: list[PhaseGroup] = field(default_factory=list)
    phased: bool = False
    violations: list[FieldViolation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def note(self, text: str) -> None:
        self.notes.append(text)

    def check(self) -> None:
        if self.violations:
            raise InvalidPlan(self.violations)
