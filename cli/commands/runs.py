"""`agentorch runs …` and `agentorch checkpoints …`: launch, follow and operate runs; decide human checkpoints
(RunsService)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from cli.commands import checkpoint_routing
from cli.commands.base import (
    Context,
    add_limit,
    definition_file,
    load_json,
    moment,
    parse_inputs,
    parse_pairs,
    struct,
    to_dict,
)
from cli.commands.decisions import add_votes_command, tally_pairs, vote_lines
from cli.gateway_client import UsageError
from cli.render import as_dict, label, pairs, progress_bar, short_name, table, when
from cli.watch import RUN_STATUSES, JsonView, LineView, RunModel, TerminalView, View, as_seen, follow
from services.common.structs import value_to_json

ORIGINS = {label(run_pb2.OriginType.Name(v)): v for v in run_pb2.OriginType.values() if v}
EVENT_PAGE = 1000  # ListRunEvents' largest page
CHECKPOINT_STATUSES = {label(run_pb2.CheckpointStatus.Name(v)): v for v in run_pb2.CheckpointStatus.values() if v}
FINISHED = {
    run_pb2.STEP_STATUS_SUCCEEDED,
    run_pb2.STEP_STATUS_FAILED,
    run_pb2.STEP_STATUS_SKIPPED,
    run_pb2.STEP_STATUS_CANCELLED,
}


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("runs", help="launch, watch and operate runs")
    sub = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    launch = sub.add_parser(
        "launch",
        parents=[common],
        help="launch a run of an orchestration, an approved plan (--plan) or a definition file (--file)",
    )
    launch.add_argument("orchestration", nargs="?", help="AGENT/SLUG or the full resource name")
    launch.add_argument("--version", default="", help="pin this version: a number or a label (default: current)")
    launch.add_argument("--plan", default="", help="an approved plan (id or name) instead")
    launch.add_argument("--file", type=Path, help="an ad hoc definition file instead")
    launch.add_argument("--input", action="append", metavar="NAME=TEXT|NAME:=JSON", help="a launch input; repeatable")
    launch.add_argument("--inputs-file", type=Path, help="a JSON object of launch inputs")
    launch.add_argument(
        "--metadata", action="append", metavar="NAME=TEXT|NAME:=JSON", help="metadata kept with the run; repeatable"
    )
    launch.add_argument("--metadata-file", type=Path, help="a JSON object of run metadata (at most 16 KiB)")
    launch.add_argument("--request-id", default="", help="idempotency key: the same key returns the same run")
    launch.add_argument("--watch", action="store_true", help="then follow it, as `runs watch`")
    launch.set_defaults(handler=launch_run)

    listing = sub.add_parser("list", parents=[common], help="list runs, newest first")
    listing.add_argument("--status", choices=sorted(RUN_STATUSES))
    listing.add_argument("--orchestration", default="", help="only runs of this orchestration (AGENT/SLUG)")
    listing.add_argument("--origin", choices=sorted(ORIGINS), help="only runs launched from this kind of source")
    listing.add_argument(
        "--since", type=moment, metavar="TIME", help="only runs created at or after TIME (ISO 8601, or an age: 2h, 7d)"
    )
    listing.add_argument("--until", type=moment, metavar="TIME", help="only runs created before TIME")
    add_limit(listing)
    listing.set_defaults(handler=list_runs)

    events = sub.add_parser(
        "events", parents=[common], help="a run's event log (each event with the run's status at that event)"
    )
    events.add_argument("run")
    events.add_argument("--after", type=int, default=0, help="only events after this sequence")
    add_limit(events, default=1000)
    events.set_defaults(handler=list_events)

    get = sub.add_parser("get", parents=[common], help="a run and the state of every step")
    get.add_argument("run", help="run id or full resource name")
    get.set_defaults(handler=get_run)

    watch = sub.add_parser(
        "watch",
        parents=[common],
        help="follow a run live; exit 0 when it completed, 1 when it failed or was cancelled",
    )
    watch.add_argument("run")
    watch.add_argument("--after", type=int, default=0, help="start after this event sequence (default: replay all)")
    watch.add_argument(
        "--until-checkpoint", action="store_true", help="stop (exit 0) once the run waits on a human decision"
    )
    watch.set_defaults(handler=watch_run)

    cancel = sub.add_parser("cancel", parents=[common], help="cancel a run")
    cancel.add_argument("run")
    cancel.add_argument("--reason", default="")
    cancel.set_defaults(handler=cancel_run)
    for verb, handler in (("pause", pause_run), ("resume", resume_run)):
        parser = sub.add_parser(verb, parents=[common], help=f"{verb} a run")
        parser.add_argument("run")
        parser.set_defaults(handler=handler)
    retry = sub.add_parser(
        "retry",
        parents=[common],
        help="re-run a failed, cancelled or completed run from a step (that step and everything after it; each "
        "with its full retry policy)",
    )
    retry.add_argument("run")
    retry.add_argument(
        "--from-step", default="", help="default: the first failed step (name one to re-run a completed run)"
    )
    retry.set_defaults(handler=retry_run)

    checkpoints = commands.add_parser("checkpoints", help="human checkpoints: the approvals inbox")
    csub = checkpoints.add_subparsers(dest="action", metavar="ACTION", required=True)
    clist = csub.add_parser("list", parents=[common], help="checkpoints, oldest first (default: open ones)")
    clist.add_argument("--run", default="", help="only this run's")
    clist.add_argument("--status", default="open", choices=[*sorted(CHECKPOINT_STATUSES), "all"])
    clist.add_argument("--assignee", default="")
    clist.add_argument("--role", default="")
    clist.add_argument("--overdue", action="store_true")
    checkpoint_routing.add_inbox_flags(clist)
    add_limit(clist)
    clist.set_defaults(handler=list_checkpoints)
    cget = csub.add_parser("get", parents=[common], help="a checkpoint")
    cget.add_argument("checkpoint", help="RUN_ID/CHECKPOINT_ID or the full resource name")
    cget.set_defaults(handler=get_checkpoint)
    add_votes_command(csub, common)  # i14-decisions
    for verb, decision in (
        ("approve", run_pb2.DECISION_APPROVE),
        ("reject", run_pb2.DECISION_REJECT),
        ("request-changes", run_pb2.DECISION_REQUEST_CHANGES),
    ):
        decide = csub.add_parser(verb, parents=[common], help=f"{verb.replace('-', ' ')} (decided exactly once)")
        decide.add_argument("checkpoint")
        decide.add_argument("--comment", default="", required=verb == "request-changes", help="shown to later steps")
        decide.add_argument("--payload-file", type=Path, help="a JSON object passed on with the decision")
        decide.add_argument("--reason-code", default="", help="one of the checkpoint's reason codes")
        checkpoint_routing.add_override_flags(decide)
        decide.set_defaults(handler=decide_checkpoint, decision=decision)
    checkpoint_routing.register(csub, common)


# --- rendering ---------------------------------------------------------------------------------------------------


def run_lines(run: run_pb2.Run) -> list[str]:
    done = sum(1 for s in run.steps if s.status in FINISHED)
    reason = f" ({run.status_reason})" if run.status_reason else ""
    lines = pairs(
        [
            ("run", run.name),
            ("id", run.run_id or short_name(run.name)),  # what the other run commands take
            ("status", label(run_pb2.RunStatus.Name(run.status)) + reason),
            ("origin", f"{label(run_pb2.OriginType.Name(run.origin_type))} {run.origin}".strip()),
            ("progress", progress_bar(done, len(run.steps)) if run.steps else ""),
            ("created", f"{when(run.create_time)} by {run.created_by}"),
            ("ended", when(run.end_time)),
            ("open checkpoints", list(run.open_checkpoints)),
            ("failed steps", run.failed_steps or ""),
            ("interventions", [_intervention(i) for i in run.operator_interventions]),
            ("metadata", to_dict(run.metadata) if run.metadata else ""),
            ("last event", run.last_event_sequence),
        ]
    )
    if run.steps:
        rows = [
            (
                s.phase_id,
                s.step_id,
                s.kind,
                label(run_pb2.StepStatus.Name(s.status)),
                s.attempt or "",
                _output(s) or s.error,
            )
            for s in run.steps
        ]
        lines += ["", *table(("PHASE", "STEP", "KIND", "STATUS", "ATTEMPT", "OUTPUT / ERROR"), rows)]
    return lines


def _intervention(item: run_pb2.OperatorIntervention) -> str:
    """`retry from work by ops@x at <time>`, `resume by ops@x at <time>`."""
    where = f" from {item.step_id}" if item.kind == "retry" else (f" of {item.step_id}" if item.step_id else "")
    return f"{item.kind}{where} by {item.by or '?'} at {when(item.time)}"


def _output(step: run_pb2.StepState) -> str:
    if not step.HasField("output"):
        return ""
    kind = step.output.WhichOneof("kind")
    if kind == "string_value":
        text: str = step.output.string_value
    else:
        text = value_to_json(step.output)
    return text if len(text) <= 60 else text[:57] + "..."


def checkpoint_lines(c: run_pb2.Checkpoint) -> list[str]:
    return pairs(
        [
            ("checkpoint", c.name),
            ("title", c.title),
            ("status", label(run_pb2.CheckpointStatus.Name(c.status))),
            ("step", c.step_id),
            ("context", c.context[:200]),
            ("deliverables", list(c.deliverables)),
            ("role", c.role),
            ("assignees", list(c.assignees)),
            ("opened", when(c.open_time)),
            ("due", when(c.due_time)),
            ("decision", label(run_pb2.Decision.Name(c.decision))),
            ("comment", c.comment),
            ("revision", c.revision or ""),
            ("decided", f"{when(c.decide_time)} by {c.decided_by}" if c.decided_by else ""),
            ("override", c.override_justification if c.override else ""),
            ("escalation", f"level {c.escalation_level} of {c.escalation_levels}" if c.escalation_levels else ""),
            ("next escalation", when(c.next_escalation_time)),
            ("reminder", when(c.remind_time)),
            *tally_pairs(c),
        ]
    ) + vote_lines(c)


# --- runs --------------------------------------------------------------------------------------------------------


def launch_run(ctx: Context, args: argparse.Namespace) -> int:
    sources = [s for s in (args.orchestration, args.plan, args.file) if s]
    if len(sources) != 1:
        raise UsageError("launch what? give exactly one of ORCHESTRATION, --plan or --file")
    if args.version and not args.orchestration:
        raise UsageError("--version only applies to an orchestration")
    metadata = parse_pairs(args.metadata, args.metadata_file, flag="--metadata", what="metadata")
    request = runs.CreateRunRequest(
        parent=ctx.parent,
        prompt_inputs=struct(parse_inputs(args.input, args.inputs_file)),
        request_id=args.request_id,
    )
    if metadata:
        request.metadata.CopyFrom(struct(metadata))
    if args.orchestration:  # the runs service pins `.../versions/{number or label}`
        name = ctx.orchestration(args.orchestration)
        request.orchestration = f"{name}/versions/{args.version}" if args.version else name
    elif args.plan:
        request.plan = ctx.plan(args.plan)
    else:
        definition, templates, _ = definition_file(args.file)
        request.ad_hoc.definition.CopyFrom(struct(definition))
        request.ad_hoc.prompt_templates.extend(
            runs.AdHocPromptTemplate(name=t.get("name", ""), template=t.get("template", "")) for t in templates
        )
    response = ctx.call(ctx.client.runs.CreateRun, request)
    if args.watch:
        if not ctx.output.json:
            ctx.output.print(f"launched {response.run.name}")
        return _watch(ctx, response.run.name, 0, until_checkpoint=False)
    ctx.output.show(response, run_lines(response.run))
    return 0


def list_runs(ctx: Context, args: argparse.Namespace) -> int:
    request = runs.ListRunsRequest(
        parent=ctx.parent,
        status=RUN_STATUSES[args.status] if args.status else run_pb2.RUN_STATUS_UNSPECIFIED,
        orchestration=ctx.orchestration(args.orchestration) if args.orchestration else "",
        origin_type=ORIGINS[args.origin] if args.origin else run_pb2.ORIGIN_TYPE_UNSPECIFIED,
    )
    if args.since is not None:
        request.start_time.CopyFrom(args.since)
    if args.until is not None:
        request.end_time.CopyFrom(args.until)
    response = ctx.collect(ctx.client.runs.ListRuns, request, "runs", args.limit)
    rows = [
        (
            short_name(r.name),
            label(run_pb2.RunStatus.Name(r.status)),
            label(run_pb2.OriginType.Name(r.origin_type)),
            r.origin.removeprefix(f"{ctx.parent}/"),
            when(r.create_time),
            r.created_by,
        )
        for r in response.runs
    ]
    ctx.output.show(response, table(("RUN", "STATUS", "ORIGIN", "FROM", "CREATED", "BY"), rows))
    return 0


def get_run(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.call(ctx.client.runs.GetRun, runs.GetRunRequest(name=ctx.run(args.run)))
    ctx.output.show(response, run_lines(response.run))
    return 0


def list_events(ctx: Context, args: argparse.Namespace) -> int:
    """The log is read from its start whatever `--after` says, so that each event shown carries the run's status
    at that event (replayed from the status changes before it, as `runs watch` does)."""
    if args.after < 0:
        raise UsageError("--after must be 0 or a sequence number")
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    name = ctx.run(args.run)
    model = RunModel(name, "pending", {})
    shown = runs.ListRunEventsResponse()
    cursor = 0
    while True:
        request = runs.ListRunEventsRequest(name=name, after_sequence=cursor, page_size=EVENT_PAGE)
        page = ctx.call(ctx.client.runs.ListRunEvents, request)
        for event in page.events:
            if event.sequence > args.after and len(shown.events) == args.limit:
                shown.has_more = True
                break
            model.apply(event)
            cursor = event.sequence
            if event.sequence > args.after:
                shown.events.append(as_seen(model, event))
        if shown.has_more or not page.has_more or not page.events:
            break
    rows = [
        (
            e.sequence,
            when(e.event_time),
            label(run_pb2.EventType.Name(e.type)),
            e.step_id or "-",
            label(run_pb2.RunStatus.Name(e.run_status)),
            _details(e),
        )
        for e in shown.events
    ]
    lines = table(("SEQ", "TIME", "TYPE", "STEP", "RUN", "DETAILS"), rows)
    if shown.has_more and not ctx.output.json:
        print(f"(more events follow: raise --limit, or pass --after {cursor})", file=ctx.err)
    ctx.output.show(shown, lines)
    return 0


def _details(event: run_pb2.RunEvent) -> str:
    text = json.dumps(as_dict(event.data), ensure_ascii=False, sort_keys=True) if event.HasField("data") else ""
    return text if len(text) <= 80 else text[:77] + "..."


def watch_run(ctx: Context, args: argparse.Namespace) -> int:
    if args.after < 0:
        raise UsageError("--after must be 0 or a sequence number")
    return _watch(ctx, ctx.run(args.run), args.after, until_checkpoint=args.until_checkpoint)


def _watch(ctx: Context, name: str, after: int, *, until_checkpoint: bool) -> int:
    run = ctx.call(ctx.client.runs.GetRun, runs.GetRunRequest(name=name)).run
    # The view shows the events after `after`, on top of the state the earlier ones lead to (replayed unseen).
    model = RunModel.start(run, replay=True)
    caught_up = after >= run.last_event_sequence
    out = ctx.output.out
    view: View
    if ctx.output.json:
        view = JsonView(out)
    elif out.isatty():
        view = TerminalView(out)
    else:
        view = LineView(out)

    def open_stream(request: runs.WatchRunRequest, resume: bool) -> Any:
        return ctx.client.stream(ctx.client.runs.WatchRun, request, wait_for_ready=resume)

    def latest() -> int:
        sequence: int = ctx.call(ctx.client.runs.GetRun, runs.GetRunRequest(name=name)).run.last_event_sequence
        return sequence

    if not (caught_up and until_checkpoint and model.waiting_for_checkpoint):
        live_from = run.last_event_sequence
        model = follow(
            open_stream,
            model,
            view,
            until_checkpoint=until_checkpoint,
            live_from=live_from,
            latest=latest,
            show_after=after,
        )
    view.end(model)
    if model.status in ("failed", "cancelled"):
        return 1
    return 0


def cancel_run(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.call(ctx.client.runs.CancelRun, runs.CancelRunRequest(name=ctx.run(args.run), reason=args.reason))
    ctx.output.show(response, run_lines(response.run))
    return 0


def pause_run(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.call(ctx.client.runs.PauseRun, runs.PauseRunRequest(name=ctx.run(args.run)))
    ctx.output.show(response, run_lines(response.run))
    return 0


def resume_run(ctx: Context, args: argparse.Namespace) -> int:
    response = ctx.call(ctx.client.runs.ResumeRun, runs.ResumeRunRequest(name=ctx.run(args.run)))
    ctx.output.show(response, run_lines(response.run))
    return 0


def retry_run(ctx: Context, args: argparse.Namespace) -> int:
    request = runs.RetryRunRequest(name=ctx.run(args.run), from_step=args.from_step)
    response = ctx.call(ctx.client.runs.RetryRun, request)
    ctx.output.show(response, run_lines(response.run))
    return 0


# --- checkpoints -------------------------------------------------------------------------------------------------


def list_checkpoints(ctx: Context, args: argparse.Namespace) -> int:
    status = run_pb2.CHECKPOINT_STATUS_UNSPECIFIED if args.status == "all" else CHECKPOINT_STATUSES[args.status]
    request = runs.ListCheckpointsRequest(
        parent=ctx.run(args.run) if args.run else ctx.parent,
        status=status,
        assignee=args.assignee,
        role=args.role,
        overdue=args.overdue,
        **checkpoint_routing.inbox_fields(ctx, args),
    )
    response = ctx.collect(ctx.client.runs.ListCheckpoints, request, "checkpoints", args.limit)
    rows = [
        (
            c.name.removeprefix(f"{ctx.parent}/runs/").replace("/checkpoints/", "/"),
            label(run_pb2.CheckpointStatus.Name(c.status)),
            c.step_id,
            c.role,
            c.title,
            when(c.open_time),
            when(c.due_time),
        )
        for c in response.checkpoints
    ]
    ctx.output.show(response, table(("CHECKPOINT", "STATUS", "STEP", "ROLE", "TITLE", "OPENED", "DUE"), rows))
    return 0


def get_checkpoint(ctx: Context, args: argparse.Namespace) -> int:
    request = runs.GetCheckpointRequest(name=ctx.checkpoint(args.checkpoint))
    response = ctx.call(ctx.client.runs.GetCheckpoint, request)
    ctx.output.show(response, checkpoint_lines(response.checkpoint))
    return 0


def decide_checkpoint(ctx: Context, args: argparse.Namespace) -> int:
    request = runs.DecideCheckpointRequest(
        name=ctx.checkpoint(args.checkpoint),
        decision=args.decision,
        comment=args.comment,
        reason_code=args.reason_code,
        override=args.override,
        justification=args.justification,
    )
    if args.payload_file is not None:
        payload = load_json(args.payload_file, "payload")
        if not isinstance(payload, dict):
            raise UsageError(f"{args.payload_file}: a payload is a JSON object")
        request.payload.CopyFrom(struct(payload))
    response = ctx.call(ctx.client.runs.DecideCheckpoint, request)
    status = label(run_pb2.RunStatus.Name(response.run.status))
    ctx.output.show(response, [*checkpoint_lines(response.checkpoint), "", f"run {response.run.name} {status}"])
    return 0
