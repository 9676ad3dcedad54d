"""`agentorch runs watch`: follow a run's event stream and show its steps live.

The state shown is derived from the events themselves (the log is the source of truth), starting from the run's
step list: each event moves its step (ready, running, waiting, succeeded, failed, skipped), and the run's status
changes where a `run_status_changed` event says so. (Every event of one commit carries the status that commit
ends in, so a run's last tick would show its `step_started` already `completed`; replaying the status changes
shows each event with the status the run had at that point.) A dropped stream is reopened after the last sequence
seen, so nothing is missed or repeated.

Views: on a terminal the step table and a progress bar are redrawn in place (ANSI); otherwise one plain line per
event (testable, greppable); with `--output json` one JSON event per line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

import grpc

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from cli.render import as_dict, label, progress_bar, table

FINAL = frozenset({run_pb2.RUN_STATUS_COMPLETED, run_pb2.RUN_STATUS_FAILED, run_pb2.RUN_STATUS_CANCELLED})
FINAL_LABELS = frozenset(label(run_pb2.RunStatus.Name(s)) for s in FINAL)
RUN_STATUSES = {label(run_pb2.RunStatus.Name(v)): v for v in run_pb2.RunStatus.values() if v}
FINISHED_STEPS = frozenset({"succeeded", "failed", "skipped", "cancelled"})
RECONNECTABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
MAX_RECONNECTS = 5  # consecutive reopened streams without a new event before giving up
_E = run_pb2


@dataclass
class StepRow:
    step_id: str
    phase_id: str
    kind: str
    status: str = "pending"
    attempt: int = 0
    note: str = ""


@dataclass
class RunModel:
    """A run as its events describe it."""

    name: str
    status: str
    steps: dict[str, StepRow]
    status_reason: str = ""
    open_checkpoints: list[str] = field(default_factory=list)
    last_sequence: int = 0
    final: bool = False

    @classmethod
    def start(cls, run: run_pb2.Run, *, replay: bool) -> RunModel:
        """Before the first event (`replay`: the events from sequence 1 will follow) or as the run is now."""
        steps = {
            s.step_id: StepRow(s.step_id, s.phase_id, s.kind)
            if replay
            else StepRow(s.step_id, s.phase_id, s.kind, label(run_pb2.StepStatus.Name(s.status)), s.attempt, s.error)
            for s in run.steps
        }
        if replay:
            return cls(run.name, "pending", steps)
        status = label(run_pb2.RunStatus.Name(run.status))
        return cls(
            run.name,
            status,
            steps,
            run.status_reason,
            list(run.open_checkpoints),
            run.last_event_sequence,
            run.status in FINAL,
        )

    @property
    def done(self) -> int:
        return sum(1 for s in self.steps.values() if s.status in FINISHED_STEPS)

    @property
    def waiting_for_checkpoint(self) -> bool:
        return self.status == "paused" and self.status_reason == "checkpoint"

    def apply(self, event: run_pb2.RunEvent) -> None:
        """Move the model past `event`: the run's status changes only at a status change (its `to`; the event's
        own status when an older server did not record it)."""
        self.last_sequence = max(self.last_sequence, event.sequence)
        data = as_dict(event.data) if event.HasField("data") else {}
        if event.type == _E.EVENT_TYPE_RUN_STATUS_CHANGED:
            stamped = label(run_pb2.RunStatus.Name(event.run_status))
            self.status = str(data.get("to") or "") if data.get("to") in RUN_STATUSES else stamped or self.status
            self.status_reason = str(data.get("reason") or "")
        self.final = self.status in FINAL_LABELS
        step = self.steps.get(event.step_id)
        if step is None:
            return
        attempt = data.get("attempt")
        if isinstance(attempt, int | float):
            step.attempt = int(attempt)
        kind = event.type
        if kind == _E.EVENT_TYPE_STEP_READY:
            step.status, step.note = "ready", ""
        elif kind in (_E.EVENT_TYPE_STEP_STARTED, _E.EVENT_TYPE_STEP_TAKEN_OVER):
            step.status = "running"
        elif kind == _E.EVENT_TYPE_STEP_SUCCEEDED:
            step.status, step.note = "succeeded", ""
        elif kind == _E.EVENT_TYPE_STEP_FAILED:
            step.note = str(data.get("error") or "")
            step.status = "ready" if data.get("retry_at") else "failed"
        elif kind == _E.EVENT_TYPE_STEP_SKIPPED:
            step.status = str(data.get("status") or "skipped")
        elif kind == _E.EVENT_TYPE_CHECKPOINT_OPENED:
            step.status = "waiting"
            name = f"{self.name}/checkpoints/{data.get('checkpoint', '')}"
            step.note = str(data.get("title") or "")
            if name not in self.open_checkpoints:
                self.open_checkpoints.append(name)
        elif kind == _E.EVENT_TYPE_CHECKPOINT_DECIDED:
            name = f"{self.name}/checkpoints/{data.get('checkpoint', '')}"
            if name in self.open_checkpoints:
                self.open_checkpoints.remove(name)


def as_seen(model: RunModel, event: run_pb2.RunEvent) -> run_pb2.RunEvent:
    """`event` with the run's status at that event (the model has applied it), as the views show it."""
    seen = run_pb2.RunEvent()
    seen.CopyFrom(event)
    seen.run_status = RUN_STATUSES.get(model.status, event.run_status)
    return seen


class View(Protocol):
    def event(self, model: RunModel, event: run_pb2.RunEvent) -> None: ...

    def end(self, model: RunModel) -> None: ...


class LineView:
    """One line per event: `   7 step_succeeded    research    run=running  [####----] 1/2`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def event(self, model: RunModel, event: run_pb2.RunEvent) -> None:
        kind = label(run_pb2.EventType.Name(event.type))
        bar = progress_bar(model.done, len(model.steps), width=10)
        line = f"{event.sequence:>5} {kind:<20} {event.step_id or '-':<16} run={model.status:<10} {bar}"
        print(line.rstrip(), file=self.out, flush=True)

    def end(self, model: RunModel) -> None:
        for line in summary(model):
            print(line, file=self.out, flush=True)


class JsonView:
    """One JSON object per event (the protobuf JSON mapping of RunEvent, `runStatus` the status at that event),
    nothing else."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def event(self, model: RunModel, event: run_pb2.RunEvent) -> None:
        print(json.dumps(as_dict(as_seen(model, event)), ensure_ascii=False), file=self.out, flush=True)

    def end(self, model: RunModel) -> None:
        return None


class TerminalView:
    """The step table and a progress bar, redrawn in place after every event."""

    def __init__(self, out: TextIO, *, colour: bool = True) -> None:
        self.out = out
        self.colour = colour
        self._drawn = 0

    def event(self, model: RunModel, event: run_pb2.RunEvent) -> None:
        self.draw(model)

    def end(self, model: RunModel) -> None:
        self.draw(model)
        for line in summary(model)[1:]:
            print(line, file=self.out, flush=True)

    def draw(self, model: RunModel) -> None:
        lines = frame(model, self._paint if self.colour else None)
        clear = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
        self.out.write(clear + "\n".join(lines) + "\n")
        self.out.flush()
        self._drawn = len(lines)

    @staticmethod
    def _paint(status: str) -> str:
        code = {"succeeded": "32", "completed": "32", "failed": "31", "cancelled": "31", "running": "36"}.get(
            status, "33" if status in ("waiting", "paused") else ""
        )
        return f"\x1b[{code}m{status}\x1b[0m" if code else status


def frame(model: RunModel, paint: Callable[[str], str] | None = None) -> list[str]:
    """The live view: a header with the run's status and progress, then one row per step (`paint` colours
    statuses)."""

    def style(column: int, cell: str) -> str:
        if paint is None or column != 3:
            return cell
        status = cell.rstrip()
        return paint(status) + cell[len(status) :]

    shown = paint(model.status) if paint else model.status
    reason = f" ({model.status_reason})" if model.status_reason and model.status in ("paused", "failed") else ""
    head = f"run {model.name}  {shown}{reason}  {progress_bar(model.done, len(model.steps))}"
    rows = [(s.phase_id, s.step_id, s.kind, s.status, s.attempt or "", s.note[:60]) for s in model.steps.values()]
    lines = [head, *table(("PHASE", "STEP", "KIND", "STATUS", "ATTEMPT", "NOTE"), rows, style)]
    lines += [f"waiting for a decision: {c}" for c in model.open_checkpoints]
    return lines


def summary(model: RunModel) -> list[str]:
    lines = [f"run {model.name} {model.status} ({model.done}/{len(model.steps)} steps finished)"]
    lines += [f"waiting for a decision: {c}" for c in model.open_checkpoints]
    return lines


def follow(
    open_stream: Callable[[runs.WatchRunRequest, bool], Any],
    model: RunModel,
    view: View,
    *,
    until_checkpoint: bool = False,
    live_from: int = 0,
    latest: Callable[[], int] | None = None,
    show_after: int = 0,
) -> RunModel:
    """Read the run's events after `model.last_sequence`, updating `model` and `view`, until the server ends the
    stream after the run's final event, or, with `until_checkpoint`, until the run waits on a human decision at or
    after sequence `live_from` (a pause earlier in a replayed history has been decided since).

    Several events are committed together and each carries the run's status after that commit, so a status alone
    does not say the run's story is told: the stream's end does, and before stopping at a checkpoint the view
    catches up to `latest()` (the run's last sequence, from GetRun). A dropped stream (UNAVAILABLE and the like) is
    reopened after the last sequence seen, so nothing is missed or repeated. Events up to `show_after` only update
    the model (the state they lead to is the starting point), the view sees the rest."""
    reconnects = 0
    dropped = False  # the previous stream broke: the reopened one waits for the connection to come back
    stop_at: int | None = None
    while True:
        request = runs.WatchRunRequest(name=model.name, after_sequence=model.last_sequence)
        call = open_stream(request, dropped)
        dropped = False
        before = model.last_sequence
        try:
            for item in _items(call):
                if not item.HasField("event") or item.event.sequence <= model.last_sequence:
                    continue
                model.apply(item.event)
                if item.event.sequence > show_after:
                    view.event(model, item.event)
                waiting = model.waiting_for_checkpoint and item.event.sequence >= live_from
                if until_checkpoint and stop_at is None and waiting:
                    stop_at = latest() if latest is not None else item.event.sequence
                if stop_at is not None and model.last_sequence >= stop_at:
                    if model.waiting_for_checkpoint:
                        return model
                    stop_at = None  # decided meanwhile: follow on
            if model.final:
                return model
            reconnects = 0 if model.last_sequence > before else reconnects + 1  # ended early (a draining server)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            dropped = True
            reconnects = 0 if model.last_sequence > before else reconnects + 1
            if code not in RECONNECTABLE or reconnects > MAX_RECONNECTS:
                raise
        finally:
            cancel = getattr(call, "cancel", None)
            if cancel is not None:
                cancel()
        if reconnects > MAX_RECONNECTS:
            raise StreamLost(model.name, model.last_sequence)


class StreamLost(Exception):
    def __init__(self, run: str, sequence: int) -> None:
        super().__init__(f"the watch of {run} kept ending without news after sequence {sequence}")


def _items(call: Any) -> Iterator[runs.WatchRunResponse]:
    yield from call
