"""run controls and request-changes revisions (issue 14)

- runs.request_fingerprint: the SHA-256 of the canonical launch request kept with its request_id, so that the same
  request_id with other parameters is refused (REQUEST_ID_REUSED) instead of answered with the first run. Runs
  launched before keep "" and are answered as before.
- run_steps.retry_base: the attempts made before the step's current retry window (RetryRun and request_changes give
  a step its full retry policy again while attempt numbers continue).
- run_steps.revision: the reviewer feedback a sent-back step's next attempts see (`revision.*` in its templates).
- run_steps.agent_context: the A2A task/context ids of the step's last answer (a revision continues that context).
- checkpoints.revision: how many times the checkpoint step sent its dependencies back before this opening.

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSONDocument = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("runs", sa.Column("request_fingerprint", sa.String(64), nullable=False, server_default=""))
    op.add_column("run_steps", sa.Column("retry_base", sa.Integer, nullable=False, server_default="0"))
    op.add_column("run_steps", sa.Column("revision", JSONDocument, nullable=True))
    op.add_column("run_steps", sa.Column("agent_context", JSONDocument, nullable=True))
    op.add_column("checkpoints", sa.Column("revision", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("revision")
    with op.batch_alter_table("run_steps") as batch:
        batch.drop_column("agent_context")
        batch.drop_column("revision")
        batch.drop_column("retry_base")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("request_fingerprint")
