"""`agentorch agents …`: the organization's agents (RegistryService), one at a time or from a folder of YAML files.

Agents live in one organization: your own, or `--org`. An agent file (`--file`, `agents import DIR`) is the format
described in cli/agents_import.py; with `--file`, the file is the whole description (fields it leaves out are
emptied on update, as an import does), and `--display-name`/`--description` override what it says.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from google.protobuf import field_mask_pb2

from agentorch.registry.v1 import agent_pb2
from agentorch.registry.v1 import registry_service_pb2 as reg
from cli.agents_import import (
    FIELDS,
    Outcome,
    agent_from_file,
    agent_name,
    changed_fields,
    import_agents,
    load_directory,
    report,
)
from cli.commands.base import Context, add_limit, to_dict
from cli.gateway_client import UsageError
from cli.render import pairs, short_name, table, when


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("agents", help="the organization's agents")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = sub.add_parser("list", parents=[common], help="list agents, by slug")
    add_limit(listing)
    listing.set_defaults(handler=list_agents)

    get = sub.add_parser("get", parents=[common], help="an agent, with its YAML")
    get.add_argument("agent", help="slug or full resource name")
    get.set_defaults(handler=get_agent)

    create = sub.add_parser("create", parents=[common], help="create an agent")
    create.add_argument("agent", help="the new agent's slug")
    _agent_arguments(create)
    create.set_defaults(handler=create_agent)

    update = sub.add_parser("update", parents=[common], help="change an agent (only what you pass)")
    update.add_argument("agent", help="slug or full resource name")
    _agent_arguments(update)
    update.set_defaults(handler=update_agent)

    delete = sub.add_parser("delete", parents=[common], help="delete an agent")
    delete.add_argument("agent", help="slug or full resource name")
    delete.set_defaults(handler=delete_agent)

    importer = sub.add_parser(
        "import",
        parents=[common],
        help="create or update agents from a folder of YAML files (idempotent)",
        description="Each *.yaml/*.yml file describes one agent (slug, display_name, description, agent_card, "
        "context, config; organization, if present, must be the one imported into); the file is stored verbatim. "
        "Agents are imported into your organization (or --org), as you, through the gateway. Unchanged files "
        "change nothing; exit 1 if any file failed.",
    )
    importer.add_argument("directory", type=Path)
    importer.set_defaults(handler=import_directory)


def _agent_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", type=Path, help="an agent YAML file (the format of `agents import`)")
    parser.add_argument("--display-name", default=None, help="default: the file's, else the slug")
    parser.add_argument("--description", default=None)


def agent_lines(a: agent_pb2.Agent) -> list[str]:
    config = to_dict(a.config)
    card = to_dict(a.agent_card)
    lines = pairs(
        [
            ("name", a.name),
            ("display name", a.display_name),
            ("description", a.description),
            ("protocol", config.get("protocol", "")),
            ("endpoint", config.get("endpoint") or card.get("url", "")),
            ("version", a.version),
            ("created", f"{when(a.create_time)} by {a.created_by}" if a.created_by else when(a.create_time)),
            ("updated", f"{when(a.update_time)} by {a.updated_by}" if a.updated_by else when(a.update_time)),
            ("etag", a.etag),
        ]
    )
    if a.agent_yaml.strip():
        lines += ["", *a.agent_yaml.rstrip("\n").splitlines()]
    return lines


def list_agents(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.ListAgentsRequest(parent=ctx.parent)
    response = ctx.collect(ctx.client.registry.ListAgents, request, "agents", args.limit)
    rows = []
    for a in response.agents:
        config = to_dict(a.config)
        endpoint = config.get("endpoint") or to_dict(a.agent_card).get("url", "")
        rows.append((short_name(a.name), a.display_name, config.get("protocol", ""), endpoint, a.version))
    ctx.output.show(response, table(("AGENT", "DISPLAY NAME", "PROTOCOL", "ENDPOINT", "VERSION"), rows))
    return 0


def get_agent(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.call(ctx.client.registry.GetAgent, reg.GetAgentRequest(name=ctx.agent(args.agent)))
    ctx.output.show(response, agent_lines(response.agent))
    return 0


def _described(args: argparse.Namespace, organization: str, slug: str) -> agent_pb2.Agent:
    """The agent as --file and the flags describe it (slug and organization from the command line)."""
    if args.file is not None:
        try:
            agent = agent_from_file(args.file, organization)
        except (ValueError, OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{args.file}: {exc}") from None
        if agent.slug not in (slug, args.file.stem):  # the file names another slug
            raise UsageError(f"{args.file} describes agent {agent.slug!r}, not {slug!r}")
        agent.slug = slug
    else:
        agent = agent_pb2.Agent(organization_slug=organization, slug=slug, display_name=slug)
    if args.display_name is not None:
        agent.display_name = args.display_name
    if args.description is not None:
        agent.description = args.description
    return agent


def create_agent(ctx: Context, args: argparse.Namespace) -> int:
    if "/" in args.agent:
        raise UsageError(f"{args.agent!r}: name the new agent by its slug (it is created in your organization)")
    agent = _described(args, ctx.org, args.agent)
    response = ctx.call(ctx.client.registry.CreateAgent, reg.CreateAgentRequest(agent=agent))
    ctx.output.show(response, agent_lines(response.agent))
    return 0


def update_agent(ctx: Context, args: argparse.Namespace) -> int:
    """Read the agent, change what was given, write it back with the etag read (ABORTED if someone changed it
    meanwhile)."""
    given = [f for f in ("display_name", "description") if getattr(args, f) is not None]
    if args.file is None and not given:
        raise UsageError("nothing to change: pass --file, --display-name or --description")
    name = ctx.agent(args.agent)
    current = ctx.call(ctx.client.registry.GetAgent, reg.GetAgentRequest(name=name)).agent
    agent = _described(args, current.organization_slug, current.slug)
    changed = changed_fields(agent, current, FIELDS if args.file is not None else given)
    if not changed:
        ctx.output.show(reg.UpdateAgentResponse(agent=current), [f"unchanged: {name} (version {current.version})"])
        return 0
    agent.name = agent_name(current)
    mask = field_mask_pb2.FieldMask(paths=changed)
    request = reg.UpdateAgentRequest(agent=agent, update_mask=mask, etag=current.etag)
    response = ctx.call(ctx.client.registry.UpdateAgent, request)
    ctx.output.show(response, agent_lines(response.agent))
    return 0


def delete_agent(ctx: Context, args: argparse.Namespace) -> int:
    name = ctx.agent(args.agent)
    response = ctx.call(ctx.client.registry.DeleteAgent, reg.DeleteAgentRequest(name=name))
    ctx.output.show(response, [f"deleted {name}"])
    return 0


def import_directory(ctx: Context, args: argparse.Namespace) -> int:
    if not args.directory.is_dir():
        raise UsageError(f"{args.directory} is not a directory")
    results = import_agents(load_directory(args.directory, ctx.org), ctx.client)
    if ctx.output.json:
        documents = [
            {"file": r.path.name, "outcome": r.outcome.value, "detail": r.detail, "violations": list(r.violations)}
            for r in results
        ]
        ctx.output.print(json.dumps({"results": documents}, indent=2, ensure_ascii=False))
    else:
        ctx.output.print("\n".join(report(results)))
    return 1 if any(r.outcome is Outcome.FAILED for r in results) else 0
