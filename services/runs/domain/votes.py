"""Checkpoint votes (pure): the quorum rule, four-eyes, edit-and-approve, and the evidence each vote records.

A checkpoint collects votes, one per principal (the store's unique (checkpoint, voter) makes it so even under a
race). The rule:

- any `reject` rejects the checkpoint at once; any `request_changes` sends it back at once;
- `approvals_required` approvals (default 1) approve it; until then each approval is recorded and counted;
- with `forbid_self_approval`, the run's launcher cannot approve (rejecting or requesting changes of one's own run
  stays allowed: stopping one's own work needs no second pair of eyes);
- edit and approve: an approval's payload edits the document shown (`{"deliverables": [...]}`: its keys replace
  those shown). The first approval fixes the payload; later approvals endorse it (no payload, or the same one), so
  every counted approval approved the same payload. Another edit is refused (EditConflict).

Evidence: what the voter saw (rendered texts, definition origin, the outputs of the steps the checkpoint depends
on, the revision, the payload proposed so far), as canonical JSON (sorted keys, no insignificant whitespace, UTF-8)
and the SHA-256 of those bytes, which anyone can recompute from the stored text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonpatch

from services.runs.domain.errors import AlreadyVoted, EditConflict, SelfApprovalForbidden
from services.runs.domain.model import Decision, RunState
from services.runs.domain.records import CheckpointRecord, VoteRecord


@dataclass(frozen=True)
class Ballot:
    """A vote as asked for, before it is checked and recorded."""

    voter: str
    decision: Decision
    comment: str
    reason_code: str
    payload: dict[str, Any]


def approvals(votes: Sequence[VoteRecord]) -> int:
    return sum(1 for v in votes if v.decision == Decision.APPROVE.value)


def outcome(votes: Sequence[VoteRecord], approvals_required: int) -> Decision | None:
    """The checkpoint's decision once `votes` are counted; None while it stays open."""
    for vote in votes:
        if vote.decision != Decision.APPROVE.value:
            return Decision(vote.decision)
    return Decision.APPROVE if approvals(votes) >= max(approvals_required, 1) else None


def proposed_payload(votes: Sequence[VoteRecord]) -> dict[str, Any]:
    """The payload the approvals so far endorse: the first approval's ({} without approvals)."""
    for vote in votes:
        if vote.decision == Decision.APPROVE.value:
            return dict(vote.payload)
    return {}


def check_ballot(checkpoint: CheckpointRecord, run_created_by: str, ballot: Ballot, name: str) -> None:
    """Refuse a ballot the rules do not allow (see the module docstring); the checkpoint must be open already."""
    if any(v.voter == ballot.voter for v in checkpoint.votes):
        raise AlreadyVoted(name, ballot.voter)
    if ballot.decision is not Decision.APPROVE:
        return
    if checkpoint.forbid_self_approval and ballot.voter == run_created_by:
        raise SelfApprovalForbidden(name)
    endorsed = [v for v in checkpoint.votes if v.decision == Decision.APPROVE.value]
    if endorsed and ballot.payload and ballot.payload != proposed_payload(checkpoint.votes):
        raise EditConflict(name)


def effective_payload(checkpoint: CheckpointRecord, ballot: Ballot) -> dict[str, Any]:
    """The payload a counted approval stands for: its own edit, else the one proposed by earlier approvals."""
    if ballot.decision is Decision.APPROVE and not ballot.payload:
        return proposed_payload(checkpoint.votes)
    return dict(ballot.payload)


def shown_document(checkpoint: CheckpointRecord) -> dict[str, Any]:
    """The document an edit applies to: the rendered deliverables, with the payload proposed so far on top."""
    return {"deliverables": list(checkpoint.deliverables), **proposed_payload(checkpoint.votes)}


def payload_diff(shown: dict[str, Any], payload: dict[str, Any]) -> list[dict[str, Any]]:
    """RFC 6902 JSON Patch from `shown` to `shown` with `payload`'s keys replacing its own; [] without an edit."""
    if not payload:
        return []
    patch: list[dict[str, Any]] = jsonpatch.make_patch(shown, {**shown, **payload}).patch
    return patch


def evidence(checkpoint: CheckpointRecord, run: RunState, origin: dict[str, str]) -> dict[str, Any]:
    """What a voter sees when voting: the checkpoint as rendered, where its definition came from, the outputs of
    the steps it depends on (or, without any, of the previous phase's steps: those request_changes re-runs), the
    revision (how many times it was sent back before) and the tally with the payload proposed so far."""
    spec = run.spec.step(checkpoint.step_id)
    sources = list(spec.depends_on) or [s.id for s in run.spec.steps if s.phase_index == spec.phase_index - 1]
    state = run.steps.get(checkpoint.step_id)
    return {
        "checkpoint": checkpoint.name,
        "run": run.name,
        "step_id": checkpoint.step_id,
        "revision": max((state.attempt if state is not None else 1) - 1, 0),
        "title": checkpoint.title,
        "context": checkpoint.context,
        "deliverables": list(checkpoint.deliverables),
        "definition": dict(origin),
        "inputs": {sid: run.steps[sid].output for sid in sources if sid in run.steps},
        "approvals": approvals(checkpoint.votes),
        "approvals_required": checkpoint.approvals_required,
        "proposed_payload": proposed_payload(checkpoint.votes),
    }


def canonical_json(document: Any) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 characters as themselves: one text for one document."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
