"""The gateway's domain errors: one root, typed subclasses mixing in the shared categories."""

from __future__ import annotations

from services.common.errors import NotFound, ServiceError


class GatewayError(ServiceError):
    """Root of the errors the gateway raises on purpose."""


class ApiKeyNotFound(GatewayError, NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"API key {name} not found", metadata={"resource": name})
