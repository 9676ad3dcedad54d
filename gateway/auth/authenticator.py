"""Who is calling: `authorization: Bearer <token>`, where the token is an API key (`ak_...`) or a JWT.

Failed authentications are limited per client address (and, for API keys, per key id) before any verification
work (gateway.edge.failed_auth); `client` is the caller's address as the edge sees it (the gRPC peer, or the HTTP
client's address that the gateway's own HTTP front relays).
"""

from __future__ import annotations

from collections.abc import Iterable

from gateway.auth.api_keys import ApiKeyVerifier
from gateway.auth.caller import Caller
from gateway.auth.jwt import JwtVerifier
from gateway.auth.membership import MembershipDirectory
from gateway.config import FailedAuthSettings
from gateway.domain.api_keys import looks_like_api_key
from gateway.domain.errors import InvalidCredential
from gateway.edge.failed_auth import FailedAttempts
from services.common.errors import Unauthenticated

AUTHORIZATION = "authorization"
MAX_TOKEN_LENGTH = 6 * 1024  # below gRPC's 8 KiB soft limit for all metadata
_SCHEME = "bearer "


class Authenticator:
    """`failures` must be the same limits the API key verifier was given (one set of buckets per replica).

    `directory`, when given, resolves every verified principal against its organization's records (roles and
    groups of members, the organization's policy: gateway.auth.membership)."""

    def __init__(
        self,
        jwt: JwtVerifier | None,
        api_keys: ApiKeyVerifier,
        failures: FailedAttempts | None = None,
        directory: MembershipDirectory | None = None,
    ) -> None:
        self._jwt = jwt
        self._api_keys = api_keys
        self._failures = failures or FailedAttempts(FailedAuthSettings(enabled=False))
        self._directory = directory

    async def authenticate(self, metadata: Iterable[tuple[str, str | bytes]], client: str = "") -> Caller:
        token = bearer_token(metadata)
        if looks_like_api_key(token):
            key = await self._api_keys.verify(token, client)
            if self._directory is not None:
                key = await self._directory.resolve_service_account(key)
            return Caller(key, "api_key")
        if self._jwt is None:
            raise Unauthenticated("this gateway accepts API keys only (no JWT issuer is configured)")
        self._failures.check(client)
        try:
            verified = await self._jwt.verify_identity(token)
        except InvalidCredential:
            self._failures.failed(client)
            raise
        if self._directory is None:
            return Caller(verified.principal, "jwt")
        principal, managed = await self._directory.resolve_user(verified.principal, verified.email)
        return Caller(principal, "jwt", managed=managed)


def bearer_token(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    values = [v for k, v in metadata if k.lower() == AUTHORIZATION]
    if not values:
        raise Unauthenticated("this call needs credentials: send 'authorization: Bearer <JWT or API key>'")
    if len(values) > 1:
        raise Unauthenticated("send exactly one authorization header")
    value = values[0]
    text = value.decode("ascii", errors="replace") if isinstance(value, bytes) else value
    if len(text) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("the authorization header is too long")
    if not text[: len(_SCHEME)].lower() == _SCHEME:
        raise Unauthenticated("the authorization header must be 'Bearer <token>'")
    token = text[len(_SCHEME) :].strip()
    if not token:
        raise Unauthenticated("the authorization header must be 'Bearer <token>'")
    return token
