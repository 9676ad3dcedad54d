"""Errors of the runs service."""

from __future__ import annotations

from services.common import errors


class RunsError(errors.ServiceError):
    """Root of every runs error."""


class RunNotFound(RunsError, errors.NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"run {name!r} not found", metadata={"resource": name})


class CheckpointNotFound(RunsError, errors.NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"checkpoint {name!r} not found", metadata={"resource": name})


class InvalidTransition(RunsError, errors.FailedPrecondition):
    """An operation the run's (or checkpoint's) current status does not allow."""

    def __init__(self, what: str, status: str, action: str) -> None:
        super().__init__(f"{what} is {status}; cannot {action}", metadata={"status": status})


class LaunchRejected(RunsError, errors.FailedPrecondition):
    """The source exists but cannot be launched (archived orchestration, plan not approved, missing agent)."""


class InvalidLaunch(RunsError, errors.ValidationFailed):
    pass
