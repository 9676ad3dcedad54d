"""What every gateway command shares: the context (client, output, organization), short resource references,
files and launch inputs, and paging."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from google.protobuf import struct_pb2
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
    `prompt_templates` ([{name, template}]), `label`, `change_note`. Returns (definition, templates, extras)."""
    document = load_json(path, "definition")
    if not isinstance(document, dict):
        raise UsageError(f"{path}: a definition is a JSON object")
    if "definition" not in document:
        return document, [], {}
    definition = document["definition"]
    templates = document.get("prompt_templates") or []
    if not isinstance(definition, dict) or not isinstance(templates, list):
        raise UsageError(f"{path}: `definition` must be an object and `prompt_templates` a list")
    extras = {k: v for k, v in document.items() if k in ("label", "change_note")}
    return definition, templates, extras


def struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def parse_inputs(pairs: list[str] | None, inputs_file: Path | None) -> dict[str, Any]:
    """`--inputs-file` (a JSON object), then each `--input`: `name=text` (a string) or `name:=JSON` (typed)."""
    inputs: dict[str, Any] = {}
    if inputs_file is not None:
        loaded = load_json(inputs_file, "inputs")
        if not isinstance(loaded, dict):
            raise UsageError(f"{inputs_file}: inputs are a JSON object")
        inputs.update(loaded)
    for pair in pairs or ():
        typed = re.match(r"^([^=:]+):=(.*)$", pair, re.DOTALL)
        if typed:
            try:
                inputs[typed.group(1)] = json.loads(typed.group(2))
            except json.JSONDecodeError:
                raise UsageError(f"--input {pair}: the value after := must be JSON") from None
            continue
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--input {pair}: write NAME=TEXT or NAME:=JSON")
        inputs[name] = value
    return inputs


def to_dict(message: Message) -> dict[str, Any]:
    return message_to_dict(message)


def add_limit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=200, help="at most this many items (default 200)")
