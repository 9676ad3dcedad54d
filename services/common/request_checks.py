"""What every request must be before any handler reads it: parseable, and well-formed in the ways protobuf does not
check itself. Applied to every method by the shared server interceptor (and at the gateway by its edge
interceptor), after the caller is authenticated, so that no method can forget one and a new method or field is
covered without a line of code.

- **Parseable.** grpc.aio runs a method's request deserializer before any interceptor code; when protobuf cannot
  parse the bytes (corrupt wire format, invalid UTF-8 in a string, messages nested past the parser's depth limit)
  it answers UNKNOWN with protobuf's exception text, without a request id or access log line. `tolerant` wraps
  the deserializer so that such a request becomes an `Unparsed` marker, which `check_request` refuses as
  INVALID_ARGUMENT (MALFORMED_REQUEST).
- **Well-formed**, checked field by field through the request's descriptor, every violation reported at once with
  the field's path (`statuses[1]`, `api_key.expire_time`, `definition.phases[0].steps`):
  enum fields hold a value their enum defines (proto3 parses any number), Timestamps lie in the range the
  Timestamp spec allows (else protobuf's ToDatetime raises), and free-form JSON (Struct, Value, ListValue) nests
  at most `jsondepth.MAX_JSON_DEPTH` levels.

What a value means (a required enum left UNSPECIFIED, a start after an end) is for the method to say.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from services.common.enums import enum_violation
from services.common.errors import FieldViolation, MalformedRequest, ValidationFailed
from services.common.jsondepth import MAX_JSON_DEPTH, depth_violation
from services.common.timestamps import timestamp_violation

_TIMESTAMP = "google.protobuf.Timestamp"
_JSON = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})

# How a field is checked.
_ENUM, _TIME, _JSON_DOC, _MESSAGE = "enum", "timestamp", "json", "message"


@dataclass(frozen=True)
class Unparsed:
    """Stands in for a request that protobuf could not parse (see the module docstring)."""

    message_type: str
    too_deep: bool


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer`, returning an `Unparsed` marker instead of raising. None stays None (raw-bytes handlers,
    such as the gateway's proxy, which leave parsing to the backend)."""
    if deserializer is None:
        return None
    owner = getattr(deserializer, "__self__", None)  # the message class, for `Message.FromString`
    descriptor = getattr(owner, "DESCRIPTOR", None)
    message_type = str(getattr(descriptor, "full_name", "") or "")

    def parse(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # DecodeError from protobuf; anything a custom deserializer raises
            return Unparsed(message_type, too_deep="depth" in str(exc).lower())

    return parse


def check_request(request: Any) -> None:
    """Raise MalformedRequest for an unparsed request, ValidationFailed listing every malformed field; return for
    a well-formed one. Anything that is not a message (raw bytes, a request iterator) is left alone."""
    if isinstance(request, Unparsed):
        raise MalformedRequest(_malformed_message(request), metadata={"message_type": request.message_type})
    if isinstance(request, Message):
        violations = request_violations(request)
        if violations:
            raise ValidationFailed(violations)


def request_violations(message: Message, prefix: str = "") -> list[FieldViolation]:
    """Every enum, Timestamp and JSON-depth violation in `message`, with paths under `prefix`."""
    found: list[FieldViolation] = []
    for field, kind in _plan(message.DESCRIPTOR):
        path = f"{prefix}{field.name}"
        value = getattr(message, field.name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            for key, item in value.items():
                shown = f'"{key}"' if isinstance(key, str) else str(key)
                _check(item, kind, value_field, f"{path}[{shown}]", found)
        elif field.is_repeated:
            for position, item in enumerate(value):
                _check(item, kind, field, f"{path}[{position}]", found)
        elif kind == _ENUM or message.HasField(field.name):
            _check(value, kind, field, path, found)
    return found


def _check(value: Any, kind: str, field: FieldDescriptor, path: str, found: list[FieldViolation]) -> None:
    if kind == _MESSAGE:
        found.extend(request_violations(value, f"{path}."))
        return
    if kind == _ENUM:
        violation = enum_violation(value, field.enum_type, path)
    elif kind == _TIME:
        violation = timestamp_violation(value, path)
    else:
        violation = depth_violation(value, path)
    if violation is not None:
        found.append(violation)


@functools.cache
def _plan(descriptor: Descriptor) -> tuple[tuple[FieldDescriptor, str], ...]:
    """The fields of `descriptor` worth visiting and how; computed once per message type."""
    return _fields_to_check(descriptor, frozenset({descriptor.full_name}))


def _fields_to_check(descriptor: Descriptor, visiting: frozenset[str]) -> tuple[tuple[FieldDescriptor, str], ...]:
    plan: list[tuple[FieldDescriptor, str]] = []
    for field in descriptor.fields:
        target = field.message_type.fields_by_name["value"] if _is_map(field) else field
        kind = _kind(target, visiting)
        if kind is not None:
            plan.append((field, kind))
    return tuple(plan)


def _kind(field: FieldDescriptor, visiting: frozenset[str]) -> str | None:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _ENUM
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        return None
    name = field.message_type.full_name
    if name == _TIMESTAMP:
        return _TIME
    if name in _JSON:
        return _JSON_DOC
    if name.startswith("google.protobuf."):  # FieldMask, wrappers...: nothing to check
        return None
    if name in visiting:  # a recursive type: walk it, the values decide
        return _MESSAGE
    return _MESSAGE if _fields_to_check(field.message_type, visiting | {name}) else None


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and bool(field.message_type.GetOptions().map_entry)


def _malformed_message(request: Unparsed) -> str:
    what = f"the request cannot be parsed as {request.message_type or 'its message type'}: "
    if request.too_deep:
        return what + (
            "it nests messages deeper than protobuf parses (100 levels; free-form JSON may nest at most "
            f"{MAX_JSON_DEPTH} objects/arrays)"
        )
    return what + "it is not valid protobuf wire format (or a string holds invalid UTF-8)"
