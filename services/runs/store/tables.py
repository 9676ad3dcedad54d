"""The runs service's tables (SQLAlchemy Core). The migrations in store/migrations/ create them."""

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
RUN_ID = "runs.id"

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("organization_slug", sa.String(63), nullable=False),
    sa.Column("origin_type", sa.String(32), nullable=False),
    sa.Column("origin", sa.String(400), nullable=False),
    sa.Column("orchestration", sa.String(300), nullable=False),
    sa.Column("definition", JSONDocument, nullable=False),
    sa.Column("prompt_templates", JSONDocument, nullable=False),
    sa.Column("agents", JSONDocument, nullable=False),
    sa.Column("prompt_inputs", JSONDocument, nullable=False),
    sa.Column("metadata", JSONDocument, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("status_reason", sa.Text, nullable=False),
    sa.Column("current_phase", sa.Integer, nullable=False),
    # The per-run event sequence: incremented under the run's row lock, so the log has no gaps.
    sa.Column("last_sequence", sa.BigInteger, nullable=False),
    sa.Column("request_id", sa.String(128), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # run controls (issue 14, migration 0006): the SHA-256 of the canonical launch request, so that a request_id
    # reused with other parameters is refused (REQUEST_ID_REUSED) instead of answered with the first run.
    sa.Column("request_fingerprint", sa.String(64), nullable=False, server_default=""),
    # i14-decisions: the launcher's organization default for four-eyes at launch time (pinned).
    sa.Column("forbid_self_approval", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("organization_slug", "request_id"),
    sa.Index("ix_runs_org_created", "organization_slug", "created_at"),
)

run_steps = sa.Table(
    "run_steps",
    metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey(RUN_ID, ondelete="CASCADE"), nullable=False),
    sa.Column("step_id", sa.String(63), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("output", JSONDocument, nullable=True),
    sa.Column("error", sa.Text, nullable=False),
    # When something must next happen to the step: a ready step's start, a running step's lease expiry, a
    # waiting checkpoint's expiry. Workers find due work with one indexed query; NULL means nothing is due.
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("lease_owner", sa.String(128), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("checkpoint_id", sa.String(36), nullable=False),
    # run controls and revisions (issue 14, migration 0006): the attempts made before the step's current retry
    # window, the reviewer feedback its next attempts see, the A2A ids of its last answer.
    sa.Column("retry_base", sa.Integer, nullable=False, server_default="0"),
    sa.Column("revision", JSONDocument, nullable=True),
    sa.Column("agent_context", JSONDocument, nullable=True),
    sa.PrimaryKeyConstraint("run_id", "step_id"),
    sa.Index("ix_run_steps_due_at", "due_at"),
)

run_events = sa.Table(
    "run_events",
    metadata,
    sa.Column("run_id", sa.String(36), sa.ForeignKey(RUN_ID, ondelete="CASCADE"), nullable=False),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("step_id", sa.String(63), nullable=False),
    sa.Column("data", JSONDocument, nullable=False),
    sa.Column("run_status", sa.String(16), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("run_id", "sequence"),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(36), sa.ForeignKey(RUN_ID, ondelete="CASCADE"), nullable=False),
    sa.Column("organization_slug", sa.String(63), nullable=False),
    sa.Column("step_id", sa.String(63), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("context", sa.Text, nullable=False),
    sa.Column("deliverables", JSONDocument, nullable=False),
    sa.Column("assignees", JSONDocument, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("on_expiry", sa.String(16), nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("decision", sa.String(20), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("payload", JSONDocument, nullable=False),
    sa.Column("decided_by", sa.String(200), nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    # revisions (issue 14, migration 0006): how many times the step sent its dependencies back before this opening
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
    # i14-decisions: quorum, four-eyes (the effective value, pinned when it opens) and reason codes.
    sa.Column("approvals_required", sa.Integer, nullable=False, server_default="1"),
    sa.Column("forbid_self_approval", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reason_codes", JSONDocument, nullable=False, server_default="[]"),
    sa.Column("reason_code", sa.String(63), nullable=False, server_default=""),
    # --- routing and escalation (issue 14, i14-routing; migration 0004) ---
    # The run's orchestration (copied at opening, for the inbox's orchestration filter without a join).
    sa.Column("orchestration", sa.String(300), nullable=False, server_default=""),
    # due_at, or the far future without one: the inbox's due-time order (no-due-time last) as an indexed key.
    sa.Column("due_sort_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("remind_before_seconds", sa.Float, nullable=True),
    sa.Column("remind_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("reminded", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("escalation", JSONDocument, nullable=True),  # the chain: [{after_seconds, role, assignees}]
    sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"),
    sa.Column("escalation_base_at", sa.DateTime(timezone=True), nullable=True),  # opening, shifted by extensions
    sa.Column("override", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("override_justification", sa.Text, nullable=False, server_default=""),
    sa.Index("ix_checkpoints_org_status_opened", "organization_slug", "status", "opened_at"),
    sa.Index("ix_checkpoints_org_status_due", "organization_slug", "status", "due_sort_at", "id"),
    sa.Index("ix_checkpoints_org_orchestration", "organization_slug", "orchestration", "opened_at"),
)

# One row per (checkpoint, assignee), normalized (lowercase): the inbox's assigned_to_me / group / assignee filters
# are an indexed lookup here, never a scan of the checkpoints' JSON lists (issue 14, i14-routing; migration 0004).
checkpoint_assignees = sa.Table(
    "checkpoint_assignees",
    metadata,
    sa.Column("checkpoint_id", sa.String(36), sa.ForeignKey("checkpoints.id", ondelete="CASCADE"), nullable=False),
    sa.Column("organization_slug", sa.String(63), nullable=False),
    sa.Column("assignee", sa.String(330), nullable=False),
    sa.PrimaryKeyConstraint("checkpoint_id", "assignee"),
    sa.Index("ix_checkpoint_assignees_org_assignee", "organization_slug", "assignee", "checkpoint_id"),
)

# i14-decisions: one row per (checkpoint, voter): immutable decision records (the migration adds a trigger that
# refuses UPDATE; the store has no update or delete of them; they go with their run).
checkpoint_votes = sa.Table(
    "checkpoint_votes",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "checkpoint_id",
        sa.String(36),
        sa.ForeignKey("checkpoints.id", ondelete="CASCADE", name="fk_checkpoint_votes_checkpoint_id_checkpoints"),
        nullable=False,
    ),
    sa.Column(
        "run_id",
        sa.String(36),
        sa.ForeignKey(RUN_ID, ondelete="CASCADE", name="fk_checkpoint_votes_run_id_runs"),
        nullable=False,
    ),
    sa.Column("organization_slug", sa.String(63), nullable=False),
    sa.Column("voter", sa.String(200), nullable=False),
    sa.Column("decision", sa.String(20), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("reason_code", sa.String(63), nullable=False),
    sa.Column("payload", JSONDocument, nullable=False),
    sa.Column("payload_diff", JSONDocument, nullable=False),
    # The canonical JSON text, stored as text so that its bytes (what evidence_sha256 hashes) never change.
    sa.Column("evidence", sa.Text, nullable=False),
    sa.Column("evidence_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("checkpoint_id", "voter"),
)
