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


def test_the_stored_hash_verifies_the_secret_and_reveals_nothing() -> None:
    secret = keys.new_secret()
    stored = keys.hash_secret(secret)
    assert stored.startswith("scrypt$16384$8$1$")
    assert secret not in stored
    assert keys.verify_secret(stored, secret)
    assert not keys.verify_secret(stored, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
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
    service = ApiKeyService(_no_database)  # type: ignore[arg-type]
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
