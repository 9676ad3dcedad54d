"""The gateway's tables (SQLAlchemy Core). The migrations in store/migrations/ create them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("organization_slug", sa.String(63), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("roles", JSONDocument, nullable=False),
    # hmac-sha256$<base64> under the pepper named by pepper_id (or a legacy scrypt$N$r$p$salt$hash, pepper_id
    # NULL): never the secret itself.
    sa.Column("secret_hash", sa.String(255), nullable=False),
    sa.Column("pepper_id", sa.String(64), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expire_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("revoked_by", sa.String(200), nullable=True),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("ix_api_keys_org_created", "organization_slug", "created_at", "key_id"),
)

# --- identity (issue 14): organizations, members, groups --------------------------------------------------------

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("slug", sa.String(63), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("forbid_self_approval", sa.Boolean(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("member_id", sa.String(32), primary_key=True),
    sa.Column(
        "organization_slug",
        sa.String(63),
        sa.ForeignKey("organizations.slug", ondelete="CASCADE"),
        nullable=False,
    ),
    # An e-mail (with '@') lower-cased, else the identity provider's subject as given (gateway.domain.identity).
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("roles", JSONDocument, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("organization_slug", "subject"),
)

groups = sa.Table(
    "groups",
    metadata,
    sa.Column("group_id", sa.String(32), primary_key=True),
    sa.Column(
        "organization_slug",
        sa.String(63),
        sa.ForeignKey("organizations.slug", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("slug", sa.String(63), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("description", sa.String(2000), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("organization_slug", "slug"),
)

# Deleting a member (or a group) deletes its membership rows.
group_members = sa.Table(
    "group_members",
    metadata,
    sa.Column("group_id", sa.String(32), sa.ForeignKey("groups.group_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("member_id", sa.String(32), sa.ForeignKey("members.member_id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_group_members_member", "member_id"),
)
