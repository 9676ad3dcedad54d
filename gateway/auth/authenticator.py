"""Who is calling: `authorization: Bearer <token>`, where the token is an API key (`ak_...`) or a JWT."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.auth.api_keys import ApiKeyVerifier
from gateway.auth.caller import Caller
from gateway.auth.jwt import JwtVerifier
from gateway.domain.api_keys import looks_like_api_key
from services.common.errors import Unauthenticated

AUTHORIZATION = "authorization"
MAX_TOKEN_LENGTH = 6 * 1024  # below gRPC's 8 KiB soft limit for all metadata
_SCHEME = "bearer "


class Authenticator:
    def __init__(self, jwt: JwtVerifier | None, api_keys: ApiKeyVerifier) -> None:
        self._jwt = jwt
        self._api_keys = api_keys

    async def authenticate(self, metadata: Iterable[tuple[str, str | bytes]]) -> Caller:
        token = bearer_token(metadata)
        if looks_like_api_key(token):
            return Caller(await self._api_keys.verify(token), "api_key")
        if self._jwt is None:
            raise Unauthenticated("this gateway accepts API keys only (no JWT issuer is configured)")
        return Caller(await self._jwt.verify(token), "jwt")


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
