"""autovacuum tuned for the hot, update-heavy tables (PostgreSQL)

Every step transition updates rows of run_steps and runs (and moves run_steps.due_at, an indexed column, so the
updates cannot be HOT): with the default thresholds (20 % of the table) dead row versions and stale statistics
pile up until a large table is vacuumed, and the engine's index scans slow down. Vacuuming and analyzing after
2 % of changes, without cost-based throttling, keeps them small. No effect on SQLite.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

HOT_TABLES = ("run_steps", "runs")
TUNED = (
    "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02, "
    "autovacuum_vacuum_insert_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0"
)
RESET = (
    "autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor, autovacuum_vacuum_insert_scale_factor, "
    "autovacuum_vacuum_cost_delay"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in HOT_TABLES:
        op.execute(f"ALTER TABLE {table} SET ({TUNED})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in HOT_TABLES:
        op.execute(f"ALTER TABLE {table} RESET ({RESET})")
