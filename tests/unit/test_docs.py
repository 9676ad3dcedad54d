"""The documentation a new user reads agrees with the code: the README's Invoke roles are the gateway's, every doc is
reachable from the README, and docs/prd-mapping.md maps every PRD field to fields the contracts have."""

from __future__ import annotations

import re
from pathlib import Path

from google.protobuf.descriptor import Descriptor

from agentorch.registry.v1 import agent_pb2, orchestration_pb2, registry_service_pb2
from agentorch.runs.v1 import run_pb2, runs_service_pb2
from gateway.edge.authz_matrix import INVOKE_CREDENTIALS_ROLE, INVOKE_MODES
from services.common.authz import ROLES

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
MAPPING = (ROOT / "docs" / "prd-mapping.md").read_text()
MESSAGES: dict[str, Descriptor] = {
    name: descriptor
    for module in (agent_pb2, orchestration_pb2, registry_service_pb2, run_pb2, runs_service_pb2)
    for name, descriptor in module.DESCRIPTOR.message_types_by_name.items()
}


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_the_readme_invoke_table_gives_each_mode_the_role_the_gateway_checks() -> None:
    """The mode table: each row's role (continuation rows belong to the mode above), and the credentials escalation
    in parentheses."""
    checked: set[str] = set()
    modes: list[str] = []
    for line in README.splitlines():
        if not line.startswith("| `AGENT_MODE_") and not (line.startswith("| | ") and modes):
            if not line.startswith("|"):
                modes = []
            continue
        mode_cell, role_cell, *_ = _cells(line)
        if mode_cell:
            modes = re.findall(r"`(AGENT_MODE_\w+)`", mode_cell)
        for mode in modes:
            assert role_cell.split()[0] == INVOKE_MODES[mode], (mode, role_cell)
            checked.add(mode)
        if "credentials" in role_cell:
            assert f"({INVOKE_CREDENTIALS_ROLE} " in role_cell, role_cell
    assert checked == set(INVOKE_MODES)


def test_the_readme_roles_table_gives_each_invoke_mode_the_role_the_gateway_checks() -> None:
    (row,) = [line for line in README.splitlines() if line.startswith("| `GatewayService/Invoke` |")]
    rules = _cells(row)[1].split("own role:", 1)[1]
    said: dict[str, str] = {}
    for clause in rules.split(";"):
        words = re.findall(r"[a-z_/`]+", re.sub(r"\(.*?\)", "", clause))
        if "credentials" in clause:  # the escalation: plan/build with credentials, execute naming credentials
            assert words[-1] == INVOKE_CREDENTIALS_ROLE, clause
            continue
        role, names = words[-1], [w for w in words[:-1] if w != "and"]
        assert role in ROLES, clause
        said.update(dict.fromkeys(names, role))
    assert said == {mode.removeprefix("AGENT_MODE_").lower(): role for mode, role in INVOKE_MODES.items()}


def test_every_doc_is_linked_from_the_readme() -> None:
    """One source of truth: a page nobody links to (as docs/gateway.md was, a stale copy of the README's gateway
    section) drifts from the code unseen."""
    linked = set(re.findall(r"\]\((docs/[\w.-]+\.md)", README))
    assert {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")} <= linked


def _prd_fields(interface: str) -> list[str]:
    body = MAPPING.split(f"interface {interface} {{", 1)[1].split("}", 1)[0]
    return re.findall(r"^\s*(\w+)\??:", body, re.MULTILINE)


def _rows(section: str) -> dict[str, tuple[list[str], str]]:
    """PRD field → (API fields named, notes) of the mapping table under `## section`."""
    text = MAPPING.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        prd, api, notes = _cells(line)
        rows[prd.strip("`")] = (re.findall(r"`(\w+\.\w+)`", api), notes)
    return rows


def test_the_prd_mapping_names_an_api_field_for_every_prd_field_and_each_exists() -> None:
    for interface in ("AgentOrchestration", "OrchestrationRun"):
        fields = _prd_fields(interface)
        assert len(fields) >= 15, interface  # the PRD's records, quoted in the page
        rows = _rows(interface)
        assert list(rows) == fields, interface  # one row per PRD field, in the PRD's order
        for prd_field, (api_fields, notes) in rows.items():
            assert api_fields or notes, prd_field  # no counterpart: the notes say why
            for api_field in api_fields:
                message, field = api_field.split(".")
                assert field in MESSAGES[message].fields_by_name, (prd_field, api_field)
