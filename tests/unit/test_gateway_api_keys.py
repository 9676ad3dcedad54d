"""API keys without a database: the token format, the secret's hash, the rules for a new key."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.app.api_keys import ApiKeyService
from gateway.domain import api_keys as keys
from services.common.context import Principal
from services.common.errors import OrganizationNotFound, PermissionDenied, ValidationFailed

NOW = dt.datetime(2026, 11, 24, tzinfo=dt.UTC)


def test_tokens_round_trip_and_the_secret_may_contain_underscores() -> None:
    key_id, secret = keys.new_key_id(), "abc_def-" + "x" * 30
    token = keys.format_token(key_id, secret)
    assert keys.looks_like_api_key(token)
    assert keys.parse_token(token) == keys.KeyToken(key_id, secret)
    assert keys.parse_token(keys.format_token(keys.new_key_id(), keys.new_secret())) is not None


@pytest.mark.parametrize(
    "token",
    [
        "ak_",
        "ak_xyz_" + "a" * 43,
        "ak_0123456789ABCDEF_" + "a" * 43,
        "ak_0123456789abcdef_short",
        "bk_0123456789abcdef_" + "a" * 43,
        "ak_0123456789abcdef_" + "a" * 300,
        "ak_0123456789abcdef_" + "a b" * 20,
    ],
)
def test_malformed_tokens(token: str) -> None:
    assert keys.parse_token(token) is None


PEPPER_1, PEPPER_2 = b"\x01" * 32, b"\x02" * 32


def other(token: str) -> str:
    """The same token with its last character changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def test_a_new_key_is_stored_as_an_hmac_under_the_active_pepper_and_reveals_nothing() -> None:
    ring = keys.PepperRing({"p1": PEPPER_1, "p2": PEPPER_2}, "p2")
    secret = keys.new_secret()
    token = keys.format_token(keys.new_key_id(), secret)
    stored = ring.hash(token)
    assert stored.value.startswith("hmac-sha256$")
    assert stored.pepper_id == "p2"
    assert secret not in stored.value
    assert not stored.legacy
    assert ring.matches(stored, token)
    assert ring.is_current(stored)
    assert not ring.matches(stored, other(token))
    assert ring.hash(token) == stored  # deterministic: the pepper, not a salt, keeps a database copy useless
    # The key id is part of what is hashed: the same secret under another key id does not match.
    assert not ring.matches(stored, keys.format_token(keys.new_key_id(), secret))


def test_peppers_rotate_and_a_removed_pepper_verifies_nothing() -> None:
    old_ring = keys.PepperRing({"p1": PEPPER_1}, "p1")
    token = keys.format_token(keys.new_key_id(), keys.new_secret())
    stored = old_ring.hash(token)
    rotated = keys.PepperRing({"p1": PEPPER_1, "p2": PEPPER_2}, "p2")
    assert rotated.matches(stored, token)
    assert not rotated.is_current(stored)  # rewritten under p2 on its next use
    assert rotated.hash(token).pepper_id == "p2"
    assert not keys.PepperRing({"p2": PEPPER_2}, "p2").matches(stored, token)
    # A hash naming one pepper is never checked with another.
    assert not rotated.matches(keys.SecretHash(stored.value, "p2"), token)


@pytest.mark.parametrize(
    ("peppers", "active", "message"),
    [
        ({"p1": PEPPER_1}, "p2", "not among"),
        ({"p1": b"short"}, "p1", "at least 32 bytes"),
        ({"bad id!": PEPPER_1}, "bad id!", "pepper id"),
    ],
)
def test_unusable_pepper_rings_are_refused(peppers: dict[str, bytes], active: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        keys.PepperRing(peppers, active)


@pytest.mark.parametrize(
    "stored",
    [
        keys.SecretHash("hmac-sha256$!!!", "p1"),
        keys.SecretHash("hmac-sha256$AAAA", None),
        keys.SecretHash("sha1$AAAA", "p1"),
        keys.SecretHash("", "p1"),
    ],
)
def test_unusable_hmac_hashes_never_match(stored: keys.SecretHash) -> None:
    assert not keys.PepperRing({"p1": PEPPER_1}, "p1").matches(stored, "ak_0123456789abcdef_" + "a" * 43)


def test_a_legacy_scrypt_hash_still_verifies_its_secret() -> None:
    secret = keys.new_secret()
    stored = keys.hash_secret(secret)
    assert stored.startswith("scrypt$16384$8$1$")
    assert keys.SecretHash(stored).legacy
    assert secret not in stored
    assert keys.verify_secret(stored, secret)
    assert not keys.verify_secret(stored, other(secret))
    assert keys.hash_secret(secret) != stored  # a fresh salt every time


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "bcrypt$1$2$3$4$5",
        "scrypt$x$8$1$AA==$AA==",
        "scrypt$1073741824$8$1$AA==$AA==",
        "scrypt$16384$8$1$!!$AA==",
    ],
)
def test_unusable_hashes_never_verify(stored: str) -> None:
    assert not keys.verify_secret(stored, "anything")


def test_a_new_key_is_validated_all_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        keys.validate_new_key("orgs/x", " ", ["viewer", "owner"], NOW - dt.timedelta(seconds=1), NOW)
    assert {v.field for v in caught.value.violations} == {
        "parent",
        "api_key.display_name",
        "api_key.roles[1]",
        "api_key.expire_time",
    }
    with pytest.raises(ValidationFailed) as caught:
        keys.validate_new_key("organizations/acme", "x" * 201, [], None, NOW)
    assert {v.field for v in caught.value.violations} == {"api_key.display_name", "api_key.roles"}
    new = keys.validate_new_key("organizations/acme", " CI ", ["viewer", "viewer", "author"], None, NOW)
    assert (new.organization_slug, new.display_name, new.roles) == ("acme", "CI", ("viewer", "author"))


def test_a_key_never_gets_a_role_above_its_creator() -> None:
    operator = Principal("u", "acme", frozenset({"operator"}))
    keys.check_role_ceiling(operator, ["viewer", "operator"])
    with pytest.raises(PermissionDenied, match="approver"):
        keys.check_role_ceiling(operator, ["viewer", "approver"])


def _no_database() -> object:
    raise AssertionError("nothing may be written")


async def test_the_use_case_checks_the_creator_before_writing() -> None:
    service = ApiKeyService(_no_database, keys.PepperRing({"p1": PEPPER_1}, "p1"))  # type: ignore[arg-type]
    author = Principal("u", "acme", frozenset({"admin"}))
    with pytest.raises(PermissionDenied, match="API keys cannot create"):
        await service.create(author, "api_key", "organizations/acme", "x", ["viewer"], None)
    with pytest.raises(OrganizationNotFound):  # another organization: not found, as everywhere
        await service.create(
            Principal("u", "other", frozenset({"admin"})), "jwt", "organizations/acme", "x", ["viewer"], None
        )
    with pytest.raises(PermissionDenied, match="admin"):
        await service.create(
            Principal("u", "acme", frozenset({"author"})), "jwt", "organizations/acme", "x", ["viewer"], None
        )


def test_names() -> None:
    assert keys.parse_key_name("organizations/acme/apiKeys/0123456789abcdef") == ("acme", "0123456789abcdef")
    for bad in (
        "organizations/acme/apiKeys/x",
        "acme/apiKeys/0123456789abcdef",
        "organizations/Acme/apiKeys/0123456789abcdef",
    ):
        with pytest.raises(ValidationFailed):
            keys.parse_key_name(bad)
    key = keys.ApiKey("0123456789abcdef", "acme", "CI", ("viewer",), "alice", NOW, expire_at=NOW)
    assert key.name == "organizations/acme/apiKeys/0123456789abcdef"
    assert key.principal() == Principal(
        "apikey:0123456789abcdef", "acme", frozenset({"viewer"}), kind="service_account"
    )
    assert key.expired(NOW)
    assert not key.expired(NOW - dt.timedelta(seconds=1))
