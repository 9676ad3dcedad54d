"""The registry's tables (SQLAlchemy Core). The migrations in store/migrations/ create them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    # "" for platform-wide agents: an empty string (not NULL) keeps the unique key effective on every database.
    sa.Column("organization_slug", sa.String(63), nullable=False),
    sa.Column("slug", sa.String(63), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("agent_yaml", sa.Text, nullable=False),
    sa.Column("agent_card", JSONDocument, nullable=False),
    sa.Column("context", JSONDocument, nullable=False),
    sa.Column("config", JSONDocument, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("organization_slug", "slug"),
)
