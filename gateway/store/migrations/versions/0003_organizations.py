"""organizations, members, groups and group memberships (issue 14)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "organizations",
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("forbid_self_approval", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slug", name="pk_organizations"),
    )
    op.create_table(
        "members",
        sa.Column("member_id", sa.String(32), nullable=False),
        sa.Column("organization_slug", sa.String(63), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("roles", JSONDocument, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("member_id", name="pk_members"),
        sa.ForeignKeyConstraint(
            ["organization_slug"],
            ["organizations.slug"],
            name="fk_members_organization_slug_organizations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("organization_slug", "subject", name="uq_members_organization_slug_subject"),
    )
    op.create_table(
        "groups",
        sa.Column("group_id", sa.String(32), nullable=False),
        sa.Column("organization_slug", sa.String(63), nullable=False),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_id", name="pk_groups"),
        sa.ForeignKeyConstraint(
            ["organization_slug"],
            ["organizations.slug"],
            name="fk_groups_organization_slug_organizations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("organization_slug", "slug", name="uq_groups_organization_slug_slug"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.String(32), nullable=False),
        sa.Column("member_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "member_id", name="pk_group_members"),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.group_id"], name="fk_group_members_group_id_groups", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.member_id"], name="fk_group_members_member_id_members", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_group_members_member", "group_members", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_group_members_member", table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("groups")
    op.drop_table("members")
    op.drop_table("organizations")
