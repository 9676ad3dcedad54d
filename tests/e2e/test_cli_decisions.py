"""Decision records from the command line and over HTTP, through a real gateway (issue 14 items 3, 5, 6): a
checkpoint needing two approvals with self-approval forbidden refuses its launcher, takes an edited payload and a
reason code from two approvers, and reads back its tally and its votes with verified evidence hashes."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.e2e import test_cli_gateway
from tests.e2e.test_cli_gateway import User
from tests.support.gateway import mint
from tests.support.http import client, error_reason

pytestmark = pytest.mark.asyncio(loop_scope="module")
gateway, user = test_cli_gateway.gateway, test_cli_gateway.user  # the fixtures: a platform, a signed-in user

DEFINITION = {
    "definition": {
        "schema_version": 1,
        "phases": [
            {"id": "write", "steps": [{"id": "draft", "kind": "echo", "message": "draft v1"}]},
            {
                "id": "gate",
                "steps": [
                    {
                        "id": "review",
                        "kind": "checkpoint",
                        "depends_on": ["draft"],
                        "checkpoint": {
                            "title": "Legal review",
                            "deliverables": ["{{ steps.draft.output }}"],
                            "approvals_required": 2,
                            "forbid_self_approval": True,
                            "reason_codes": ["looks-good", "policy"],
                        },
                    }
                ],
            },
            {
                "id": "ship",
                "steps": [{"id": "publish", "kind": "echo", "message": "{{ steps.review.output.payload }}"}],
            },
        ],
    }
}


async def paused_checkpoint(user: User, slug: str) -> tuple[str, str]:
    """Save and launch the definition; the run id and the checkpoint as `RUN_ID/CHECKPOINT_ID`."""
    created = await user("orchestrations", "create", f"helper/{slug}", "--file", user.file(f"{slug}.json", DEFINITION))
    assert created.code == 0, created.err
    launched = await user("runs", "launch", f"helper/{slug}", "-o", "json")
    assert launched.code == 0, launched.err
    run_id = launched.json()["run"]["runId"]
    assert (await user("runs", "watch", run_id, "--until-checkpoint")).code == 0
    run = (await user("runs", "get", run_id, "-o", "json")).json()["run"]
    checkpoint = run["openCheckpoints"][0]
    return run_id, checkpoint.removeprefix(f"organizations/{user.org}/runs/").replace("/checkpoints/", "/")


async def test_two_approvers_edit_and_approve_and_the_launcher_is_refused(user: User) -> None:
    run_id, short = await paused_checkpoint(user, "legal")
    bob, carol = (mint(user.org, "approver", subject=s) for s in ("bob@example.com", "carol@example.com"))

    own = await user("checkpoints", "approve", short, "--comment", "mine")  # dev@example.com launched it
    assert own.code == 1
    assert own.err.startswith("agentorch: PERMISSION_DENIED: "), own.err

    bad_code = await user("checkpoints", "approve", short, "--reason-code", "vibes", token=bob)
    assert bad_code.code == 1
    assert "reason_code" in bad_code.err

    edited = user.file("edited.json", {"deliverables": ["draft v2 (legal edits)"]})
    first = await user(
        "checkpoints", "approve", short, "--comment", "edited", "--payload-file", edited,
        "--reason-code", "looks-good", token=bob,
    )  # fmt: skip
    assert first.code == 0, first.err
    shown = await user("checkpoints", "get", short)
    assert "approvals:" in shown.out
    assert "1/2" in shown.out
    assert "self-approval: forbidden" in shown.out
    assert "bob@example.com" in shown.out

    again = await user("checkpoints", "approve", short, token=bob)
    assert again.code == 1
    assert again.err.startswith("agentorch: ALREADY_EXISTS: "), again.err

    second = await user("checkpoints", "approve", short, "--comment", "agreed", token=carol)
    assert second.code == 0, second.err
    assert "approved" in second.out
    assert "2/2" in second.out

    votes = await user("checkpoints", "votes", short, "--evidence")
    assert votes.code == 0, votes.err
    assert votes.out.count("evidence hash verified") == 2
    assert "draft v1" in votes.out  # what the voters saw
    as_json = (await user("checkpoints", "votes", short, "-o", "json")).json()["votes"]
    assert [v["voter"] for v in as_json] == ["bob@example.com", "carol@example.com"]
    assert as_json[0]["reasonCode"] == "looks-good"
    assert as_json[0]["payloadDiff"] == [
        {"op": "replace", "path": "/deliverables/0", "value": "draft v2 (legal edits)"}
    ]
    for vote in as_json:
        assert hashlib.sha256(vote["evidenceJson"].encode()).hexdigest() == vote["evidenceSha256"]

    done = (await user("runs", "get", run_id, "-o", "json")).json()["run"]
    publish = next(s for s in done["steps"] if s["stepId"] == "publish")
    assert "draft v2 (legal edits)" in publish["output"]  # later steps read the edited payload


async def test_votes_over_http(user: User) -> None:
    _run_id, short = await paused_checkpoint(user, "http")
    name = f"organizations/{user.org}/runs/{short.replace('/', '/checkpoints/')}"
    bob = mint(user.org, "approver", subject="bob@example.com")
    async with client(user.platform.gateway, user.token) as launcher, client(user.platform.gateway, bob) as http:
        refused = await launcher.post(f"/v1/{name}:decide", json={"decision": "DECISION_APPROVE"})
        assert refused.status_code == 403, refused.text
        assert error_reason(refused.json()) == "SELF_APPROVAL_FORBIDDEN"
        voted = await http.post(f"/v1/{name}:decide", json={"decision": "DECISION_APPROVE", "reasonCode": "policy"})
        assert voted.status_code == 200, voted.text
        assert voted.json()["checkpoint"]["approvals"] == 1
        listed = await http.get(f"/v1/{name}/votes")
        assert listed.status_code == 200, listed.text
        (vote,) = listed.json()["votes"]
        assert json.loads(vote["evidenceJson"])["title"] == "Legal review"
        assert hashlib.sha256(vote["evidenceJson"].encode()).hexdigest() == vote["evidenceSha256"]
