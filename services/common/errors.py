"""Error categories every service's domain errors derive from. Pure Python: no grpc here.

Each service declares one root exception that also derives from `ServiceError`, and typed subclasses that mix in
a category below (`class AgentNotFound(RegistryError, NotFound)`). The gRPC status for a category is chosen in
exactly one place, `services.common.grpc_errors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field: `field` is its path in the request (`agent.slug`, `definition.phases[0].id`)."""

    field: str
    description: str


class ServiceError(Exception):
    """Root of every error a service raises on purpose. `reason` is the ErrorInfo reason (UPPER_SNAKE)."""

    reason = "INTERNAL"

    def __init__(self, message: str, *, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = dict(metadata or {})


class NotFound(ServiceError):
    reason = "NOT_FOUND"


class OrganizationNotFound(NotFound):
    """A call into an organization the caller does not belong to: the same answer whether it exists or not."""

    def __init__(self, organization_slug: str) -> None:
        super().__init__(
            f"organization {organization_slug!r} not found", metadata={"resource": f"organizations/{organization_slug}"}
        )


class AlreadyExists(ServiceError):
    reason = "ALREADY_EXISTS"


class ValidationFailed(ServiceError):
    """Bad input. Carries every violation found, so that a caller can fix them all at once."""

    reason = "VALIDATION_FAILED"

    def __init__(
        self,
        violations: Iterable[FieldViolation],
        message: str | None = None,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.violations = tuple(violations)
        if not self.violations:
            raise ValueError("ValidationFailed needs at least one violation")
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations[:5])
        more = len(self.violations) - 5
        if more > 0:
            summary += f"; and {more} more"
        super().__init__(message or f"invalid request: {summary}", metadata=metadata)

    @classmethod
    def single(cls, field: str, description: str) -> ValidationFailed:
        return cls([FieldViolation(field, description)])


class MalformedRequest(ServiceError):
    """The request's bytes are not a message of its type (corrupt, or nested deeper than protobuf parses): no field
    can be named, since nothing of it was read."""

    reason = "MALFORMED_REQUEST"


class InvalidPageToken(ValidationFailed):
    reason = "INVALID_PAGE_TOKEN"

    def __init__(self, description: str) -> None:
        super().__init__([FieldViolation("page_token", description)])


class EtagMismatch(ServiceError):
    reason = "ETAG_MISMATCH"


class Aborted(ServiceError):
    """The operation was cut short; the client should retry it from where it got (see the message)."""

    reason = "ABORTED"


class ClientTooSlow(Aborted):
    """A server stream's client stopped reading for longer than the send timeout."""

    reason = "CLIENT_TOO_SLOW"


class FailedPrecondition(ServiceError):
    reason = "FAILED_PRECONDITION"


class InvalidTransition(FailedPrecondition):
    """The resource's current state does not accept the action (cancel a run that ended, decide a checkpoint twice).

    Clients get FAILED_PRECONDITION with an `agentorch.common.v1.InvalidTransition` detail (resource, current status
    and its reason, the refused action) next to the ErrorInfo, so they branch on fields, not on the message."""

    def __init__(
        self, message: str, *, resource: str, current_status: str, action: str, status_reason: str = ""
    ) -> None:
        super().__init__(message, metadata={"resource": resource, "status": current_status})
        self.resource = resource
        self.current_status = current_status
        self.action = action
        self.status_reason = status_reason


class PermissionDenied(ServiceError):
    reason = "PERMISSION_DENIED"


class Unauthenticated(ServiceError):
    reason = "UNAUTHENTICATED"


class Unavailable(ServiceError):
    """A dependency (another service, the database) cannot be reached; retrying later may succeed.

    `retry_after_seconds`, when set, goes to the client as `google.rpc.RetryInfo`."""

    reason = "UNAVAILABLE"

    def __init__(
        self,
        message: str,
        *,
        retry_after_seconds: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, metadata=metadata)
        self.retry_after_seconds = retry_after_seconds


class DatabaseUnavailable(Unavailable):
    """The service's database cannot be reached, or the connection died under the call (a restart, a failover)."""

    DEFAULT_RETRY_SECONDS = 1.0

    def __init__(
        self, message: str = "the database is unavailable (restarting or unreachable); retry the call"
    ) -> None:
        super().__init__(message, retry_after_seconds=self.DEFAULT_RETRY_SECONDS, metadata={"dependency": "database"})


class ResourceExhausted(ServiceError):
    reason = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, retry_after_seconds: float, metadata: Mapping[str, str] | None = None) -> None:
        super().__init__(message, metadata=metadata)
        self.retry_after_seconds = retry_after_seconds
