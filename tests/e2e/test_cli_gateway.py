"""The `agentorch` gateway commands as a user runs them: `cli.main.main([...])` against a real platform behind a
real gateway, authenticated with a minted JWT. The CLI is synchronous, so it runs in a thread while the servers
keep serving in the test's event loop."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pydantic import SecretStr

from agentorch.registry.v1 import registry_service_pb2 as reg
from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from cli.main import main
from services.common.settings import DatabaseSettings
from tests.support.gateway import Platform, drop_schemas, mint, new_org, platform
from tests.support.registry import agent_message

pytestmark = pytest.mark.asyncio(loop_scope="module")

DEFINITION: dict[str, Any] = {
    "schema_version": 1,
    "parameters": [{"name": "topic", "type": "string", "required": True}],
    "phases": [
        {
            "id": "main",
            "steps": [
                {"id": "hello", "kind": "echo", "message": "Researching {{ params.topic }}"},
                {"id": "review", "kind": "checkpoint", "depends_on": ["hello"], "checkpoint": {"title": "Go on?"}},
                {"id": "summary", "kind": "template", "prompt_template": "summary", "depends_on": ["review"]},
            ],
        }
    ],
}
VERSION_FILE = {
    "definition": DEFINITION,
    "prompt_templates": [{"name": "summary", "template": "Summary of {{ params.topic }}"}],
}


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def json_lines(self) -> list[Any]:
        return [json.loads(line) for line in self.out.splitlines()]


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
        async with platform(database) as running:
            yield running
    finally:
        if database.is_postgresql:
            await drop_schemas(database.url.get_secret_value(), database.schema_name)


@dataclass
class User:
    """Someone with a JWT of an organization that has the `helper` agent."""

    platform: Platform
    org: str
    token: str
    workdir: Path

    async def __call__(self, *args: str, token: str | None = None, stdin: str | None = None) -> Result:
        out, err = io.StringIO(), io.StringIO()
        argv = ["--gateway", self.platform.gateway.target, "--token", token or self.token, *args]
        saved = sys.stdin
        if stdin is not None:
            sys.stdin = io.StringIO(stdin)
        try:
            code = await asyncio.to_thread(main, argv, out=out, err=err)
        finally:
            sys.stdin = saved
        return Result(code, out.getvalue(), err.getvalue())

    def file(self, name: str, document: Any) -> str:
        path = self.workdir / name
        path.write_text(json.dumps(document) if not isinstance(document, str) else document)
        return str(path)


@pytest_asyncio.fixture(loop_scope="module")
async def user(gateway: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> User:
    for name in ("AGENTORCH_TOKEN", "AGENTORCH_GATEWAY", "AGENTORCH_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    org = new_org()
    token = mint(org, "admin", subject="dev@example.com")
    registry = reg_grpc.RegistryServiceStub(await gateway.channel(token))
    await registry.CreateAgent(reg.CreateAgentRequest(agent=agent_message(org)))
    return User(gateway, org, token, tmp_path)


async def test_a_whole_tour(user: User) -> None:
    definition = user.file("def.json", VERSION_FILE)

    created = await user("orchestrations", "create", "helper/brief", "--file", definition, "--label", "1.0.0")
    assert created.code == 0, created.err
    assert f"organizations/{user.org}/agents/helper/orchestrations/brief" in created.out
    listed = await user("orchestrations", "list", "--output", "json")
    assert [o["slug"] for o in listed.json()["orchestrations"]] == ["brief"]
    got = await user("-o", "json", "orchestrations", "get", "helper/brief")  # global options before the command too
    assert got.json()["version"]["label"] == "1.0.0"
    assert (await user("orchestrations", "tag", "helper/brief", "weekly")).code == 0
    assert (
        await user("orchestrations", "new-version", "helper/brief", "--file", definition, "--label", "1.1.0")
    ).code == 0
    versions = await user("orchestrations", "versions", "helper/brief")
    assert versions.out.splitlines()[0].split()[:2] == ["VERSION", "LABEL"]
    assert [line.split()[:2] for line in versions.out.splitlines()[1:]] == [["2", "1.1.0"], ["1", "1.0.0"]]
    diff = await user("orchestrations", "diff", "helper/brief", "--from", "1", "-o", "json")
    assert {c["path"] for c in diff.json()["changes"]} == {"/label"}

    launched = await user("runs", "launch", "helper/brief", "--input", "topic=tides", "-o", "json")
    assert launched.code == 0, launched.err
    run = launched.json()["run"]["name"]
    run_id = run.rsplit("/", 1)[1]

    until = await user("runs", "watch", run_id, "--until-checkpoint")
    assert until.code == 0, until.err
    lines = until.out.splitlines()
    assert any(" checkpoint_opened " in line and " review " in line for line in lines), until.out
    (waiting,) = [line for line in lines if line.startswith("waiting for a decision: ")]
    checkpoint = waiting.removeprefix("waiting for a decision: ")
    assert f"run {run} paused (1/3 steps finished)" in lines

    inbox = await user("checkpoints", "list", "-o", "json")
    assert [c["name"] for c in inbox.json()["checkpoints"]] == [checkpoint]
    short = checkpoint.removeprefix(f"organizations/{user.org}/runs/").replace("/checkpoints/", "/")
    table = await user("checkpoints", "list")
    assert short in table.out
    approved = await user("checkpoints", "approve", short, "--comment", "ship it")
    assert approved.code == 0, approved.err
    assert "approved" in approved.out

    done = await user("runs", "watch", run)
    assert done.code == 0, done.err
    assert done.out.splitlines()[-1] == f"run {run} completed (3/3 steps finished)"
    assert "[##########] 3/3" in done.out

    events = (await user("runs", "watch", run, "-o", "json")).json_lines()
    assert [e["sequence"] for e in events] == [str(n) for n in range(1, len(events) + 1)]  # int64 → JSON string
    assert events[-1]["runStatus"] == "RUN_STATUS_COMPLETED"
    resumed = (await user("runs", "watch", run, "-o", "json", "--after", "3")).json_lines()
    assert resumed == events[3:]

    final = await user("runs", "get", run, "-o", "json")
    assert final.json()["run"]["status"] == "RUN_STATUS_COMPLETED"
    steps = {s["stepId"]: s for s in final.json()["run"]["steps"]}
    assert steps["summary"]["output"] == "Summary of tides"
    listing = await user("runs", "list", "--status", "completed")
    assert run_id in listing.out
    who = await user("whoami", "-o", "json")
    assert who.json() == {
        "subject": "dev@example.com",
        "organizationSlug": user.org,
        "roles": ["admin"],
        "authentication": "jwt",
        "groups": [],  # issue 14: an organization without member records keeps the token's roles, no groups
        "managedMembership": False,
        "forbidSelfApproval": False,
    }


async def test_watch_exits_non_zero_when_the_run_fails(user: User) -> None:
    definition = user.file("adhoc.json", VERSION_FILE)
    launched = await user("runs", "launch", "--file", definition, "--input", "topic=x", "-o", "json")
    run = launched.json()["run"]["name"]
    assert (await user("runs", "watch", run, "--until-checkpoint")).code == 0
    checkpoint = json.loads((await user("runs", "get", run, "-o", "json")).out)["run"]["openCheckpoints"][0]
    assert (await user("checkpoints", "reject", checkpoint, "--comment", "no")).code == 0
    failed = await user("runs", "watch", run)
    assert failed.code == 1
    assert failed.out.splitlines()[-1].startswith(f"run {run} failed")


async def test_errors_are_one_clear_line_and_exit_non_zero(user: User) -> None:
    missing = await user("runs", "get", str(uuid.uuid4()))
    assert missing.code == 1
    assert missing.out == ""
    assert missing.err.startswith("agentorch: NOT_FOUND: "), missing.err
    assert len(missing.err.splitlines()) == 1

    definition = user.file("def.json", VERSION_FILE)
    invalid = await user("orchestrations", "create", "helper/Not_A_Slug", "--file", definition)
    assert invalid.code == 1
    first, *violations = invalid.err.splitlines()
    assert first.startswith("agentorch: INVALID_ARGUMENT: ")
    assert any(v.startswith("  orchestration_id: ") for v in violations), invalid.err

    denied = await user("runs", "launch", "helper/brief", token=mint(user.org, "viewer"))
    assert denied.code == 1
    assert denied.err.startswith("agentorch: PERMISSION_DENIED: "), denied.err
    unauthenticated = await user("whoami", token="not-a-token")
    assert (unauthenticated.code, unauthenticated.err.split(":")[1].strip()) == (1, "UNAUTHENTICATED")

    for argv in (("runs", "launch"), ("runs", "frobnicate"), ("runs", "launch", "helper/brief", "--input", "oops")):
        usage = await user(*argv)
        assert usage.code == 2, (argv, usage.err)
        assert usage.err, argv
    bad_file = await user("orchestrations", "create", "helper/x", "--file", user.file("bad.json", "{not json"))
    assert bad_file.code == 2
    assert "is not JSON" in bad_file.err


async def test_credential_values_are_never_printed(user: User) -> None:
    secret = "sk-" + uuid.uuid4().hex
    rotated = "sk-" + uuid.uuid4().hex
    value_file = user.file("value", secret + "\n")
    outputs: list[Result] = [
        await user("credentials", "create", "openai.key", "--value-file", value_file, "--provider", "openai"),
        await user("credentials", "create", "other.key", "--type", "bearer_token", "-o", "json", stdin=secret),
        await user("credentials", "list"),
        await user("credentials", "list", "-o", "json"),
        await user("credentials", "get", "openai.key", "-o", "json"),
        await user("credentials", "rotate", "openai.key", stdin=rotated),
        await user("credentials", "audit"),
        await user("credentials", "audit", "-o", "json"),
        await user("credentials", "delete", "other.key"),
    ]
    for result in outputs:
        assert result.code == 0, result.err
        for value in (secret, rotated):
            assert value not in result.out
            assert value not in result.err
    listed = outputs[3].json()["credentials"]
    assert sorted(c["alias"] for c in listed) == ["openai.key", "other.key"]
    assert outputs[4].json()["credential"]["version"] == "1"
    assert "openai.key" in outputs[6].out
    empty = await user("credentials", "create", "empty.key", stdin="")
    assert (empty.code, empty.err.strip()) == (2, "agentorch: the credential value is empty")


async def test_api_keys_and_the_dev_token_file(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    created = await user("api-keys", "create", "--name", "CI", "--role", "operator", "-o", "json")
    assert created.code == 0, created.err
    secret = created.json()["secret"]
    key_id = created.json()["apiKey"]["keyId"]
    who = await user("whoami", "-o", "json", token=secret)
    assert who.json()["authentication"] == "api_key"
    listed = await user("api-keys", "list")
    assert key_id in listed.out
    assert secret not in listed.out
    assert (await user("api-keys", "revoke", key_id)).code == 0
    assert (await user("whoami", token=secret)).code == 1

    # Without --token or AGENTORCH_TOKEN, the token `agentorch up` leaves in its data dir is used.
    data_dir = user.workdir / "data"
    data_dir.mkdir()
    (data_dir / "dev-token").write_text(user.token + "\n")
    out, err = io.StringIO(), io.StringIO()
    argv = ["whoami", "--gateway", user.platform.gateway.target, "--data-dir", str(data_dir), "-o", "json"]
    code = await asyncio.to_thread(main, argv, out=out, err=err)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue())["organizationSlug"] == user.org
    monkeypatch.setenv("AGENTORCH_DATA_DIR", str(user.workdir / "nowhere"))
    code = await asyncio.to_thread(main, ["whoami", "--gateway", user.platform.gateway.target], out=out, err=err)
    assert code == 2
    assert "no credentials" in err.getvalue()


async def test_invoke_from_the_command_line(user: User) -> None:
    definition = user.file("def.json", VERSION_FILE)
    create = ("invoke", "orchestrate_create", "--agent", "helper", "--orchestration-id", "via-invoke")
    created = await user(*create, "--definition-file", definition, "-o", "json")
    assert created.code == 0, created.err
    version = created.json()["orchestrationVersion"]
    launched = await user(
        "invoke", "orchestrate_execute", "--target", version, "--input", "topic=x", "--request-id", "cli-1"
    )
    assert launched.code == 0, launched.err
    assert "RUN_STATUS_" in launched.out
    refused = await user("invoke", "orchestrate_continue", "--comment", "hi")
    assert refused.code == 1
    assert "  checkpoint: " in refused.err


async def test_an_admin_binds_a_credential_from_the_command_line(user: User) -> None:
    created = await user(
        "credentials",
        "create",
        "vendor.key",
        "--allow-agent",
        "helper",
        "--allow-host",
        "api.vendor.example",
        stdin="sk-" + uuid.uuid4().hex,
    )
    assert created.code == 0, created.err
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in created.out.splitlines()}
    assert (lines["allowed agents"], lines["allowed hosts"]) == (
        f"organizations/{user.org}/agents/helper",
        "api.vendor.example",
    )
    listed = await user("credentials", "list")
    assert "1 agent, 1 host" in listed.out
    moved = await user("credentials", "bind", "vendor.key", "--allow-host", "*.vendor.example:443", "-o", "json")
    assert moved.code == 0, moved.err
    credential = moved.json()["credential"]
    assert (credential["allowedAgents"], credential["allowedHosts"]) == (
        [f"organizations/{user.org}/agents/helper"],
        ["*.vendor.example:443"],
    )
    cleared = await user("credentials", "bind", "vendor.key", "--clear")
    assert cleared.code == 0, cleared.err
    assert "unbound" in (await user("credentials", "list")).out
    bad = await user("credentials", "bind", "vendor.key", "--allow-host", "*")
    assert bad.code == 1
    assert "credential.allowed_hosts[0]" in bad.err
    assert (await user("credentials", "bind", "vendor.key")).code == 2  # nothing to set
    audit = await user("credentials", "audit", "--alias", "vendor.key")
    assert "changed allowed_hosts" in audit.out
