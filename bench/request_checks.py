"""`python -m bench.request_checks`: what the checks every request gets (services.common.request_checks) cost per
call, next to protobuf parsing the same bytes and to the MessageToDict the handler then does with its JSON.

A micro-benchmark (in-process, no server): the per-call overhead the shared interceptor adds, by request shape.
Figures only; it never fails because something is slow.
"""

from __future__ import annotations

import functools
import timeit
from collections.abc import Callable

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from agentorch.registry.v1 import registry_service_pb2 as rpb
from agentorch.runs.v1 import run_pb2
from agentorch.runs.v1 import runs_service_pb2 as pb
from services.common.request_checks import request_violations

RUN = "organizations/acme/runs/0b0e3f5e-8a53-4d5c-9d3b-1a2b3c4d5e6f"


def _definition(phases: int, steps: int) -> dict[str, object]:
    return {
        "schema_version": 1,
        "parameters": [{"name": "topic", "type": "string", "required": True}],
        "phases": [
            {
                "id": f"p{p}",
                "steps": [
                    {
                        "id": f"s{p}-{i}",
                        "kind": "echo",
                        "message": "Researching {{ params.topic }}",
                        "depends_on": [f"s{p}-{i - 1}"] if i else [],
                    }
                    for i in range(steps)
                ],
            }
            for p in range(phases)
        ],
    }


def _requests() -> list[tuple[str, Message, struct_pb2.Struct | None]]:
    get = pb.GetRunRequest(name=RUN)
    decide = pb.DecideCheckpointRequest(name=f"{RUN}/checkpoints/c", decision=run_pb2.DECISION_APPROVE)
    decide.payload.update({"note": "ok", "score": 3})
    listed = pb.ListRunsRequest(parent="organizations/acme", status=run_pb2.RUN_STATUS_RUNNING)
    listed.start_time.seconds, listed.end_time.seconds = 1_700_000_000, 1_800_000_000
    launch = pb.CreateRunRequest(parent="organizations/acme", request_id="r-1")
    launch.ad_hoc.definition.update(_definition(2, 3))
    launch.prompt_inputs.update({"topic": "vector databases"})
    create = rpb.CreateOrchestrationRequest(parent="organizations/acme/agents/a", orchestration_id="big")
    create.version.definition.update(_definition(10, 20))
    return [
        ("GetRun", get, None),
        ("DecideCheckpoint, small payload", decide, None),
        ("ListRuns, status and two Timestamps", listed, None),
        ("CreateRun, ad hoc 6-step definition", launch, launch.ad_hoc.definition),
        ("CreateOrchestration, 200-step definition", create, create.version.definition),
    ]


def _per_call(function: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(function, number=number, repeat=7)) / number


def main() -> None:
    print(f"{'request':44} {'bytes':>7} {'checks':>10} {'parse':>10} {'MessageToDict':>14}")
    for label, message, document in _requests():
        data = message.SerializeToString()
        number = 2000 if len(data) < 4096 else 100
        checks = _per_call(functools.partial(request_violations, message), number)
        parse = _per_call(functools.partial(type(message).FromString, data), number)
        to_dict = ""
        if document is not None:
            to_dict = f"{_per_call(functools.partial(json_format.MessageToDict, document), number) * 1e6:.1f} µs"
        print(f"{label:44} {len(data):7d} {checks * 1e6:7.1f} µs {parse * 1e6:7.1f} µs {to_dict:>14}")


if __name__ == "__main__":
    main()
