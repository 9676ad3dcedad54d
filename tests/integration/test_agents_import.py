"""`agentorch agents import`: a folder of agent YAML files loaded into a real registry, idempotently."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc
from cli.agents_import import Outcome, import_agents, load_directory, report
from services.common.settings import DatabaseSettings
from services.registry.bootstrap import spec
from services.registry.config import RegistrySettings
from tests.support.principals import AUTH, as_platform
from tests.support.registry import new_org
from tests.support.rpc import channel_as
from tests.support.servers import running

RESEARCHER = """\
display_name: Researcher
description: Finds sources.
agent_card:
  name: researcher
  url: https://researcher.agents.example.com/a2a
config:
  protocol: a2a
"""


@pytest.fixture
async def stub(database: DatabaseSettings) -> AsyncIterator[pb_grpc.RegistryServiceStub]:
    async with (
        running(spec(RegistrySettings(database=database, auth=AUTH))) as server,
        channel_as(server.target, as_platform()) as channel,
    ):
        yield pb_grpc.RegistryServiceStub(channel)


async def run_import(stub: pb_grpc.RegistryServiceStub, directory: Path, org: str) -> dict[str, Outcome]:
    results = await import_agents(load_directory(directory, org), stub, ())
    assert report(results)[-1].endswith("failed")
    return {r.path.name: r.outcome for r in results}


async def test_import_is_idempotent_and_versions_changes(stub: pb_grpc.RegistryServiceStub, tmp_path: Path) -> None:
    org = new_org()
    (tmp_path / "researcher.yaml").write_text(RESEARCHER)
    (tmp_path / "writer.yml").write_text("slug: writer\ndisplay_name: Writer\n")
    (tmp_path / "broken.yaml").write_text("display_name: [unclosed\n")
    (tmp_path / "bad-slug.yaml").write_text("slug: Not_Valid\n")
    (tmp_path / "notes.txt").write_text("ignored")

    first = await run_import(stub, tmp_path, org)
    assert first == {
        "bad-slug.yaml": Outcome.FAILED,
        "broken.yaml": Outcome.FAILED,
        "researcher.yaml": Outcome.CREATED,
        "writer.yml": Outcome.CREATED,
    }
    name = f"organizations/{org}/agents/researcher"
    stored = (await stub.GetAgent(pb.GetAgentRequest(name=name))).agent
    assert stored.agent_yaml == RESEARCHER
    assert stored.config["protocol"] == "a2a"

    second = await run_import(stub, tmp_path, org)
    assert second["researcher.yaml"] is Outcome.UNCHANGED
    assert second["writer.yml"] is Outcome.UNCHANGED
    assert (await stub.GetAgent(pb.GetAgentRequest(name=name))).agent.version == 1

    (tmp_path / "researcher.yaml").write_text(RESEARCHER.replace("Finds sources.", "Finds better sources."))
    third = await run_import(stub, tmp_path, org)
    assert third["researcher.yaml"] is Outcome.UPDATED
    updated = (await stub.GetAgent(pb.GetAgentRequest(name=name))).agent
    assert (updated.version, updated.description) == (2, "Finds better sources.")
