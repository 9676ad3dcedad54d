"""Checkpoint decision records in the CLI (issue 14 items 3, 5, 6): the tally and votes `checkpoints get` prints,
and `checkpoints votes`, which prints each vote with its evidence hash (and, with --evidence, the evidence JSON)."""

from __future__ import annotations

import argparse
import hashlib
import json
from typing import Any

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from cli.commands.base import Context
from cli.render import label, short_name, table, when


def add_votes_command(subcommands: Any, common: argparse.ArgumentParser) -> None:
    """`checkpoints votes RUN/CP [--evidence]`."""
    votes = subcommands.add_parser(
        "votes", parents=[common], help="a checkpoint's decision records, with their evidence hashes"
    )
    votes.add_argument("checkpoint", help="RUN_ID/CHECKPOINT_ID or the full resource name")
    votes.add_argument("--evidence", action="store_true", help="also print each vote's evidence document")
    votes.set_defaults(handler=list_votes)


def tally_pairs(c: run_pb2.Checkpoint) -> list[tuple[str, Any]]:
    """The quorum, four-eyes and reason code fields of a checkpoint."""
    return [
        ("approvals", f"{c.approvals}/{c.approvals_required or 1}"),
        ("self-approval", "forbidden" if c.forbid_self_approval else ""),
        ("reason codes", list(c.reason_codes)),
        ("reason code", c.reason_code),
    ]


def vote_lines(c: run_pb2.Checkpoint) -> list[str]:
    """One line per vote, after a blank line; nothing without votes."""
    return ["", *vote_table(c.votes)] if c.votes else []


def vote_table(votes: Any) -> list[str]:
    rows = [
        (
            short_name(v.name),
            v.voter,
            label(run_pb2.Decision.Name(v.decision)),
            v.reason_code or "-",
            when(v.create_time),
            v.evidence_sha256,
        )
        for v in votes
    ]
    return table(("VOTE", "VOTER", "DECISION", "REASON", "TIME", "EVIDENCE SHA-256"), rows)


def list_votes(ctx: Context, args: argparse.Namespace) -> int:
    request = runs.ListCheckpointVotesRequest(parent=ctx.checkpoint(args.checkpoint))
    response = ctx.call(ctx.client.runs.ListCheckpointVotes, request)
    lines = vote_table(response.votes)
    for vote in response.votes:
        verified = hashlib.sha256(vote.evidence_json.encode("utf-8")).hexdigest() == vote.evidence_sha256
        lines.append(f"{short_name(vote.name)}: evidence hash {'verified' if verified else 'DOES NOT MATCH'}")
        if args.evidence:
            lines.append(json.dumps(json.loads(vote.evidence_json), indent=2, sort_keys=True))
    ctx.output.show(response, lines)
    return 0
