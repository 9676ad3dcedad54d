"""`agentorch orgs|members|groups …` through a real gateway, as a new user would: a platform admin creates the
organization, its admin adds themself and a colleague, sets up `group:legal`, and the colleague's `whoami` shows
the roles and groups the platform gives them (the token's roles no longer count); strangers are refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pydantic import SecretStr

from services.common.settings import DatabaseSettings
from tests.e2e.test_cli_gateway import User
from tests.support.gateway import JWT, Platform, drop_schemas, mint, new_org, platform

pytestmark = pytest.mark.asyncio(loop_scope="module")

PLATFORM_ORG = "platform-ops"


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("cli") / "test.db"
        database = DatabaseSettings(url=SecretStr(f"sqlite+aiosqlite:///{path}"))
    else:
        url = request.getfixturevalue("postgres_url")
        database = DatabaseSettings(url=SecretStr(url), schema_name=f"t_{uuid.uuid4().hex[:16]}")
    try:
        async with platform(database, jwt=JWT.model_copy(update={"platform_organization": PLATFORM_ORG})) as running:
            yield running
    finally:
        if database.is_postgresql:
            await drop_schemas(database.url.get_secret_value(), database.schema_name)


def shown(out: str, key: str) -> str:
    """The value of `key:` in the CLI's aligned `key: value` lines."""
    for line in out.splitlines():
        name, sep, value = line.partition(":")
        if sep and name == key:
            return value.strip()
    raise AssertionError(f"no {key!r} in {out!r}")


@pytest_asyncio.fixture(loop_scope="module")
async def admin(gateway: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> User:
    for name in ("AGENTORCH_TOKEN", "AGENTORCH_GATEWAY", "AGENTORCH_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    org = new_org()
    return User(gateway, org, mint(org, "admin", subject="boss@example.com"), tmp_path)


async def test_orgs_members_and_groups_from_the_cli(admin: User) -> None:
    org = admin.org
    ops = mint(PLATFORM_ORG, "admin", subject="ops@platform.test")
    refused = await admin("orgs", "create", org)
    assert refused.code == 1
    assert "PERMISSION_DENIED" in refused.err
    created = await admin("orgs", "create", org, "--display-name", "Acme", "--forbid-self-approval", token=ops)
    assert created.code == 0, created.err
    assert shown(created.out, "forbid self-approval") == "yes"
    listed = await admin("orgs", "list", "-o", "json", token=ops)
    assert org in [o["slug"] for o in listed.json()["organizations"]]
    mine = await admin("orgs", "list")
    assert mine.code == 0
    assert org in mine.out
    updated = await admin("orgs", "update", "--display-name", "Acme Corp", "-o", "json")
    assert updated.json()["organization"]["displayName"] == "Acme Corp"
    assert "Acme Corp" in (await admin("orgs", "get")).out

    first = await admin("members", "add", "Boss@Example.com", "--role", "admin", "--display-name", "The Boss")
    assert first.code == 0, first.err
    assert shown(first.out, "subject") == "boss@example.com"
    for subject in ("carol@example.com", "dave@example.com"):
        assert (await admin("members", "add", subject, "--role", "approver")).code == 0
    group = await admin("groups", "create", "legal", "--display-name", "Legal", "--description", "Contracts")
    assert group.code == 0, group.err
    for subject in ("carol@example.com", "dave@example.com"):
        assert (await admin("groups", "add-member", "legal", subject)).code == 0
    legal = await admin("groups", "get", "group:legal", "-o", "json")
    assert legal.json()["group"]["memberSubjects"] == ["carol@example.com", "dave@example.com"]
    assert "legal" in (await admin("groups", "list")).out
    members = await admin("members", "list")
    assert "carol@example.com" in members.out
    assert "legal" in members.out

    carol = await admin("whoami", "-o", "json", token=mint(org, "viewer", subject="carol@example.com"))
    assert carol.json()["roles"] == ["approver"]
    assert carol.json()["groups"] == ["legal"]
    assert carol.json()["managedMembership"] is True
    stranger = await admin("whoami", token=mint(org, "admin", subject="mallory@example.com"))
    assert stranger.code == 1
    assert "PERMISSION_DENIED: you are not a member" in stranger.err

    promoted = await admin("members", "update", "dave@example.com", "--role", "operator", "--role", "approver")
    assert shown(promoted.out, "roles") == "operator, approver"
    assert (await admin("groups", "remove-member", "legal", "dave@example.com")).code == 0
    assert "dave@example.com" not in (await admin("groups", "get", "legal")).out
    assert (await admin("groups", "update", "legal", "--description", "Contracts and NDAs")).code == 0
    assert (await admin("members", "remove", "carol@example.com")).code == 0
    gone = await admin("members", "get", "carol@example.com")
    assert gone.code == 2
    assert "no member" in gone.err
    last = await admin("members", "remove", "boss@example.com")
    assert last.code == 1
    assert "FAILED_PRECONDITION" in last.err
    assert (await admin("groups", "delete", "legal")).code == 0
    assert "legal" not in (await admin("groups", "list")).out
