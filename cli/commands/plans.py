"""`agentorch plans …`: conversation plans, their decision, and saving them as orchestrations (RegistryService)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agentorch.registry.v1 import plan_pb2
from agentorch.registry.v1 import registry_service_pb2 as reg
from cli.commands.base import Context, add_limit, load_json, struct, to_dict
from cli.commands.orchestrations import orchestration_lines, version_lines
from cli.gateway_client import UsageError
from cli.render import label, pairs, short_name, table, when

STATUSES = {
    "draft": plan_pb2.PLAN_STATUS_DRAFT,
    "approved": plan_pb2.PLAN_STATUS_APPROVED,
    "rejected": plan_pb2.PLAN_STATUS_REJECTED,
    "superseded": plan_pb2.PLAN_STATUS_SUPERSEDED,
}


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("plans", help="conversation plans")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = sub.add_parser("list", parents=[common], help="list plans, newest first")
    listing.add_argument("--conversation", default="")
    listing.add_argument("--agent", default="")
    listing.add_argument("--status", choices=sorted(STATUSES))
    add_limit(listing)
    listing.set_defaults(handler=list_plans)

    get = sub.add_parser("get", parents=[common], help="a plan")
    get.add_argument("plan", help="plan id or full resource name")
    get.set_defaults(handler=get_plan)

    create = sub.add_parser("create", parents=[common], help="record a plan from a JSON file")
    create.add_argument("--file", type=Path, required=True, help="the plan JSON (see docs/plan-format.md)")
    create.add_argument("--conversation", required=True, help="the conversation id")
    create.add_argument("--agent", required=True, help="the planning agent's slug")
    create.set_defaults(handler=create_plan)

    for verb, handler in (("approve", approve_plan), ("reject", reject_plan)):
        decide = sub.add_parser(verb, parents=[common], help=f"{verb} a draft plan (approver)")
        decide.add_argument("plan")
        decide.add_argument("--comment", default="")
        decide.set_defaults(handler=handler)

    convert = sub.add_parser(
        "convert",
        parents=[common],
        help="preview the orchestration definition a plan converts to (saves nothing)",
        description="Print what `plans save` would save. With -o json the output is a definition file that "
        "`orchestrations create --file` and `runs launch --file` take as it is.",
    )
    convert.add_argument("plan")
    convert.set_defaults(handler=convert_plan)

    save = sub.add_parser("save", parents=[common], help="save an approved plan as an orchestration (or a version)")
    save.add_argument("plan")
    spelled = save.add_mutually_exclusive_group(required=True)
    spelled.add_argument("--orchestration-id", help="the orchestration slug")
    spelled.add_argument("--id", dest="orchestration_id", help=argparse.SUPPRESS)  # its first spelling, still taken
    save.add_argument("--display-name", default="")
    save.add_argument("--label", default="")
    save.add_argument("--change-note", default="")
    save.set_defaults(handler=save_plan)


def plan_lines(p: plan_pb2.ConversationPlan) -> list[str]:
    document = to_dict(p.plan)
    return pairs(
        [
            ("name", p.name),
            ("title", document.get("title", "")),
            ("status", label(plan_pb2.PlanStatus.Name(p.status))),
            ("conversation", p.conversation_id),
            ("agent", p.agent_slug),
            ("steps", len(document.get("steps") or ())),
            ("created", f"{when(p.create_time)} by {p.created_by}"),
            ("decided", f"{when(p.decide_time)} by {p.decided_by}" if p.decided_by else ""),
            ("comment", p.decision_comment),
            ("saved versions", list(p.saved_versions)),
        ]
    )


def list_plans(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.ListPlansRequest(
        parent=ctx.parent,
        conversation_id=args.conversation,
        agent_slug=args.agent,
        status=STATUSES[args.status] if args.status else plan_pb2.PLAN_STATUS_UNSPECIFIED,
    )
    response = ctx.collect(ctx.client.registry.ListPlans, request, "plans", args.limit)
    rows = [
        (
            short_name(p.name),
            label(plan_pb2.PlanStatus.Name(p.status)),
            p.conversation_id,
            p.agent_slug,
            when(p.create_time),
            to_dict(p.plan).get("title", ""),
        )
        for p in response.plans
    ]
    ctx.output.show(response, table(("PLAN", "STATUS", "CONVERSATION", "AGENT", "CREATED", "TITLE"), rows))
    return 0


def get_plan(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.call(ctx.client.registry.GetPlan, reg.GetPlanRequest(name=ctx.plan(args.plan)))
    ctx.output.show(response, plan_lines(response.plan))
    return 0


def create_plan(ctx: Context, args: argparse.Namespace) -> int:
    document = load_json(args.file, "plan")
    if not isinstance(document, dict):
        raise UsageError(f"{args.file}: a plan is a JSON object")
    plan = plan_pb2.ConversationPlan(conversation_id=args.conversation, agent_slug=args.agent, plan=struct(document))
    response = ctx.call(ctx.client.registry.CreatePlan, reg.CreatePlanRequest(parent=ctx.parent, plan=plan))
    ctx.output.show(response, plan_lines(response.plan))
    return 0


def convert_plan(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.ConvertPlanToOrchestrationRequest(name=ctx.plan(args.plan))
    response = ctx.call(ctx.client.registry.ConvertPlanToOrchestration, request)
    definition = to_dict(response.definition)
    phases = [p for p in definition.get("phases") or () if isinstance(p, dict)]
    parameters = [p for p in definition.get("parameters") or () if isinstance(p, dict)]
    lines = pairs(
        [
            ("phases / steps", f"{len(phases)} / {sum(len(p.get('steps') or ()) for p in phases)}"),
            ("parameters", [f"{p.get('name')}:{p.get('type', 'string')}" for p in parameters]),
            ("prompt templates", [t.name for t in response.prompt_templates]),
        ]
    )
    lines += [f"note: {note}" for note in response.notes]
    lines.append("(-o json prints the definition with its templates, a file `orchestrations create --file` takes)")
    ctx.output.show(response, lines)
    return 0


def approve_plan(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.ApprovePlanRequest(name=ctx.plan(args.plan), comment=args.comment)
    response = ctx.call(ctx.client.registry.ApprovePlan, request)
    ctx.output.show(response, plan_lines(response.plan))
    return 0


def reject_plan(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.RejectPlanRequest(name=ctx.plan(args.plan), comment=args.comment)
    response = ctx.call(ctx.client.registry.RejectPlan, request)
    ctx.output.show(response, plan_lines(response.plan))
    return 0


def save_plan(ctx: Context, args: argparse.Namespace) -> int:
    request = reg.SavePlanAsOrchestrationRequest(
        name=ctx.plan(args.plan),
        orchestration_id=args.orchestration_id,
        display_name=args.display_name,
        label=args.label,
        change_note=args.change_note,
    )
    response = ctx.call(ctx.client.registry.SavePlanAsOrchestration, request)
    lines = [*orchestration_lines(response.orchestration), "", *version_lines(response.version)]
    ctx.output.show(
        response, [f"{'created' if response.created else 'new version of'} {response.orchestration.name}", *lines]
    )
    return 0
