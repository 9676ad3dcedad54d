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

orchestrations = sa.Table(
    "orchestrations",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organization_slug", sa.String(63), nullable=False),
    sa.Column("agent_slug", sa.String(63), nullable=False),
    sa.Column("slug", sa.String(63), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("current_version", sa.BigInteger, nullable=False),
    # Incremented on every change of the row; the etag derives from it.
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.UniqueConstraint("organization_slug", "agent_slug", "slug"),
)

orchestration_tags = sa.Table(
    "orchestration_tags",
    metadata,
    sa.Column(
        "orchestration_id", sa.String(36), sa.ForeignKey("orchestrations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("tag", sa.String(63), nullable=False),
    sa.PrimaryKeyConstraint("orchestration_id", "tag"),
    sa.Index("ix_orchestration_tags_tag", "tag"),
)

orchestration_versions = sa.Table(
    "orchestration_versions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "orchestration_id", sa.String(36), sa.ForeignKey("orchestrations.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("version_number", sa.BigInteger, nullable=False),
    # NULL when unlabelled: NULLs are distinct, so the unique key only binds real labels.
    sa.Column("label", sa.String(64), nullable=True),
    sa.Column("definition", JSONDocument, nullable=False),
    sa.Column("prompt_templates", JSONDocument, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("change_note", sa.Text, nullable=False),
    sa.Column("source_plan", sa.String(300), nullable=True),
    sa.Column("copied_from", sa.String(400), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("orchestration_id", "version_number"),
    sa.UniqueConstraint("orchestration_id", "label"),
    sa.Index("ix_orchestration_versions_source_plan", "source_plan"),
)

conversation_plans = sa.Table(
    "conversation_plans",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
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
    sa.Index("ix_conversation_plans_org_created", "organization_slug", "created_at"),
    sa.Index("ix_conversation_plans_org_conversation", "organization_slug", "conversation_id"),
)
