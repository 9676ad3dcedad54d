"""Agent YAML files (`agentorch agents import DIR`, `agents create/update --file`), loaded through the gateway.

Each `*.yaml`/`*.yml` file describes one agent; the whole file is stored verbatim as the agent's YAML:

    slug: researcher            # default: the file name without extension
    organization: acme          # optional; must be the organization imported into
    display_name: Researcher    # default: the slug
    description: Finds sources.
    agent_card: {name: researcher, url: "https://researcher.example.com/a2a"}
    context: {}
    config: {protocol: a2a, endpoint: "https://researcher.example.com/a2a"}

Files are imported into one organization: the caller's own (WhoAmI), or `--org`. A file that names another
organization is refused (nothing of it is written): which organization an agent lands in is the caller's choice,
made on the command line, not something a file in a shared folder decides. The calls are the caller's own, through
the gateway, so the agents record the caller as `created_by`/`updated_by` and the gateway's roles apply.

Re-running changes nothing; a changed file updates the agent (its version goes up). Every file gets a line in the
report; the command fails (exit 1) if any file did.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import field_mask_pb2, json_format, struct_pb2

from agentorch.registry.v1 import agent_pb2
from agentorch.registry.v1 import registry_service_pb2 as pb
from cli.gateway_client import GatewayClient
from cli.render import error_lines

FIELDS = ("display_name", "description", "agent_yaml", "agent_card", "context", "config")
# Failures of the caller or the connection rather than of one file: the import stops at the first.
_FATAL = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


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
    violations: Sequence[str] = field(default_factory=tuple)  # `field: description` lines of a refused write


def agent_from_file(path: Path, organization: str) -> agent_pb2.Agent:
    """Parse one file as an agent of `organization`; ValueError with a readable reason when it is not a usable
    agent description (not YAML, not a mapping, or it names another organization)."""
    text = path.read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"not valid YAML{where}: {problem}") from None
    if not isinstance(document, dict):
        raise ValueError("must be a YAML mapping")
    named = str(document.get("organization") or "")
    if named and named != organization:
        raise ValueError(
            f"names organization {named!r}, but this import is into {organization!r} (your organization, or --org): "
            "remove the key or import with --org"
        )
    slug = str(document.get("slug") or path.stem)
    agent = agent_pb2.Agent(
        organization_slug=organization,
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


def load_directory(directory: Path, organization: str) -> list[tuple[Path, agent_pb2.Agent | str]]:
    """Every agent file of `directory` in name order, parsed, or the reason it could not be."""
    loaded: list[tuple[Path, agent_pb2.Agent | str]] = []
    for path in sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
        try:
            loaded.append((path, agent_from_file(path, organization)))
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            loaded.append((path, str(exc)))
    return loaded


def agent_name(agent: agent_pb2.Agent) -> str:
    parent = f"organizations/{agent.organization_slug}/" if agent.organization_slug else ""
    return f"{parent}agents/{agent.slug}"


def changed_fields(new: agent_pb2.Agent, current: agent_pb2.Agent, fields: Sequence[str] = FIELDS) -> list[str]:
    """The fields of `fields` whose value differs (JSON objects compared as JSON, not as protobuf bytes)."""
    return [f for f in fields if _value(getattr(new, f)) != _value(getattr(current, f))]


def import_agents(loaded: Sequence[tuple[Path, agent_pb2.Agent | str]], client: GatewayClient) -> list[FileResult]:
    """Create or update each loaded agent as the client's caller. Raises grpc.RpcError when the caller or the
    connection fails (UNAUTHENTICATED, UNAVAILABLE, DEADLINE_EXCEEDED): every further file would fail alike."""
    results = []
    for path, agent in loaded:
        if isinstance(agent, str):
            results.append(FileResult(path, Outcome.FAILED, agent))
        else:
            results.append(_import_agent(path, agent, client))
    return results


def _import_agent(path: Path, agent: agent_pb2.Agent, client: GatewayClient) -> FileResult:
    name = agent_name(agent)
    registry = client.registry
    try:
        try:
            current = client.call(registry.GetAgent, pb.GetAgentRequest(name=name)).agent
        except grpc.RpcError as exc:
            if not isinstance(exc, grpc.Call) or exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            created = client.call(registry.CreateAgent, pb.CreateAgentRequest(agent=agent)).agent
            return FileResult(path, Outcome.CREATED, f"{name} (version {created.version})")
        changed = changed_fields(agent, current)
        if not changed:
            return FileResult(path, Outcome.UNCHANGED, f"{name} (version {current.version})")
        agent.name = name
        request = pb.UpdateAgentRequest(
            agent=agent, update_mask=field_mask_pb2.FieldMask(paths=changed), etag=current.etag
        )
        updated = client.call(registry.UpdateAgent, request).agent
        return FileResult(path, Outcome.UPDATED, f"{name} (version {updated.version}; {', '.join(changed)})")
    except grpc.RpcError as exc:
        if isinstance(exc, grpc.Call) and exc.code() in _FATAL:
            raise
        first, *violations = error_lines(exc)
        return FileResult(path, Outcome.FAILED, first.removeprefix("agentorch: "), [v.strip() for v in violations])


def _value(value: Any) -> Any:
    return json_format.MessageToDict(value) if isinstance(value, struct_pb2.Struct) else value


def report(results: Sequence[FileResult]) -> list[str]:
    lines = []
    for r in results:
        lines.append(f"{r.outcome.value:<9} {r.path.name}: {r.detail}")
        lines += [f"{'':<10}  {v}" for v in r.violations]
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    lines.append(", ".join(f"{n} {o.value}" for o, n in counts.items()))
    return lines
