"""Bearer JWT verification (PyJWT): signature, `iss`, `aud`, `exp`/`nbf` with bounded leeway, then claim mapping.

The algorithm a token names only selects among keys configured for that algorithm: HS256 tokens are checked with
the shared secret and nothing else, RS256/ES256 tokens with a JWKS key whose own algorithm is the same. `none` and
anything else are refused. Messages say what is wrong with a token, never what it contains.

A token that does not verify (malformed, an algorithm or key we do not accept, a bad signature) raises
InvalidCredential, which the failed-authentication limits count; a well-signed token that is refused (expired,
another issuer or audience, no organization) raises plain Unauthenticated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from gateway.config import JwtSettings
from gateway.domain.errors import InvalidCredential
from services.common import authz, names
from services.common.context import Principal
from services.common.errors import Unauthenticated, Unavailable

ASYMMETRIC = ("RS256", "ES256")
MIN_HS256_SECRET_BYTES = 32
MAX_SUBJECT_LENGTH = 200
JWKS_FETCH_TIMEOUT_SECONDS = 5.0


class JwtConfigError(ValueError):
    """The JWT settings are unusable (raised at start-up, naming the setting, never a key)."""


@dataclass(frozen=True)
class VerifiedToken:
    """A verified token's principal (roles as the token says) and its e-mail claim ("" when absent)."""

    principal: Principal
    email: str = ""


class JwtVerifier:
    def __init__(
        self,
        settings: JwtSettings,
        *,
        hs256_secret: bytes | None = None,
        jwk_set: PyJWKSet | None = None,
        jwks_client: PyJWKClient | None = None,
    ) -> None:
        if hs256_secret is not None and len(hs256_secret) < MIN_HS256_SECRET_BYTES:
            raise JwtConfigError(f"the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes")
        self._settings = settings
        self._hs256 = hs256_secret
        self._jwk_set = jwk_set
        self._client = jwks_client

    @classmethod
    def from_settings(cls, settings: JwtSettings) -> JwtVerifier:
        secret: bytes | None = None
        if settings.hs256_secret_file is not None:
            try:
                secret = settings.hs256_secret_file.read_bytes().strip()
            except OSError as exc:
                raise JwtConfigError(
                    f"cannot read JWT__HS256_SECRET_FILE {settings.hs256_secret_file}: {exc}"
                ) from None
        elif settings.hs256_secret is not None:
            secret = settings.hs256_secret.get_secret_value().encode()
        jwk_set = None
        if settings.jwks_file is not None:
            try:
                jwk_set = PyJWKSet.from_json(settings.jwks_file.read_text())
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                raise JwtConfigError(f"cannot load JWT__JWKS_FILE {settings.jwks_file}: {exc}") from None
        client = None
        if settings.jwks_url:
            client = PyJWKClient(
                settings.jwks_url,
                cache_jwk_set=True,
                lifespan=settings.jwks_cache_seconds,
                timeout=JWKS_FETCH_TIMEOUT_SECONDS,
            )
        return cls(settings, hs256_secret=secret, jwk_set=jwk_set, jwks_client=client)

    async def verify(self, token: str) -> Principal:
        return (await self.verify_identity(token)).principal

    async def verify_identity(self, token: str) -> VerifiedToken:
        """As `verify`, with the e-mail claim the organization's member records may be matched by."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidCredential("the bearer token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        key: bytes | PyJWK
        if algorithm == "HS256" and self._hs256 is not None:
            key = self._hs256
        elif algorithm in ASYMMETRIC and (self._jwk_set is not None or self._client is not None):
            key = await self._public_key(header.get("kid"), str(algorithm))
        else:
            raise InvalidCredential("the bearer token's signing algorithm is not accepted")
        claims = self._decode(token, key, str(algorithm))
        return VerifiedToken(self._principal(claims), verified_email(claims, self._settings.email_claim))

    def _decode(self, token: str, key: bytes | PyJWK, algorithm: str) -> dict[str, Any]:
        s = self._settings
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the bearer token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the bearer token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the bearer token is meant for another audience") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the bearer token comes from an unexpected issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the bearer token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise InvalidCredential("the bearer token's signature is invalid") from None
        except jwt.PyJWTError:  # malformed parts or claims: nothing that shows the token was ever issued
            raise InvalidCredential("the bearer token is invalid") from None
        return claims

    async def _public_key(self, kid: object, algorithm: str) -> PyJWK:
        key = self._from_set(kid)
        if key is None and self._client is not None:
            key = await asyncio.to_thread(self._fetch, kid)
        if key is None:
            raise InvalidCredential("the bearer token is signed with an unknown key")
        if key.algorithm_name != algorithm:
            raise InvalidCredential("the bearer token's algorithm does not match its key")
        return key

    def _from_set(self, kid: object) -> PyJWK | None:
        if self._jwk_set is None:
            return None
        keys = [k for k in self._jwk_set.keys if k.public_key_use in (None, "sig")]
        if kid is None:
            return keys[0] if len(keys) == 1 else None
        return next((k for k in keys if k.key_id == kid), None)

    def _fetch(self, kid: object) -> PyJWK | None:
        """Runs in a thread: PyJWKClient fetches with urllib (cached for jwks_cache_seconds)."""
        assert self._client is not None
        try:
            if isinstance(kid, str):
                return self._client.get_signing_key(kid)
            keys = self._client.get_signing_keys()
        except jwt.PyJWKClientConnectionError:
            raise Unavailable("the identity provider's keys (JWKS) cannot be fetched; retry later") from None
        except jwt.PyJWKClientError:
            return None
        return keys[0] if kid is None and len(keys) == 1 else None

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        s = self._settings
        subject = claim(claims, s.subject_claim)
        if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_LENGTH:
            raise Unauthenticated(f"the bearer token needs a {s.subject_claim!r} claim of 1-{MAX_SUBJECT_LENGTH} chars")
        organization = claim(claims, s.organization_claim)
        if not isinstance(organization, str) or not names.is_slug(organization):
            raise Unauthenticated(f"the bearer token needs an organization slug in its {s.organization_claim!r} claim")
        if s.platform_organization and organization == s.platform_organization:
            organization = ""
        return Principal(
            subject=subject,
            organization_slug=organization,
            roles=role_names(claim(claims, s.roles_claim)),
            kind="user",
        )


def verified_email(claims: Mapping[str, Any], path: str) -> str:
    """The token's e-mail claim, or "" when absent, malformed, or marked unverified (`email_verified: false`, as
    OpenID Connect providers say it): an unverified address must not pass for a member's."""
    email = claim(claims, path)
    if not isinstance(email, str) or not 0 < len(email) <= MAX_SUBJECT_LENGTH or claims.get("email_verified") is False:
        return ""
    return email


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by name, or by dotted path into nested objects (`app_metadata.organization_slug`).

    A top-level claim whose name contains dots (`https://example.com/org`, as Auth0 names them) wins.
    """
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def role_names(value: Any) -> frozenset[str]:
    """Known role names from a list (or a single string); anything else is ignored."""
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return frozenset(r.lower() for r in items if isinstance(r, str) and r.lower() in authz.ROLES)
