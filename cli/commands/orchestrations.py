"""`agentorch orchestrations …`: saved orchestrations and their immutable versions (RegistryService)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as reg
from cli.commands.base import Context, add_limit, definition_file, struct
from cli.render import label, pairs, table, when
from services.common.structs import struct_to_dict, value_to_json

STATUSES = {
    "active": opb.ORCHESTRATION_STATUS_ACTIVE,
    "inactive": opb.ORCHESTRATION_STATUS_INACTIVE,
    "archived": opb.ORCHESTRATION_STATUS_ARCHIVED,
}


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("orchestrations", help="saved orchestrations and their versions")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = sub.add_parser("list", parents=[common], help="list orchestrations")
    listing.add_argument("--agent", default="-", help="only this agent's (default: every agent)")
    listing.add_argument("--filter", default="", help="e.g. 'status = ACTIVE AND tag = \"demo\"'")
    listing.add_argument("--show-deleted", action="store_true")
    add_limit(listing)
    listing.set_defaults(handler=list_orchestrations)

    get = sub.add_parser("get", parents=[common], help="an orchestration with its current (or a given) version")
    get.add_argument("orchestration", help="AGENT/SLUG or the full resource name")
    get.add_argument("--version", default="", help="a version number or label (default: current)")
    get.set_defaults(handler=get_orchestration)

    create = sub.add_parser("create", parents=[common], help="create an orchestration from a definition file")
    create.add_argument("orchestration", help="AGENT/SLUG of the new orchestration")
    _version_arguments(create)
    create.add_argument("--display-name", default="", help="default: the slug")
    create.add_argument("--description", default="")
    create.add_argument("--tag", action="append", default=[], help="repeatable")
    create.set_defaults(handler=create_orchestration)

    save = sub.add_parser("new-version", parents=[common], help="save a definition file as a new version")
    save.add_argument("orchestration")
    _version_arguments(save)
    save.set_defaults(handler=new_version)

    versions = sub.add_parser("versions", parents=[common], help="the version history, newest first")
    versions.add_argument("orchestration")
    add_limit(versions)
    versions.set_defaults(handler=list_versions)

    diff = sub.add_parser("diff", parents=[common], help="what changed between two versions (JSON pointers)")
    diff.add_argument("orchestration")
    diff.add_argument("--from", dest="from_version", required=True, help="older version: a number or a label")
    diff.add_argument("--to", dest="to_version", default="", help="newer version: number or label (default: current)")
    diff.set_defaults(handler=diff_versions)

    status = sub.add_parser("set-status", parents=[common], help="activate, deactivate or archive")
    status.add_argument("orchestration")
    status.add_argument("status", choices=sorted(STATUSES))
    status.set_defaults(handler=set_status)

    for verb, handler in (("tag", tag), ("untag", untag)):
        parser = sub.add_parser(verb, parents=[common], help=f"{verb} an orchestration")
        parser.add_argument("orchestration")
        parser.add_argument("tags", nargs="+")
        parser.set_defaults(handler=handler)

    promote = sub.add_parser(
        "promote",
        parents=[common],
        help="copy a version to another agent as a new version (of a new orchestration, or of one already there)",
    )
    promote.add_argument("orchestration", help="the source: AGENT/SLUG or the full resource name")
    promote.add_argument("--version", default="", metavar="NUMBER|LABEL", help="the version to copy (default: current)")
    promote.add_argument(
        "--to-agent",
        required=True,
        metavar="AGENT",
        help="the target agent: a slug of this organization, or organizations/ORG/agents/AGENT (another organization "
        "needs a platform principal)",
    )
    promote.add_argument("--orchestration-id", default="", help="the target orchestration's slug (default: the same)")
    promote.add_argument("--label", default="", help="label of the new version (default: none)")
    promote.add_argument("--change-note", default="")
    promote.set_defaults(handler=promote_version)


def _version_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file",
        type=Path,
        required=True,
        help="the definition JSON, or {definition, prompt_templates, label, change_note}",
    )
    parser.add_argument("--label", default=None, help="version label such as 1.0.0")
    parser.add_argument("--change-note", default=None)


def _version(args: argparse.Namespace) -> opb.OrchestrationVersion:
    definition, templates, extras = definition_file(args.file)
    return opb.OrchestrationVersion(
        definition=struct(definition),
        prompt_templates=[opb.PromptTemplate(**t) for t in templates],
        label=args.label if args.label is not None else str(extras.get("label", "")),
        change_note=args.change_note if args.change_note is not None else str(extras.get("change_note", "")),
    )


def list_orchestrations(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.ListOrchestrationsRequest(
        parent=f"{ctx.parent}/agents/{args.agent}", filter=args.filter, show_deleted=args.show_deleted
    )
    response = ctx.collect(ctx.client.registry.ListOrchestrations, request, "orchestrations", args.limit)
    rows = [
        (
            f"{o.agent_slug}/{o.slug}",
            label(opb.OrchestrationStatus.Name(o.status)),
            o.current_version,
            list(o.tags),
            o.display_name,
            when(o.update_time),
        )
        for o in response.orchestrations
    ]
    ctx.output.show(response, table(("ORCHESTRATION", "STATUS", "VERSION", "TAGS", "DISPLAY NAME", "UPDATED"), rows))
    return 0


def orchestration_lines(o: opb.Orchestration) -> list[str]:
    return pairs(
        [
            ("name", o.name),
            ("display name", o.display_name),
            ("description", o.description),
            ("status", label(opb.OrchestrationStatus.Name(o.status))),
            ("current version", o.current_version),
            ("tags", list(o.tags)),
            ("updated", f"{when(o.update_time)} by {o.updated_by}" if o.updated_by else when(o.update_time)),
            ("deleted", when(o.delete_time)),
            ("etag", o.etag),
        ]
    )


def version_lines(v: opb.OrchestrationVersion) -> list[str]:
    parameters = [f"{p.name}:{p.type}{'' if p.required else '?'}" for p in v.parameters]
    steps = sum(len(phase.get("steps") or ()) for phase in _phases(v))
    return pairs(
        [
            ("version", v.name),
            ("label", v.label),
            ("author", v.author),
            ("saved", when(v.create_time)),
            ("change note", v.change_note),
            ("source plan", v.source_plan),
            ("copied from", v.copied_from),
            ("digest", v.digest),
            ("parameters", parameters),
            ("prompt templates", [t.name for t in v.prompt_templates]),
            ("phases / steps", f"{len(_phases(v))} / {steps}"),
        ]
    )


def _phases(v: opb.OrchestrationVersion) -> list[dict[str, Any]]:
    phases = struct_to_dict(v.definition).get("phases") or []
    return [p for p in phases if isinstance(p, dict)]


def version_number(ctx: Context, orchestration: str, version: str) -> int:
    """A version given by number or by label (looked up), as the number the registry's RPCs take; 0 for ""."""
    if not version or version.isdigit():
        return int(version or 0)
    request = reg.GetOrchestrationVersionRequest(name=f"{orchestration}/versions/{version}")
    number: int = ctx.call(ctx.client.registry.GetOrchestrationVersion, request).version.version_number
    return number


def get_orchestration(ctx: Context, args: argparse.Namespace) -> int:
    name = ctx.orchestration(args.orchestration)
    request = reg.GetOrchestrationRequest(name=name, version_number=version_number(ctx, name, args.version))
    response = ctx.call(ctx.client.registry.GetOrchestration, request)
    ctx.output.show(response, [*orchestration_lines(response.orchestration), "", *version_lines(response.version)])
    return 0


def create_orchestration(ctx: Context, args: argparse.Namespace) -> int:
    name = ctx.orchestration(args.orchestration)
    parent, _, slug = name.rpartition("/orchestrations/")
    request = reg.CreateOrchestrationRequest(
        parent=parent,
        orchestration_id=slug,
        orchestration=opb.Orchestration(
            display_name=args.display_name or slug, description=args.description, tags=args.tag
        ),
        version=_version(args),
    )
    response = ctx.call(ctx.client.registry.CreateOrchestration, request)
    ctx.output.show(response, [*orchestration_lines(response.orchestration), "", *version_lines(response.version)])
    return 0


def new_version(ctx: Context, args: argparse.Namespace) -> int:
    name = ctx.orchestration(args.orchestration)
    current = ctx.call(ctx.client.registry.GetOrchestration, reg.GetOrchestrationRequest(name=name))
    request = reg.CreateOrchestrationVersionRequest(
        parent=name, version=_version(args), etag=current.orchestration.etag
    )
    response = ctx.call(ctx.client.registry.CreateOrchestrationVersion, request)
    note = ["unchanged: the definition is identical to the current version; nothing was saved", ""]
    lines = [*orchestration_lines(response.orchestration), "", *version_lines(response.version)]
    ctx.output.show(response, [*note, *lines] if response.unchanged else lines)
    return 0


def list_versions(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.ListOrchestrationVersionsRequest(parent=ctx.orchestration(args.orchestration))
    response = ctx.collect(ctx.client.registry.ListOrchestrationVersions, request, "versions", args.limit)
    rows = [
        (v.version_number, v.label, v.author, when(v.create_time), v.change_note[:60], v.digest[:12])
        for v in response.versions
    ]
    ctx.output.show(response, table(("VERSION", "LABEL", "AUTHOR", "SAVED", "CHANGE NOTE", "DIGEST"), rows))
    return 0


def diff_versions(ctx: Context, args: argparse.Namespace) -> int:
    name = ctx.orchestration(args.orchestration)
    request = reg.DiffOrchestrationVersionsRequest(
        name=name,
        from_version=version_number(ctx, name, args.from_version),
        to_version=version_number(ctx, name, args.to_version),
    )
    response = ctx.call(ctx.client.registry.DiffOrchestrationVersions, request)

    def value(change: Any, field: str) -> str:
        return value_to_json(getattr(change, field)) if change.HasField(field) else ""

    rows = [
        (label(opb.ChangeKind.Name(c.kind)), c.path, value(c, "old_value"), value(c, "new_value"))
        for c in response.changes
    ]
    ctx.output.show(response, table(("CHANGE", "PATH", "OLD", "NEW"), rows) if rows else ["no changes"])
    return 0


def set_status(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.SetOrchestrationStatusRequest(
        name=ctx.orchestration(args.orchestration), status=STATUSES[args.status]
    )
    response = ctx.call(ctx.client.registry.SetOrchestrationStatus, request)
    ctx.output.show(response, orchestration_lines(response.orchestration))
    return 0


def tag(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.TagOrchestrationRequest(name=ctx.orchestration(args.orchestration), tags=args.tags)
    response = ctx.call(ctx.client.registry.TagOrchestration, request)
    ctx.output.show(response, orchestration_lines(response.orchestration))
    return 0


def untag(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.UntagOrchestrationRequest(name=ctx.orchestration(args.orchestration), tags=args.tags)
    response = ctx.call(ctx.client.registry.UntagOrchestration, request)
    ctx.output.show(response, orchestration_lines(response.orchestration))
    return 0


def promote_version(ctx: Context, args: argparse.Namespace) -> int:
    name = ctx.orchestration(args.orchestration)
    version = args.version
    if not version:
        current = ctx.call(ctx.client.registry.GetOrchestration, reg.GetOrchestrationRequest(name=name))
        version = str(current.orchestration.current_version)
    request = reg.PromoteOrchestrationVersionRequest(
        name=f"{name}/versions/{version}",
        target_parent=ctx.agent(args.to_agent),
        target_orchestration_id=args.orchestration_id,
        label=args.label,
        change_note=args.change_note,
    )
    response = ctx.call(ctx.client.registry.PromoteOrchestrationVersion, request)
    ctx.output.show(response, [*orchestration_lines(response.orchestration), "", *version_lines(response.version)])
    return 0
