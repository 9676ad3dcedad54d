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


class AdHocCredentialsNeedAdmin(RunsError, errors.PermissionDenied):
    """An ad hoc definition names credentials: only admins may choose, outside a reviewed and versioned
    orchestration, which credentials a run sends."""

    def __init__(self, aliases: tuple[str, ...]) -> None:
        super().__init__(
            f"an ad hoc definition whose steps name credentials ({', '.join(aliases)}) needs the admin role; "
            "save it as an orchestration, or ask an admin to launch it",
            metadata={"required_role": "admin", "credentials": ",".join(aliases)},
        )
