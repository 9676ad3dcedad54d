"""credential bindings: where each credential may be sent, and where each resolution was to send it

`credentials.allowed_agents` / `allowed_hosts` (JSON lists) hold the binding admins set; existing credentials get
empty lists, i.e. they are unbound and refused at resolution until an admin binds them (the secure default, see
the README's "Credentials vault"). `audit_events.agent` / `destination` record the agent and host:port a
resolution named.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    empty = sa.text("'[]'")
    op.add_column("credentials", sa.Column("allowed_agents", sa.JSON, nullable=False, server_default=empty))
    op.add_column("credentials", sa.Column("allowed_hosts", sa.JSON, nullable=False, server_default=empty))
    op.add_column("audit_events", sa.Column("agent", sa.String(300), nullable=False, server_default=""))
    op.add_column("audit_events", sa.Column("destination", sa.String(300), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as table:
        table.drop_column("destination")
        table.drop_column("agent")
    with op.batch_alter_table("credentials") as table:
        table.drop_column("allowed_hosts")
        table.drop_column("allowed_agents")
