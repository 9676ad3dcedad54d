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


class InvalidTransition(RunsError, errors.InvalidTransition):
    """An action the run's (or checkpoint's) current state does not accept (domain/machine.py decides which).

    `what` names the resource in the message ("run organizations/o/runs/r"), `resource` is its name; `status_reason`
    tells a paused run's two states apart (operator, checkpoint); `why` says which states would accept the action.
    """

    def __init__(
        self,
        what: str,
        resource: str,
        current_status: str,
        action: str,
        *,
        status_reason: str = "",
        why: str = "",
        again: bool = False,
    ) -> None:
        shown = (
            f"{current_status} ({status_reason})" if status_reason and current_status == "paused" else current_status
        )
        message = f"{what} is {shown}; cannot {action} it{' again' if again else ''}" + (f" ({why})" if why else "")
        super().__init__(
            message,
            resource=resource,
            current_status=current_status,
            action=action,
            status_reason=status_reason,
        )


class UnknownStep(RunsError, errors.ValidationFailed):
    """RetryRun's from_step names no step of the run."""

    def __init__(self, steps: tuple[str, ...]) -> None:
        super().__init__([errors.FieldViolation("from_step", f"is not a step of this run (steps: {', '.join(steps)})")])


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


class NotAnAssignee(RunsError, errors.PermissionDenied):
    """The caller holds the checkpoint's role but is not one of its assignees (directly or through a group), and
    made no admin override (issue 14, i14-routing)."""

    reason = "NOT_AN_ASSIGNEE"

    def __init__(self, message: str, required_role: str, assignees: tuple[str, ...]) -> None:
        super().__init__(message, metadata={"required_role": required_role, "assignees": ",".join(assignees)})


class SelfAssignment(RunsError, errors.PermissionDenied):
    """Only an admin may reassign a checkpoint so that they themselves could decide it (issue 14, i14-routing)."""

    reason = "SELF_ASSIGNMENT_FORBIDDEN"
