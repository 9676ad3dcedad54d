"""Enum values in requests, checked against the enum's descriptor.

proto3 enums are open: a number the contract does not define (a newer client, a typo, a fuzzer) parses without
complaint and would otherwise be stored or silently mapped to a default. It is bad input like any other.
"""

from __future__ import annotations

from google.protobuf.descriptor import EnumDescriptor

from services.common.errors import FieldViolation, ValidationFailed


def enum_violation(value: int, enum: EnumDescriptor, field: str, *, required: bool = False) -> FieldViolation | None:
    """Why `value` is not acceptable for `field` (of type `enum`); None when it is.

    Zero is the `*_UNSPECIFIED` value: refused only when `required`.
    """
    if value == 0 and not required:
        return None
    if value != 0 and value in enum.values_by_number:
        return None
    names = ", ".join(v.name for v in enum.values if v.number != 0)
    if value == 0:
        return FieldViolation(field, f"is required: one of {names}")
    return FieldViolation(field, f"{value} is not a {enum.name} value; use one of {names}")


def check_enum(value: int, enum: EnumDescriptor, field: str, *, required: bool = False) -> int:
    """`value`, or ValidationFailed naming `field` (see `enum_violation`)."""
    violation = enum_violation(value, enum, field, required=required)
    if violation is not None:
        raise ValidationFailed([violation])
    return value
