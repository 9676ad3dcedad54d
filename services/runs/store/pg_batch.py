"""The engine's hot path on PostgreSQL: a transaction's load and its whole write-back in one statement each.

The portable statements in runs.py (SQLAlchemy Core, used on SQLite) write one table per statement; here every
write of a transition — changed steps, new events, run rows, closed checkpoints, and the LISTEN/NOTIFY
announcement — travels as arrays in ONE statement of data-modifying CTEs, and a run is locked and read with its
steps in one join. A tick of the engine is then BEGIN, due query, lock, steps, write, COMMIT however many runs it moves.
The SQL is static text (no string building); values go as parameters. The statements run through SQLAlchemy's
connection (`exec_driver_sql`), so they share its transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.runs.domain.model import RunState, StepState, StepStatus

# The mutable columns of the runs named in $1, locked. The steps are read by a second statement, AFTER the lock is
# held: in READ COMMITTED a statement that waited for a lock sees the locked row's newest version but every other
# row as of its start, so steps read in the same statement as the lock could predate the transaction it waited for.
_LOCK = """
SELECT id, organization_slug, status, status_reason, current_phase, last_sequence, started_at, ended_at
FROM runs WHERE id = ANY($1::varchar[]) ORDER BY id FOR UPDATE"""
LOCK = _LOCK
LOCK_SKIP_LOCKED = _LOCK + " SKIP LOCKED"
# The same for the runs that have a step due ($1 = now, $2 = how many due steps to consider): finding work and
# claiming it is one statement, and runs another transaction holds are skipped (another replica, another tick).
LOCK_DUE = """
SELECT id, organization_slug, status, status_reason, current_phase, last_sequence, started_at, ended_at
FROM runs WHERE id IN (SELECT run_id FROM run_steps WHERE due_at <= $1 ORDER BY due_at LIMIT $2)
ORDER BY id FOR UPDATE SKIP LOCKED"""
STEPS = """
SELECT run_id, step_id, status, attempt, output, error, due_at, lease_owner, started_at, finished_at, checkpoint_id,
       retry_base, revision, agent_context
FROM run_steps WHERE run_id = ANY($1::varchar[])"""

WRITE = """
WITH step_changes AS (
    UPDATE run_steps AS t
    SET status = u.status, attempt = u.attempt, output = u.output, error = u.error, due_at = u.due_at,
        lease_owner = u.lease_owner, started_at = u.started_at, finished_at = u.finished_at,
        checkpoint_id = u.checkpoint_id, retry_base = u.retry_base, revision = u.revision,
        agent_context = u.agent_context
    FROM unnest($1::varchar[], $2::varchar[], $3::varchar[], $4::integer[], $5::jsonb[], $6::text[],
                $7::timestamptz[], $8::varchar[], $9::timestamptz[], $10::timestamptz[], $11::varchar[],
                $31::integer[], $32::jsonb[], $33::jsonb[])
         AS u(run_id, step_id, status, attempt, output, error, due_at, lease_owner, started_at, finished_at,
              checkpoint_id, retry_base, revision, agent_context)
    WHERE t.run_id = u.run_id AND t.step_id = u.step_id
), new_events AS (
    INSERT INTO run_events (run_id, sequence, type, step_id, data, run_status, created_at)
    SELECT * FROM unnest($12::varchar[], $13::bigint[], $14::varchar[], $15::varchar[], $16::jsonb[],
                         $17::varchar[], $18::timestamptz[])
), run_changes AS (
    UPDATE runs AS t
    SET status = u.status, status_reason = u.status_reason, current_phase = u.current_phase,
        last_sequence = u.last_sequence, started_at = u.started_at, ended_at = u.ended_at, updated_at = $26
    FROM unnest($19::varchar[], $20::varchar[], $21::text[], $22::integer[], $23::bigint[], $24::timestamptz[],
                $25::timestamptz[])
         AS u(id, status, status_reason, current_phase, last_sequence, started_at, ended_at)
    WHERE t.id = u.id
), closed_checkpoints AS (
    UPDATE checkpoints AS t SET status = u.status
    FROM unnest($27::varchar[], $28::varchar[]) AS u(id, status)
    WHERE t.id = u.id AND t.status = 'open'
)
SELECT pg_notify($29, payload) FROM unnest($30::text[]) AS payload"""

# A new run: its row, steps, first events and announcement (a repeated request_id fails the whole statement with a
# unique violation; foreign keys are checked at the end of the statement, after every CTE ran).
INSERT_RUN = """
WITH new_run AS (
    INSERT INTO runs (id, organization_slug, origin_type, origin, orchestration, definition, prompt_templates,
                      agents, prompt_inputs, metadata, status, status_reason, current_phase, last_sequence,
                      request_id, created_by, created_at, started_at, ended_at, updated_at, request_fingerprint,
                      forbid_self_approval)
    VALUES ($1, $14, $15, $16, $17, $18::jsonb, $19::jsonb, $20::jsonb, $21::jsonb, $22::jsonb, $23, $24,
            $25::integer, $26::bigint, $27::varchar, $28, $6, $29::timestamptz, $30::timestamptz, $6, $31::varchar,
            $32::boolean)
), new_steps AS (
    INSERT INTO run_steps (run_id, step_id, position, status, attempt, output, error, due_at, lease_owner,
                           started_at, finished_at, checkpoint_id)
    SELECT $1, u.step_id, u.position, u.status, 0, NULL, '', u.due_at, '', NULL, NULL, ''
    FROM unnest($2::varchar[], $3::integer[], $4::varchar[], $5::timestamptz[]) AS u(step_id, position, status, due_at)
), new_events AS (
    INSERT INTO run_events (run_id, sequence, type, step_id, data, run_status, created_at)
    SELECT $1, u.sequence, u.type, u.step_id, u.data, u.run_status, $6
    FROM unnest($7::bigint[], $8::varchar[], $9::varchar[], $10::jsonb[], $11::varchar[])
         AS u(sequence, type, step_id, data, run_status)
)
SELECT pg_notify($12, payload) FROM unnest($13::text[]) AS payload"""


class Columns:
    """Parallel arrays, one per column, for an unnest()."""

    def __init__(self, width: int) -> None:
        self.arrays: list[list[Any]] = [[] for _ in range(width)]

    def add(self, *values: Any) -> None:
        for array, value in zip(self.arrays, values, strict=True):
            array.append(value)


def jsonb(value: Any) -> str | None:
    """A jsonb array element as SQLAlchemy's asyncpg codec takes it (text); None is SQL NULL (read back as None)."""
    return None if value is None else json.dumps(value)


async def write(
    conn: AsyncConnection,
    states: Sequence[RunState],
    events: Columns,
    now: dt.datetime,
    channel: str,
    payloads: list[str],
) -> None:
    """Write back every dirty step, closed checkpoint and run row of `states` with their numbered `events`."""
    steps, runs, closed = Columns(11), Columns(7), Columns(2)
    carried = Columns(3)  # issue 14's step columns, passed last ($31-$33) to keep the numbering above
    for run in states:
        for step_id in sorted(run.dirty):
            st = run.steps[step_id]
            steps.add(
                run.run_id,
                step_id,
                st.status.value,
                st.attempt,
                jsonb(st.output),
                st.error,
                st.due_at,
                st.lease_owner,
                st.started_at,
                st.finished_at,
                st.checkpoint_id,
            )
            carried.add(st.retry_base, jsonb(st.revision), jsonb(st.agent_context))
        for checkpoint_id, status in run.checkpoints_closed:
            closed.add(checkpoint_id, status)
        runs.add(
            run.run_id,
            run.status.value,
            run.status_reason,
            run.current_phase,
            run.last_sequence,
            run.started_at,
            run.ended_at,
        )
    params = (*steps.arrays, *events.arrays, *runs.arrays, now, *closed.arrays, channel, payloads, *carried.arrays)
    await conn.exec_driver_sql(WRITE, params)


def step_from(row: Sequence[Any]) -> StepState:
    """A step from a STEPS row (by position: this runs for every step of every transition)."""
    return StepState(
        row[1], StepStatus(row[2]), row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10], *row[11:14]
    )
