"""Resource names of the runs service (the grammar itself is shared: services.common.names)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common import names
from services.common.names import parse_org

__all__ = ["CheckpointName", "RunName", "parse_org"]


@dataclass(frozen=True)
class RunName:
    organization_slug: str
    run_id: str

    def __str__(self) -> str:
        return names.RUN.format(org=self.organization_slug, run_id=self.run_id)

    @classmethod
    def parse(cls, name: str, field: str = "name") -> RunName:
        found = names.RUN.parse(name, field)
        return cls(found["org"], found["run_id"])


@dataclass(frozen=True)
class CheckpointName:
    run: RunName
    checkpoint_id: str

    def __str__(self) -> str:
        return f"{self.run}/checkpoints/{self.checkpoint_id}"

    @classmethod
    def parse(cls, name: str, field: str = "name") -> CheckpointName:
        found = names.CHECKPOINT.parse(name, field)
        return cls(RunName(found["org"], found["run_id"]), found["checkpoint_id"])
