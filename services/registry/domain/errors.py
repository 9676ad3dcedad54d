"""Errors of the registry; each mixes in the category that decides its status code."""

from __future__ import annotations

from services.common import errors


class RegistryError(errors.ServiceError):
    """Root of every registry error."""


class AgentNotFound(RegistryError, errors.NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"agent {name!r} not found", metadata={"resource": name})


class AgentAlreadyExists(RegistryError, errors.AlreadyExists):
    def __init__(self, name: str) -> None:
        super().__init__(f"agent {name!r} already exists", metadata={"resource": name})


class InvalidAgent(RegistryError, errors.ValidationFailed):
    pass
