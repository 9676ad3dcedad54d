"""Timestamps in requests (google.protobuf.Timestamp): converted to UTC datetimes, or refused naming the field.

protobuf's own `ToDatetime` raises a bare ValueError for a timestamp outside the range the Timestamp spec allows
(0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z, nanos 0 to 999,999,999), which would reach the client
as INTERNAL. Every request field is checked here instead, so the caller is told which field is wrong.
"""

from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from services.common.errors import FieldViolation, ValidationFailed

MIN_SECONDS = -62_135_596_800  # 0001-01-01T00:00:00Z
MAX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z
MAX_NANOS = 999_999_999


def timestamp_violation(value: timestamp_pb2.Timestamp, field: str) -> FieldViolation | None:
    """Why `value` is not a valid Timestamp, as a violation of `field`; None when it is valid."""
    if not MIN_SECONDS <= value.seconds <= MAX_SECONDS:
        return FieldViolation(field, "must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z")
    if not 0 <= value.nanos <= MAX_NANOS:
        return FieldViolation(field, f"nanos must be between 0 and {MAX_NANOS:,}")
    return None


def to_datetime(message: Message, name: str, *, field: str | None = None) -> dt.datetime | None:
    """The Timestamp field `name` of `message` as an aware UTC datetime (microsecond precision), None when unset.

    `field` is the field's path in the request when `message` is not the request itself (`api_key.expire_time`).
    """
    if not message.HasField(name):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, name)
    violation = timestamp_violation(value, field or name)
    if violation is not None:
        raise ValidationFailed([violation])
    moment: dt.datetime = value.ToDatetime(tzinfo=dt.UTC)
    return moment
