"""Which version of a saved orchestration a launch pins, or a run filter names (pure).

A version is named as the registry names it: `organizations/{org}/agents/{agent}/orchestrations/{slug}/versions/{n}`
(its number, from 1) or `.../versions/{label}` (`1.2.0`: labels are unique per orchestration, never a bare number).
Without `/versions/…` the name is the orchestration itself (its current version, or any version in a filter).
Whether the orchestration or the label exists is the registry's to say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.errors import FieldViolation

LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")  # as the registry accepts labels
VERSIONS = "/versions/"


@dataclass(frozen=True)
class VersionRef:
    """An orchestration, and the version named with it: a number, a label, or neither (number 0, label "")."""

    orchestration: str
    number: int = 0
    label: str = ""

    @property
    def pinned(self) -> bool:
        return bool(self.number or self.label)

    def version_name(self, number: int) -> str:
        """The version's resource name, as runs record it in `origin`."""
        return f"{self.orchestration}{VERSIONS}{number}"


def parse_version_ref(name: str, field: str) -> VersionRef | FieldViolation:
    """`name` split into the orchestration and the version it names, or the violation of a malformed version."""
    head, sep, version = name.rpartition(VERSIONS)
    if not sep:
        return VersionRef(name)
    if version.isdigit():
        if int(version) < 1:
            return FieldViolation(field, "version numbers start at 1")
        return VersionRef(head, number=int(version))
    if not LABEL_RE.match(version):
        return FieldViolation(
            field, "must end in /versions/{number} or /versions/{label} (a label such as 1.2.0), if it names a version"
        )
    return VersionRef(head, label=version)
