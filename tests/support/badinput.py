"""Bad requests generated from the service descriptors, so that every method and every field of a kind is covered
without a line per method: a new RPC or field is fuzzed the day it is added.

- `slots(descriptor)`: every enum, Timestamp and free-form JSON (Struct/Value/ListValue) field a request reaches
  through its message fields, with the path the services name it by (`api_key.expire_time`, `statuses[0]`).
- `typed_cases`: one request per slot and kind of bad value (unknown enum number, Timestamp out of range, JSON a
  level too deep), each expected to be INVALID_ARGUMENT naming that slot.
- `unparsable_cases`: bytes protobuf cannot parse (corrupt wire format, invalid UTF-8, JSON nested past protobuf's
  depth limit), each expected to be INVALID_ARGUMENT (MALFORMED_REQUEST).
- `loose_cases`: requests that parse but hold junk (every string oversize; every field with the wrong wire type),
  whose answer may be any refusal but never INTERNAL/UNKNOWN.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory, struct_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.internal import encoder
from google.protobuf.message import Message

from services.common.jsondepth import MAX_JSON_DEPTH
from services.common.timestamps import MAX_SECONDS, MIN_SECONDS

TIMESTAMP = "google.protobuf.Timestamp"
JSON_TYPES = ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue")
CORRUPT = b"\xff\xff\xff\xff"  # field 0 / wire type 7: no protobuf message parses this
PROTOBUF_TOO_DEEP = 60  # JSON levels past protobuf's 100 nested messages (a level costs 2-3)
OVERSIZE = 100_000  # characters: beyond every string limit of the contracts
UNKNOWN_ENUM = 1_000_003
WRONG_WIRE_TYPES = "every field with the wrong wire type"
# Refusals; never INTERNAL, UNKNOWN, UNIMPLEMENTED or OK for junk.
REFUSALS = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.FAILED_PRECONDITION,
    }
)


@dataclass(frozen=True)
class Slot:
    path: str  # as BadRequest names it
    steps: tuple[FieldDescriptor, ...]  # the fields from the request to it
    kind: str  # "enum", "timestamp" or "json"


@dataclass(frozen=True)
class Case:
    label: str
    data: bytes
    field: str = ""  # the slot a typed case must be refused at


def methods(*services: ServiceDescriptor) -> list[MethodDescriptor]:
    return [method for service in services for method in service.methods]


def path_of(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def new_message(descriptor: Descriptor) -> Message:
    message: Message = message_factory.GetMessageClass(descriptor)()
    return message


def slots(descriptor: Descriptor, prefix: str = "", steps: tuple[FieldDescriptor, ...] = ()) -> list[Slot]:
    found: list[Slot] = []
    for field in descriptor.fields:
        if _is_map(field):
            continue  # no request map holds an enum, Timestamp or JSON value
        path = f"{prefix}{field.name}" + ("[0]" if field.is_repeated else "")
        here = (*steps, field)
        if field.type == FieldDescriptor.TYPE_ENUM:
            found.append(Slot(path, here, "enum"))
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            name = field.message_type.full_name
            if name == TIMESTAMP:
                found.append(Slot(path, here, "timestamp"))
            elif name in JSON_TYPES:
                found.append(Slot(path, here, "json"))
            elif not name.startswith("google.protobuf.") and field.message_type not in {
                s.containing_type for s in here
            }:
                found.extend(slots(field.message_type, f"{path}.", here))
    return found


def typed_cases(descriptor: Descriptor, base: dict[str, str] | None = None) -> list[Case]:
    """Per slot: the bad values of its kind. `base`: top-level string fields to set as well (e.g. `parent`)."""
    cases: list[Case] = []
    for slot in slots(descriptor):
        for label, bad in _BAD_VALUES[slot.kind]:
            message = _with_strings(new_message(descriptor), base or {})
            bad(*_reach(message, slot.steps))
            cases.append(Case(f"{slot.path}: {label}", message.SerializeToString(), slot.path))
    return cases


def unparsable_cases(descriptor: Descriptor) -> list[Case]:
    cases = [Case("corrupt wire format", CORRUPT)]
    strings = [f for f in descriptor.fields if f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated]
    if strings:
        cases.append(Case(f"{strings[0].name}: invalid UTF-8", _length_delimited(strings[0].number, b"ab\xff\xfe")))
    for slot in slots(descriptor):
        if slot.kind == "json":
            message = new_message(descriptor)
            _deep(PROTOBUF_TOO_DEEP)(*_reach(message, slot.steps))
            cases.append(Case(f"{slot.path}: {PROTOBUF_TOO_DEEP} levels", message.SerializeToString()))
    return cases


def loose_cases(descriptor: Descriptor) -> list[Case]:
    cases: list[Case] = []
    oversize = _oversize(new_message(descriptor), descriptor)
    if oversize.ByteSize():
        cases.append(Case("every string oversize", oversize.SerializeToString()))
    if descriptor.fields:
        cases.append(Case(WRONG_WIRE_TYPES, b"".join(_wrong_wire_type(f) for f in descriptor.fields)))
    return cases


def everything_bad(descriptor: Descriptor) -> bytes:
    """One request with every slot bad and every string oversize (for calls that must be refused before looking)."""
    message = _oversize(new_message(descriptor), descriptor)
    for slot in slots(descriptor):
        _BAD_VALUES[slot.kind][0][1](*_reach(message, slot.steps))
    return message.SerializeToString()


async def call_raw(
    channel: grpc.aio.Channel,
    method: MethodDescriptor,
    data: bytes,
    metadata: Sequence[tuple[str, str | bytes]] = (),
) -> grpc.aio.AioRpcError | None:
    """Call with raw request bytes; the error, or None when the call succeeded (a stream that sends an item)."""
    path = path_of(method)
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path)(data, metadata=tuple(metadata), timeout=10)
            try:
                await asyncio.wait_for(stream.read(), 8)
            finally:
                stream.cancel()
        else:
            await channel.unary_unary(path)(data, metadata=tuple(metadata), timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc
    return None


def described(error: grpc.aio.AioRpcError | None) -> str:
    return "OK" if error is None else f"{error.code().name} {error.details()}"


# --- building the messages ----------------------------------------------------------------------------------------


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _reach(message: Message, steps: tuple[FieldDescriptor, ...]) -> tuple[Message, FieldDescriptor]:
    """The message holding the last field of `steps` (creating element 0 of repeated messages on the way)."""
    target = message
    for field in steps[:-1]:
        target = getattr(target, field.name).add() if field.is_repeated else getattr(target, field.name)
    return target, steps[-1]


def _set_enum(value: int) -> Callable[[Message, FieldDescriptor], None]:
    def set_value(message: Message, field: FieldDescriptor) -> None:
        if field.is_repeated:
            getattr(message, field.name).append(value)
        else:
            setattr(message, field.name, value)

    return set_value


def _set_timestamp(seconds: int, nanos: int = 0) -> Callable[[Message, FieldDescriptor], None]:
    def set_value(message: Message, field: FieldDescriptor) -> None:
        moment = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
        if field.is_repeated:
            getattr(message, field.name).append(moment)
        else:
            getattr(message, field.name).CopyFrom(moment)

    return set_value


def _deep(levels: int) -> Callable[[Message, FieldDescriptor], None]:
    """A JSON document `levels` objects/arrays deep, in the JSON type the field holds: arrays inside (two protobuf
    messages per level, so that every slot still parses at MAX_JSON_DEPTH + 1 levels)."""

    def set_value(message: Message, field: FieldDescriptor) -> None:
        target = getattr(message, field.name).add() if field.is_repeated else getattr(message, field.name)
        inner: Any = ["leaf"]
        for _ in range(levels - 2):
            inner = [inner]
        if isinstance(target, struct_pb2.Struct):
            target.update({"k": inner})
        elif isinstance(target, struct_pb2.ListValue):
            target.extend([inner])
        else:
            target.list_value.extend([inner])

    return set_value


_BAD_VALUES: dict[str, list[tuple[str, Callable[[Message, FieldDescriptor], None]]]] = {
    "enum": [("unknown enum value", _set_enum(UNKNOWN_ENUM))],
    "timestamp": [
        ("after 9999-12-31", _set_timestamp(MAX_SECONDS + 1)),
        ("before 0001-01-01", _set_timestamp(MIN_SECONDS - 1)),
        ("nanos out of range", _set_timestamp(0, -1)),
    ],
    "json": [(f"{MAX_JSON_DEPTH + 1} levels deep", _deep(MAX_JSON_DEPTH + 1))],
}


def _with_strings(message: Message, values: dict[str, str]) -> Message:
    for name, value in values.items():
        field = message.DESCRIPTOR.fields_by_name.get(name)
        if field is not None and field.type == FieldDescriptor.TYPE_STRING and not field.is_repeated:
            setattr(message, name, value)
    return message


def _oversize(message: Message, descriptor: Descriptor, depth: int = 0) -> Message:
    """Every string field (repeated: one element), through nested messages two levels down, OVERSIZE long."""
    for field in descriptor.fields:
        if _is_map(field):
            continue
        if field.type == FieldDescriptor.TYPE_STRING:
            if field.is_repeated:
                getattr(message, field.name).append("x" * OVERSIZE)
            else:
                setattr(message, field.name, "x" * OVERSIZE)
        elif field.type == FieldDescriptor.TYPE_MESSAGE and depth < 2:
            if field.message_type.full_name.startswith("google.protobuf."):
                continue
            child = getattr(message, field.name).add() if field.is_repeated else getattr(message, field.name)
            _oversize(child, field.message_type, depth + 1)
    return message


def _length_delimited(number: int, payload: bytes) -> bytes:
    return bytes(encoder.TagBytes(number, 2)) + bytes(encoder._VarintBytes(len(payload))) + payload


def _wrong_wire_type(field: FieldDescriptor) -> bytes:
    """A value of the other wire type: a varint where a string or message goes, bytes where a number goes."""
    if field.type in (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_MESSAGE):
        return bytes(encoder.TagBytes(field.number, 0)) + bytes(encoder._VarintBytes(7))
    return _length_delimited(field.number, b"junk")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
