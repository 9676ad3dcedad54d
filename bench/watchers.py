"""A process of WatchRun clients, separate from the benchmark's own process so that reading thousands of
streams does not share an event loop (or a core's time slices) with the load generator.

`python -m bench.watchers SPEC.json`, the principal key ring in $AGENTORCH_BENCH_KEYS (or, through the gateway, a
bearer JWT in $AGENTORCH_BENCH_BEARER). The spec names the runs
replicas, the organization, an orchestration whose runs progress slowly (agent steps), how many watchers, how
many per run, and for how long. Each group of `per_run` watchers launches a run, opens its streams from sequence
0, follows them to the run's end, and starts over with a new run, until the deadline. For every event received
after its stream opened, the receipt time and the latency (receipt - the event's event_time, same host clock) are
kept; events replayed from before the stream opened are only counted. Writes a JSON result to the spec's `out`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from services.common.context import Principal
from services.common.principals import KeyRing
from services.common.settings import AuthSettings


@dataclass
class Tally:
    receipts: list[float] = field(default_factory=list)  # wall-clock receipt times of live events
    latencies: list[float] = field(default_factory=list)  # seconds, same order
    replayed: int = 0
    heartbeats: int = 0
    streams: int = 0
    runs: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, key: str) -> None:
        self.errors[key] = self.errors.get(key, 0) + 1


async def follow(stub: pb_grpc.RunsServiceStub, name: str, metadata: Any, tally: Tally) -> None:
    opened = time.time()
    tally.streams += 1
    call = stub.WatchRun(pb.WatchRunRequest(name=name, after_sequence=0), metadata=metadata)
    try:
        async for item in call:
            now = time.time()
            if item.HasField("heartbeat"):
                tally.heartbeats += 1
                continue
            stamp = item.event.event_time
            event_time = stamp.seconds + stamp.nanos / 1e9
            if event_time < opened:
                tally.replayed += 1
                continue
            tally.receipts.append(now)
            tally.latencies.append(now - event_time)
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            tally.error(f"WatchRun {exc.code().name}")
    finally:
        call.cancel()


async def group(
    stubs: list[pb_grpc.RunsServiceStub], index: int, spec: dict[str, Any], metadata: Any, tally: Tally
) -> None:
    per_run, deadline = int(spec["per_run"]), float(spec["deadline"])
    await asyncio.sleep(random.uniform(0, float(spec.get("stagger_seconds", 0))))  # noqa: S311 - not for security
    request = pb.CreateRunRequest(parent=f"organizations/{spec['org']}", orchestration=spec["orchestration"])
    turn = index
    while time.time() < deadline:
        turn += 1
        stub = stubs[turn % len(stubs)]
        try:
            run = (await stub.CreateRun(request, metadata=metadata, timeout=60)).run
        except grpc.aio.AioRpcError as exc:
            tally.error(f"CreateRun {exc.code().name}")
            await asyncio.sleep(0.2)
            continue
        tally.runs += 1
        await asyncio.gather(
            *(follow(stubs[(turn + i) % len(stubs)], run.name, metadata, tally) for i in range(per_run))
        )


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    bearer = os.environ.get("AGENTORCH_BENCH_BEARER", "")
    metadata: Any
    if bearer:  # through the gateway: a JWT, as a user's client would send
        metadata = (("authorization", f"Bearer {bearer}"),)
    else:  # straight to the replicas: a principal signed with the internal key ring, as the gateway forwards it
        auth = {"principal_keys": json.loads(os.environ["AGENTORCH_BENCH_KEYS"]), "token_ttl_seconds": 3600}
        keys = KeyRing.from_settings(AuthSettings.model_validate(auth))
        principal = Principal(subject="watcher@example.com", organization_slug=spec["org"], roles=frozenset({"admin"}))
        metadata = keys.metadata(principal, issuer="bench")
    # Several channels (HTTP/2 connections), as many clients would have, rather than 1,000 streams on one.
    channels = [grpc.aio.insecure_channel(target) for target in spec["targets"] for _ in range(int(spec["channels"]))]
    stubs = [pb_grpc.RunsServiceStub(c) for c in channels]
    tally = Tally()
    groups = int(spec["watchers"]) // int(spec["per_run"])
    tasks = [asyncio.create_task(group(stubs, i, spec, metadata, tally)) for i in range(groups)]
    remaining = float(spec["deadline"]) - time.time()
    _, pending = await asyncio.wait(tasks, timeout=max(remaining, 1))
    for task in pending:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for channel in channels:
        await channel.close(grace=None)
    return {
        "receipts": tally.receipts,
        "latencies": tally.latencies,
        "replayed": tally.replayed,
        "heartbeats": tally.heartbeats,
        "streams": tally.streams,
        "runs": tally.runs,
        "errors": tally.errors,
    }


def run(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = asyncio.run(main(spec))
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
