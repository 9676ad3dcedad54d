"""api key hashes under a pepper: the pepper id of each HMAC hash (NULL for legacy scrypt hashes)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable without a default: an ALTER TABLE on both SQLite and PostgreSQL, no table rewrite. Existing rows keep
    # their scrypt hashes (pepper_id NULL) until their first use rewrites them.
    op.add_column("api_keys", sa.Column("pepper_id", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("api_keys", "pepper_id")
