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


class DestinationNeedsAdmin(RegistryError, errors.PermissionDenied):
    """Only admins decide where an agent's calls, and the credentials bound to it, are sent."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"setting or changing where agent {name!r} is called (its agent_card, or config other than model, "
            "system_prompt, parameters, stream, timeouts, sizes and retries) needs the admin role: credentials "
            "bound to the agent follow its destination",
            metadata={"resource": name, "required_role": "admin"},
        )


class AgentInUse(RegistryError, errors.FailedPrecondition):
    def __init__(self, name: str, orchestrations: int) -> None:
        super().__init__(
            f"agent {name!r} still has {orchestrations} orchestration(s); delete them first",
            metadata={"resource": name},
        )


class InvalidDefinition(RegistryError, errors.ValidationFailed):
    pass


class OrchestrationNotFound(RegistryError, errors.NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"orchestration {name!r} not found", metadata={"resource": name})


class OrchestrationAlreadyExists(RegistryError, errors.AlreadyExists):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"orchestration {name!r} already exists (possibly deleted; slugs are never reused)",
            metadata={"resource": name},
        )


class VersionNotFound(RegistryError, errors.NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"orchestration version {name!r} not found", metadata={"resource": name})


class VersionLabelTaken(RegistryError, errors.AlreadyExists):
    def __init__(self, orchestration: str, label: str) -> None:
        super().__init__(
            f"orchestration {orchestration!r} already has a version labelled {label!r}",
            metadata={"resource": orchestration, "label": label},
        )


class OrchestrationDeleted(RegistryError, errors.FailedPrecondition):
    def __init__(self, name: str) -> None:
        super().__init__(f"orchestration {name!r} is deleted; its history is read-only", metadata={"resource": name})


class PlanNotFound(RegistryError, errors.NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"plan {name!r} not found", metadata={"resource": name})


class InvalidPlan(RegistryError, errors.ValidationFailed):
    """A plan cannot be converted into an orchestration definition (violations at `plan.<path>`)."""


class PlanNotDraft(RegistryError, errors.FailedPrecondition):
    def __init__(self, name: str, status: str) -> None:
        super().__init__(
            f"plan {name!r} is {status}; only a draft plan can be approved or rejected",
            metadata={"resource": name, "status": status},
        )


class PlanNotApproved(RegistryError, errors.FailedPrecondition):
    def __init__(self, name: str, status: str) -> None:
        super().__init__(
            f"plan {name!r} is {status}; only an approved plan can be saved as an orchestration",
            metadata={"resource": name, "status": status},
        )
