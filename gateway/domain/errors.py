"""The gateway's domain errors: one root, typed subclasses mixing in the shared categories."""

from __future__ import annotations

from services.common.errors import FailedPrecondition, NotFound, ResourceExhausted, ServiceError, Unauthenticated


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
