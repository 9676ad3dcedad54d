"""runs, their steps, the run event log and human checkpoints

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_slug", sa.String(63), nullable=False),
        sa.Column("origin_type", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(400), nullable=False),
        sa.Column("orchestration", sa.String(300), nullable=False),
        sa.Column("definition", JSONDocument, nullable=False),
        sa.Column("prompt_templates", JSONDocument, nullable=False),
        sa.Column("agents", JSONDocument, nullable=False),
        sa.Column("prompt_inputs", JSONDocument, nullable=False),
        sa.Column("metadata", JSONDocument, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=False),
        sa.Column("current_phase", sa.Integer, nullable=False),
        sa.Column("last_sequence", sa.BigInteger, nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint("organization_slug", "request_id", name="uq_runs_organization_slug_request_id"),
    )
    op.create_index("ix_runs_org_created", "runs", ["organization_slug", "created_at"])
    op.create_table(
        "run_steps",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("step_id", sa.String(63), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("output", JSONDocument, nullable=True),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checkpoint_id", sa.String(36), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE", name="fk_run_steps_run"),
        sa.PrimaryKeyConstraint("run_id", "step_id", name="pk_run_steps"),
    )
    op.create_index("ix_run_steps_due_at", "run_steps", ["due_at"])
    op.create_table(
        "run_events",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("step_id", sa.String(63), nullable=False),
        sa.Column("data", JSONDocument, nullable=False),
        sa.Column("run_status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE", name="fk_run_events_run"),
        sa.PrimaryKeyConstraint("run_id", "sequence", name="pk_run_events"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("organization_slug", sa.String(63), nullable=False),
        sa.Column("step_id", sa.String(63), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("context", sa.Text, nullable=False),
        sa.Column("deliverables", JSONDocument, nullable=False),
        sa.Column("assignees", JSONDocument, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("on_expiry", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("payload", JSONDocument, nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE", name="fk_checkpoints_run"),
        sa.PrimaryKeyConstraint("id", name="pk_checkpoints"),
    )
    op.create_index("ix_checkpoints_org_status_opened", "checkpoints", ["organization_slug", "status", "opened_at"])


def downgrade() -> None:
    op.drop_table("checkpoints")
    op.drop_table("run_events")
    op.drop_table("run_steps")
    op.drop_table("runs")
