"""`agentorch checkpoints …` for routed checkpoints, through a real gateway (issue 14, i14-routing): the inbox
flags (--mine, --by-due, --due-before, --orchestration, --group), approve refused to a non-assignee and allowed
as an admin's --override with a justification, reassign and extend."""

from __future__ import annotations

import json

import pytest

from tests.e2e import test_cli_gateway
from tests.e2e.test_cli_gateway import User
from tests.support.gateway import mint

pytestmark = pytest.mark.asyncio(loop_scope="module")

gateway, user = test_cli_gateway.gateway, test_cli_gateway.user  # the fixtures: a platform, a signed-in user

ROUTED = {
    "definition": {
        "schema_version": 1,
        "phases": [
            {
                "id": "main",
                "steps": [
                    {
                        "id": "review",
                        "kind": "checkpoint",
                        "checkpoint": {
                            "title": "Sign off",
                            "assignees": ["bob@example.com"],
                            "due_in_seconds": 3600,
                            "remind_before_seconds": 600,
                            "escalation": [{"after_seconds": 1800, "to": {"group": "legal"}}],
                        },
                    },
                    {"id": "after", "kind": "echo", "message": "done", "depends_on": ["review"]},
                ],
            }
        ],
    },
    "prompt_templates": [],
}


async def test_routed_checkpoints_from_the_command_line(user: User) -> None:
    assert (await user("orchestrations", "create", "helper/routed", "--file", user.file("r.json", ROUTED))).code == 0
    launched = await user("runs", "launch", "helper/routed", "-o", "json")
    assert launched.code == 0, launched.err
    run = launched.json()["run"]["name"]
    assert (await user("runs", "watch", run, "--until-checkpoint")).code == 0
    (checkpoint,) = json.loads((await user("runs", "get", run, "-o", "json")).out)["run"]["openCheckpoints"]
    bob = mint(user.org, "approver", subject="bob@example.com")

    def names(result: test_cli_gateway.Result) -> list[str]:
        assert result.code == 0, result.err
        return [c["name"] for c in result.json().get("checkpoints", [])]

    assert names(await user("checkpoints", "list", "--mine", "-o", "json")) == []  # dev@ is not assigned
    assert names(await user("checkpoints", "list", "--mine", "-o", "json", token=bob)) == [checkpoint]
    filtered = await user(
        "checkpoints", "list", "--by-due", "--due-before", "+2h", "--orchestration", "helper/routed", "-o", "json"
    )
    assert names(filtered) == [checkpoint]
    assert names(await user("checkpoints", "list", "--due-before", "+10m", "-o", "json")) == []

    refused = await user("checkpoints", "approve", checkpoint)
    assert refused.code != 0
    assert "bob@example.com" in refused.err
    assert "override" in refused.err

    reassigned = await user(
        "checkpoints",
        "reassign",
        checkpoint,
        "--assignee",
        "carol@example.com",
        "--assignee",
        "group:legal",
        "--reason",
        "Bob away",
    )
    assert reassigned.code == 0, reassigned.err
    assert "carol@example.com" in reassigned.out
    assert "group:legal" in reassigned.out
    assert names(await user("checkpoints", "list", "--group", "legal", "-o", "json")) == [checkpoint]
    assert names(await user("checkpoints", "list", "--mine", "-o", "json", token=bob)) == []

    extended = await user("checkpoints", "extend", checkpoint, "--due", "2099-01-01T10:00Z", "--reason", "x")
    assert extended.code != 0  # more than 30 days ahead
    assert "due_time" in extended.err
    extended = await user("checkpoints", "extend", checkpoint, "--due", "+3h", "--reason", "auditor late", "-o", "json")
    assert extended.code == 0, extended.err
    assert extended.json()["checkpoint"]["dueTime"] > filtered.json()["checkpoints"][0]["dueTime"]

    overridden = await user(
        "checkpoints", "approve", checkpoint, "--override", "--justification", "release deadline, legal agreed"
    )
    assert overridden.code == 0, overridden.err
    assert "release deadline, legal agreed" in overridden.out
    events = (await user("runs", "events", run, "-o", "json")).out
    assert "checkpoint_reassigned" in events.lower()
    assert "checkpoint_extended" in events.lower()
