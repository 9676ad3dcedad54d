"""API keys of service accounts: the token format, the secret's hash, and the rules for a new key. No I/O.

A key is `ak_<key_id>_<secret>`: the key id is public (it names the key, `organizations/{org}/apiKeys/{key_id}`),
the secret is 32 random bytes shown once. What is stored is HMAC-SHA-256 of the whole token under a server-side
pepper (a key that never touches the database), with the pepper's id: a copy of the database gives nobody a
working key, and checking a key costs microseconds, so wrong keys cannot be used to burn CPU. A slow, salted key
derivation adds nothing for a 256-bit random secret: it protects guessable passwords, which these are not.

Keys created before the HMAC hashes carry an scrypt hash (`scrypt$N$r$p$salt$hash`); they keep verifying, and the
gateway stores the HMAC form on their first successful use.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.common import authz, names
from services.common.context import Principal
from services.common.errors import FieldViolation, PermissionDenied, ValidationFailed

PREFIX = "ak"
KEY_ID_BYTES = 8  # 16 hex characters
SECRET_BYTES = 32
MAX_TOKEN_LENGTH = 200
MAX_DISPLAY_NAME = 200
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")

HMAC_SCHEME = "hmac-sha256"
MIN_PEPPER_BYTES = 32
PEPPER_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# Legacy hashes: scrypt with N=2^14, r=8, p=1 (16 MiB, tens of milliseconds), RFC 7914's interactive parameters.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_MAX_N = 2**20  # a stored hash naming larger parameters is rejected rather than computed


@dataclass(frozen=True)
class ApiKey:
    """A key's metadata; the secret's hash lives in the store only."""

    key_id: str
    organization_slug: str
    display_name: str
    roles: tuple[str, ...]
    created_by: str
    created_at: dt.datetime
    expire_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None

    @property
    def name(self) -> str:
        return f"organizations/{self.organization_slug}/apiKeys/{self.key_id}"

    @property
    def subject(self) -> str:
        """The principal subject of calls made with this key (what created_by fields record)."""
        return f"apikey:{self.key_id}"

    def principal(self) -> Principal:
        return Principal(
            subject=self.subject,
            organization_slug=self.organization_slug,
            roles=frozenset(self.roles),
            kind="service_account",
        )

    def expired(self, now: dt.datetime) -> bool:
        return self.expire_at is not None and now >= self.expire_at


@dataclass(frozen=True)
class KeyToken:
    key_id: str
    secret: str


def new_key_id() -> str:
    return secrets.token_hex(KEY_ID_BYTES)


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def format_token(key_id: str, secret: str) -> str:
    return f"{PREFIX}_{key_id}_{secret}"


def looks_like_api_key(token: str) -> bool:
    return token.startswith(f"{PREFIX}_")


def parse_token(token: str) -> KeyToken | None:
    """The key id and secret of `ak_<key_id>_<secret>`, or None when it is not one (the secret may hold `_`)."""
    if len(token) > MAX_TOKEN_LENGTH:
        return None
    parts = token.split("_", 2)
    if (
        len(parts) != 3
        or parts[0] != PREFIX
        or not names.API_KEY_ID_RE.match(parts[1])
        or not _SECRET_RE.match(parts[2])
    ):
        return None
    return KeyToken(parts[1], parts[2])


@dataclass(frozen=True)
class SecretHash:
    """What the store keeps of a key's secret: `hmac-sha256$<base64>` with the id of its pepper, or a legacy
    `scrypt$...` hash (no pepper)."""

    value: str
    pepper_id: str | None = None

    @property
    def legacy(self) -> bool:
        return self.value.startswith("scrypt$")


@dataclass(frozen=True)
class PepperRing:
    """The server-side keys API key hashes are made with (`active` for new hashes; the others still verify)."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ValueError(f"the active pepper {self.active!r} is not among the peppers")
        for pepper_id, key in self.keys.items():
            if not PEPPER_ID_RE.match(pepper_id):
                raise ValueError(f"pepper id {pepper_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
            if len(key) < MIN_PEPPER_BYTES:
                raise ValueError(f"pepper {pepper_id!r} must be at least {MIN_PEPPER_BYTES} bytes")

    def hash(self, token: str) -> SecretHash:
        """The stored form of a key, under the active pepper (the whole token: the key id is bound too)."""
        return SecretHash(f"{HMAC_SCHEME}${_b64(self._mac(self.active, token))}", self.active)

    def matches(self, stored: SecretHash, token: str) -> bool:
        """Whether `token` is the key behind an HMAC hash (constant-time); False for a pepper no longer held."""
        scheme, _, encoded = stored.value.partition("$")
        if scheme != HMAC_SCHEME or stored.pepper_id is None or stored.pepper_id not in self.keys:
            return False
        try:
            digest = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            return False
        return hmac.compare_digest(self._mac(stored.pepper_id, token), digest)

    def is_current(self, stored: SecretHash) -> bool:
        """Whether a hash is in the form new keys get (HMAC under the active pepper): else it is rewritten on use."""
        return not stored.legacy and stored.pepper_id == self.active

    def _mac(self, pepper_id: str, token: str) -> bytes:
        return hmac.digest(self.keys[pepper_id], token.encode(), "sha256")


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """A legacy `scrypt$N$r$p$salt$hash` (base64), as keys created before the HMAC hashes carry (tests make them)."""
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def verify_secret(stored: str, secret: str) -> bool:
    """Whether `secret` matches a legacy scrypt hash (constant-time comparison). CPU-bound (tens of milliseconds):
    run it off the event loop, and only within the failed-authentication limits."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        n_, r_, p_ = int(n), int(r), int(p)
        salt_, digest_ = base64.b64decode(salt, validate=True), base64.b64decode(digest, validate=True)
    except (ValueError, binascii.Error):
        return False
    if scheme != "scrypt" or not (1 < n_ <= _MAX_N and 0 < r_ <= 32 and 0 < p_ <= 16):
        return False
    return hmac.compare_digest(_scrypt(secret, salt_, n_, r_, p_, len(digest_)), digest_)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int, length: int = _HASH_BYTES) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=length)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class NewKey:
    """What a caller asks for in CreateApiKey."""

    organization_slug: str
    display_name: str
    roles: tuple[str, ...]
    expire_at: dt.datetime | None


def validate_new_key(
    parent: str, display_name: str, roles: Sequence[str], expire_at: dt.datetime | None, now: dt.datetime
) -> NewKey:
    """Validate a new key, reporting every violation at once."""
    violations: list[FieldViolation] = []
    org: str | None = None
    try:
        org = names.parse_org(parent)
    except names.InvalidName as exc:
        violations.append(exc.violation)
    name = display_name.strip()
    if not name:
        violations.append(FieldViolation("api_key.display_name", "is required"))
    elif len(name) > MAX_DISPLAY_NAME:
        violations.append(FieldViolation("api_key.display_name", f"must be at most {MAX_DISPLAY_NAME} characters"))
    wanted = tuple(dict.fromkeys(roles))
    if not wanted:
        violations.append(FieldViolation("api_key.roles", f"needs at least one role of {', '.join(authz.ROLES)}"))
    for index, role in enumerate(wanted):
        if role not in authz.ROLES:
            violations.append(FieldViolation(f"api_key.roles[{index}]", f"must be one of {', '.join(authz.ROLES)}"))
    if expire_at is not None and expire_at <= now:
        violations.append(FieldViolation("api_key.expire_time", "must be in the future"))
    if violations:
        raise ValidationFailed(violations)
    assert org is not None
    return NewKey(org, name, wanted, expire_at)


def check_role_ceiling(creator: Principal, roles: Sequence[str]) -> None:
    """A key never gets a role above its creator's highest role."""
    above = [r for r in roles if not authz.has_role(creator, r)]
    if above:
        raise PermissionDenied(
            f"an API key cannot have roles above its creator's: {', '.join(above)}",
            metadata={"roles": ",".join(above)},
        )


def parse_key_name(name: str) -> tuple[str, str]:
    """`organizations/{org}/apiKeys/{key_id}` → (org, key_id), or InvalidName naming `name`."""
    found = names.API_KEY.parse(name)
    return found["org"], found["key_id"]
