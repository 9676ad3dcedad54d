"""The gateway CLI's output without a server: tables, values, errors, the watch views and the stream follower."""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from cli.commands.base import definition_file, moment, parse_inputs
from cli.gateway_client import UsageError
from cli.main import build_parser, main
from cli.ports import OFFSETS, PURPOSES
from cli.render import format_error, label, pairs, progress_bar, table, when
from cli.watch import JsonView, LineView, RunModel, StreamLost, TerminalView, follow, frame
from services.common.remote_errors import RemoteError

RUN = f"organizations/acme/runs/{uuid.uuid4()}"
CHECKPOINT_ID = str(uuid.uuid4())


# --- render --------------------------------------------------------------------------------------------------------


def test_tables_align_columns_and_show_lists_and_booleans() -> None:
    lines = table(("NAME", "TAGS", "ON"), [("brief", ["a", "b"], True), ("a-much-longer-name", [], False)])
    assert lines == [
        "NAME                TAGS  ON",
        "brief               a, b  yes",
        "a-much-longer-name        no",
    ]


def test_styled_cells_keep_the_alignment_of_the_plain_text() -> None:
    lines = table(("A", "B"), [("x", "ok"), ("long", "bad")], style=lambda col, cell: f"<{cell}>" if col == 0 else cell)
    assert lines[1:] == ["<x   >  ok", "<long>  bad"]


def test_pairs_leave_out_empty_values() -> None:
    assert pairs([("name", "r1"), ("ended", ""), ("open checkpoints", [])]) == ["name: r1"]
    assert pairs([("a", 1), ("longer", "x")]) == ["a:      1", "longer: x"]


@pytest.mark.parametrize(
    ("done", "total", "bar"),
    [(0, 4, "[--------] 0/4"), (2, 4, "[####----] 2/4"), (4, 4, "[########] 4/4"), (0, 0, "[########] 0/0")],
)
def test_progress_bar(done: int, total: int, bar: str) -> None:
    assert progress_bar(done, total, width=8) == bar


def test_enum_labels_and_times() -> None:
    assert label("RUN_STATUS_COMPLETED") == "completed"
    assert label("CHECKPOINT_STATUS_CHANGES_REQUESTED") == "changes_requested"
    assert label("RUN_STATUS_UNSPECIFIED") == ""
    assert when(timestamp_pb2.Timestamp()) == ""
    assert when(timestamp_pb2.Timestamp(seconds=1_700_000_000)) == "2023-11-14 22:13:20Z"


def test_errors_are_one_line_then_each_field_violation() -> None:
    status = status_pb2.Status(code=3, message="invalid request")
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="orchestration_id", description="must be a slug"),
            error_details_pb2.BadRequest.FieldViolation(field="version.definition", description="required"),
        ]
    )
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason="VALIDATION_FAILED"))
    status.details.add().Pack(bad)
    assert format_error(RemoteError(grpc.StatusCode.INVALID_ARGUMENT, "invalid request", status.details)) == [
        "agentorch: INVALID_ARGUMENT: invalid request",
        "  orchestration_id: must be a slug",
        "  version.definition: required",
    ]
    assert format_error(RemoteError(grpc.StatusCode.NOT_FOUND, "")) == ["agentorch: NOT_FOUND: no details"]


def test_a_validation_error_names_each_violation_once() -> None:
    """Services end the message with a summary of the violations; the CLI prints the violations in full below it,
    so the summary is cut (a message that does not repeat them is kept whole)."""
    violations = [
        error_details_pb2.BadRequest.FieldViolation(field=f"steps[{i}].id", description=f"duplicate id s{i}")
        for i in range(7)
    ]
    status = status_pb2.Status(code=3)
    status.details.add().Pack(error_details_pb2.BadRequest(field_violations=violations))
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5]) + "; and 2 more"
    lines = format_error(RemoteError(grpc.StatusCode.INVALID_ARGUMENT, f"invalid request: {summary}", status.details))
    assert lines == [
        "agentorch: INVALID_ARGUMENT: invalid request",
        *(f"  steps[{i}].id: duplicate id s{i}" for i in range(7)),
    ]
    assert format_error(RemoteError(grpc.StatusCode.INVALID_ARGUMENT, "definition rejected", status.details))[0] == (
        "agentorch: INVALID_ARGUMENT: definition rejected"
    )


def test_launch_inputs_are_text_unless_typed(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps({"topic": "from file", "depth": 1}))
    inputs = parse_inputs(["topic=tides=high", "depth:=3", "flags:=[true]"], path)
    assert inputs == {"topic": "tides=high", "depth": 3, "flags": [True]}
    for bad in ("nothing", "=x", "n:=not json"):
        with pytest.raises(UsageError):
            parse_inputs([bad], None)


def test_definition_files_are_bare_or_wrapped(tmp_path: Path) -> None:
    bare, wrapped = tmp_path / "bare.json", tmp_path / "wrapped.json"
    bare.write_text(json.dumps({"schema_version": 1, "phases": []}))
    wrapped.write_text(
        json.dumps({"definition": {"phases": []}, "prompt_templates": [{"name": "t", "template": "x"}], "label": "1"})
    )
    assert definition_file(bare) == ({"schema_version": 1, "phases": []}, [], {})
    assert definition_file(wrapped) == ({"phases": []}, [{"name": "t", "template": "x"}], {"label": "1"})


def test_definition_files_take_what_json_output_printed(tmp_path: Path) -> None:
    printed = tmp_path / "converted.json"  # `plans convert -o json`: camelCase, every field present
    printed.write_text(
        json.dumps(
            {
                "definition": {"phases": []},
                "promptTemplates": [{"name": "t", "template": "x", "description": ""}],
                "notes": ["a note"],
                "changeNote": "from the plan",
            }
        )
    )
    assert definition_file(printed) == (
        {"phases": []},
        [{"name": "t", "template": "x", "description": ""}],
        {"change_note": "from the plan"},
    )
    printed.write_text(json.dumps({"definition": {}, "prompt_templates": [{"name": "t", "body": "x"}]}))
    with pytest.raises(UsageError, match="each prompt template"):
        definition_file(printed)


def test_times_are_iso_8601_or_an_age() -> None:
    now = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
    assert moment("2h", now=now).ToDatetime(tzinfo=dt.UTC) == dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
    assert moment("7d", now=now).ToDatetime(tzinfo=dt.UTC) == dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    assert moment("2026-12-01").ToDatetime(tzinfo=dt.UTC) == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)  # UTC
    offset = moment("2026-12-01T08:00:00+02:00").ToDatetime(tzinfo=dt.UTC)
    assert offset == dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)
    for bad in ("yesterday", "2h ago", "-3d", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            moment(bad)


def test_up_help_lists_every_port_it_uses(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name, offset in OFFSETS.items():
        assert f"{PURPOSES[name]} BASE+{offset}" in shown, name
    assert "--max-crashes" in shown
    assert "--crash-window" in shown


def _options(parser: argparse.ArgumentParser, command: str = "") -> list[tuple[str, str, str]]:
    """(command, option, dest) of every documented long option, through every subcommand."""
    found = []
    for action in parser._actions:  # argparse has no public walk of its tree
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, f"{command} {name}".strip())
        elif action.help is not argparse.SUPPRESS:
            found += [(command, o, action.dest) for o in action.option_strings if o.startswith("--")]
    return found


def test_an_option_is_spelled_alike_in_every_command() -> None:
    """One spelling per meaning (`--display-name` everywhere, not `--name` here and `--display-name` there), and
    one meaning per spelling. The dest names the meaning; the gateway commands keep their data dir apart."""
    meaning = {"cli_data_dir": "data_dir"}
    spellings: dict[str, set[str]] = {}
    meanings: dict[str, set[str]] = {}
    for _, option, dest in _options(build_parser()):
        spellings.setdefault(meaning.get(dest, dest), set()).add(option)
        meanings.setdefault(option, set()).add(meaning.get(dest, dest))
    assert {d: s for d, s in spellings.items() if len(s) > 1} == {}
    assert {o: m for o, m in meanings.items() if len(m) > 1} == {}
    assert spellings["display_name"] == {"--display-name"}
    assert spellings["orchestration_id"] == {"--orchestration-id"}


# --- watch ---------------------------------------------------------------------------------------------------------


def run_message() -> run_pb2.Run:
    run = run_pb2.Run(name=RUN, status=run_pb2.RUN_STATUS_RUNNING, last_event_sequence=9)
    for step, kind in (("hello", "echo"), ("review", "checkpoint"), ("summary", "template")):
        run.steps.add(step_id=step, phase_id="main", kind=kind, status=run_pb2.STEP_STATUS_SUCCEEDED)
    return run


def event(sequence: int, kind: int, step: str = "", status: int = run_pb2.RUN_STATUS_RUNNING, **data: Any) -> Any:
    message = run_pb2.RunEvent(run=RUN, sequence=sequence, type=kind, step_id=step, run_status=status)
    if data:
        value = struct_pb2.Struct()
        value.update(data)
        message.data.CopyFrom(value)
    return message


E = run_pb2
PAUSED, DONE = run_pb2.RUN_STATUS_PAUSED, run_pb2.RUN_STATUS_COMPLETED
RUNNING, PENDING = run_pb2.RUN_STATUS_RUNNING, run_pb2.RUN_STATUS_PENDING
# As the runs service writes them: every event of one commit carries the status that commit ends in (the first
# tick ends paused at the checkpoint, the last one completed), and each change of status is an event of its own.
STORY = [
    event(1, E.EVENT_TYPE_RUN_CREATED, status=PENDING),
    event(2, E.EVENT_TYPE_STEP_STARTED, "hello", PAUSED, attempt=1),
    event(3, E.EVENT_TYPE_RUN_STATUS_CHANGED, status=PAUSED, to="running", reason=""),
    event(4, E.EVENT_TYPE_STEP_SUCCEEDED, "hello", PAUSED, attempt=1),
    event(5, E.EVENT_TYPE_CHECKPOINT_OPENED, "review", PAUSED, checkpoint=CHECKPOINT_ID, title="Go on?"),
    event(6, E.EVENT_TYPE_RUN_STATUS_CHANGED, status=PAUSED, to="paused", reason="checkpoint"),
    event(7, E.EVENT_TYPE_CHECKPOINT_DECIDED, "review", checkpoint=CHECKPOINT_ID),
    event(8, E.EVENT_TYPE_RUN_STATUS_CHANGED, to="running", reason=""),
    event(9, E.EVENT_TYPE_STEP_SUCCEEDED, "review"),
    event(10, E.EVENT_TYPE_STEP_STARTED, "summary", DONE),
    event(11, E.EVENT_TYPE_STEP_SUCCEEDED, "summary", DONE),
    event(12, E.EVENT_TYPE_RUN_STATUS_CHANGED, status=DONE, to="completed", reason=""),
]


class Streams:
    """WatchRun as the server does it: the events after the cursor, then the end (or, once, a drop after
    `drop_after`)."""

    def __init__(self, events: list[Any], drop_after: int | None = None, dead: bool = False) -> None:
        self.events = events
        self.drop_after = drop_after
        self.dead = dead
        self.requests: list[tuple[int, bool]] = []

    def __call__(self, request: runs.WatchRunRequest, resume: bool) -> Iterator[Any]:
        self.requests.append((request.after_sequence, resume))
        return self._items(request.after_sequence)

    def _items(self, after: int) -> Iterator[Any]:
        if self.dead:
            raise Unavailable
        for item in self.events:
            if item.sequence <= after:
                continue
            if self.drop_after is not None and item.sequence > self.drop_after:
                self.drop_after = None
                raise Unavailable
            yield runs.WatchRunResponse(event=item)


class Unavailable(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection reset"

    def initial_metadata(self) -> Any:
        return ()

    def trailing_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float | None:
        return None

    def cancel(self) -> bool:
        return True

    def add_callback(self, callback: Any) -> bool:
        return False


def test_the_line_view_prints_one_line_per_event_and_reads_to_the_streams_end() -> None:
    out = io.StringIO()
    view = LineView(out)
    model = follow(Streams(STORY), RunModel.start(run_message(), replay=True), view)
    view.end(model)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(STORY) + 1
    assert lines[3].split() == ["4", "step_succeeded", "hello", "run=running", "[###-------]", "1/3"]
    assert lines[-1] == f"run {RUN} completed (3/3 steps finished)"  # not cut short at event 10's "completed"
    assert {s.step_id: s.status for s in model.steps.values()} == dict.fromkeys(
        ("hello", "review", "summary"), "succeeded"
    )


def test_each_event_shows_the_run_status_at_that_event_not_at_its_commits_end() -> None:
    lines, json_lines = io.StringIO(), io.StringIO()
    follow(Streams(STORY), RunModel.start(run_message(), replay=True), LineView(lines))
    follow(Streams(STORY), RunModel.start(run_message(), replay=True), JsonView(json_lines))
    shown = [line.split()[3] for line in lines.getvalue().splitlines()]
    expected = ["pending"] * 2 + ["running"] * 3 + ["paused"] * 2 + ["running"] * 4 + ["completed"]
    assert shown == [f"run={status}" for status in expected]
    assert [json.loads(line)["runStatus"] for line in json_lines.getvalue().splitlines()] == [
        f"RUN_STATUS_{status.upper()}" for status in expected
    ]


def test_watching_after_a_sequence_shows_later_events_on_the_state_the_earlier_ones_built() -> None:
    out = io.StringIO()
    model = follow(Streams(STORY), RunModel.start(run_message(), replay=True), LineView(out), show_after=4)
    lines = out.getvalue().splitlines()
    assert [int(line.split()[0]) for line in lines] == list(range(5, len(STORY) + 1))
    assert lines[0].split()[-1] == "1/3"  # step `hello` succeeded at event 4, before the shown ones
    assert model.done == 3


def test_a_dropped_stream_resumes_after_the_last_sequence_without_repeats() -> None:
    out = io.StringIO()
    streams = Streams(STORY, drop_after=4)
    follow(streams, RunModel.start(run_message(), replay=True), LineView(out))
    assert streams.requests == [(0, False), (4, True)]
    sequences = [int(line.split()[0]) for line in out.getvalue().splitlines()]
    assert sequences == list(range(1, len(STORY) + 1))


def test_a_stream_that_keeps_dropping_gives_up() -> None:
    with pytest.raises(Unavailable):
        follow(Streams(STORY, dead=True), RunModel.start(run_message(), replay=True), LineView(io.StringIO()))


def test_a_stream_that_keeps_ending_early_gives_up() -> None:
    with pytest.raises(StreamLost):
        follow(Streams(STORY[:3]), RunModel.start(run_message(), replay=True), LineView(io.StringIO()))


def test_until_checkpoint_stops_once_caught_up_with_the_waiting_run() -> None:
    out = io.StringIO()
    model = follow(
        Streams(STORY[:6]),
        RunModel.start(run_message(), replay=True),
        LineView(out),
        until_checkpoint=True,
        latest=lambda: 6,
    )
    assert model.waiting_for_checkpoint
    assert model.open_checkpoints == [f"{RUN}/checkpoints/{CHECKPOINT_ID}"]
    assert model.last_sequence == 6


def test_until_checkpoint_skips_a_pause_already_decided_in_the_replayed_history() -> None:
    model = follow(
        Streams(STORY),
        RunModel.start(run_message(), replay=True),
        LineView(io.StringIO()),
        until_checkpoint=True,
        live_from=12,
        latest=lambda: 12,
    )
    assert model.final
    assert model.status == "completed"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_terminal_view_redraws_in_place() -> None:
    out = Terminal()
    view = TerminalView(out, colour=False)
    model = RunModel.start(run_message(), replay=True)
    for item in STORY[:6]:
        model.apply(item)
        view.event(model, item)
    assert out.getvalue().count("\x1b[J") == 5  # the first frame is drawn, the next five replace the one above
    assert f"\x1b[{len(frame(model)) - 1}F\x1b[J" in out.getvalue()  # the frame before the waiting line appeared
    last = out.getvalue().rsplit("\x1b[J", 1)[1].splitlines()
    assert last[0] == f"run {RUN}  paused (checkpoint)  [########----------------] 1/3"
    assert last[1].split() == ["PHASE", "STEP", "KIND", "STATUS", "ATTEMPT", "NOTE"]
    assert last[3].split()[:4] == ["main", "review", "checkpoint", "waiting"]
    assert last[-1] == f"waiting for a decision: {RUN}/checkpoints/{CHECKPOINT_ID}"


def test_the_terminal_view_colours_statuses() -> None:
    model = RunModel.start(run_message(), replay=False)
    lines = frame(model, lambda status: f"\x1b[32m{status}\x1b[0m")
    assert "\x1b[32msucceeded\x1b[0m" in lines[2]
    assert lines[2].startswith("main   hello    echo")
