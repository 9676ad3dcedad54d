"""Signed principals: how the caller's identity travels from the gateway (or a calling service) to a service.

A token is a serialized PrincipalClaims plus an HMAC-SHA256 over those exact bytes under a key of the internal
key ring (settings `auth.principal_keys`). Services trust nothing else: a missing, unsigned, forged, expired or
unparsable token yields UNAUTHENTICATED, and the reason never echoes the token.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256

from google.protobuf.message import DecodeError

from agentorch.common.v1 import principal_pb2
from services.common.context import OrganizationPolicy, Principal
from services.common.errors import Unauthenticated
from services.common.settings import AuthSettings
from services.common.timestamps import timestamp_violation

METADATA_KEY = "x-agentorch-principal-bin"
MIN_KEY_BYTES = 32
MAX_TOKEN_BYTES = 4096
CLOCK_SKEW = dt.timedelta(seconds=30)

_ROLE_NAMES = {v: k.removeprefix("ROLE_").lower() for k, v in principal_pb2.Role.items() if v}
_ROLE_VALUES = {name: value for value, name in _ROLE_NAMES.items()}
_KIND_NAMES = {v: k.removeprefix("PRINCIPAL_KIND_").lower() for k, v in principal_pb2.PrincipalKind.items() if v}
_KIND_VALUES = {name: value for value, name in _KIND_NAMES.items()}


class KeyRingError(ValueError):
    """The configured key ring is unusable; raised at start-up, naming the key id (never the key)."""


@dataclass(frozen=True)
class KeyRing:
    keys: Mapping[str, bytes]
    signing_key_id: str
    ttl: dt.timedelta

    @classmethod
    def from_settings(cls, settings: AuthSettings) -> KeyRing:
        raw: dict[str, str] = {k: v.get_secret_value() for k, v in settings.principal_keys.items()}
        if settings.principal_keys_file is not None:
            try:
                raw.update(json.loads(settings.principal_keys_file.read_text()))
            except (OSError, ValueError) as exc:
                raise KeyRingError(f"cannot read principal key file {settings.principal_keys_file}: {exc}") from None
        keys: dict[str, bytes] = {}
        for key_id, encoded in raw.items():
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise KeyRingError(f"principal key {key_id!r} is not valid base64") from None
            if len(key) < MIN_KEY_BYTES:
                raise KeyRingError(f"principal key {key_id!r} must be at least {MIN_KEY_BYTES} bytes")
            keys[key_id] = key
        signing = settings.signing_key_id or next(iter(keys), "")
        if signing and signing not in keys:
            raise KeyRingError(f"signing key id {signing!r} is not in the principal key ring")
        return cls(keys, signing, dt.timedelta(seconds=settings.token_ttl_seconds))

    def sign(self, principal: Principal, issuer: str, now: dt.datetime | None = None) -> bytes:
        if not self.signing_key_id:
            raise KeyRingError("no principal signing key is configured (auth.principal_keys)")
        expire = (now or dt.datetime.now(dt.UTC)) + self.ttl
        claims = principal_pb2.PrincipalClaims(principal=to_message(principal), issuer=issuer)
        claims.expire_time.FromDatetime(expire)
        body = claims.SerializeToString()
        signature = hmac.new(self.keys[self.signing_key_id], body, sha256).digest()
        token = principal_pb2.PrincipalToken(claims=body, key_id=self.signing_key_id, signature=signature)
        return bytes(token.SerializeToString())

    def metadata(self, principal: Principal, issuer: str) -> tuple[tuple[str, bytes], ...]:
        """gRPC metadata carrying a freshly signed token for `principal`."""
        return ((METADATA_KEY, self.sign(principal, issuer)),)

    def verify(self, raw: bytes, now: dt.datetime | None = None) -> Principal:
        if len(raw) > MAX_TOKEN_BYTES:
            raise Unauthenticated("principal token is too large")
        try:
            token = principal_pb2.PrincipalToken.FromString(raw)
        except DecodeError:
            raise Unauthenticated("principal token is malformed") from None
        key = self.keys.get(token.key_id)
        if key is None:
            raise Unauthenticated("principal token is signed with an unknown key")
        expected = hmac.new(key, token.claims, sha256).digest()
        if not hmac.compare_digest(expected, token.signature):
            raise Unauthenticated("principal token signature is invalid")
        try:
            claims = principal_pb2.PrincipalClaims.FromString(token.claims)
        except DecodeError:
            raise Unauthenticated("principal token is malformed") from None
        if timestamp_violation(claims.expire_time, "expire_time") is not None:
            raise Unauthenticated("principal token is malformed")
        expire = claims.expire_time.ToDatetime(tzinfo=dt.UTC)
        if (now or dt.datetime.now(dt.UTC)) - CLOCK_SKEW > expire:  # no overflow for an expiry in year 9999
            raise Unauthenticated("principal token has expired")
        principal = from_message(claims.principal)
        if not principal.subject:
            raise Unauthenticated("principal token has no subject")
        return dataclasses.replace(principal, signed_by=token.key_id)


def to_message(principal: Principal) -> principal_pb2.Principal:
    return principal_pb2.Principal(
        subject=principal.subject,
        kind=_KIND_VALUES.get(principal.kind, 0),
        organization_slug=principal.organization_slug,
        roles=sorted(_ROLE_VALUES[r] for r in principal.roles if r in _ROLE_VALUES),
        groups=sorted(principal.groups),
        policy=principal_pb2.OrganizationPolicy(forbid_self_approval=principal.policy.forbid_self_approval),
    )


def from_message(message: principal_pb2.Principal) -> Principal:
    return Principal(
        subject=message.subject,
        kind=_KIND_NAMES.get(message.kind, "unspecified"),
        organization_slug=message.organization_slug,
        roles=frozenset(_ROLE_NAMES[r] for r in message.roles if r in _ROLE_NAMES),
        groups=frozenset(message.groups),
        policy=OrganizationPolicy(forbid_self_approval=message.policy.forbid_self_approval),
    )
