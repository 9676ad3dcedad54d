"""checkpoint routing, inbox and escalation timers (issue 14, i14-routing)

Checkpoints gain the columns of their routing and timers (reminder, escalation chain and level, override record,
the run's orchestration and a due-time sort key), and their assignees get a table of their own, one normalized row
per assignee, so the inbox filters are index lookups. Existing checkpoints: their assignees are copied into the
new table (lowercased), their sort key set from due_at, their orchestration from their run.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
NO_DUE_TIME = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)


def upgrade() -> None:
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(sa.Column("orchestration", sa.String(300), nullable=False, server_default=""))
        batch.add_column(sa.Column("due_sort_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("remind_before_seconds", sa.Float, nullable=True))
        batch.add_column(sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reminded", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("escalation", JSONDocument, nullable=True))
        batch.add_column(sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("escalation_base_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("override", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("override_justification", sa.Text, nullable=False, server_default=""))
    op.create_index(
        "ix_checkpoints_org_status_due", "checkpoints", ["organization_slug", "status", "due_sort_at", "id"]
    )
    op.create_index(
        "ix_checkpoints_org_orchestration", "checkpoints", ["organization_slug", "orchestration", "opened_at"]
    )
    op.create_table(
        "checkpoint_assignees",
        sa.Column("checkpoint_id", sa.String(36), nullable=False),
        sa.Column("organization_slug", sa.String(63), nullable=False),
        sa.Column("assignee", sa.String(330), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"], ["checkpoints.id"], ondelete="CASCADE", name="fk_checkpoint_assignees_checkpoint"
        ),
        sa.PrimaryKeyConstraint("checkpoint_id", "assignee", name="pk_checkpoint_assignees"),
    )
    op.create_index(
        "ix_checkpoint_assignees_org_assignee",
        "checkpoint_assignees",
        ["organization_slug", "assignee", "checkpoint_id"],
    )
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    meta = sa.MetaData()
    checkpoints = sa.Table(
        "checkpoints",
        meta,
        sa.Column("id", sa.String(36)),
        sa.Column("run_id", sa.String(36)),
        sa.Column("organization_slug", sa.String(63)),
        sa.Column("assignees", JSONDocument),
        sa.Column("due_at", sa.DateTime(timezone=True)),
        sa.Column("due_sort_at", sa.DateTime(timezone=True)),
        sa.Column("opened_at", sa.DateTime(timezone=True)),
        sa.Column("escalation_base_at", sa.DateTime(timezone=True)),
        sa.Column("orchestration", sa.String(300)),
    )
    runs = sa.Table("runs", meta, sa.Column("id", sa.String(36)), sa.Column("orchestration", sa.String(300)))
    assignees = sa.Table(
        "checkpoint_assignees",
        meta,
        sa.Column("checkpoint_id", sa.String(36)),
        sa.Column("organization_slug", sa.String(63)),
        sa.Column("assignee", sa.String(330)),
    )
    c = checkpoints.c
    bind.execute(checkpoints.update().where(c.due_at.is_(None)).values(due_sort_at=NO_DUE_TIME))
    bind.execute(checkpoints.update().where(c.due_at.is_not(None)).values(due_sort_at=c.due_at))
    bind.execute(checkpoints.update().values(escalation_base_at=c.opened_at))
    orchestration = sa.select(runs.c.orchestration).where(runs.c.id == c.run_id).scalar_subquery()
    bind.execute(checkpoints.update().values(orchestration=sa.func.coalesce(orchestration, "")))
    rows = bind.execute(sa.select(c.id, c.organization_slug, c.assignees)).all()
    values = [
        {"checkpoint_id": row.id, "organization_slug": row.organization_slug, "assignee": name}
        for row in rows
        for name in dict.fromkeys(str(a).strip().lower() for a in row.assignees or ())
    ]
    if values:
        bind.execute(assignees.insert(), values)


def downgrade() -> None:
    op.drop_table("checkpoint_assignees")
    op.drop_index("ix_checkpoints_org_orchestration", table_name="checkpoints")
    op.drop_index("ix_checkpoints_org_status_due", table_name="checkpoints")
    with op.batch_alter_table("checkpoints") as batch:
        for column in (
            "override_justification",
            "override",
            "escalation_base_at",
            "escalation_level",
            "escalation",
            "reminded",
            "remind_at",
            "remind_before_seconds",
            "due_sort_at",
            "orchestration",
        ):
            batch.drop_column(column)
