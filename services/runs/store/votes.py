"""Checkpoint votes: insert and read only. There is deliberately no update or delete here — a vote is an immutable
decision record (the migration's trigger refuses UPDATE in the database too); votes go with their run."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.common.db import utc
from services.runs.domain.errors import AlreadyVoted
from services.runs.domain.records import VoteRecord
from services.runs.store.tables import checkpoint_votes

v = checkpoint_votes.c


class SqlVoteRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def insert(self, vote: VoteRecord) -> None:
        """Record the vote; AlreadyVoted if this voter has a vote on this checkpoint already (the database's unique
        constraint: the last line of defence, behind the run lock every decision takes)."""
        row = dataclasses.asdict(vote)
        row["id"] = row.pop("vote_id")
        try:
            await self._conn.execute(checkpoint_votes.insert().values(**row))
        except IntegrityError:
            checkpoint = vote.name.rsplit("/votes/", 1)[0]
            raise AlreadyVoted(checkpoint, vote.voter) from None

    async def for_checkpoints(self, checkpoint_ids: Sequence[str]) -> dict[str, list[VoteRecord]]:
        """The votes of each checkpoint, oldest first (by time, then id)."""
        found: dict[str, list[VoteRecord]] = {cid: [] for cid in checkpoint_ids}
        if not checkpoint_ids:
            return found
        query = (
            sa.select(checkpoint_votes)
            .where(v.checkpoint_id.in_(list(checkpoint_ids)))
            .order_by(v.checkpoint_id, v.created_at, v.id)
        )
        for row in await self._conn.execute(query):
            found[row.checkpoint_id].append(_to_vote(row._mapping))
        return found


def _to_vote(row: Any) -> VoteRecord:
    return VoteRecord(
        vote_id=row["id"],
        checkpoint_id=row["checkpoint_id"],
        run_id=row["run_id"],
        organization_slug=row["organization_slug"],
        voter=row["voter"],
        decision=row["decision"],
        comment=row["comment"],
        reason_code=row["reason_code"],
        payload=dict(row["payload"]),
        payload_diff=list(row["payload_diff"]),
        evidence=row["evidence"],
        evidence_sha256=row["evidence_sha256"],
        created_at=utc(row["created_at"]),
    )
