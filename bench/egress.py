"""`python -m bench.egress`: what the agent-call guards cost (issue 12, items 4 and 5), in one process, in seconds.

- How often the egress guard resolves and checks a host: once per new connection, so sequential calls to one agent
  over the pooled client pay it once (counted, not timed).
- The mean time of an agent call (the reference OpenAI-compatible agent on loopback) through the guarded client
  and through a plain httpx client, interleaved to spread the noise of a shared machine.
- The gateway's check of a CreateRun request for an ad hoc definition naming credentials (microseconds per call).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import timeit
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from google.protobuf import struct_pb2

from agentorch.runs.v1 import runs_service_pb2
from gateway.edge import escalations
from reference_agents import openai_agent, serving
from services.common.netpolicy import EgressPolicy
from services.runs.app.executor import StepRequest
from services.runs.executors import egress
from services.runs.executors.dispatch import AgentExecutor

CALLS = 200
WARM_UP = 20
LOOPBACK = EgressPolicy.from_entries(["127.0.0.0/8", "::1/128"])


def _request(url: str) -> StepRequest:
    config = {"protocol": "openai", "endpoint": f"{url}/v1", "model": "m", "stream": False}
    return StepRequest(
        run="organizations/bench/runs/r",
        organization_slug="bench",
        step_id="s",
        attempt=1,
        idempotency_key=f"r/s/{uuid.uuid4().hex}",
        agent_slug="a",
        agent={"name": "organizations/bench/agents/a", "config": config},
        prompt="hi",
    )


async def _nothing(delta: str) -> None:
    return None


async def _calls(executor: AgentExecutor, url: str) -> float:
    """Mean milliseconds per call after a warm-up."""
    try:
        for _ in range(WARM_UP):
            await executor.execute(_request(url), _nothing)
        times = []
        for _ in range(CALLS):
            started = time.perf_counter()
            await executor.execute(_request(url), _nothing)
            times.append(time.perf_counter() - started)
    finally:
        await executor.aclose()
    return statistics.mean(times) * 1000


async def _agent_calls() -> None:
    resolutions = 0
    original = egress.GuardedBackend.addresses

    async def counting(self: egress.GuardedBackend, host: str, port: int, limit: float | None) -> list[str]:
        nonlocal resolutions
        resolutions += 1
        return await original(self, host, port, limit)

    egress.GuardedBackend.addresses = counting  # type: ignore[method-assign]
    plain_limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    makers: list[tuple[str, Callable[[], AgentExecutor]]] = [
        ("guarded", lambda: AgentExecutor(egress=LOOPBACK)),
        ("plain httpx", lambda: AgentExecutor(client=httpx.AsyncClient(trust_env=False, limits=plain_limits))),
    ]
    means: dict[str, list[float]] = {}
    async with serving(openai_agent.create_app("bench")) as served:
        for label, make in makers * 2:
            means.setdefault(label, []).append(await _calls(make(), served.url))
    egress.GuardedBackend.addresses = original  # type: ignore[method-assign]
    print(f"egress guard: {resolutions} resolutions+checks for 2 x {WARM_UP + CALLS} sequential guarded calls")
    for label, values in means.items():
        print(f"mean agent call, {label}: {', '.join(f'{v:.2f}' for v in values)} ms")


def _escalation_check() -> None:
    def struct(value: dict[str, Any]) -> struct_pb2.Struct:
        message = struct_pb2.Struct()
        message.update(value)
        return message

    steps = [{"id": f"s{i}", "kind": "agent", "agent": "a", "prompt": "p" * 200} for i in range(10)]
    definition = struct({"schema_version": 1, "phases": [{"id": "p", "steps": steps}]})
    requests = {
        "saved orchestration": runs_service_pb2.CreateRunRequest(
            parent="organizations/bench", orchestration="organizations/bench/agents/a/orchestrations/o"
        ),
        "ad hoc, 10 agent steps": runs_service_pb2.CreateRunRequest(
            parent="organizations/bench", ad_hoc=runs_service_pb2.AdHocDefinition(definition=definition)
        ),
    }
    number = 20_000
    for label, message in requests.items():
        data: bytes = message.SerializeToString()

        def check(data: bytes = data) -> bool:
            return escalations.create_run_names_credentials(data)

        seconds = timeit.timeit(check, number=number)
        print(f"gateway CreateRun escalation check, {label} ({len(data)} bytes): {seconds / number * 1e6:.1f} µs")


def main() -> None:
    asyncio.run(_agent_calls())
    _escalation_check()


if __name__ == "__main__":
    main()
