"""The CLI commands a new user looked for and did not find, and what they tripped over, through a real gateway:
agents (list, get, create, update, delete, import as the signed-in user), orchestrations promote, plans convert,
runs events, runs launch --metadata, the runs list filters, the run id `runs launch` prints, errors printed once and
flags spelled alike in every command."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.e2e import test_cli_gateway
from tests.e2e.test_cli_gateway import VERSION_FILE, User
from tests.support.gateway import mint

pytestmark = pytest.mark.asyncio(loop_scope="module")
gateway, user = test_cli_gateway.gateway, test_cli_gateway.user  # the fixtures: a platform, a signed-in user

RESEARCHER = """\
display_name: Researcher
description: Finds sources.
agent_card:
  name: researcher
  url: https://researcher.agents.example.com/a2a
config:
  protocol: a2a
"""
PLAN = {
    "title": "Weekly brief",
    "parameters": [{"name": "topic", "type": "string", "required": True}],
    "steps": [
        {"title": "Collect sources", "instructions": "List five sources on {{ params.topic }}"},
        {"title": "Write brief", "instructions": "Write the brief", "requires_approval": True},
    ],
}


def agents_dir(workdir: Path, files: dict[str, str]) -> Path:
    directory = workdir / f"agents-{uuid.uuid4().hex[:6]}"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


async def test_agents_import_goes_through_the_gateway_as_the_user(user: User) -> None:
    directory = agents_dir(
        user.workdir,
        {
            "researcher.yaml": RESEARCHER,
            "writer.yml": "slug: writer\ndisplay_name: Writer\n",
            "broken.yaml": "display_name: [unclosed\n",
            "bad-slug.yaml": "slug: Not_Valid\n",
            "mine.yaml": f"organization: {user.org}\n",
            "theirs.yaml": "organization: someone-else\ndisplay_name: Theirs\n",
            "notes.txt": "ignored",
        },
    )
    first = await user("agents", "import", str(directory))
    assert first.code == 1, first.err  # some files failed
    outcomes = {line.split()[1].rstrip(":"): line.split()[0] for line in first.out.splitlines()[:-1] if line[0] != " "}
    assert outcomes == {
        "bad-slug.yaml": "failed",
        "broken.yaml": "failed",
        "mine.yaml": "created",  # naming the organization imported into is fine
        "researcher.yaml": "created",
        "theirs.yaml": "failed",
        "writer.yml": "created",
    }
    lines = first.out.splitlines()
    refused = lines.index(next(line for line in lines if line.startswith("failed    bad-slug.yaml: INVALID_ARGUMENT")))
    assert "malformed slug" in lines[refused + 1], first.out  # the violation, on its own line
    assert "names organization 'someone-else'" in first.out
    assert first.out.splitlines()[-1] == "3 created, 0 updated, 0 unchanged, 3 failed"

    researcher = (await user("agents", "get", "researcher", "-o", "json")).json()["agent"]
    assert researcher["agentYaml"] == RESEARCHER
    assert (researcher["createdBy"], researcher["organizationSlug"]) == ("dev@example.com", user.org)
    listed = await user("agents", "list", "-o", "json")
    assert "theirs" not in {a["slug"] for a in listed.json()["agents"]}  # nothing of a refused file was written

    (directory / "broken.yaml").unlink()
    (directory / "bad-slug.yaml").unlink()
    (directory / "theirs.yaml").unlink()
    again = await user("agents", "import", str(directory), "-o", "json")
    assert again.code == 0, again.err
    assert {r["file"]: r["outcome"] for r in again.json()["results"]} == dict.fromkeys(
        ("mine.yaml", "researcher.yaml", "writer.yml"), "unchanged"
    )
    (directory / "researcher.yaml").write_text(RESEARCHER.replace("Finds sources.", "Finds better sources."))
    changed = await user("agents", "import", str(directory))
    assert "updated   researcher.yaml: " in changed.out
    updated = (await user("agents", "get", "researcher", "-o", "json")).json()["agent"]
    assert (updated["version"], updated["description"]) == ("2", "Finds better sources.")

    # Another organization through --org: the gateway and the registry decide, not the file.
    other = await user("agents", "import", str(directory), "--org", "someone-else")
    assert other.code == 1
    assert other.out.count("failed ") == 3, other.out
    # A caller who cannot sign in is told once, not once per file.
    denied = await user("agents", "import", str(directory), token="not-a-token")
    assert (denied.code, denied.out) == (1, "")
    assert denied.err.startswith("agentorch: UNAUTHENTICATED: "), denied.err
    assert len(denied.err.splitlines()) == 1


async def test_agents_from_the_command_line(user: User) -> None:
    created = await user("agents", "create", "scout", "--display-name", "Scout", "--description", "Looks around.")
    assert created.code == 0, created.err
    assert f"name:         organizations/{user.org}/agents/scout" in created.out
    listed = await user("agents", "list")
    assert [line.split()[0] for line in listed.out.splitlines()] == ["AGENT", "helper", "scout"]

    renamed = await user("agents", "update", "scout", "--display-name", "Scout II", "-o", "json")
    assert renamed.code == 0, renamed.err
    agent = renamed.json()["agent"]
    assert (agent["displayName"], agent["description"], agent["version"]) == ("Scout II", "Looks around.", "2")
    same = await user("agents", "update", "scout", "--display-name", "Scout II")
    assert same.out.strip() == f"unchanged: organizations/{user.org}/agents/scout (version 2)"

    card = user.file("scout.yaml", RESEARCHER)
    from_file = await user("agents", "update", "scout", "--file", card, "-o", "json")
    agent = from_file.json()["agent"]
    assert (agent["displayName"], agent["config"]) == ("Researcher", {"protocol": "a2a"})
    assert agent["agentYaml"] == RESEARCHER
    assert (await user("agents", "update", "scout")).code == 2  # nothing to change

    author = mint(user.org, "author", subject="author@example.com")
    destination = await user("agents", "create", "courier", "--file", card, token=author)
    assert destination.code == 1  # an agent card is a destination: admins only
    assert destination.err.startswith("agentorch: PERMISSION_DENIED: "), destination.err

    deleted = await user("agents", "delete", "scout")
    assert (deleted.code, deleted.out.strip()) == (0, f"deleted organizations/{user.org}/agents/scout")
    gone = await user("agents", "get", "scout")
    assert (gone.code, gone.err.split(":")[1].strip()) == (1, "NOT_FOUND")


async def test_promote_a_version_and_convert_a_plan(user: User) -> None:
    definition = user.file("def.json", VERSION_FILE)
    assert (await user("orchestrations", "create", "helper/brief", "--file", definition, "--label", "1.0.0")).code == 0
    assert (await user("agents", "create", "writer", "--display-name", "Writer")).code == 0
    promote = ("orchestrations", "promote", "helper/brief")
    promoted = await user(*promote, "--version", "1.0.0", "--to-agent", "writer", "--label", "2.0.0", "-o", "json")
    assert promoted.code == 0, promoted.err
    version = promoted.json()["version"]
    assert version["name"] == f"organizations/{user.org}/agents/writer/orchestrations/brief/versions/1"
    assert version["copiedFrom"] == f"organizations/{user.org}/agents/helper/orchestrations/brief/versions/1"
    assert version["label"] == "2.0.0"
    current = await user(*promote, "--to-agent", "writer", "--orchestration-id", "copy")
    assert current.code == 0, current.err  # without --version: the current one
    assert f"organizations/{user.org}/agents/writer/orchestrations/copy" in current.out

    plan_file = user.file("plan.json", PLAN)
    plan = await user("plans", "create", "--file", plan_file, "--conversation", "c1", "--agent", "helper", "-o", "json")
    plan_id = plan.json()["plan"]["name"].rsplit("/", 1)[1]
    preview = await user("plans", "convert", plan_id)
    assert preview.code == 0, preview.err
    shown = {k: v.strip() for k, _, v in (line.partition(":") for line in preview.out.splitlines())}
    assert (shown["phases / steps"], shown["parameters"]) == ("1 / 3", "topic:string")  # approval: a checkpoint
    assert "note" in shown  # the assumptions the conversion made
    converted = await user("plans", "convert", plan_id, "-o", "json")
    saved_file = user.file("converted.json", converted.out)  # what -o json printed is a definition file
    saved = await user("orchestrations", "create", "helper/from-plan", "--file", saved_file, "-o", "json")
    assert saved.code == 0, saved.err
    assert saved.json()["version"]["definition"] == converted.json()["definition"]
    assert (await user("plans", "approve", plan_id)).code == 0
    saved_plan = await user("plans", "save", plan_id, "--orchestration-id", "weekly-brief", "--display-name", "Weekly")
    assert saved_plan.code == 0, saved_plan.err
    assert f"created organizations/{user.org}/agents/helper/orchestrations/weekly-brief" in saved_plan.out


async def test_runs_launch_events_metadata_and_list_filters(user: User) -> None:
    definition = user.file("def.json", VERSION_FILE)
    assert (await user("orchestrations", "create", "helper/brief", "--file", definition)).code == 0
    launched = await user(
        "runs", "launch", "helper/brief", "--input", "topic=tides", "--metadata", "ticket=OPS-7", "--metadata",
        "priority:=2",
    )  # fmt: skip
    assert launched.code == 0, launched.err
    pairs = dict(line.split(":", 1) for line in launched.out.splitlines() if ":" in line and line[0] != " ")
    run_id = pairs["id"].strip()  # the id the README's tour says `runs launch` prints
    uuid.UUID(run_id)
    assert json.loads(pairs["metadata"]) == {"priority": 2, "ticket": "OPS-7"}
    assert (await user("runs", "watch", run_id, "--until-checkpoint")).code == 0
    adhoc = await user("runs", "launch", "--file", definition, "--input", "topic=x", "-o", "json")
    adhoc_id = adhoc.json()["run"]["runId"]

    events = await user("runs", "events", run_id)
    assert events.code == 0, events.err
    header, *rows = events.out.splitlines()
    assert header.split() == ["SEQ", "TIME", "TYPE", "STEP", "RUN", "DETAILS"]
    by_type = {row.split()[3]: row.split()[5] for row in rows}  # TIME is two words
    assert by_type["run_created"] == "pending"
    assert by_type["checkpoint_opened"] == "running"  # committed with the pause, but the run paused after it
    assert rows[-1].split()[3:7] == ["run_status_changed", "-", "paused", '{"from":']
    as_json = (await user("runs", "events", run_id, "-o", "json", "--after", "2", "--limit", "2")).json()
    assert [e["sequence"] for e in as_json["events"]] == ["3", "4"]
    assert as_json["hasMore"] is True

    def listed(result_out: str) -> set[str]:
        return {line.split()[0] for line in result_out.splitlines()[1:]}

    assert listed((await user("runs", "list", "--origin", "ad_hoc")).out) == {adhoc_id}
    assert listed((await user("runs", "list", "--origin", "saved_orchestration")).out) == {run_id}
    assert listed((await user("runs", "list", "--orchestration", "helper/brief")).out) == {run_id}
    assert listed((await user("runs", "list", "--since", "1h")).out) == {run_id, adhoc_id}
    assert listed((await user("runs", "list", "--until", "2000-01-01")).out) == set()
    assert listed((await user("runs", "list", "--since", "2000-01-01T00:00:00+02:00", "--until", "1d")).out) == set()
    bad_time = await user("runs", "list", "--since", "yesterday")
    assert bad_time.code == 2
    assert "neither an ISO 8601 time" in bad_time.err


async def test_a_validation_error_is_printed_once(user: User) -> None:
    definition = user.file("def.json", VERSION_FILE)
    invalid = await user("orchestrations", "create", "helper/Not_A_Slug", "--file", definition)
    assert invalid.code == 1
    first, *violations = invalid.err.splitlines()
    assert first == "agentorch: INVALID_ARGUMENT: invalid request", invalid.err
    assert [v for v in violations if v.startswith("  orchestration_id: ")], invalid.err
    assert sum("orchestration_id" in line for line in invalid.err.splitlines()) == 1


async def test_display_names_are_given_with_display_name(user: User) -> None:
    created = await user("api-keys", "create", "--display-name", "CI", "--role", "operator", "-o", "json")
    assert created.code == 0, created.err
    assert created.json()["apiKey"]["displayName"] == "CI"
