"""Reading decoded JSON value by value, recording a violation for each problem instead of stopping at the first.

Every reader takes the value (None when the field is absent or JSON null: both mean "not set") and the value's
path, records a violation when the value is wrong and returns it typed, or None when it is absent or wrong, so
that validation goes on with the rest of the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from services.common.errors import FieldViolation
from services.registry.domain.definition.model import MAX_TEMPLATE_BYTES, is_integer, is_number

_IDENTIFIER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_SHOWN_CHARS = 60


def join(path: str, key: object) -> str:
    """`definition.phases`, or `definition.inputs["odd key"]` when the key is not an identifier."""
    if isinstance(key, str) and _IDENTIFIER_RE.match(key):
        return f"{path}.{key}"
    return f"{path}[{shown(key)}]"


def index(path: str, position: int) -> str:
    return f"{path}[{position}]"


def shown(value: object) -> str:
    """A value for a message: quoted like JSON and cut short, since it may be a megabyte of garbage."""
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_SHOWN_CHARS else text[: _MAX_SHOWN_CHARS - 3] + "..."


def json_type(value: object) -> str:
    """The JSON name of a value's type, for "must be a string (got array)" messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def utf8_size(text: str) -> int:
    """Bytes of `text` as UTF-8; lone surrogates (possible in decoded JSON) count as three bytes, not a crash."""
    return len(text.encode("utf-8", "surrogatepass"))


class Reader:
    """Collects the violations of one document."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def add(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def mapping(self, value: Any, path: str, allowed: Sequence[str] | None = None) -> dict[Any, Any] | None:
        """`value` if it is an object; its keys outside `allowed` are violations (typo protection)."""
        if not isinstance(value, dict):
            self.add(path, f"must be an object (got {json_type(value)})")
            return None
        if allowed is not None:
            self.unknown_keys(value, path, allowed)
        return value

    def unknown_keys(
        self,
        obj: dict[Any, Any],
        path: str,
        allowed: Sequence[str],
        explain: Callable[[str], str | None] | None = None,
    ) -> None:
        """Report keys outside `allowed`; `explain` may give a better reason (a field of another step kind)."""
        for key in obj:
            if key in allowed:
                continue
            reason = explain(key) if explain is not None and isinstance(key, str) else None
            self.add(join(path, key), reason or f"unknown field; expected one of: {', '.join(allowed)}")

    def required(self, value: Any, path: str) -> bool:
        """Whether a required value is there; records "is required" when it is not."""
        if value is None:
            self.add(path, "is required")
            return False
        return True

    def string(
        self,
        value: Any,
        path: str,
        *,
        required: bool = False,
        max_chars: int | None = None,
        pattern: re.Pattern[str] | None = None,
        rule: str = "",
        choices: Sequence[str] | None = None,
    ) -> str | None:
        if value is None:
            self._absent(path, required)
            return None
        if not isinstance(value, str):
            self.add(path, f"must be a string (got {json_type(value)})")
            return None
        if required and not value.strip():
            self.add(path, "must not be blank")
            return None
        if choices is not None and value not in choices:
            self.add(path, f"must be one of: {', '.join(choices)} (got {shown(value)})")
            return None
        if pattern is not None and not pattern.match(value):
            self.add(path, f"{rule} (got {shown(value)})")
            return None
        if max_chars is not None and len(value) > max_chars:
            self.add(path, f"must be at most {max_chars} characters (got {len(value)})")
            return None
        return value

    def template(self, value: Any, path: str, *, required: bool = False) -> str | None:
        """A template source: a string of at most MAX_TEMPLATE_BYTES (it is parsed later, with the rest)."""
        text = self.string(value, path, required=required)
        if text is not None and utf8_size(text) > MAX_TEMPLATE_BYTES:
            self.add(path, f"must be at most {MAX_TEMPLATE_BYTES} bytes (got {utf8_size(text)})")
            return None
        return text

    def integer(self, value: Any, path: str, *, minimum: int, maximum: int, required: bool = False) -> int | None:
        if value is None:
            self._absent(path, required)
            return None
        if not is_integer(value):
            self.add(path, f"must be an integer (got {shown(value) if is_number(value) else json_type(value)})")
            return None
        if not minimum <= value <= maximum:
            self.add(path, f"must be between {minimum} and {maximum} (got {shown(value)})")
            return None
        return int(value)

    def number(
        self,
        value: Any,
        path: str,
        *,
        minimum: float,
        maximum: float,
        exclusive_minimum: bool = False,
        required: bool = False,
    ) -> float | None:
        if value is None:
            self._absent(path, required)
            return None
        if not is_number(value):
            self.add(path, f"must be a finite number (got {json_type(value)})")
            return None
        too_small = value <= minimum if exclusive_minimum else value < minimum
        if too_small or value > maximum:
            lower = f"greater than {minimum:g}" if exclusive_minimum else f"at least {minimum:g}"
            self.add(path, f"must be {lower} and at most {maximum:g} (got {shown(value)})")
            return None
        return float(value)

    def boolean(self, value: Any, path: str) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        self.add(path, f"must be a boolean (got {json_type(value)})")
        return None

    def array(
        self, value: Any, path: str, *, max_items: int | None, required: bool = False, what: str = "items"
    ) -> list[Any] | None:
        """The items of a JSON array; too many items is a violation, but the items are still returned."""
        if value is None:
            self._absent(path, required)
            return None
        if not isinstance(value, list | tuple):
            self.add(path, f"must be an array (got {json_type(value)})")
            return None
        if max_items is not None and len(value) > max_items:
            self.add(path, f"must have at most {max_items} {what} (got {len(value)})")
        return list(value)

    def _absent(self, path: str, required: bool) -> None:
        if required:
            self.add(path, "is required")
