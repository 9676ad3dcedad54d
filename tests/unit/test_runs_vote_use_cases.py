"""The vote use case without I/O (the in-memory unit of work): a quorum commits one vote per call and decides on
the last one; a refused vote (self-approval, a second vote, an unknown reason code) commits nothing."""

from __future__ import annotations

import pytest

from services.common.errors import ValidationFailed
from services.runs.domain.errors import AlreadyVoted, SelfApprovalForbidden
from services.runs.domain.model import CheckpointStatus, Decision, EventType, StepStatus
from tests.unit.test_runs_use_cases import ORG, App, acting_as, app, checkpoint, waiting

__all__ = ["app"]  # the fixture


async def test_a_quorum_records_a_vote_per_call_and_decides_on_the_last(app: App) -> None:
    view, name = await waiting(app, checkpoint(approvals_required=2))
    with acting_as(ORG, "approver", subject="bob@example.com"):
        first = await app.checkpoints.decide(name, Decision.APPROVE, "one", {})
    assert first.checkpoint.status is CheckpointStatus.OPEN
    assert [v.voter for v in first.checkpoint.votes] == ["bob@example.com"]
    assert app.database.events_of(view.state.run_id)[-1].type == EventType.CHECKPOINT_VOTE_RECORDED.value
    with acting_as(ORG, "approver", subject="carol@example.com"):
        second = await app.checkpoints.decide(name, Decision.APPROVE, "two", {})
    assert second.checkpoint.status is CheckpointStatus.APPROVED
    assert len(app.database.tables.votes) == 2
    assert app.database.tables.runs[view.state.run_id].steps["review"].status is StepStatus.SUCCEEDED


async def test_refused_votes_commit_nothing(app: App) -> None:
    _, name = await waiting(app, checkpoint(approvals_required=2, forbid_self_approval=True, reason_codes=["policy"]))
    commits = app.database.commits
    with acting_as(ORG, "admin", subject="ana@example.com"), pytest.raises(SelfApprovalForbidden):  # the launcher
        await app.checkpoints.decide(name, Decision.APPROVE, "", {})
    with acting_as(ORG, "approver", subject="bob@example.com"):
        with pytest.raises(ValidationFailed) as bad:
            await app.checkpoints.decide(name, Decision.APPROVE, "", {}, "vibes")
        assert [v.field for v in bad.value.violations] == ["reason_code"]
        await app.checkpoints.decide(name, Decision.APPROVE, "", {}, "policy")
        voted = app.database.commits
        with pytest.raises(AlreadyVoted):
            await app.checkpoints.decide(name, Decision.REJECT, "", {})
    assert voted == commits + 1
    assert app.database.commits == voted
    assert [v.reason_code for v in app.database.tables.votes.values()] == ["policy"]
