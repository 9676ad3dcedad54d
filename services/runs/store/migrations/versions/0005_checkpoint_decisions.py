"""checkpoint decisions: quorum and four-eyes settings pinned on checkpoints and runs, and immutable votes

- `runs.forbid_self_approval`: the launcher's organization default (OrganizationPolicy.forbid_self_approval) at
  launch time, pinned so that a later change of the organization's policy does not alter a running checkpoint.
- `checkpoints.approvals_required`, `forbid_self_approval` (the effective value, pinned when it opens),
  `reason_codes` (the codes a vote may carry), `reason_code` (the deciding vote's).
- `checkpoint_votes`: one row per principal and checkpoint (unique: one person's vote counts once, enforced by the
  database), each an immutable decision record with its evidence document and SHA-256. A trigger refuses every
  UPDATE of a vote on PostgreSQL and SQLite; rows go only with their run (ON DELETE CASCADE, retention).

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

PG_FUNCTION = """
CREATE FUNCTION checkpoint_votes_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'checkpoint votes are immutable decision records';
END
$$"""
PG_TRIGGER = (
    "CREATE TRIGGER checkpoint_votes_no_update BEFORE UPDATE ON checkpoint_votes "
    "FOR EACH ROW EXECUTE FUNCTION checkpoint_votes_immutable()"
)
SQLITE_TRIGGER = """
CREATE TRIGGER checkpoint_votes_no_update BEFORE UPDATE ON checkpoint_votes
BEGIN
    SELECT RAISE(ABORT, 'checkpoint votes are immutable decision records');
END"""


def upgrade() -> None:
    op.add_column("runs", sa.Column("forbid_self_approval", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(sa.Column("approvals_required", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("forbid_self_approval", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("reason_codes", JSONDocument, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("reason_code", sa.String(63), nullable=False, server_default=""))
    op.create_table(
        "checkpoint_votes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("checkpoint_id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("organization_slug", sa.String(63), nullable=False),
        sa.Column("voter", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("reason_code", sa.String(63), nullable=False),
        sa.Column("payload", JSONDocument, nullable=False),
        sa.Column("payload_diff", JSONDocument, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("evidence_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
            name="fk_checkpoint_votes_checkpoint_id_checkpoints",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_checkpoint_votes_run_id_runs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_checkpoint_votes"),
        sa.UniqueConstraint("checkpoint_id", "voter", name="uq_checkpoint_votes_checkpoint_id_voter"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute(
        "DROP TRIGGER IF EXISTS checkpoint_votes_no_update"
        + (" ON checkpoint_votes" if op.get_bind().dialect.name == "postgresql" else "")
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS checkpoint_votes_immutable()")
    op.drop_table("checkpoint_votes")
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("reason_code")
        batch.drop_column("reason_codes")
        batch.drop_column("forbid_self_approval")
        batch.drop_column("approvals_required")
    op.drop_column("runs", "forbid_self_approval")
