"""Issue 14's "done when", as a reviewer would try it from the command line against a real gateway: `group:legal`
with two members, a run whose checkpoint needs two approvals from that group with self-approval forbidden, the
launcher refused (also when overriding as an admin), someone outside the group refused, changes requested with a
comment that reaches the upstream agent's prompt, an edited payload approved by both members, and an immutable
decision record read back with evidence hashes that verify."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr

from proto.agentorch.registry.v1 import registry_service_pb2 as reg
from proto.agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from services.common.settings import DatabaseSettings
from tests.e2e.test_cli_gateway import User
from tests.support.gateway import JWT, Platform, drop_schemas, mint, new_org, platform
from tests.support.registry import agent_message

pytestmark = pytest.mark.asyncio(loop_scope="module")

PLATFORM_ORG = "platform-ops"
COMMENT = "Cite the 2025 indemnity clause"

DEFINITION: dict[str, Any] = {
    "definition": {
        "schema_version": 1,
        "phases": [
            {"id": "write", "steps": [{"id": "draft", "kind": "agent", "agent": "helper", "prompt": "Draft the NDA"}]},
            {
                "id": "gate",
                "steps": [
                    {
                        "id": "legal",
                        "kind": "checkpoint",
                        "depends_on": ["draft"],
                        "checkpoint": {
                            "title": "Legal review",
                            "deliverables": ["{{ steps.draft.output }}"],
                            "assignees": ["group:legal"],
                            "approvals_required": 2,
                            "forbid_self_approval": True,
                            "reason_codes": ["approved-as-edited", "policy"],
                        },
                    }
                ],
            },
            {
                "id": "ship",
                "steps": [{"id": "publish", "kind": "echo", "message": "{{ steps.legal.output.payload }}"}],
            },
        ],
    }
}


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def gateway(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("checkpoints") / "test.db"
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


@pytest_asyncio.fixture(loop_scope="module")
async def boss(gateway: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> User:
    for name in ("AGENTORCH_TOKEN", "AGENTORCH_GATEWAY", "AGENTORCH_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    org = new_org()
    return User(gateway, org, mint(org, "admin", subject="boss@example.com"), tmp_path)


async def ok(user: User, *argv: str, token: str | None = None) -> str:
    result = await user(*argv, token=token)
    assert result.code == 0, (argv, result.err)
    return result.out


async def refused(user: User, *argv: str, token: str) -> str:
    result = await user(*argv, token=token)
    assert result.code == 1, (argv, result.out)
    return result.err


async def open_checkpoint(user: User, run_id: str, *seen: str) -> str:
    await ok(user, "runs", "watch", run_id, "--until-checkpoint")
    run = (await user("runs", "get", run_id, "-o", "json")).json()["run"]
    (name,) = [c for c in run["openCheckpoints"] if c not in seen]
    return str(name)


def short(name: str) -> str:
    return name.split("/runs/", 1)[1].replace("/checkpoints/", "/")


async def test_a_governed_checkpoint_from_start_to_decision_record(boss: User) -> None:
    org, ops = boss.org, mint(PLATFORM_ORG, "admin", subject="ops@platform.test")
    # Whatever roles their tokens claim, members get the roles and groups the organization gives them.
    carol, dave, erin = (mint(org, "viewer", subject=f"{who}@example.com") for who in ("carol", "dave", "erin"))
    await ok(boss, "orgs", "create", org, "--display-name", "Acme", token=ops)
    await ok(boss, "members", "add", "boss@example.com", "--role", "admin")
    for who in ("carol", "dave", "erin"):
        await ok(boss, "members", "add", f"{who}@example.com", "--role", "approver")
    await ok(boss, "groups", "create", "legal", "--display-name", "Legal")
    await ok(boss, "groups", "add-member", "legal", "carol@example.com")
    await ok(boss, "groups", "add-member", "legal", "dave@example.com")
    assert "legal" in await ok(boss, "whoami", token=carol)

    registry = reg_grpc.RegistryServiceStub(await boss.platform.channel(boss.token))
    await registry.CreateAgent(reg.CreateAgentRequest(agent=agent_message(org)))
    await ok(boss, "orchestrations", "create", "helper/nda", "--file", boss.file("nda.json", DEFINITION))
    run_id = (await boss("runs", "launch", "helper/nda", "-o", "json")).json()["run"]["runId"]  # boss launches
    first_name = await open_checkpoint(boss, run_id)
    first = short(first_name)

    inbox = (await boss("checkpoints", "list", "--mine", "-o", "json", token=carol)).json()["checkpoints"]
    assert [short(c["name"]) for c in inbox] == [first]
    assert (await boss("checkpoints", "list", "--mine", "-o", "json", token=erin)).json().get("checkpoints", []) == []

    outsider = await refused(boss, "checkpoints", "approve", first, token=erin)  # an approver, not in group:legal
    assert "PERMISSION_DENIED" in outsider
    assert "group:legal" in outsider
    launcher = await refused(boss, "checkpoints", "approve", first, token=boss.token)
    assert "PERMISSION_DENIED" in launcher  # not an assignee: only an explicit override could let an admin in
    overriding = await refused(
        boss, "checkpoints", "approve", first, "--override", "--justification", "urgent", token=boss.token
    )
    assert "self-approval" in overriding  # ... and four-eyes holds even then

    await ok(boss, "checkpoints", "request-changes", first, "--comment", COMMENT, token=dave)
    second = short(await open_checkpoint(boss, run_id, first_name))
    drafts = [c.prompt for c in boss.platform.executor.calls if c.run.endswith(run_id) and c.step_id == "draft"]
    assert len(drafts) == 2
    assert COMMENT not in drafts[0]
    assert COMMENT in drafts[1]  # the upstream step re-ran with the reviewer's comment in its prompt
    assert "revision:" in (got := await ok(boss, "checkpoints", "get", second))
    assert any(line.split() == ["revision:", "1"] for line in got.splitlines())

    edited = boss.file("edited.json", {"deliverables": ["NDA v2, with the 2025 indemnity clause"]})
    await ok(
        boss, "checkpoints", "approve", second, "--payload-file", edited, "--comment", "edited the clause",
        "--reason-code", "approved-as-edited", token=carol,
    )  # fmt: skip
    assert "1/2" in await ok(boss, "checkpoints", "get", second)
    assert "ALREADY_EXISTS" in await refused(boss, "checkpoints", "approve", second, token=carol)
    assert "approved" in await ok(boss, "checkpoints", "approve", second, "--comment", "agreed", token=dave)

    votes = (await boss("checkpoints", "votes", second, "-o", "json")).json()["votes"]
    assert [(v["voter"], v["decision"]) for v in votes] == [
        ("carol@example.com", "DECISION_APPROVE"),
        ("dave@example.com", "DECISION_APPROVE"),
    ]
    for vote in votes:
        assert hashlib.sha256(vote["evidenceJson"].encode()).hexdigest() == vote["evidenceSha256"]
        assert "NDA" in vote["evidenceJson"]  # what the voter saw: the revised draft
    assert votes[0]["payloadDiff"] == [
        {"op": "replace", "path": "/deliverables/0", "value": "NDA v2, with the 2025 indemnity clause"}
    ]
    assert (await boss("checkpoints", "votes", second, "--evidence")).out.count("evidence hash verified") == 2
    assert "FAILED_PRECONDITION" in await refused(boss, "checkpoints", "reject", second, token=dave)  # decided

    await ok(boss, "runs", "watch", run_id)
    run = (await boss("runs", "get", run_id, "-o", "json")).json()["run"]
    assert run["status"] == "RUN_STATUS_COMPLETED"
    publish = next(s for s in run["steps"] if s["stepId"] == "publish")
    assert "2025 indemnity clause" in publish["output"]  # later steps read the edited payload
