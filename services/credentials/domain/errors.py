"""Errors of the credential vault. None of them ever carries a secret value."""

from __future__ import annotations

from services.common import errors


class CredentialsError(errors.ServiceError):
    """Root of every vault error."""


class CredentialNotFound(CredentialsError, errors.NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"credential {name!r} not found", metadata={"resource": name})


class CredentialAlreadyExists(CredentialsError, errors.AlreadyExists):
    def __init__(self, name: str) -> None:
        super().__init__(f"credential {name!r} already exists", metadata={"resource": name})


class DecryptionFailed(CredentialsError, errors.FailedPrecondition):
    """Authentication of the stored data failed: it was altered, or copied from another credential or version."""

    def __init__(self, name: str, version: int) -> None:
        super().__init__(
            f"credential {name!r} version {version} cannot be decrypted: the stored data failed authentication "
            "(altered, or copied from another credential); rotate the value",
            metadata={"resource": name, "version": str(version)},
        )


class KeyNotInRing(CredentialsError, errors.FailedPrecondition):
    def __init__(self, key_id: str, name: str = "") -> None:
        where = f"credential {name!r} is wrapped with " if name else ""
        super().__init__(
            f"{where}key id {key_id!r}, which is not in the vault key ring; add that key back to decrypt it",
            metadata={"key_id": key_id, **({"resource": name} if name else {})},
        )


class NotAResolver(CredentialsError, errors.PermissionDenied):
    def __init__(self) -> None:
        super().__init__("only resolver service identities (the runs service) may resolve credential values")


class CredentialNotBound(CredentialsError, errors.PermissionDenied):
    """The credential's binding does not allow the agent or the destination a resolution named."""

    reason = "CREDENTIAL_NOT_BOUND"

    def __init__(self, name: str, alias: str, agent: str, destination: str, why: str) -> None:
        super().__init__(
            f"credential {alias!r} may not be sent to agent {agent!r} at {destination}: {why}; an admin can bind "
            "it with UpdateCredential (allowed_agents, allowed_hosts)",
            metadata={"resource": name, "alias": alias, "agent": agent, "destination": destination},
        )


class KeyRingInvalid(ValueError):
    """The configured vault key ring is unusable; raised at start-up with a message naming the key id."""
