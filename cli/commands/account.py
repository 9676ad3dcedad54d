"""`agentorch whoami` and `agentorch invoke MODE …` (GatewayService)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from agentorch.gateway.v1 import gateway_service_pb2 as gw
from cli.commands.base import Context, definition_file, load_json, parse_inputs, struct, to_dict
from cli.gateway_client import UsageError
from cli.render import pairs

MODES = (
    "plan",
    "build",
    "orchestrate_create",
    "orchestrate_execute",
    "orchestrate_continue",
    "orchestrate_save_recipe",
)


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    whoami = commands.add_parser("whoami", parents=[common], help="who the gateway says you are")
    whoami.set_defaults(handler=who_am_i)

    invoke = commands.add_parser(
        "invoke",
        parents=[common],
        help="call GatewayService/Invoke in an agent mode",
        description="Each mode takes the fields it needs (see the README's Invoke table); others are refused.",
    )
    invoke.add_argument("mode", choices=MODES)
    invoke.add_argument("--agent", default="", help="agent_slug")
    invoke.add_argument("--message", default="", help="plan/build: the message for the agent")
    invoke.add_argument(
        "--conversation", default="", help="conversation_id (orchestrate_create; plan: store the answer as its plan)"
    )
    invoke.add_argument("--plan-file", type=Path, help="orchestrate_create: the plan JSON")
    invoke.add_argument("--definition-file", type=Path, help="a definition (with optional prompt_templates)")
    invoke.add_argument("--target", default="", help="an orchestration, plan or run (resource name)")
    invoke.add_argument("--input", action="append", metavar="NAME=TEXT|NAME:=JSON", help="a launch input")
    invoke.add_argument("--inputs-file", type=Path)
    invoke.add_argument("--checkpoint", default="", help="orchestrate_continue: the checkpoint (resource name)")
    invoke.add_argument("--decision", default="", choices=["", "approve", "reject", "request_changes"])
    invoke.add_argument("--comment", default="")
    invoke.add_argument("--orchestration-id", default="")
    invoke.add_argument("--display-name", default="")
    invoke.add_argument("--label", default="")
    invoke.add_argument("--credential", action="append", default=[], help="plan/build: a vault alias; repeatable")
    invoke.add_argument("--request-id", default="")
    invoke.add_argument("--timeout", type=float, default=120.0, help="the call's deadline in seconds")
    invoke.set_defaults(handler=invoke_mode)


def who_am_i(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.call(ctx.client.gateway.WhoAmI, gw.WhoAmIRequest())
    lines = pairs(
        [
            ("subject", response.subject),
            ("organization", response.organization_slug or "(platform)"),
            ("roles", list(response.roles)),
            ("groups", list(response.groups) or "-"),
            ("roles from", "organization members" if response.managed_membership else "the token"),
            ("forbid self-approval", response.forbid_self_approval),
            ("authentication", response.authentication),
        ]
    )
    ctx.output.show(response, lines)
    return 0


def invoke_mode(ctx: Context, args: argparse.Namespace) -> int:
    request = gw.InvokeRequest(
        mode=gw.AgentMode.Value(f"AGENT_MODE_{args.mode.upper()}"),
        parent=ctx.parent,
        agent_slug=args.agent,
        message=args.message,
        conversation_id=args.conversation,
        target=args.target,
        checkpoint=args.checkpoint,
        decision=args.decision,
        comment=args.comment,
        orchestration_id=args.orchestration_id,
        display_name=args.display_name,
        label=args.label,
        request_id=args.request_id,
        credentials=args.credential,
    )
    if args.plan_file is not None:
        plan = load_json(args.plan_file, "plan")
        if not isinstance(plan, dict):
            raise UsageError(f"{args.plan_file}: a plan is a JSON object")
        request.plan.CopyFrom(struct(plan))
    if args.definition_file is not None:
        definition, templates, _ = definition_file(args.definition_file)
        request.definition.CopyFrom(struct(definition))
        request.prompt_templates.extend(
            gw.InvokePromptTemplate(name=t.get("name", ""), template=t.get("template", "")) for t in templates
        )
    if args.input or args.inputs_file:
        request.prompt_inputs.CopyFrom(struct(parse_inputs(args.input, args.inputs_file)))
    response = ctx.client.call(ctx.client.gateway.Invoke, request, timeout=args.timeout)
    metadata = to_dict(response.metadata)
    lines = pairs(
        [
            ("mode", args.mode),
            ("status", metadata.get("status", "")),
            ("run", response.run),
            ("plan", response.plan),
            ("orchestration version", response.orchestration_version),
            ("open checkpoints", list(response.open_checkpoints)),
            ("error", metadata.get("error", "")),
        ]
    )
    if response.output:
        lines += ["", response.output]
    ctx.output.show(response, lines)
    failed = metadata.get("status") in ("RUN_STATUS_FAILED", "RUN_STATUS_CANCELLED")
    return 1 if failed and args.mode in ("plan", "build") else 0
