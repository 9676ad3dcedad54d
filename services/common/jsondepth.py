"""How deep free-form JSON may nest: one limit for every document a request carries (google.protobuf.Struct,
Value, ListValue, and documents decoded from text such as agent YAML).

Why a limit below protobuf's own: the parser stops at 100 nested messages, and a JSON level costs two or three of
them (Struct → map entry → Value), so a document somewhat past 32 levels already makes the whole request
unparsable — and a deep document that still parses is one that some later reader (the JSON encoder, a template,
a client parsing a reply that echoes it) cannot handle. 32 levels is far beyond any definition, plan, input or
agent card in real use, and is refused with the path where it is passed, so the caller can find it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from google.protobuf import struct_pb2

from services.common.errors import FieldViolation

MAX_JSON_DEPTH = 32
# Every level of nesting costs a serialized Struct or ListValue at least this many bytes: the tag and length of the
# element holding the Value (a ListValue's `values`, or a Struct's map entry and its `value`) and of the Value's
# `struct_value`/`list_value`, at least one byte each even when empty. So a container of fewer than 4 * k bytes
# cannot hold k more levels, and the walk skips it without visiting its scalars: a large but shallow definition
# costs a few ByteSize calls (done in C), not a visit of every value.
MIN_BYTES_PER_LEVEL = 4

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_KEY_SHOWN = 40


def depth_violation(value: Any, field: str, limit: int = MAX_JSON_DEPTH) -> FieldViolation | None:
    """A violation naming the first object or array of `value` nested deeper than `limit`; None if there is none.

    `value` is a protobuf Struct, Value or ListValue, or decoded JSON (dicts, lists, scalars); `field` is its path
    in the request. Each object and each array is one level; the walk is iterative (no recursion limit to hit).
    """
    root = _container(value)
    if root is None:
        return None
    stack: list[tuple[Any, str, int]] = [(root, field, 1)]
    # Decoded YAML may share a node between many parents (aliases): walk each again only when reached deeper, so a
    # "billion laughs" document costs at most `limit` visits per node. Protobuf messages share nothing.
    deepest: dict[int, int] = {}
    while stack:
        node, path, level = stack.pop()
        if level > limit:
            return FieldViolation(path, f"is nested too deep: free-form JSON may nest at most {limit} objects/arrays")
        if isinstance(node, dict | list | tuple):
            if deepest.get(id(node), 0) >= level:
                continue
            deepest[id(node)] = level
        elif node.ByteSize() < MIN_BYTES_PER_LEVEL * (limit + 1 - level):
            continue  # too small to hold the levels still allowed below it: nothing in it to walk (see below)
        for key, child in _children(node):
            inner = _container(child)
            if inner is not None:
                stack.append((inner, _join(path, key), level + 1))
    return None


def _container(value: Any) -> Any:
    """The object or array `value` holds, or None for a scalar."""
    if isinstance(value, struct_pb2.Value):
        kind = value.WhichOneof("kind")
        if kind == "struct_value":
            return value.struct_value
        if kind == "list_value":
            return value.list_value
        return None
    if isinstance(value, struct_pb2.Struct | struct_pb2.ListValue | dict | list | tuple):
        return value
    return None


def _children(node: Any) -> Iterable[tuple[str | int, Any]]:
    if isinstance(node, struct_pb2.Struct):
        fields: Iterable[tuple[str, Any]] = node.fields.items()
        return fields
    if isinstance(node, struct_pb2.ListValue):
        return enumerate(node.values)
    if isinstance(node, dict):
        return node.items()
    return enumerate(node)


def _join(path: str, key: str | int) -> str:
    """`a.b`, `a[0]`, or `a["odd key"]` (cut short: a key may be a megabyte long)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if len(key) <= _MAX_KEY_SHOWN and _IDENTIFIER.match(key):
        return f"{path}.{key}"
    shown = key if len(key) <= _MAX_KEY_SHOWN else key[: _MAX_KEY_SHOWN - 3] + "..."
    return f'{path}["{shown}"]'
