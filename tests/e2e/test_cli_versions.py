"""The CLI takes version labels wherever it takes a version: `orchestrations get --version`, `orchestrations diff
--from/--to`, `runs launch --version`, against a real platform behind a real gateway (the fixtures of
test_cli_gateway)."""

from __future__ import annotations

import copy

import pytest

from tests.e2e.test_cli_gateway import VERSION_FILE, User, gateway, user  # noqa: F401 - fixtures

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_versions_are_named_by_number_or_by_label(user: User) -> None:  # noqa: F811 - the fixture
    first = user.file("v1.json", VERSION_FILE)
    second_file = copy.deepcopy(VERSION_FILE)
    second_file["definition"]["phases"][0]["steps"][0]["message"] = "Researching {{ params.topic }} again"
    second = user.file("v2.json", second_file)
    assert (await user("orchestrations", "create", "helper/labels", "--file", first, "--label", "1.0.0")).code == 0
    saved = await user("orchestrations", "new-version", "helper/labels", "--file", second, "--label", "2.0.0")
    assert saved.code == 0, saved.err

    got = await user("orchestrations", "get", "helper/labels", "--version", "1.0.0", "-o", "json")
    assert got.code == 0, got.err
    assert (got.json()["version"]["versionNumber"], got.json()["version"]["label"]) == ("1", "1.0.0")
    by_number = await user("orchestrations", "get", "helper/labels", "--version", "1", "-o", "json")
    assert by_number.json()["version"] == got.json()["version"]

    diff = await user("orchestrations", "diff", "helper/labels", "--from", "1.0.0", "--to", "2.0.0", "-o", "json")
    assert diff.code == 0, diff.err
    assert {c["path"] for c in diff.json()["changes"]} == {"/label", "/definition/phases/0/steps/0/message"}
    assert (await user("orchestrations", "diff", "helper/labels", "--from", "1", "-o", "json")).json() == diff.json()

    launched = await user("runs", "launch", "helper/labels", "--version", "1.0.0", "--input", "topic=x", "-o", "json")
    assert launched.code == 0, launched.err
    assert launched.json()["run"]["origin"].endswith("/orchestrations/labels/versions/1")
    unknown = await user("runs", "launch", "helper/labels", "--version", "9.9.9", "--input", "topic=x")
    assert unknown.code == 1
    assert "NOT_FOUND" in unknown.err
    missing = await user("orchestrations", "get", "helper/labels", "--version", "3.0.0")
    assert (missing.code, "NOT_FOUND" in missing.err) == (1, True)
