"""`agentorch agents import DIR`: load a folder of agent YAML files into the registry, idempotently.

Each `*.yaml`/`*.yml` file describes one agent; the whole file is stored verbatim as the agent's YAML:

    slug: researcher            # default: the file name without extension
    organization: acme          # default: --org; empty means a platform-wide agent
    display_name: Researcher    # default: the slug
    description: Finds sources.
    agent_card: {name: researcher, url: "http://127.0.0.1:9100/a2a"}
    context: {}
    config: {protocol: a2a}

Re-running changes nothing; a changed file updates the agent (its version goes up). Every file gets a line in the
report; the command fails (exit 1) if any file did.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import field_mask_pb2, json_format, struct_pb2

from agentorch.registry.v1 import agent_pb2
from agentorch.registry.v1 import registry_service_pb2 as pb
from agentorch.registry.v1 import registry_service_pb2_grpc as pb_grpc

FIELDS = ("display_name", "description", "agent_yaml", "agent_card", "context", "config")
KNOWN_KEYS = {"slug", "organization", "display_name", "description", "agent_card", "context", "config"}


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    FAILED = "failed"


@dataclass(frozen=True)
class FileResult:
    path: Path
    outcome: Outcome
    detail: str


def agent_from_file(path: Path, default_org: str) -> agent_pb2.Agent:
    """Parse one file; ValueError with a readable reason when it is not a usable agent description."""
    text = path.read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("must be a YAML mapping")
    slug = str(document.get("slug") or path.stem)
    agent = agent_pb2.Agent(
        organization_slug=str(document.get("organization", default_org) or ""),
        slug=slug,
        display_name=str(document.get("display_name") or slug),
        description=str(document.get("description") or ""),
        agent_yaml=text,
    )
    for key in ("agent_card", "context", "config"):
        value = document.get(key) or {}
        if not isinstance(value, dict):
            raise ValueError(f"{key} must be a mapping")
        getattr(agent, key).update(value)
    return agent


def load_directory(directory: Path, default_org: str = "") -> list[tuple[Path, agent_pb2.Agent | str]]:
    """Every agent file of `directory` in name order, parsed, or the reason it could not be."""
    loaded: list[tuple[Path, agent_pb2.Agent | str]] = []
    for path in sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
        try:
            loaded.append((path, agent_from_file(path, default_org)))
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            loaded.append((path, str(exc)))
    return loaded


async def import_agents(
    loaded: Sequence[tuple[Path, agent_pb2.Agent | str]],
    stub: pb_grpc.RegistryServiceStub,
    metadata: Sequence[tuple[str, Any]],
) -> list[FileResult]:
    results = []
    for path, agent in loaded:
        if isinstance(agent, str):
            results.append(FileResult(path, Outcome.FAILED, agent))
        else:
            results.append(await _import_agent(path, agent, stub, metadata))
    return results


async def _import_agent(
    path: Path, agent: agent_pb2.Agent, stub: pb_grpc.RegistryServiceStub, metadata: Sequence[tuple[str, Any]]
) -> FileResult:
    parent = f"organizations/{agent.organization_slug}/" if agent.organization_slug else ""
    name = f"{parent}agents/{agent.slug}"
    try:
        try:
            current = (await stub.GetAgent(pb.GetAgentRequest(name=name), metadata=metadata)).agent
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            created = (await stub.CreateAgent(pb.CreateAgentRequest(agent=agent), metadata=metadata)).agent
            return FileResult(path, Outcome.CREATED, f"{name} (version {created.version})")
        changed = [f for f in FIELDS if _value(getattr(agent, f)) != _value(getattr(current, f))]
        if not changed:
            return FileResult(path, Outcome.UNCHANGED, f"{name} (version {current.version})")
        agent.name = name
        request = pb.UpdateAgentRequest(
            agent=agent, update_mask=field_mask_pb2.FieldMask(paths=changed), etag=current.etag
        )
        updated = (await stub.UpdateAgent(request, metadata=metadata)).agent
        return FileResult(path, Outcome.UPDATED, f"{name} (version {updated.version}; {', '.join(changed)})")
    except grpc.aio.AioRpcError as exc:
        return FileResult(path, Outcome.FAILED, f"{exc.code().name}: {exc.details()}")


def _value(value: Any) -> Any:
    return json_format.MessageToDict(value) if isinstance(value, struct_pb2.Struct) else value


def report(results: Sequence[FileResult]) -> list[str]:
    lines = [f"{r.outcome.value:<9} {r.path.name}: {r.detail}" for r in results]
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    lines.append(", ".join(f"{n} {o.value}" for o, n in counts.items()))
    return lines
