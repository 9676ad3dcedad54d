"""Free-form JSON in protobuf messages, read back without turning integers into floats.

`google.protobuf.Struct` (and `Value`) store every number as a double, and protobuf's JSON mapping prints doubles as
doubles: `{"max_attempts": 3}` sent in comes out as `3.0` from `MessageToDict`, `MessageToJson` and every client
built on them. JSON itself has one number type, so an integral double is read back as an int (below 2**53, where a
double still holds every integer exactly): every converter that turns a message holding a Struct into Python or JSON
text goes through this module — the services when they read requests and store documents, the gateway's HTTP front
when it answers, the CLI when it prints — so `3` stays `3` end to end and a stored document is what was sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

_EXACT = 2**53  # doubles hold every integer below this exactly


def integral(value: Any) -> Any:
    """`value` (decoded JSON) with every integral float below 2**53 as an int, at any depth."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < _EXACT else value
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def message_to_dict(message: Message, **options: Any) -> dict[str, Any]:
    """`json_format.MessageToDict` (same options), with the integers of its Structs and Values kept integers."""
    result: dict[str, Any] = integral(json_format.MessageToDict(message, **options))
    return result


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain JSON data."""
    return message_to_dict(message)


def value_to_python(message: struct_pb2.Value) -> Any:
    """A Value as plain JSON data (None when it holds nothing)."""
    if message.WhichOneof("kind") is None:
        return None
    return integral(json_format.MessageToDict(message))


def value_to_json(message: struct_pb2.Value) -> str:
    """A Value as compact JSON text ("" when it holds nothing)."""
    if message.WhichOneof("kind") is None:
        return ""
    return json.dumps(value_to_python(message), ensure_ascii=False, separators=(",", ":"))


def struct_from_dict(value: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(value))
    return message


def value_from_python(data: Any) -> struct_pb2.Value:
    holder = struct_pb2.Struct()
    holder.update({"v": data})
    return holder.fields["v"]
