"""HTTP request → the protobuf request of its gRPC method; protobuf reply → JSON. Pure functions, no I/O.

The protobuf JSON mapping throughout (google.protobuf.json_format): on input, fields by their proto name
(`page_size`) or JSON name (`pageSize`), enums by name or number, int64 as numbers or strings, Timestamps in
RFC 3339, field masks as comma-separated paths (camelCase or snake_case); on output, JSON names (lowerCamelCase),
enums by name, int64 as strings, and every field without presence printed even when it holds its default (a list
is `[]`, never missing), so clients see one shape.

Before protobuf parses anything, the JSON is checked against the request's descriptor, so that EVERY problem is
reported at once with the path of the field in the request (`agent.display_name`, `statuses[1]`), as the services
report theirs: unknown fields, a field given twice (as `page_size` and `pageSize`), two members of one oneof,
values of the wrong JSON type or format, free-form JSON nested deeper than the services accept
(services.common.jsondepth). Nothing reaches a service unless the whole request parses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from gateway.http import errors
from gateway.http.routes import Route
from services.common.errors import FieldViolation
from services.common.jsondepth import depth_violation
from services.common.structs import message_to_dict

Json = Any
_WKT = "google.protobuf."
_STRING_WKTS = {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.StringValue",
    "google.protobuf.BytesValue",
    "google.protobuf.Int64Value",
    "google.protobuf.UInt64Value",
    "google.protobuf.Int32Value",
    "google.protobuf.UInt32Value",
    "google.protobuf.DoubleValue",
    "google.protobuf.FloatValue",
    "google.protobuf.BoolValue",
}
_JSON_WKTS = {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
_INTEGERS = {
    FieldDescriptor.TYPE_INT32,
    FieldDescriptor.TYPE_INT64,
    FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32,
    FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED32,
    FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED32,
    FieldDescriptor.TYPE_SFIXED64,
}
_FLOATS = {FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT}
_PREFIX = re.compile(r"^(Failed to parse \S+ field: )+")
_SUFFIX = re.compile(r"\s+at\s+\S+\.?$")


def message_class(descriptor: Descriptor) -> type[Message]:
    cls: type[Message] = message_factory.GetMessageClass(descriptor)
    return cls


def build_request(
    route: Route,
    bindings: Mapping[str, str],
    query: Sequence[tuple[str, str]] = (),
    body: Json = None,
    overrides: Mapping[str, Json] | None = None,
) -> Message:
    """The request message of `route`: the body where the route puts it, then query parameters, then path
    variables (`overrides`: values the front sets itself, such as the SSE resume cursor, last). Raises
    errors.HttpError (400 with every field violation) when anything does not fit."""
    violations: list[FieldViolation] = []
    request = route.input
    tree: dict[str, Json] = {}
    if route.body == "*":
        tree = _object(request, {} if body is None else body, "", violations)
    elif route.body and body is not None:
        field = request.fields_by_name[route.body]
        tree[field.name] = _value(request, field, body, field.name, violations)
    for key, values in _grouped(query).items():
        _query(route, tree, key, values, violations)
    for path, value in bindings.items():
        _put(tree, path, value, violations, origin="the URL path")
    for path, value in (overrides or {}).items():
        _put(tree, path, value, violations, origin=None)
    if violations:
        raise errors.invalid(violations, summary(violations))
    message = message_class(request)()
    try:
        json_format.ParseDict(tree, message)
    except json_format.ParseError as exc:  # not expected after the checks above; still the client's input
        violation = FieldViolation("body", _clean(str(exc)))
        raise errors.invalid([violation], summary([violation])) from None
    return message


def summary(violations: Sequence[FieldViolation]) -> str:
    """The message of a 400, as the services word theirs: the first few violations."""
    text = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
    more = len(violations) - 5
    return f"invalid request: {text}" + (f"; and {more} more" if more > 0 else "")


def reply_json(route: Route, data: bytes) -> Json:
    """A reply (or stream item) of `route` as JSON."""
    return to_json(message_class(route.output).FromString(data))


def to_json(message: Message) -> Json:
    """The protobuf JSON mapping of a reply, integers of its free-form JSON kept integers (`3`, not `3.0`)."""
    return message_to_dict(message, always_print_fields_with_no_presence=True)


# --- the JSON body, checked against the descriptor ---------------------------------------------------------------


def _field_of(message: Descriptor, key: str) -> FieldDescriptor | None:
    found: FieldDescriptor | None = message.fields_by_name.get(key)
    if found is None:
        found = next((f for f in message.fields if f.json_name == key), None)
    return found


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _object(message: Descriptor, value: Json, path: str, violations: list[FieldViolation]) -> dict[str, Json]:
    """A JSON object for `message`, with keys normalized to proto field names."""
    if not isinstance(value, dict):
        violations.append(FieldViolation(path or "body", "must be a JSON object"))
        return {}
    result: dict[str, Json] = {}
    oneofs: dict[str, str] = {}
    for key, item in value.items():
        field = _field_of(message, key)
        where = _join(path, field.name if field else key)
        if field is None:
            violations.append(FieldViolation(where, "unknown field"))
            continue
        if field.name in result:
            violations.append(FieldViolation(where, f"given twice (as {field.name!r} and {field.json_name!r})"))
            continue
        oneof = field.containing_oneof
        if oneof is not None and item is not None:
            if oneof.name in oneofs:
                violations.append(
                    FieldViolation(where, f"only one of {oneof.name} may be set (already {oneofs[oneof.name]!r})")
                )
                continue
            oneofs[oneof.name] = field.name
        result[field.name] = _value(message, field, item, where, violations)
    return result


def _value(owner: Descriptor, field: FieldDescriptor, value: Json, path: str, violations: list[FieldViolation]) -> Json:
    if value is None:
        return None
    sub = field.message_type
    if field.is_repeated and not _is_map(field):
        if not isinstance(value, list):
            violations.append(FieldViolation(path, "must be a JSON array"))
            return []
        return [_single(owner, field, item, f"{path}[{i}]", violations) for i, item in enumerate(value)]
    if _is_map(field):
        if not isinstance(value, dict):
            violations.append(FieldViolation(path, "must be a JSON object"))
            return {}
        entry = sub.fields_by_name["value"]
        if entry.message_type is not None and not entry.message_type.full_name.startswith(_WKT):
            return {k: _object(entry.message_type, v, f"{path}[{k}]", violations) for k, v in value.items()}
        _leaf(owner, field, value, path, violations)
        return value
    return _single(owner, field, value, path, violations)


def _single(
    owner: Descriptor, field: FieldDescriptor, value: Json, path: str, violations: list[FieldViolation]
) -> Json:
    sub = field.message_type
    if sub is not None and not sub.full_name.startswith(_WKT):
        return _object(sub, value, path, violations)
    if sub is not None and sub.full_name == "google.protobuf.FieldMask" and isinstance(value, str):
        value = field_mask_json(value)
    problem = _json_type_problem(field, value)
    if problem:
        violations.append(FieldViolation(path, problem))
        return value
    if sub is not None and sub.full_name in _JSON_WKTS and (too_deep := depth_violation(value, path)) is not None:
        violations.append(too_deep)  # the services' limit, named where it is passed (protobuf's own would not say)
        return value
    repeated = field.is_repeated
    _leaf(owner, field, [value] if repeated else value, path, violations)
    return value


def _leaf(owner: Descriptor, field: FieldDescriptor, value: Json, path: str, violations: list[FieldViolation]) -> None:
    """Let protobuf judge one value (enum names, ranges, timestamp formats...), reporting it at `path`."""
    try:
        json_format.ParseDict({field.name: value}, message_class(owner)())
    except json_format.ParseError as exc:
        violations.append(FieldViolation(path, _clean(str(exc))))


def _json_type_problem(field: FieldDescriptor, value: Json) -> str:
    sub = field.message_type
    if sub is not None:
        name = sub.full_name
        if name in ("google.protobuf.Struct", "google.protobuf.Empty", "google.protobuf.Any"):
            return "" if isinstance(value, dict) else "must be a JSON object"
        if name == "google.protobuf.ListValue":
            return "" if isinstance(value, list) else "must be a JSON array"
        if name in ("google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"):
            return "" if isinstance(value, str) else "must be a string"
        return ""
    kind = field.type
    if kind in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES):
        return "" if isinstance(value, str) else "must be a string"
    if kind == FieldDescriptor.TYPE_BOOL:
        return "" if isinstance(value, bool) else "must be true or false"
    if kind in _INTEGERS:
        ok = isinstance(value, int | str) and not isinstance(value, bool)
        return "" if ok or (isinstance(value, float) and value.is_integer()) else "must be an integer"
    if kind in _FLOATS:
        return "" if isinstance(value, int | float | str) and not isinstance(value, bool) else "must be a number"
    if kind == FieldDescriptor.TYPE_ENUM:
        if isinstance(value, bool) or not isinstance(value, int | str):
            return "must be an enum value name"
        if isinstance(value, str) and not value.lstrip("-").isdigit() and value not in field.enum_type.values_by_name:
            return f"unknown value; one of {', '.join(v.name for v in field.enum_type.values)}"
    return ""


def _is_map(field: FieldDescriptor) -> bool:
    sub = field.message_type
    return bool(sub is not None and sub.GetOptions().map_entry)


def field_mask_json(value: str) -> str:
    """A field mask's JSON form (camelCase paths) from camelCase or snake_case paths: `display_name,agentYaml`."""

    def camel(path: str) -> str:
        return ".".join(re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), part) for part in path.split("."))

    return ",".join(camel(p.strip()) for p in value.split(",") if p.strip())


def _clean(message: str) -> str:
    text = _PREFIX.sub("", message.split("\n", 1)[0]).strip()
    return _SUFFIX.sub("", text).rstrip(".") or "invalid value"


# --- query parameters and path variables ---------------------------------------------------------------------------


def _grouped(query: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for key, value in query:
        grouped.setdefault(key, []).append(value)
    return grouped


def _query(route: Route, tree: dict[str, Json], key: str, values: list[str], violations: list[FieldViolation]) -> None:
    """One query parameter (`page_size`, `pageSize`, `a.b` into a nested message; repeated fields repeat)."""
    fields: list[FieldDescriptor] = []
    owner = route.input
    current: Descriptor | None = route.input
    for part in key.split("."):
        found = _field_of(current, part) if current is not None else None
        if found is None or current is None:
            violations.append(FieldViolation(key, "unknown query parameter"))
            return
        fields.append(found)
        owner = current
        sub = found.message_type
        current = sub if sub is not None and not sub.full_name.startswith(_WKT) and not _is_map(found) else None
    path = ".".join(f.name for f in fields)
    leaf = fields[-1]
    if route.body == "*" or (route.body and fields[0].name == route.body):
        violations.append(FieldViolation(path, "goes in the request body, not the query string"))
        return
    if _is_map(leaf) or (leaf.message_type is not None and leaf.message_type.full_name not in _STRING_WKTS):
        violations.append(FieldViolation(path, "cannot be given as a query parameter"))
        return
    repeated = leaf.is_repeated
    if not repeated and len(values) > 1:
        violations.append(FieldViolation(path, "given more than once"))
        return
    checked = [
        _single(owner, leaf, _from_query(leaf, v), f"{path}[{i}]" if repeated else path, violations)
        for i, v in enumerate(values)
    ]
    _put(tree, path, checked if repeated else checked[0], violations, origin="the query string")


def _from_query(field: FieldDescriptor, value: str) -> Json:
    if field.type == FieldDescriptor.TYPE_BOOL or (
        field.message_type is not None and field.message_type.full_name == "google.protobuf.BoolValue"
    ):
        return {"true": True, "false": False}.get(value.lower(), value)
    return value


def _put(tree: dict[str, Json], path: str, value: Json, violations: list[FieldViolation], origin: str | None) -> None:
    """Set `path` (dotted proto names) in the JSON tree; a different value already there is a conflict."""
    *parents, last = path.split(".")
    node: Json = tree
    for name in parents:
        if node.get(name) is None:
            node[name] = {}
        node = node[name]
        if not isinstance(node, dict):
            return  # already reported (not an object)
    if origin is not None and node.get(last) not in (None, value):
        violations.append(FieldViolation(path, f"conflicts with the value in {origin}"))
        return
    node[last] = value
