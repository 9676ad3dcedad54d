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


# --- run controls and revisions (issue 14) ---------------------------------------------------------------------------


class RevisionsExhausted(RunsError, errors.FailedPrecondition):
    """request_changes on a checkpoint that already sent its dependencies back `max_revisions` times."""

    reason = "REVISIONS_EXHAUSTED"

    def __init__(self, checkpoint: str, max_revisions: int) -> None:
        super().__init__(
            f"checkpoint {checkpoint} reached its limit of {max_revisions} revision(s); approve or reject it",
            metadata={"resource": checkpoint, "max_revisions": str(max_revisions)},
        )


class RequestIdReused(RunsError, errors.AlreadyExists):
    """The request_id names an earlier launch with different parameters (AIP-155): it is not a retry of it."""

    reason = "REQUEST_ID_REUSED"

    def __init__(self, request_id: str, run: str) -> None:
        super().__init__(
            f"request_id {request_id!r} was already used for run {run} with different launch parameters; "
            "use a new request_id for a different launch",
            metadata={"request_id": request_id, "resource": run},
        )


class OrchestrationInactive(LaunchRejected):
    """An inactive orchestration is kept but not launched until it is activated again."""

    reason = "ORCHESTRATION_INACTIVE"


class MissingCredentials(InvalidLaunch):
    """The definition names credential aliases that do not exist in the launching organization."""

    reason = "CREDENTIALS_NOT_FOUND"


# --- i14-decisions: votes -------------------------------------------------------------------------------------------


class AlreadyVoted(RunsError, errors.AlreadyExists):
    """The principal has voted on this checkpoint already: one person's vote counts once (the vote is a resource
    that exists, hence ALREADY_EXISTS)."""

    reason = "ALREADY_VOTED"

    def __init__(self, checkpoint: str, voter: str) -> None:
        super().__init__(
            f"{voter} has already voted on checkpoint {checkpoint}; a vote cannot be changed",
            metadata={"resource": checkpoint},
        )


class SelfApprovalForbidden(RunsError, errors.PermissionDenied):
    """Four-eyes: the run's launcher may not approve its checkpoint (rejecting or requesting changes is allowed)."""

    reason = "SELF_APPROVAL_FORBIDDEN"

    def __init__(self, checkpoint: str) -> None:
        super().__init__(
            f"checkpoint {checkpoint} forbids self-approval: the run's launcher cannot approve it "
            "(rejecting or requesting changes is allowed)",
            metadata={"resource": checkpoint},
        )


class EditConflict(RunsError, errors.FailedPrecondition):
    """With a quorum, the first approval fixes the payload; a later approval with another edit would count an
    approval for a payload it did not see. Request changes instead."""

    reason = "EDIT_CONFLICT"

    def __init__(self, checkpoint: str) -> None:
        super().__init__(
            f"an earlier approval of checkpoint {checkpoint} fixed its payload; approve it as it is (no payload, "
            "or the same one), or request changes",
            metadata={"resource": checkpoint},
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
