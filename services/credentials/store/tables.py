"""The credentials service's tables (SQLAlchemy Core). The migrations in store/migrations/ create them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

credentials = sa.Table(
    "credentials",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organization_slug", sa.String(63), nullable=False),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("provider", sa.String(63), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("retained_versions", sa.Integer, nullable=False),
    sa.Column("current_version", sa.BigInteger, nullable=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    # Where the value may be sent (migration 0003): agent resource names and host patterns, JSON lists.
    sa.Column("allowed_agents", sa.JSON, nullable=False, server_default=sa.text("'[]'")),
    sa.Column("allowed_hosts", sa.JSON, nullable=False, server_default=sa.text("'[]'")),
    sa.UniqueConstraint("organization_slug", "alias"),
)

# One row per retained value version. Deleting a row destroys its wrapped data key: crypto-shredding.
credential_versions = sa.Table(
    "credential_versions",
    metadata,
    sa.Column("credential_id", sa.String(36), sa.ForeignKey("credentials.id", ondelete="CASCADE"), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("nonce", sa.LargeBinary, nullable=False),
    sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("algorithm", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("wrapped_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("credential_id", "version"),
    sa.Index("ix_credential_versions_key_id", "key_id"),
)

# Append-only. `sequence` orders events; nothing ever updates or deletes a row.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("sequence", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("organization_slug", sa.String(63), nullable=False),
    sa.Column("alias", sa.String(128), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("run", sa.String(300), nullable=False),
    sa.Column("step", sa.String(200), nullable=False),
    sa.Column("agent", sa.String(300), nullable=False, server_default=""),
    sa.Column("destination", sa.String(300), nullable=False, server_default=""),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_audit_events_org_sequence", "organization_slug", "sequence"),
)
