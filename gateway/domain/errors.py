"""The gateway's domain errors: one root, typed subclasses mixing in the shared categories."""

from __future__ import annotations

from services.common.errors import FailedPrecondition, NotFound, ServiceError


class GatewayError(ServiceError):
    """Root of the errors the gateway raises on purpose."""


class ApiKeyNotFound(GatewayError, NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"API key {name} not found", metadata={"resource": name})


class RecipeUnavailable(GatewayError, FailedPrecondition):
    """A run's definition cannot be saved as a recipe (e.g. the contract does not expose the templates it needs)."""

    def __init__(self, run: str, message: str) -> None:
        super().__init__(message, metadata={"resource": run})
