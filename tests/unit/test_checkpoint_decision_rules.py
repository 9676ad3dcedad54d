"""Checkpoint decision rules without I/O (issue 14 items 3, 5, 6): the definition fields the registry validates and
the runs service reads, the quorum rule, four-eyes, edits and their diffs, and canonical evidence."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest

from services.runs.domain import votes
from services.runs.domain.definition import read_definition
from services.runs.domain.errors import AlreadyVoted, EditConflict, SelfApprovalForbidden
from services.runs.domain.model import CheckpointStatus, Decision
from services.runs.domain.records import CheckpointRecord, VoteRecord
from tests.unit.test_definition_support import S, doc, only, step_of, valid

NOW = dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
NAME = "organizations/o/runs/r/checkpoints/c"


def checkpoint_doc(**fields: Any) -> dict[str, Any]:
    return doc({"id": "c", "kind": "checkpoint", "checkpoint": {"title": "Go?", **fields}})


# --- the registry's validation and the runs reader -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"approvals_required": 0}, "approvals_required"),
        ({"approvals_required": 11}, "approvals_required"),
        ({"approvals_required": 1.5}, "approvals_required"),
        ({"approvals_required": "2"}, "approvals_required"),
        ({"forbid_self_approval": "yes"}, "forbid_self_approval"),
        ({"reason_codes": "policy"}, "reason_codes"),
        ({"reason_codes": ["policy", "policy"]}, "reason_codes[1]"),
        ({"reason_codes": ["Not A Slug"]}, "reason_codes[0]"),
        ({"reason_codes": [7]}, "reason_codes[0]"),
        ({"reason_codes": [""]}, "reason_codes[0]"),
        ({"reason_codes": [f"c{i}" for i in range(21)]}, "reason_codes"),
    ],
)
def test_bad_decision_rules_name_the_field(fields: dict[str, Any], expected: str) -> None:
    assert only(checkpoint_doc(**fields)).field == f"{S}[0].checkpoint.{expected}"


def test_decision_rules_are_read_with_defaults() -> None:
    spec = step_of(valid(checkpoint_doc()), "c").checkpoint
    assert spec is not None
    assert (spec.approvals_required, spec.forbid_self_approval, spec.reason_codes) == (1, None, ())
    block = {"approvals_required": 10, "forbid_self_approval": False, "reason_codes": ["missing-data", "policy"]}
    spec = step_of(valid(checkpoint_doc(**block)), "c").checkpoint
    assert spec is not None
    assert (spec.approvals_required, spec.forbid_self_approval, spec.reason_codes) == (
        10,
        False,
        ("missing-data", "policy"),
    )


def test_the_runs_reader_keeps_unset_apart_from_false() -> None:
    def read(**block: Any) -> Any:
        step = read_definition(checkpoint_doc(**block)).steps[0]
        assert step.checkpoint is not None
        return step.checkpoint

    assert read().forbid_self_approval is None  # the launcher's organization default applies
    assert read(forbid_self_approval=False).forbid_self_approval is False
    assert read(forbid_self_approval=True, approvals_required=3).approvals_required == 3
    assert read(reason_codes=["policy"]).reason_codes == ("policy",)


# --- the quorum rule, four-eyes, edits ---------------------------------------------------------------------------


def vote(voter: str, decision: Decision, payload: dict[str, Any] | None = None) -> VoteRecord:
    return VoteRecord("v-" + voter, "c", "r", "o", voter, decision.value, "", "", payload or {}, [], "{}", "", NOW)


def checkpoint(*cast: VoteRecord, required: int = 2, forbid: bool = False) -> CheckpointRecord:
    return CheckpointRecord(
        checkpoint_id="c",
        run_id="r",
        organization_slug="o",
        step_id="review",
        title="Go?",
        context="",
        deliverables=["draft"],
        assignees=[],
        role="approver",
        status=CheckpointStatus.OPEN,
        on_expiry="reject",
        opened_at=NOW,
        due_at=None,
        decision="",
        comment="",
        payload={},
        decided_by="",
        decided_at=None,
        approvals_required=required,
        forbid_self_approval=forbid,
        votes=cast,
    )


def ballot(voter: str, decision: Decision = Decision.APPROVE, payload: dict[str, Any] | None = None) -> votes.Ballot:
    return votes.Ballot(voter, decision, "", "", payload or {})


def test_n_approvals_approve_and_any_other_vote_decides_at_once() -> None:
    a, b, c = (vote(x, Decision.APPROVE) for x in "abc")
    assert votes.outcome([a], 2) is None
    assert votes.outcome([a, b], 2) is Decision.APPROVE
    assert votes.outcome([a, b, c], 3) is Decision.APPROVE
    assert votes.outcome([a, vote("d", Decision.REJECT)], 3) is Decision.REJECT
    assert votes.outcome([vote("d", Decision.REQUEST_CHANGES)], 1) is Decision.REQUEST_CHANGES
    assert votes.approvals([a, vote("d", Decision.REJECT)]) == 1


def test_one_vote_per_principal() -> None:
    with pytest.raises(AlreadyVoted):
        votes.check_ballot(checkpoint(vote("bob", Decision.APPROVE)), "alice", ballot("bob", Decision.REJECT), NAME)


def test_the_launcher_may_reject_but_not_approve_when_forbidden() -> None:
    strict = checkpoint(forbid=True)
    with pytest.raises(SelfApprovalForbidden):
        votes.check_ballot(strict, "alice", ballot("alice"), NAME)
    votes.check_ballot(strict, "alice", ballot("alice", Decision.REJECT), NAME)
    votes.check_ballot(strict, "alice", ballot("alice", Decision.REQUEST_CHANGES), NAME)
    votes.check_ballot(checkpoint(forbid=False), "alice", ballot("alice"), NAME)


def test_the_first_approval_fixes_the_payload() -> None:
    edited = {"deliverables": ["better"]}
    first = checkpoint(vote("bob", Decision.APPROVE, edited))
    votes.check_ballot(first, "alice", ballot("carol"), NAME)  # endorses
    votes.check_ballot(first, "alice", ballot("carol", payload=edited), NAME)  # the same edit
    with pytest.raises(EditConflict):
        votes.check_ballot(first, "alice", ballot("carol", payload={"deliverables": ["other"]}), NAME)
    with pytest.raises(EditConflict):  # an approval of the unedited payload fixed it too
        votes.check_ballot(checkpoint(vote("bob", Decision.APPROVE)), "alice", ballot("c", payload=edited), NAME)
    assert votes.effective_payload(first, ballot("carol")) == edited
    assert votes.proposed_payload([vote("x", Decision.REJECT, {"a": 1})]) == {}


def test_the_diff_is_an_rfc6902_patch_against_what_was_shown() -> None:
    shown = votes.shown_document(checkpoint())
    assert shown == {"deliverables": ["draft"]}
    assert votes.payload_diff(shown, {}) == []
    patch = votes.payload_diff(shown, {"deliverables": ["final"], "budget": 3})
    assert sorted(patch, key=lambda op: op["path"]) == [
        {"op": "add", "path": "/budget", "value": 3},
        {"op": "replace", "path": "/deliverables/0", "value": "final"},
    ]


def test_canonical_json_is_one_text_per_document() -> None:
    one = votes.canonical_json({"b": [1, {"z": "ü", "a": None}], "a": 1.5})
    assert one == '{"a":1.5,"b":[1,{"a":null,"z":"ü"}]}'
    assert one == votes.canonical_json({"a": 1.5, "b": [1, {"a": None, "z": "ü"}]})
    assert votes.sha256_hex(one) == hashlib.sha256(one.encode("utf-8")).hexdigest()
    with pytest.raises(ValueError, match="JSON"):
        votes.canonical_json({"x": float("nan")})


@pytest.mark.parametrize("approvals", [0, 11])
def test_the_runs_reader_refuses_an_out_of_range_quorum(approvals: int) -> None:
    with pytest.raises(ValueError, match="approvals_required"):
        read_definition(checkpoint_doc(approvals_required=approvals))
