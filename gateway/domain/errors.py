"""The gateway's domain errors: one root, typed subclasses mixing in the shared categories."""

from __future__ import annotations

from services.common.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServiceError,
    Unauthenticated,
)


class GatewayError(ServiceError):
    """Root of the errors the gateway raises on purpose."""


class ApiKeyNotFound(GatewayError, NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"API key {name} not found", metadata={"resource": name})


class RecipeUnavailable(GatewayError, FailedPrecondition):
    """A run's definition cannot be saved as a recipe (e.g. the contract does not expose the templates it needs)."""

    def __init__(self, run: str, message: str) -> None:
        super().__init__(message, metadata={"resource": run})


class InvalidCredential(GatewayError, Unauthenticated):
    """A credential that does not verify (malformed, unknown API key id, wrong secret, a JWT with a bad signature or
    an unknown key): what a guess looks like, so it counts against the failed-authentication limits. A genuine
    credential that is refused (expired, revoked, for another audience) raises plain Unauthenticated."""


class TooManyFailedAuthentications(GatewayError, ResourceExhausted):
    """Too many credentials that did not verify, from this client address or for this API key id: refused before
    the credential is looked at."""

    reason = "TOO_MANY_FAILED_AUTHENTICATIONS"


class TooManyStreams(GatewayError, ResourceExhausted):
    """The principal already holds as many server streams on this replica as it may."""

    reason = "TOO_MANY_STREAMS"


# --- identity: organizations, members, groups ------------------------------------------------------------------


class OrganizationRecordNotFound(GatewayError, NotFound):
    """No organization record of that slug (or one the caller may not see: the same answer)."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"organization {slug!r} not found", metadata={"resource": f"organizations/{slug}"})


class OrganizationAlreadyExists(GatewayError, AlreadyExists):
    def __init__(self, slug: str) -> None:
        super().__init__(f"organization {slug!r} already exists", metadata={"resource": f"organizations/{slug}"})


class MemberNotFound(GatewayError, NotFound):
    def __init__(self, what: str) -> None:
        super().__init__(f"member {what} not found", metadata={"resource": what})


class MemberAlreadyExists(GatewayError, AlreadyExists):
    def __init__(self, organization_slug: str, subject: str) -> None:
        super().__init__(
            f"organization {organization_slug!r} already has a member {subject!r}",
            metadata={"resource": f"organizations/{organization_slug}", "subject": subject},
        )


class GroupNotFound(GatewayError, NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"group {name} not found", metadata={"resource": name})


class GroupAlreadyExists(GatewayError, AlreadyExists):
    def __init__(self, name: str) -> None:
        super().__init__(f"group {name} already exists", metadata={"resource": name})


class LastAdmin(GatewayError, FailedPrecondition):
    """A change that would leave an organization with members but no admin member (nobody could manage it)."""

    reason = "LAST_ADMIN"

    def __init__(self, organization_slug: str, message: str) -> None:
        super().__init__(message, metadata={"resource": f"organizations/{organization_slug}"})


class NotAMember(GatewayError, PermissionDenied):
    """A verified JWT of an organization whose members the platform manages, for a subject that is not one."""

    reason = "NOT_A_MEMBER"

    def __init__(self, organization_slug: str) -> None:
        super().__init__(
            f"you are not a member of organization {organization_slug!r}: its members are managed in the platform; "
            "ask one of its admins to add you (agentorch members add)",
            metadata={"organization": organization_slug},
        )
