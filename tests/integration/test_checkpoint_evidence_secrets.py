"""A checkpoint's evidence snapshot records the outputs of the steps it depends on: a credential that a step sent
must not appear in it (step outputs are scrubbed by the executor before they are stored). Through the gateway, on
SQLite and PostgreSQL, with a real agent that echoes the header it received."""

from __future__ import annotations

import hashlib
from typing import Any

from agentorch.registry.v1 import orchestration_pb2 as opb
from agentorch.registry.v1 import registry_service_pb2 as reg
from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as runs
from agentorch.runs.v1 import runs_service_pb2_grpc as runs_grpc
from tests.integration.test_credential_exfiltration import ALIAS, SECRET, Scene, scene
from tests.support.registry import struct
from tests.support.runs import wait_for_status

__all__ = ["scene"]  # the fixture, shared with the exfiltration tests


def reviewed_call() -> dict[str, Any]:
    call = {"id": "call", "kind": "agent", "agent": "vendor", "prompt": "hello", "credentials": [ALIAS]}
    review = {
        "id": "review",
        "kind": "checkpoint",
        "depends_on": ["call"],
        "checkpoint": {
            "title": "Check",
            "context": "{{ steps.call.output }}",
            "deliverables": ["{{ steps.call.output }}"],
        },
    }
    return {"schema_version": 1, "phases": [{"id": "work", "steps": [call]}, {"id": "gate", "steps": [review]}]}


async def test_the_evidence_of_a_vote_holds_no_secret(scene: Scene) -> None:
    s = scene
    slug = "reviewed"
    await reg_grpc.RegistryServiceStub(s.admin).CreateOrchestration(
        reg.CreateOrchestrationRequest(
            parent=f"{s.parent}/agents/vendor",
            orchestration_id=slug,
            orchestration=opb.Orchestration(display_name=slug),
            version=opb.OrchestrationVersion(definition=struct(reviewed_call())),
        )
    )
    stub = runs_grpc.RunsServiceStub(s.admin)
    run = (
        await stub.CreateRun(
            runs.CreateRunRequest(parent=s.parent, orchestration=f"{s.parent}/agents/vendor/orchestrations/{slug}")
        )
    ).run
    paused = await wait_for_status(stub, run.name, {run_pb2.RUN_STATUS_PAUSED}, timeout=30)
    (received,) = s.vendor.received
    assert received["authorization"] == f"Bearer {SECRET}"  # the step did send the secret
    name = paused.open_checkpoints[0]
    await stub.DecideCheckpoint(runs.DecideCheckpointRequest(name=name, decision=run_pb2.DECISION_APPROVE))
    (vote,) = (await stub.ListCheckpointVotes(runs.ListCheckpointVotesRequest(parent=name))).votes
    assert "vendor saw authorization='[redacted]'" in vote.evidence_json
    assert SECRET not in vote.evidence_json
    assert hashlib.sha256(vote.evidence_json.encode()).hexdigest() == vote.evidence_sha256
