"""`agentorch checkpoints reassign|extend` and the inbox flags of `checkpoints list` (issue 14, i14-routing)."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from typing import Any

from google.protobuf import timestamp_pb2

from agentorch.runs.v1 import runs_service_pb2 as runs
from cli.commands.base import Context, moment

_AHEAD = re.compile(r"^\+(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def ahead(value: str, *, now: dt.datetime | None = None) -> timestamp_pb2.Timestamp:
    """An argparse type for a future time: ISO 8601 (`2026-12-06T10:00Z`, UTC without an offset) or `+2h`, `+3d`."""
    match = _AHEAD.match(value.strip())
    if not match:
        return moment(value)
    later = (now or dt.datetime.now(dt.UTC)) + dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(later)
    return stamp


def add_inbox_flags(parser: argparse.ArgumentParser) -> None:
    """The inbox filters of `checkpoints list`."""
    parser.add_argument("--mine", action="store_true", help="assigned to me, directly or through one of my groups")
    parser.add_argument("--group", default="", help="assigned to this group (its slug)")
    parser.add_argument("--due-before", type=ahead, help="due before this time (ISO 8601, or +2h, +1d)")
    parser.add_argument("--orchestration", default="", help="of runs of this orchestration (AGENT/SLUG or a name)")
    parser.add_argument("--by-due", action="store_true", help="soonest due first (no due time last)")


def inbox_fields(ctx: Context, args: argparse.Namespace) -> dict[str, Any]:
    orchestration = args.orchestration
    if orchestration and not orchestration.startswith("organizations/"):
        agent, _, slug = orchestration.partition("/")
        orchestration = f"{ctx.parent}/agents/{agent}/orchestrations/{slug}"
    fields: dict[str, Any] = {
        "assigned_to_me": args.mine,
        "group": args.group,
        "orchestration": orchestration,
        "order_by": "due_time" if args.by_due else "",
    }
    if args.due_before is not None:
        fields["due_before"] = args.due_before
    return fields


def add_override_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--override", action="store_true", help="as an admin, decide a checkpoint you are not assigned (audited)"
    )
    parser.add_argument("--justification", default="", help="why the override (required with --override)")


def register(csub: Any, common: argparse.ArgumentParser) -> None:
    reassign = csub.add_parser("reassign", parents=[common], help="give an open checkpoint to other assignees")
    reassign.add_argument("checkpoint", help="RUN_ID/CHECKPOINT_ID or the full resource name")
    # `--assignee` (repeated), as `checkpoints list --assignee` spells it: `--to` already means a version.
    reassign.add_argument(
        "--assignee",
        action="append",
        default=[],
        help="a new assignee: an e-mail address or group:SLUG (repeat; none: anyone holding the role)",
    )
    reassign.add_argument("--role", default="", help="the role needed to decide (default: unchanged)")
    reassign.add_argument("--reason", required=True, help="recorded in the run's events")
    reassign.set_defaults(handler=reassign_checkpoint)
    extend = csub.add_parser("extend", parents=[common], help="move an open checkpoint's due time")
    extend.add_argument("checkpoint", help="RUN_ID/CHECKPOINT_ID or the full resource name")
    extend.add_argument("--due", type=ahead, required=True, help="the new due time (ISO 8601, or +2h, +1d)")
    extend.add_argument("--reason", required=True, help="recorded in the run's events")
    extend.set_defaults(handler=extend_checkpoint)


def reassign_checkpoint(ctx: Context, args: argparse.Namespace) -> int:
    from cli.commands.runs import checkpoint_lines

    request = runs.ReassignCheckpointRequest(
        name=ctx.checkpoint(args.checkpoint), assignees=args.assignee, role=args.role, reason=args.reason
    )
    response = ctx.call(ctx.client.runs.ReassignCheckpoint, request)
    ctx.output.show(response, checkpoint_lines(response.checkpoint))
    return 0


def extend_checkpoint(ctx: Context, args: argparse.Namespace) -> int:
    from cli.commands.runs import checkpoint_lines

    request = runs.ExtendCheckpointRequest(name=ctx.checkpoint(args.checkpoint), due_time=args.due, reason=args.reason)
    response = ctx.call(ctx.client.runs.ExtendCheckpoint, request)
    ctx.output.show(response, checkpoint_lines(response.checkpoint))
    return 0
