"""Launch inputs checked against the definition's declared parameters (pure)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.common.errors import FieldViolation
from services.runs.domain.model import ParameterSpec

MAX_INPUTS_BYTES = 256 * 1024


def matches_type(kind: str, value: Any) -> bool:
    """JSON types; an integral float is an integer (protobuf Struct numbers are doubles); a bool is no number."""
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float)
    expected = {"string": str, "object": dict, "array": list}.get(kind)
    return expected is not None and isinstance(value, expected)


def resolve_inputs(
    parameters: tuple[ParameterSpec, ...], given: Mapping[str, Any], field: str = "prompt_inputs"
) -> tuple[dict[str, Any], list[FieldViolation]]:
    """The inputs with defaults applied, and every violation: unknown, missing, mistyped or not allowed."""
    violations: list[FieldViolation] = []
    declared = {p.name: p for p in parameters}
    for name in sorted(set(given) - set(declared)):
        known = ", ".join(sorted(declared)) or "none"
        violations.append(FieldViolation(f"{field}.{name}", f"is not a declared parameter (declared: {known})"))
    resolved: dict[str, Any] = {}
    for parameter in parameters:
        path = f"{field}.{parameter.name}"
        if parameter.name not in given or given[parameter.name] is None:
            if parameter.required:
                violations.append(FieldViolation(path, f"is required ({parameter.type})"))
            elif parameter.has_default:
                resolved[parameter.name] = parameter.default
            continue
        value = given[parameter.name]
        if not matches_type(parameter.type, value):
            violations.append(FieldViolation(path, f"must be of type {parameter.type}"))
            continue
        if parameter.type == "integer" and isinstance(value, float):
            value = int(value)
        if parameter.enum is not None and value not in parameter.enum:
            allowed = ", ".join(json.dumps(v) for v in parameter.enum)
            violations.append(FieldViolation(path, f"must be one of {allowed}"))
            continue
        resolved[parameter.name] = value
    if len(json.dumps(resolved, default=str).encode()) > MAX_INPUTS_BYTES:
        violations.append(FieldViolation(field, f"must be at most {MAX_INPUTS_BYTES} bytes of JSON"))
    return resolved, violations
