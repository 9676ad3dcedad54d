"""Client channels between the platform's processes (and from its CLI): one place for their options.

Every such channel retries a call that answered UNAVAILABLE, with gRPC's own retry policy (service config), a few
times with a short exponential back-off. UNAVAILABLE is what a service answers when its database is away for a
moment (a restart, a failover: `services.common.db`) or when the process behind the address is being replaced, and
in both cases nothing was written; so a database restart shows up as a slightly slower call rather than an error
the user has to repeat. gRPC retries a server stream only until its first message has arrived, so a stream that
broke later still ends with its status and the client resumes from its cursor.
"""

from __future__ import annotations

import json
from typing import Any

import grpc

RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.2s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
SERVICE_CONFIG = json.dumps({"methodConfig": [{"name": [{}], "retryPolicy": RETRY_POLICY}]})


def channel_options(max_message_bytes: int | None = None) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [("grpc.enable_retries", 1), ("grpc.service_config", SERVICE_CONFIG)]
    if max_message_bytes is not None:
        options += [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
    return options


def internal_channel(target: str, *, max_message_bytes: int | None = None) -> grpc.aio.Channel:
    """An asyncio channel to another process of the platform, retrying UNAVAILABLE (see the module docstring)."""
    return grpc.aio.insecure_channel(target, options=channel_options(max_message_bytes))
