"""Signed principals carry the caller's organization, roles and groups between processes, and nothing unsigned."""

from __future__ import annotations

import base64
import os

import pytest
from pydantic import SecretStr

from services.common.context import OrganizationPolicy, Principal
from services.common.errors import Unauthenticated
from services.common.principals import KeyRing
from services.common.settings import AuthSettings


def ring(key_id: str = "k1") -> KeyRing:
    key = SecretStr(base64.b64encode(os.urandom(32)).decode())
    return KeyRing.from_settings(AuthSettings(principal_keys={key_id: key}))


def test_roles_and_groups_survive_signing_and_verifying() -> None:
    keys = ring()
    sent = Principal(
        subject="alice@example.com",
        organization_slug="acme",
        roles=frozenset({"approver"}),
        groups=frozenset({"legal-reviewers", "finance"}),
    )
    received = keys.verify(keys.sign(sent, issuer="gateway"))
    assert received.groups == {"legal-reviewers", "finance"}
    assert (received.subject, received.organization_slug, received.roles) == (sent.subject, "acme", {"approver"})
    assert received.signed_by == "k1"


def test_a_principal_without_groups_has_none() -> None:
    keys = ring()
    assert keys.verify(keys.sign(Principal(subject="svc", kind="service"), issuer="runs")).groups == frozenset()


def test_groups_cannot_be_added_to_a_signed_token() -> None:
    keys, other = ring(), ring()
    forged = other.sign(Principal(subject="mallory", organization_slug="acme", groups=frozenset({"legal"})), "x")
    with pytest.raises(Unauthenticated):
        keys.verify(forged)


def test_the_organization_policy_survives_signing() -> None:
    keys = ring()
    sent = Principal(subject="bob", organization_slug="acme", policy=OrganizationPolicy(forbid_self_approval=True))
    assert keys.verify(keys.sign(sent, issuer="gateway")).policy.forbid_self_approval is True
    assert keys.verify(keys.sign(Principal(subject="bob"), issuer="gateway")).policy.forbid_self_approval is False
