"""Text helpers of the conversion: ids from titles, plain text as templates, references to step outputs."""

from __future__ import annotations

import keyword
import re
import unicodedata
from typing import Any

# Generated ids keep room for "-approval" and a "-NN" disambiguation suffix within the 63 characters allowed.
_MAX_GENERATED_BASE = 48
_JINJA_OPENERS = ("{{", "{%", "{#")
_JINJA_WORDS = frozenset({"true", "false", "none", "and", "or", "not", "in", "is", "if", "else", "with", "without"})


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


def unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def title_key(text: str) -> str:
    """Titles and phase names match case-insensitively, whatever the spacing."""
    return " ".join(text.split()).casefold()


def ref_key(value: Any) -> str | None:
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
