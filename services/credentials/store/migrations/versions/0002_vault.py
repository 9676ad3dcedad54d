"""vault: credentials, encrypted value versions, append-only audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(36), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name="pk_credentials"),
        sa.UniqueConstraint("organization_slug", "alias", name="uq_credentials_organization_slug_alias"),
    )
    op.create_table(
        "credential_versions",
        sa.Column("credential_id", sa.String(36), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wrapped_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["credential_id"], ["credentials.id"], ondelete="CASCADE", name="fk_credential_versions_credential"
        ),
        sa.PrimaryKeyConstraint("credential_id", "version", name="pk_credential_versions"),
    )
    op.create_index("ix_credential_versions_key_id", "credential_versions", ["key_id"])
    op.create_table(
        "audit_events",
        sa.Column("sequence", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True, nullable=False),
        sa.Column("organization_slug", sa.String(63), nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("run", sa.String(300), nullable=False),
        sa.Column("step", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_org_sequence", "audit_events", ["organization_slug", "sequence"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("credential_versions")
    op.drop_table("credentials")
