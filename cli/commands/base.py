"""What every gateway command shares: the context (client, output, organization), short resource references,
files and launch inputs, and paging."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from cli.gateway_client import GatewayClient, UsageError
from cli.render import Output
from services.common.structs import message_to_dict

Handler = Callable[["Context", argparse.Namespace], int]
MAX_PAGE = 500
_UUIDISH = r"[0-9a-fA-F-]{8,}"


@dataclass
class Context:
    client: GatewayClient
    output: Output
    err: TextIO
    org_flag: str | None = None

    @property
    def org(self) -> str:
        return self.client.organization(self.org_flag)

    @property
    def parent(self) -> str:
        return f"organizations/{self.org}"

    # --- references: a full resource name, or the short form inside the organization -------------------------

    def orchestration(self, ref: str) -> str:
        """`organizations/o/agents/a/orchestrations/s` or `a/s`."""
        if ref.startswith("organizations/"):
            return ref
        agent, sep, slug = ref.partition("/")
        if not sep or not agent or not slug or "/" in slug:
            raise UsageError(f"{ref!r}: name an orchestration as AGENT/SLUG or by its full resource name")
        return f"{self.parent}/agents/{agent}/orchestrations/{slug}"

    def agent(self, slug: str) -> str:
        return slug if slug.startswith("organizations/") else f"{self.parent}/agents/{slug}"

    def plan(self, ref: str) -> str:
        return ref if ref.startswith("organizations/") else f"{self.parent}/plans/{ref}"

    def run(self, ref: str) -> str:
        return ref if ref.startswith("organizations/") else f"{self.parent}/runs/{ref}"

    def checkpoint(self, ref: str) -> str:
        """A full name, or `RUN_ID/CHECKPOINT_ID` as `checkpoints list` shows it."""
        if ref.startswith("organizations/"):
            return ref
        match = re.fullmatch(rf"({_UUIDISH})/({_UUIDISH})", ref)
        if not match:
            raise UsageError(f"{ref!r}: name a checkpoint as RUN_ID/CHECKPOINT_ID or by its full resource name")
        return f"{self.parent}/runs/{match.group(1)}/checkpoints/{match.group(2)}"

    def credential(self, ref: str) -> str:
        return ref if ref.startswith("organizations/") else f"{self.parent}/credentials/{ref}"

    def api_key(self, ref: str) -> str:
        return ref if ref.startswith("organizations/") else f"{self.parent}/apiKeys/{ref}"

    # --- calls -----------------------------------------------------------------------------------------------

    def call(self, method: Callable[..., Any], request: Message) -> Any:
        return self.client.call(method, request)

    def collect(self, method: Callable[..., Any], request: Any, field: str, limit: int) -> Any:
        """Every page of a List call, up to `limit` items, as one response of the same type. Its next_page_token
        is set when more items remain."""
        if limit < 1:
            raise UsageError("--limit must be at least 1")
        items: list[Any] = []
        while True:
            request.page_size = min(limit - len(items), MAX_PAGE)
            response = self.call(method, request)
            items.extend(getattr(response, field))
            if not response.next_page_token or len(items) >= limit:
                break
            request.page_token = response.next_page_token
        merged = type(response)()
        getattr(merged, field).extend(items)
        merged.next_page_token = response.next_page_token
        if merged.next_page_token and not self.output.json:
            print(f"(more than {limit}; raise --limit to see them)", file=self.err)
        return merged


# --- documents and inputs --------------------------------------------------------------------------------------


def load_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text() if str(path) != "-" else sys.stdin.read()
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON ({what}): line {exc.lineno}: {exc.msg}") from None


def definition_file(path: Path) -> tuple[dict[str, Any], list[dict[str, str]], dict[str, Any]]:
    """A definition file: the orchestration JSON itself, or an object with `definition` and optionally
    `prompt_templates` ([{name, template, description}]), `label`, `change_note`. Returns (definition, templates,
    extras). The camelCase spellings (`promptTemplates`, `changeNote`) are accepted too, so what `-o json` printed
    (`plans convert`, `orchestrations get`) can be saved again as it is."""
    document = load_json(path, "definition")
    if not isinstance(document, dict):
        raise UsageError(f"{path}: a definition is a JSON object")
    if "definition" not in document:
        return document, [], {}
    definition = document["definition"]
    templates = document.get("prompt_templates", document.get("promptTemplates")) or []
    if not isinstance(definition, dict) or not isinstance(templates, list):
        raise UsageError(f"{path}: `definition` must be an object and `prompt_templates` a list")
    if not all(isinstance(t, dict) and set(t) <= {"name", "template", "description"} for t in templates):
        raise UsageError(f"{path}: each prompt template is an object with `name`, `template` and `description`")
    spelled = {"label": "label", "change_note": "change_note", "changeNote": "change_note"}
    extras = {spelled[k]: v for k, v in document.items() if k in spelled}
    return definition, templates, extras


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def parse_inputs(pairs: list[str] | None, inputs_file: Path | None) -> dict[str, Any]:
    """`--inputs-file` (a JSON object), then each `--input`: `name=text` (a string) or `name:=JSON` (typed)."""
    return parse_pairs(pairs, inputs_file, flag="--input", what="inputs")


def parse_pairs(pairs: list[str] | None, path: Path | None, *, flag: str, what: str) -> dict[str, Any]:
    """A JSON object from a file, then each `flag` value on top: `name=text` (a string) or `name:=JSON` (typed)."""
    values: dict[str, Any] = {}
    if path is not None:
        loaded = load_json(path, what)
        if not isinstance(loaded, dict):
            raise UsageError(f"{path}: {what} are a JSON object")
        values.update(loaded)
    for pair in pairs or ():
        typed = re.match(r"^([^=:]+):=(.*)$", pair, re.DOTALL)
        if typed:
            try:
                values[typed.group(1)] = json.loads(typed.group(2))
            except json.JSONDecodeError:
                raise UsageError(f"{flag} {pair}: the value after := must be JSON") from None
            continue
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"{flag} {pair}: write NAME=TEXT or NAME:=JSON")
        values[name] = value
    return values


_AGO = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def moment(value: str, *, now: dt.datetime | None = None) -> timestamp_pb2.Timestamp:
    """An argparse type for times: an ISO 8601 date or date-time (`2026-12-01`, `2026-12-01T08:00:00+01:00`; UTC
    when no offset is given) or an age (`90s`, `30m`, `2h`, `7d`: that long ago)."""
    ago = _AGO.match(value.strip())
    if ago:
        moment = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    else:
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{value!r} is neither an ISO 8601 time (2026-12-01T08:00:00Z) nor an age (30m, 2h, 7d)"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment.astimezone(dt.UTC))
    return stamp


def to_dict(message: Message) -> dict[str, Any]:
    return message_to_dict(message)


def add_limit(parser: argparse.ArgumentParser, default: int = 200) -> None:
    parser.add_argument("--limit", type=int, default=default, help=f"at most this many items (default {default})")
