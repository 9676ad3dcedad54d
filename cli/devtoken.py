"""The local gateway's JWT issuer: an HS256 secret generated once into the data dir, owner-only (0600), and dev
tokens signed with it, so that a fresh `agentorch up` can be called through the gateway right away; and the two
files `up` leaves there for the CLI: the dev token and the gateway's address.

Production never uses this: there the gateway verifies tokens from the identity provider (JWT__JWKS_URL, or the
provider's secret from a Kubernetes Secret).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

import jwt

HS256_FILE = "gateway-jwt-secret"
DEV_TOKEN_FILE = "dev-token"  # noqa: S105  (a file name: the token `agentorch up` leaves for the CLI)
GATEWAY_ADDRESS_FILE = "gateway-address"  # where that `agentorch up`'s gateway listens, while it runs
DEV_ISSUER = "agentorch-dev"
DEV_AUDIENCE = "agentorch-dev"
DEV_TOKEN_LIFETIME = dt.timedelta(hours=12)
#: The organization claim that makes a local token a platform principal (creates organizations: `agentorch orgs`).
DEV_PLATFORM_ORGANIZATION = "platform"
DEV_PLATFORM_TOKEN_FILE = "dev-platform-token"  # noqa: S105  (a file name: a platform admin's token for `orgs create`)


def ensure_jwt_secret(data_dir: Path) -> Path:
    path = data_dir / HS256_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path


def gateway_jwt_env(data_dir: Path) -> dict[str, str]:
    """The gateway's JWT settings for a local platform."""
    return {
        "AGENTORCH_GATEWAY_JWT__HS256_SECRET_FILE": str(ensure_jwt_secret(data_dir)),
        "AGENTORCH_GATEWAY_JWT__ISSUER": DEV_ISSUER,
        "AGENTORCH_GATEWAY_JWT__AUDIENCE": DEV_AUDIENCE,
        "AGENTORCH_GATEWAY_JWT__PLATFORM_ORGANIZATION": DEV_PLATFORM_ORGANIZATION,
    }


def dev_token(
    data_dir: Path,
    organization: str = "demo",
    roles: Sequence[str] = ("admin",),
    subject: str = "dev@agentorch.local",
    lifetime: dt.timedelta = DEV_TOKEN_LIFETIME,
) -> str:
    """An HS256 JWT the local gateway accepts: `authorization: Bearer <token>`."""
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": subject,
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "iat": now,
        "exp": now + lifetime,
        "org": organization,
        "roles": list(roles),
    }
    secret = ensure_jwt_secret(data_dir).read_bytes().strip()
    return jwt.encode(claims, secret, algorithm="HS256")


def save_dev_token(data_dir: Path, token: str) -> Path:
    """Write the dev token where the gateway CLI looks for it (DATA_DIR/dev-token), owner-only (0600), replacing
    an older one atomically."""
    return _write_private(data_dir / DEV_TOKEN_FILE, token)


def save_platform_token(data_dir: Path, token: str) -> Path:
    """Write a platform admin's dev token (DATA_DIR/dev-platform-token, 0600): `--token $(cat ...)` creates and
    lists organizations."""
    return _write_private(data_dir / DEV_PLATFORM_TOKEN_FILE, token)


def save_gateway_address(data_dir: Path, address: str) -> Path:
    """Write where this `agentorch up`'s gateway listens (DATA_DIR/gateway-address), so that the CLI finds it
    without --gateway whatever --base-port chose."""
    return _write_private(data_dir / GATEWAY_ADDRESS_FILE, address)


def forget_gateway_address(data_dir: Path) -> None:
    """Once `up` stopped, its address no longer leads anywhere: the CLI falls back to its default again."""
    (data_dir / GATEWAY_ADDRESS_FILE).unlink(missing_ok=True)


def _write_private(path: Path, text: str) -> Path:
    """Owner-only (0600), replacing an older file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    os.replace(partial, path)
    return path
