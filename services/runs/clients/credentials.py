"""The credential vault, as the runs service sees it: aliases resolved to values at agent-call time, over gRPC.

Calls are signed as the runs service itself (`service:runs`, a resolver identity of the vault) and name the run
and step the value is for, the agent (its pinned resource name) and the destination (`host:port` of the URL about
to be called): the vault checks the credential's binding against them and its audit log records who used which
credential where. Resolved values are
wrapped in `Secret`, whose repr and str never show them; only `reveal()` does, at the moment a header is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import grpc

from agentorch.credentials.v1 import credential_pb2
from agentorch.credentials.v1 import credentials_service_pb2 as pb
from agentorch.credentials.v1 import credentials_service_pb2_grpc as pb_grpc
from services.common import errors
from services.common.context import Principal
from services.common.principals import KeyRing
from services.common.remote_errors import RemoteError

RPC_TIMEOUT = 10.0
NOT_BOUND = "CREDENTIAL_NOT_BOUND"
RUNS_SUBJECT = "service:runs"
ISSUER = "runs"

_TYPES = {
    credential_pb2.CREDENTIAL_TYPE_API_KEY: "api_key",
    credential_pb2.CREDENTIAL_TYPE_BEARER_TOKEN: "bearer_token",
    credential_pb2.CREDENTIAL_TYPE_BASIC_AUTH: "basic_auth",
    credential_pb2.CREDENTIAL_TYPE_GENERIC_SECRET: "generic_secret",
}


class Secret:
    """A secret value that does not print itself: repr/str/format show a placeholder, pickling is refused."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


@dataclass(frozen=True)
class ResolvedCredential:
    alias: str
    version: int
    type: str  # api_key | bearer_token | basic_auth | generic_secret | unspecified
    secret: Secret = field(repr=False)


class CredentialUnavailable(Exception):
    """A credential could not be resolved; the message names the alias and the reason, never a value."""

    def __init__(self, alias: str, reason: str, *, retryable: bool) -> None:
        super().__init__(f"credential {alias!r}: {reason}")
        self.alias = alias
        self.reason = reason
        self.retryable = retryable


class CredentialResolver(Protocol):
    async def resolve(
        self, organization_slug: str, alias: str, *, run: str, step: str, agent: str, destination: str
    ) -> ResolvedCredential: ...


class CredentialsClient:
    """Resolves aliases through the vault's ResolveCredential as the runs service."""

    def __init__(
        self, channel: grpc.aio.Channel, keys: KeyRing, *, subject: str = RUNS_SUBJECT, timeout: float = RPC_TIMEOUT
    ) -> None:
        self._stub = pb_grpc.CredentialsServiceStub(channel)
        self._keys = keys
        self._identity = Principal(subject=subject, organization_slug="", roles=frozenset(), kind="service")
        self._timeout = timeout

    async def resolve(
        self, organization_slug: str, alias: str, *, run: str, step: str, agent: str, destination: str
    ) -> ResolvedCredential:
        request = pb.ResolveCredentialRequest(
            name=f"organizations/{organization_slug}/credentials/{alias}",
            run=run,
            step=step,
            agent=agent,
            destination=destination,
        )
        try:
            reply = await self._stub.ResolveCredential(
                request, metadata=self._keys.metadata(self._identity, issuer=ISSUER), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            raise _unavailable(alias, organization_slug, exc) from None
        return ResolvedCredential(
            alias=alias,
            version=int(reply.version),
            type=_TYPES.get(reply.type, "unspecified"),
            secret=Secret(reply.value),
        )


class CredentialDirectoryClient:
    """The `app.credential_aliases.CredentialDirectory` of the runs service: the vault's GetCredential (metadata,
    never a value), called as the launching principal, re-signed by this service, so that the vault applies the
    caller's own tenancy (another organization's alias is NOT_FOUND, like one that does not exist)."""

    def __init__(self, channel: grpc.aio.Channel, keys: KeyRing, *, timeout: float = RPC_TIMEOUT) -> None:
        self._stub = pb_grpc.CredentialsServiceStub(channel)
        self._keys = keys
        self._timeout = timeout

    async def exists(self, principal: Principal, organization_slug: str, alias: str) -> bool:
        request = pb.GetCredentialRequest(name=f"organizations/{organization_slug}/credentials/{alias}")
        try:
            await self._stub.GetCredential(
                request, metadata=self._keys.metadata(principal, issuer=ISSUER), timeout=self._timeout
            )
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
            if code == grpc.StatusCode.NOT_FOUND:
                return False
            if code == grpc.StatusCode.PERMISSION_DENIED:
                raise errors.PermissionDenied("the vault did not let the caller look credentials up") from None
            if code == grpc.StatusCode.INVALID_ARGUMENT:  # not an alias the vault accepts: it cannot exist
                return False
            raise errors.Unavailable(f"the credential vault is unavailable ({code.name}); retry later") from None
        return True


def _unavailable(alias: str, organization_slug: str, exc: grpc.aio.AioRpcError) -> CredentialUnavailable:
    code = exc.code()
    if code == grpc.StatusCode.NOT_FOUND:
        return CredentialUnavailable(
            alias, f"no such credential in organization {organization_slug!r}", retryable=False
        )
    if code == grpc.StatusCode.PERMISSION_DENIED:
        if (
            RemoteError.from_call(exc).reason == NOT_BOUND
        ):  # the vault's message names alias, agent and destination, never a value
            return CredentialUnavailable(alias, f"not bound to this agent ({exc.details()})", retryable=False)
        return CredentialUnavailable(
            alias, "the vault refused to resolve it for the runs service (is service:runs a resolver?)", retryable=False
        )
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return CredentialUnavailable(alias, f"the vault cannot decrypt it ({exc.details()})", retryable=False)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return CredentialUnavailable(alias, f"invalid request ({exc.details()})", retryable=False)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return CredentialUnavailable(
            alias, "the vault did not accept the runs service identity (principal keys differ?)", retryable=False
        )
    return CredentialUnavailable(alias, f"the vault is unavailable ({code.name}); retry later", retryable=True)
