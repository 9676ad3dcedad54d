"""How CLI responses are shown: `--output json` prints the protobuf JSON mapping of the response (every field, even
default ones, so scripts can rely on the keys); `--output table` prints aligned columns or key/value lines.
Errors are one line (`agentorch: CODE: message`) plus one line per field violation."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import grpc
from google.protobuf.message import Message

from services.common.remote_errors import RemoteError
from services.common.structs import message_to_dict


def as_dict(message: Message) -> dict[str, Any]:
    return message_to_dict(message, always_print_fields_with_no_presence=True)


def to_json(message: Message, *, indent: int | None = 2) -> str:
    return json.dumps(as_dict(message), indent=indent, ensure_ascii=False)


def label(enum_name: str) -> str:
    """`RUN_STATUS_COMPLETED` → `completed`, `CHECKPOINT_STATUS_CHANGES_REQUESTED` → `changes_requested`."""
    for prefix in (
        "RUN_STATUS_",
        "STEP_STATUS_",
        "CHECKPOINT_STATUS_",
        "ORCHESTRATION_STATUS_",
        "PLAN_STATUS_",
        "ORIGIN_TYPE_",
        "EVENT_TYPE_",
        "DECISION_",
        "CREDENTIAL_TYPE_",
        "AUDIT_ACTION_",
        "AUDIT_OUTCOME_",
        "CHANGE_KIND_",
        "AGENT_MODE_",
    ):
        if enum_name.startswith(prefix):
            name = enum_name.removeprefix(prefix).lower()
            return "" if name == "unspecified" else name
    return enum_name


def when(timestamp: Any) -> str:
    """A Timestamp as `2026-12-01 08:18:17Z`, or "" when unset."""
    if not timestamp.seconds and not timestamp.nanos:
        return ""
    moment: dt.datetime = timestamp.ToDatetime(tzinfo=dt.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def short_name(name: str) -> str:
    """The last id of a resource name (`organizations/o/runs/r` → `r`)."""
    return name.rsplit("/", 1)[-1]


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], style: Callable[[int, str], str] | None = None
) -> list[str]:
    """Aligned columns, headers first; cells are str()-ed and never wrapped. `style(column, padded_cell)` may
    decorate body cells (colour) after alignment was computed on the plain text."""
    cells = [list(headers), *([_cell(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        padded = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        if style is not None and index > 0:
            padded = [style(column, cell) for column, cell in enumerate(padded)]
        lines.append("  ".join(padded).rstrip())
    return lines


def pairs(items: Iterable[tuple[str, Any]]) -> list[str]:
    """`key: value` lines with the values aligned; empty values are left out."""
    shown = [(k, _cell(v)) for k, v in items if _cell(v)]
    width = max((len(k) for k, _ in shown), default=0)
    return [f"{k + ':':<{width + 1}} {v}" for k, v in shown]


def progress_bar(done: int, total: int, width: int = 24) -> str:
    """`[#########---------------] 3/8`."""
    filled = round(width * done / total) if total else width
    return f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total}"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value).replace("\n", " ")


@dataclass
class Output:
    """Where and how a command prints its result."""

    format: str
    out: TextIO

    @property
    def json(self) -> bool:
        return self.format == "json"

    def show(self, message: Message, lines: Iterable[str]) -> None:
        """The response as JSON, or the given table/key-value lines."""
        self.print(to_json(message) if self.json else "\n".join(lines))

    def print(self, text: str) -> None:
        if text:
            print(text, file=self.out, flush=True)


def error_lines(error: grpc.RpcError) -> list[str]:
    """`agentorch: NOT_FOUND: run ... not found`, then `  field: description` for each field violation."""
    if not isinstance(error, grpc.Call):
        return [f"agentorch: ERROR: {error}"]
    return format_error(RemoteError.from_call(error))


def format_error(error: RemoteError) -> list[str]:
    """The message once, then one line per field violation. Services end a validation message with a summary of
    its violations (`invalid request: a: x; b: y`), for clients that show only the message: that summary is cut
    here, since the violations follow in full."""
    violations = error.violations
    message = _without_summary(error.message, [f"{v.field}: {v.description}" for v in violations])
    return [
        f"agentorch: {error.code.name}: {message or 'no details'}",
        *(f"  {v.field}: {v.description}" for v in violations),
    ]


def _without_summary(message: str, violations: Sequence[str]) -> str:
    """`message` up to where it starts repeating the violations (as `ValidationFailed` summarises them)."""
    if not violations:
        return message
    start = message.find(f": {violations[0]}")
    if start < 0 or any(v not in message[start:] for v in violations[:5]):
        return message
    return message[:start]
