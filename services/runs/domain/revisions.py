"""Request-changes revisions (issue 14): what a step that a reviewer sent back sees when it runs again.

A checkpoint's `request_changes` (with a comment and, optionally, an edited payload) sends the steps it depends on
back. Each of them carries a `revision` into its next attempts, available to its templates as `revision`:

- `revision.number`: 1 for the first revision of the step, 2 for the next, ...;
- `revision.comment`: the reviewer's comment; `revision.payload`: the payload they edited (an object, maybe empty);
- `revision.previous_output`: the step's output that the reviewer saw.

`revision` is undefined on a step's first run (`{% if revision %}` is false). A template that does not mention
`revision` still gets the feedback: a standard "Reviewer feedback" block is appended to its rendered prompt
(`with_feedback`), so that an agent step written before revisions existed still revises. A2A agents also receive
it as a follow-up message in the same task context (the executor reads `StepRequest.revision`).

A checkpoint may send its dependencies back `max_revisions` times (default 3); then it can only be approved or
rejected (`check_revisions_left`: FAILED_PRECONDITION, reason REVISIONS_EXHAUSTED).
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.runs.domain.errors import RevisionsExhausted
from services.runs.domain.model import CheckpointSpec, StepState

FEEDBACK_HEADER = "Reviewer feedback (revision {number})"
_MENTIONS_REVISION = re.compile(r"\brevision\b")


def revision_count(checkpoint_state: StepState) -> int:
    """How many times the checkpoint step has sent its dependencies back so far."""
    return int((checkpoint_state.revision or {}).get("number", 0))


def check_revisions_left(checkpoint: str, block: CheckpointSpec | None, checkpoint_state: StepState) -> None:
    """Refuse request_changes (RevisionsExhausted) once the checkpoint used up its `max_revisions`."""
    limit = block.max_revisions if block is not None else 0
    if block is not None and revision_count(checkpoint_state) >= limit:
        raise RevisionsExhausted(checkpoint, limit)


def next_revision(state: StepState, comment: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The revision a sent-back step carries into its next attempts (numbered after its previous revision)."""
    number = int((state.revision or {}).get("number", 0)) + 1
    return {"number": number, "comment": comment, "payload": payload, "previous_output": state.output}


def template_revision(state: StepState) -> dict[str, Any] | None:
    """The `revision` a step's templates see: None (undefined) until a reviewer sent the step back."""
    if not state.revision:
        return None
    return {k: state.revision.get(k) for k in ("number", "comment", "payload", "previous_output")}


def mentions_revision(source: str) -> bool:
    """Whether a template reads `revision` itself (then no feedback block is appended)."""
    return bool(_MENTIONS_REVISION.search(source))


def feedback_block(revision: dict[str, Any]) -> str:
    """The standard block appended to a prompt whose template does not read `revision`."""
    lines = [FEEDBACK_HEADER.format(number=revision.get("number", 1)) + ":"]
    comment = str(revision.get("comment") or "").strip()
    lines.append(comment or "(no comment)")
    payload = revision.get("payload")
    if payload:
        lines.append("Edited payload: " + json.dumps(payload, sort_keys=True, ensure_ascii=False))
    previous = revision.get("previous_output")
    if previous is not None:
        shown = previous if isinstance(previous, str) else json.dumps(previous, sort_keys=True, ensure_ascii=False)
        lines.append("Your previous output: " + shown)
    return "\n".join(lines)


def with_feedback(rendered: str, source: str, revision: dict[str, Any] | None) -> str:
    """The prompt a revised step sends: `rendered`, plus the feedback block unless its template reads `revision`."""
    if revision is None or mentions_revision(source):
        return rendered
    return f"{rendered}\n\n{feedback_block(revision)}"
