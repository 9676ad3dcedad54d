"""Launch-parameter declarations of a definition: `parameters[i]` with name, type, required, default, enum."""

from __future__ import annotations

import json
from typing import Any

from services.registry.domain.definition.model import (
    MAX_DESCRIPTION_CHARS,
    MAX_ENUM_VALUES,
    MAX_PARAMETERS,
    PARAMETER_NAME_RE,
    PARAMETER_NAME_RULE,
    PARAMETER_TYPES,
    Parameter,
    is_integer,
    matches_type,
)
from services.registry.domain.definition.reader import Reader, index, join

PARAMETER_FIELDS = ("name", "type", "required", "default", "description", "enum")


def parse_parameters(reader: Reader, value: Any, path: str) -> tuple[Parameter, ...]:
    """The declared parameters; each problem becomes a violation and the faulty declaration is left out."""
    items = reader.array(value, path, max_items=MAX_PARAMETERS, what="parameters")
    parameters: list[Parameter] = []
    seen: dict[str, str] = {}
    for position, item in enumerate(items or ()):
        item_path = index(path, position)
        parameter = _parameter(reader, item, item_path)
        if parameter is None:
            continue
        if parameter.name in seen:
            reader.add(
                join(item_path, "name"), f"duplicate parameter {parameter.name!r} (first at {seen[parameter.name]})"
            )
            continue
        seen[parameter.name] = item_path
        parameters.append(parameter)
    return tuple(parameters)


def _parameter(reader: Reader, value: Any, path: str) -> Parameter | None:
    obj = reader.mapping(value, path, PARAMETER_FIELDS)
    if obj is None:
        return None
    name = reader.string(
        obj.get("name"), join(path, "name"), required=True, pattern=PARAMETER_NAME_RE, rule=PARAMETER_NAME_RULE
    )
    type_ = reader.string(obj.get("type"), join(path, "type"), required=True, choices=PARAMETER_TYPES)
    required = reader.boolean(obj.get("required"), join(path, "required"))
    description = reader.string(obj.get("description"), join(path, "description"), max_chars=MAX_DESCRIPTION_CHARS)
    enum = _enum(reader, obj.get("enum"), join(path, "enum"), type_)
    default = _default(reader, obj.get("default"), join(path, "default"), type_, enum, required=bool(required))
    if name is None:
        return None
    # A declaration with other faults is still returned (the document is rejected anyway), so that templates
    # reading the parameter are not also reported as reading an undeclared one.
    return Parameter(name, type_ or "string", bool(required), default, description or "", enum)


def _enum(reader: Reader, value: Any, path: str, type_: str | None) -> tuple[Any, ...] | None:
    """Allowed values: non-empty, unique, each of the parameter's type."""
    items = reader.array(value, path, max_items=MAX_ENUM_VALUES, what="values")
    if items is None:
        return None
    if not items:
        reader.add(path, "must not be empty; leave enum out to allow any value")
    seen: dict[object, int] = {}
    values: list[Any] = []
    for position, item in enumerate(items):
        item_path = index(path, position)
        if type_ is not None and not matches_type(type_, item):
            reader.add(item_path, f"must be of the parameter's type, {type_}")
            continue
        key = _identity(item)
        if key in seen:
            reader.add(item_path, f"duplicate value (same as {index(path, seen[key])})")
            continue
        seen[key] = position
        values.append(_normalized(type_, item))
    return tuple(values)


def _default(
    reader: Reader, value: Any, path: str, type_: str | None, enum: tuple[Any, ...] | None, *, required: bool
) -> Any:
    if value is None:
        return None
    if required:
        reader.add(path, "a required parameter cannot have a default; drop one of them")
        return None
    if type_ is not None and not matches_type(type_, value):
        reader.add(path, f"must be of the parameter's type, {type_}")
        return None
    if enum is not None and _identity(value) not in {_identity(allowed) for allowed in enum}:
        reader.add(path, "must be one of the enum values")
        return None
    return _normalized(type_, value)


def _normalized(type_: str | None, value: Any) -> Any:
    """Integers decoded as floats (google.protobuf.Struct) become ints again."""
    return int(value) if type_ == "integer" and is_integer(value) else value


def _identity(value: Any) -> object:
    """A hashable key under which equal JSON values collide (1 and 1.0 do; 1 and true do not)."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", value)
    try:
        return ("json", json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr))
    except (TypeError, ValueError, RecursionError):
        return ("repr", repr(value))
