"""JSON fidelity as a user meets it through the gateway's HTTP front, in front of the real platform (SQLite and
PostgreSQL): integers stay integers through a definition, launch inputs, outputs and decision payloads (protobuf
Structs hold every number as a double: `3` must not come back as `3.0`), and a template that writes an object or a
list writes JSON (`{"k": 1}`), not Python's repr (`{'k': 1}`), in echo steps and checkpoint texts."""

from __future__ import annotations

import json
from typing import Any

from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2_grpc as runs_grpc
from services.common.settings import DatabaseSettings
from tests.support.gateway import mint, new_org, platform
from tests.support.http import client, save_orchestration
from tests.support.runs import wait_for_status

DEFINITION: dict[str, Any] = {
    "schema_version": 1,
    "parameters": [
        {"name": "settings", "type": "object", "required": True},
        {"name": "depth", "type": "integer", "default": 2, "enum": [1, 2, 3]},
    ],
    "phases": [
        {
            "id": "main",
            "steps": [
                {
                    "id": "show",
                    "kind": "echo",
                    "message": "{{ params.settings }}",
                    "retry": {"max_attempts": 3, "initial_backoff_seconds": 1},
                    "timeout_seconds": 30,
                },
                {
                    "id": "review",
                    "kind": "checkpoint",
                    "depends_on": ["show"],
                    "checkpoint": {
                        "title": "Limits {{ params.settings.limits }}",
                        "context": "{{ steps.show.output }} at depth {{ params.depth }}; on: {{ params.settings.on }}",
                        "deliverables": ["{{ params.settings.limits | first }}"],
                    },
                },
                {"id": "after", "kind": "echo", "depends_on": ["review"], "message": "{{ steps.review.output }}"},
            ],
        }
    ],
}
SETTINGS = {"k": 1, "limits": [10, 20], "on": True, "ratio": 0.5}


def integers_at(document: Any, path: str = "") -> dict[str, Any]:
    """Every number of a decoded JSON document by its path (`.a[0].b`), to compare types and values at once."""
    found: dict[str, Any] = {}
    if isinstance(document, dict):
        for key, value in document.items():
            found |= integers_at(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found |= integers_at(value, f"{path}[{index}]")
    elif isinstance(document, int | float) and not isinstance(document, bool):
        found[path] = (type(document).__name__, document)
    return found


async def test_integers_and_objects_keep_their_json_shape_end_to_end(database: DatabaseSettings) -> None:
    org = new_org()
    async with platform(database) as p, client(p.gateway, mint(org, "admin")) as http:
        saved = await save_orchestration(http, org, DEFINITION)
        stored = saved["version"]["definition"]
        assert stored == DEFINITION
        assert integers_at(stored) == integers_at(DEFINITION)  # 3 is an int, not 3.0
        version = await http.get(f"/v1/{saved['version']['name']}")
        assert integers_at(version.json()["version"]["definition"]) == integers_at(DEFINITION)

        launched = await http.post(
            f"/v1/organizations/{org}/runs",
            json={"orchestration": saved["orchestration"]["name"], "promptInputs": {"settings": SETTINGS}},
        )
        assert launched.status_code == 200, launched.text
        name = launched.json()["run"]["name"]
        runs = runs_grpc.RunsServiceStub(await p.channel(mint(org, "admin")))
        await wait_for_status(runs, name, {run_pb2.RUN_STATUS_PAUSED})

        run = (await http.get(f"/v1/{name}")).json()["run"]
        assert run["promptInputs"] == {"settings": SETTINGS, "depth": 2}
        assert integers_at(run["promptInputs"]) == integers_at({"settings": SETTINGS, "depth": 2})
        assert integers_at(run["definition"]) == integers_at(DEFINITION)
        show = next(s for s in run["steps"] if s["stepId"] == "show")
        assert json.loads(show["output"]) == SETTINGS  # JSON text ('{"k": 1, …, "on": true}'), not a Python repr
        assert integers_at(json.loads(show["output"])) == integers_at(SETTINGS)

        checkpoint = (await http.get(f"/v1/{run['openCheckpoints'][0]}")).json()["checkpoint"]
        assert checkpoint["title"] == "Limits [10, 20]"
        written, _, rest = checkpoint["context"].partition(" at depth ")
        assert (json.loads(written), rest) == (SETTINGS, "2; on: true")
        assert checkpoint["deliverables"] == ["10"]

        decided = await http.post(
            f"/v1/{checkpoint['name']}:decide",
            json={"decision": "DECISION_APPROVE", "comment": "ok", "payload": {"budget": 300, "share": 0.25}},
        )
        assert decided.status_code == 200, decided.text
        assert integers_at(decided.json()["checkpoint"]["payload"]) == {
            ".budget": ("int", 300),
            ".share": ("float", 0.25),
        }
        await wait_for_status(runs, name, {run_pb2.RUN_STATUS_COMPLETED})
        steps = {s["stepId"]: s for s in (await http.get(f"/v1/{name}")).json()["run"]["steps"]}
        assert integers_at(steps["review"]["output"])[".payload.budget"] == ("int", 300)
        after = json.loads(steps["after"]["output"])  # the decision, written by a template: JSON, with its ints
        assert after["payload"] == {"budget": 300, "share": 0.25}
        assert integers_at(after)[".payload.budget"] == ("int", 300)
