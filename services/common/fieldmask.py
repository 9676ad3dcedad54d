"""Validation of `update_mask` field paths (AIP-134): required, and only fields the resource lets you change."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.errors import ValidationFailed


def check_update_mask(paths: Sequence[str], allowed: Sequence[str], field: str = "update_mask") -> list[str]:
    """The distinct paths in order, or ValidationFailed naming `field` and what may be updated."""
    if not paths:
        raise ValidationFailed.single(field, f"is required; updatable fields: {', '.join(allowed)}")
    unknown = [p for p in paths if p not in allowed]
    if unknown:
        raise ValidationFailed.single(field, f"cannot update {', '.join(unknown)}; updatable: {', '.join(allowed)}")
    return list(dict.fromkeys(paths))
