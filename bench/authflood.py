"""A process of clients that flood the gateway with wrong API key secrets for one real key id, separate from the
benchmark's own process so that the flood does not share an event loop with the legitimate client it measures.

`python -m bench.authflood SPEC.json`: the spec names the gateway, the key id, how many clients (each its own
HTTP/2 connection, as separate clients would have) and until when. Each client calls `GatewayService/WhoAmI` with
`ak_<key id>_<a new random secret>`, ignoring RetryInfo as an attacker would: in a closed loop (the next call as
soon as the previous one is answered), or with `interval` > 0 one call every `interval` seconds whether or not the
previous ones were answered (a fixed attack rate, whatever the gateway's speed). Writes the answers by status code
to the spec's `out`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc

from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc


async def guess(stub: gw_grpc.GatewayServiceStub, key_id: str, codes: Counter[str]) -> None:
    token = f"ak_{key_id}_{secrets.token_urlsafe(32)}"
    try:
        await stub.WhoAmI(gw.WhoAmIRequest(), metadata=(("authorization", f"Bearer {token}"),), timeout=30)
        codes["OK"] += 1
    except grpc.aio.AioRpcError as exc:
        codes[exc.code().name] += 1


async def client(target: str, key_id: str, deadline: float, interval: float, codes: Counter[str]) -> None:
    async with grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
        stub = gw_grpc.GatewayServiceStub(channel)
        if not interval:
            while time.time() < deadline:
                await guess(stub, key_id, codes)
            return
        in_flight: set[asyncio.Task[None]] = set()
        while time.time() < deadline:
            task = asyncio.create_task(guess(stub, key_id, codes))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            await asyncio.sleep(interval)
        for task in list(in_flight):  # unanswered by the deadline: not waited for
            task.cancel()
        codes["unanswered"] += len(in_flight)
        await asyncio.gather(*in_flight, return_exceptions=True)


async def main(spec: dict[str, Any]) -> dict[str, Any]:
    codes: Counter[str] = Counter()
    started = time.time()
    deadline, interval = float(spec["deadline"]), float(spec.get("interval", 0))
    await asyncio.gather(
        *(client(spec["target"], spec["key_id"], deadline, interval, codes) for _ in range(spec["clients"]))
    )
    codes.pop("CANCELLED", None)  # the unanswered ones, counted above
    return {"codes": dict(codes), "seconds": round(time.time() - started, 2)}


def run(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    result = asyncio.run(main(spec))
    Path(spec["out"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
