"""Signed principals for tests: the metadata the gateway would forward."""

from __future__ import annotations

import base64
import os

from pydantic import SecretStr

from services.common.context import OrganizationPolicy, Principal
from services.common.principals import KeyRing
from services.common.settings import AuthSettings

AUTH = AuthSettings(principal_keys={"test-key": SecretStr(base64.b64encode(os.urandom(32)).decode())})
KEY_RING = KeyRing.from_settings(AUTH)

Metadata = tuple[tuple[str, str | bytes], ...]


def as_member(
    org: str,
    *roles: str,
    subject: str = "alice@example.com",
    groups: tuple[str, ...] = (),
    forbid_self_approval: bool = False,
) -> Metadata:
    """A user of `org` with `roles` (default: admin), member of `groups`, under the organization's policy."""
    principal = Principal(
        subject=subject,
        organization_slug=org,
        roles=frozenset(roles or ("admin",)),
        groups=frozenset(groups),
        policy=OrganizationPolicy(forbid_self_approval=forbid_self_approval),
    )
    return KEY_RING.metadata(principal, issuer="tests")


def as_platform(*roles: str, subject: str = "service:tests") -> Metadata:
    principal = Principal(subject=subject, organization_slug="", roles=frozenset(roles or ("admin",)), kind="service")
    return KEY_RING.metadata(principal, issuer="tests")


def as_resolver(subject: str = "service:runs") -> Metadata:
    """The runs service's identity, as the vault's resolvers expect it."""
    principal = Principal(subject=subject, organization_slug="", roles=frozenset(), kind="service")
    return KEY_RING.metadata(principal, issuer="runs")
