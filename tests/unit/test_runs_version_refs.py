"""How the runs service reads a version named with an orchestration (services.runs.domain.versions)."""

from __future__ import annotations

import pytest

from services.common.errors import FieldViolation
from services.runs.domain.versions import VersionRef, parse_version_ref

FLOW = "organizations/acme/agents/helper/orchestrations/flow"


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        (FLOW, VersionRef(FLOW)),
        (f"{FLOW}/versions/3", VersionRef(FLOW, number=3)),
        (f"{FLOW}/versions/1.0.0", VersionRef(FLOW, label="1.0.0")),
        (f"{FLOW}/versions/v2-beta+build.7", VersionRef(FLOW, label="v2-beta+build.7")),
    ],
)
def test_a_version_is_a_number_a_label_or_none(name: str, ref: VersionRef) -> None:
    assert parse_version_ref(name, "orchestration") == ref


@pytest.mark.parametrize("version", ["0", "", "not a label", "-1", ".hidden", "x" * 65])
def test_a_malformed_version_is_a_violation_of_the_field(version: str) -> None:
    found = parse_version_ref(f"{FLOW}/versions/{version}", "orchestration")
    assert isinstance(found, FieldViolation)
    assert found.field == "orchestration"


def test_a_pinned_version_has_a_name() -> None:
    assert VersionRef(FLOW, number=2).version_name(2) == f"{FLOW}/versions/2"
    assert not VersionRef(FLOW).pinned
    assert VersionRef(FLOW, label="1.0.0").pinned
