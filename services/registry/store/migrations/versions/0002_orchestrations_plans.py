"""orchestrations with version history and tags; conversation plans

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
        "orchestrations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_slug", sa.String(63), nullable=False),
        sa.Column("agent_slug", sa.String(63), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("current_version", sa.BigInteger, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orchestrations"),
        sa.UniqueConstraint(
            "organization_slug", "agent_slug", "slug", name="uq_orchestrations_organization_slug_agent_slug_slug"
        ),
    )
    op.create_table(
        "orchestration_tags",
        sa.Column("orchestration_id", sa.String(36), nullable=False),
        sa.Column("tag", sa.String(63), nullable=False),
        sa.ForeignKeyConstraint(
            ["orchestration_id"], ["orchestrations.id"], ondelete="CASCADE", name="fk_orchestration_tags_orchestration"
        ),
        sa.PrimaryKeyConstraint("orchestration_id", "tag", name="pk_orchestration_tags"),
    )
    op.create_index("ix_orchestration_tags_tag", "orchestration_tags", ["tag"])
    op.create_table(
        "orchestration_versions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("orchestration_id", sa.String(36), nullable=False),
        sa.Column("version_number", sa.BigInteger, nullable=False),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("definition", JSONDocument, nullable=False),
        sa.Column("prompt_templates", JSONDocument, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("change_note", sa.Text, nullable=False),
        sa.Column("source_plan", sa.String(300), nullable=True),
        sa.Column("copied_from", sa.String(400), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["orchestration_id"],
            ["orchestrations.id"],
            ondelete="CASCADE",
            name="fk_orchestration_versions_orchestration",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_orchestration_versions"),
        sa.UniqueConstraint(
            "orchestration_id", "version_number", name="uq_orchestration_versions_orchestration_id_version_number"
        ),
        sa.UniqueConstraint("orchestration_id", "label", name="uq_orchestration_versions_orchestration_id_label"),
    )
    op.create_index("ix_orchestration_versions_source_plan", "orchestration_versions", ["source_plan"])
    op.create_table(
        "conversation_plans",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("organization_slug", sa.String(63), nullable=False),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("agent_slug", sa.String(63), nullable=False),
        sa.Column("plan", JSONDocument, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_comment", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_plans"),
    )
    op.create_index("ix_conversation_plans_org_created", "conversation_plans", ["organization_slug", "created_at"])
    op.create_index(
        "ix_conversation_plans_org_conversation", "conversation_plans", ["organization_slug", "conversation_id"]
    )


def downgrade() -> None:
    op.drop_table("conversation_plans")
    op.drop_table("orchestration_versions")
    op.drop_table("orchestration_tags")
    op.drop_table("orchestrations")
