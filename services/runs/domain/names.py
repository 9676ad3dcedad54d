"""Resource names of the runs service."""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.errors import FieldViolation, ValidationFailed

SLUG_RE = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_org(parent: str, field: str = "parent") -> str:
    parts = parent.split("/")
    if len(parts) == 2 and parts[0] == "organizations" and SLUG_RE.match(parts[1]):
        return parts[1]
    raise ValidationFailed.single(field, "must look like organizations/{org}")


@dataclass(frozen=True)
class RunName:
    organization_slug: str
    run_id: str

    def __str__(self) -> str:
        return f"organizations/{self.organization_slug}/runs/{self.run_id}"

    @classmethod
    def parse(cls, name: str, field: str = "name") -> RunName:
        parts = name.split("/")
        shaped = len(parts) == 4 and parts[0] == "organizations" and parts[2] == "runs"
        if shaped and SLUG_RE.match(parts[1]) and UUID_RE.match(parts[3]):
            return cls(parts[1], parts[3])
        raise ValidationFailed([FieldViolation(field, "must look like organizations/{org}/runs/{run_id}")])


@dataclass(frozen=True)
class CheckpointName:
    run: RunName
    checkpoint_id: str

    def __str__(self) -> str:
        return f"{self.run}/checkpoints/{self.checkpoint_id}"

    @classmethod
    def parse(cls, name: str, field: str = "name") -> CheckpointName:
        head, sep, checkpoint_id = name.rpartition("/checkpoints/")
        if sep and UUID_RE.match(checkpoint_id):
            try:
                return cls(RunName.parse(head, field), checkpoint_id)
            except ValidationFailed:
                pass
        raise ValidationFailed(
            [FieldViolation(field, "must look like organizations/{org}/runs/{run_id}/checkpoints/{checkpoint_id}")]
        )
