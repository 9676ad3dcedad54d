"""Protobuf ⇄ domain conversion for GatewayService."""

from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2

from agentorch.gateway.v1 import gateway_service_pb2 as pb
from gateway.domain.api_keys import ApiKey


def api_key_message(key: ApiKey) -> pb.ApiKey:
    message = pb.ApiKey(
        name=key.name,
        key_id=key.key_id,
        display_name=key.display_name,
        roles=list(key.roles),
        created_by=key.created_by,
        create_time=timestamp(key.created_at),
    )
    for field, moment in (
        ("expire_time", key.expire_at),
        ("revoke_time", key.revoked_at),
        ("last_used_time", key.last_used_at),
    ):
        if moment is not None:
            getattr(message, field).CopyFrom(timestamp(moment))
    return message


def optional_time(message: pb.ApiKey, field: str) -> dt.datetime | None:
    return getattr(message, field).ToDatetime(tzinfo=dt.UTC) if message.HasField(field) else None


def timestamp(moment: dt.datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment)
    return message
