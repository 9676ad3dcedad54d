"""Authentication under a flood of wrong secrets (issue 12): 16 clients send wrong secrets for a real API key id as
fast as the gateway answers them, while one legitimate client calls `WhoAmI` with the right key 20 times a second.

Windows in one gateway process, each `auth_seconds` long: a baseline without the flood; the flood in a closed
loop (each client sends its next guess as soon as the last one is answered) aimed at the key the legitimate client
uses (created through the API: an HMAC hash under the pepper), then at a key stored as keys created before the
peppers are (a legacy scrypt hash, until its first use rewrites it); and the flood at a fixed rate
(`PACED_PER_CLIENT` guesses a second per client, answered or not) at the key in use, so that the gateway's CPU is
compared at the same attack rate before and after. Each reports the legitimate call's latency (p50/p99), the CPU
of the gateway, of PostgreSQL and of the flood's own process (cores: they share the machine), how the flood was
answered (calls/s by status code) and the gateway's CPU per flood call. The flood comes from one address
(loopback), as one attacking host.

The gateway runs with the session's settings (rate limits off, so only the authentication path is measured) and
its default failed-authentication limits; the script runs unchanged against a gateway without them (issue 12's
"before"), which makes every wrong secret cost a key derivation.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import grpc

from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from bench.context import Context
from bench.postgres import BenchError
from bench.processes import REPO, Process, free_port
from bench.procstat import CpuMeter
from bench.stats import latency_ms, rate
from gateway.domain import api_keys as keys

CLIENTS = 16
PACED_PER_CLIENT = 5.0  # guesses a second per client in the fixed-rate case: 80/s in all
LEGIT_INTERVAL = 0.05  # the legitimate client: 20 calls a second
RAMP_SECONDS = 1.0  # the flood's clients connect and reach their pace before a window starts


async def run(ctx: Context) -> None:
    session, seconds = ctx.session, ctx.profile.auth_seconds
    if session.registry is None:
        raise BenchError("the session has no registry")
    port = free_port()
    gateway = Process(
        "gateway-auth",
        "gateway",
        session.gateway_env(port, session.registry.grpc_target),
        session.log_dir,
        grpc_target=f"127.0.0.1:{port}",
    )
    try:
        await gateway.ready()
        async with grpc.aio.insecure_channel(gateway.grpc_target) as channel:
            stub = gw_grpc.GatewayServiceStub(channel)
            created = await stub.CreateApiKey(
                gw.CreateApiKeyRequest(
                    parent=f"organizations/{session.org}", api_key=gw.ApiKey(display_name="bench", roles=["viewer"])
                ),
                metadata=(("authorization", f"Bearer {session.bearer()}"),),
                timeout=30,
            )
            legacy = await _legacy_key(session.db.dsn, session.gateway_schema, session.org)
            legit = (("authorization", f"Bearer {created.secret}"),)
            await _legitimate(stub, legit, 1.0)  # warm: the key is verified and cached, the connection open
            cases = {
                "baseline": await _window(ctx, gateway, stub, legit, None, seconds),
                "flood on the key in use": await _window(ctx, gateway, stub, legit, created.api_key.key_id, seconds),
                "flood on a legacy scrypt key": await _window(ctx, gateway, stub, legit, legacy, seconds),
                f"flood at {CLIENTS * PACED_PER_CLIENT:g}/s on the key in use": await _window(
                    ctx, gateway, stub, legit, created.api_key.key_id, seconds, interval=1 / PACED_PER_CLIENT
                ),
            }
    finally:
        gateway.stop()
    ctx.results["auth"] = {"clients": CLIENTS, "legit_calls_per_s": round(1 / LEGIT_INTERVAL), "cases": cases}
    for case, data in cases.items():
        lat, cpu = data["legitimate"]["latency"], data["cpu_cores"]
        ctx.row(
            "auth",
            case,
            "legitimate WhoAmI p50 / p99; errors",
            f"{lat['p50_ms']} / {lat['p99_ms']} ms; {sum(data['legitimate']['errors'].values())}",
            f"gateway {cpu.get('gateway', 0):.2f} cores, postgres {cpu.get('postgres', 0):.2f}, "
            f"flood {cpu.get('flood', 0):.2f}",
        )
        if data["flood"]:
            codes = ", ".join(f"{code} {count:,}" for code, count in sorted(data["flood"]["codes"].items()))
            ctx.row(
                "auth", case, f"flood ({CLIENTS} clients) answered", f"{data['flood']['calls_per_s']:,.0f}/s", codes
            )
            ctx.row("auth", case, "gateway CPU per flood call", f"{data['gateway_cpu_ms_per_flood_call']} ms")


async def _legacy_key(dsn: str, schema: str, org: str) -> str:
    """A key as the gateway stored them before the peppers: an scrypt hash, no pepper id. Returns its key id."""
    key_id = keys.new_key_id()
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        await conn.execute(
            "INSERT INTO api_keys (key_id, organization_slug, display_name, roles, secret_hash, created_by,"
            " created_at) VALUES ($1, $2, 'legacy', '[\"viewer\"]'::jsonb, $3, 'bench', $4)",
            key_id,
            org,
            keys.hash_secret(keys.new_secret()),
            dt.datetime.now(dt.UTC),
        )
    finally:
        await conn.close()
    return key_id


async def _legitimate(stub: gw_grpc.GatewayServiceStub, metadata: Any, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        try:
            await stub.WhoAmI(gw.WhoAmIRequest(), metadata=metadata, timeout=30)
        except grpc.aio.AioRpcError as exc:
            errors[exc.code().name] += 1
        else:
            latencies.append(time.perf_counter() - started)
        await asyncio.sleep(LEGIT_INTERVAL)
    return {"latency": latency_ms(latencies), "errors": dict(errors)}


async def _window(
    ctx: Context,
    gateway: Process,
    stub: gw_grpc.GatewayServiceStub,
    legit: Any,
    flood_key_id: str | None,
    seconds: float,
    *,
    interval: float = 0.0,
) -> dict[str, Any]:
    pids = {"gateway": gateway.pid, "postgres": ctx.session.db.postmaster_pid}
    if flood_key_id is None:
        meter = CpuMeter(pids, tree=frozenset({"postgres"}))
        legitimate = await _legitimate(stub, legit, seconds)
        return {"legitimate": legitimate, "cpu_cores": _cores(meter), "flood": None}
    with tempfile.TemporaryDirectory(prefix="agentorch-bench-auth-") as tmp:
        out, spec_file = Path(tmp) / "flood.json", Path(tmp) / "spec.json"
        deadline = time.time() + RAMP_SECONDS + seconds + 1.0  # still running when the window's meter stops
        spec = {
            "target": gateway.grpc_target,
            "key_id": flood_key_id,
            "clients": CLIENTS,
            "deadline": deadline,
            "interval": interval,
        }
        spec_file.write_text(json.dumps({**spec, "out": str(out)}))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.authflood",
            str(spec_file),
            cwd=REPO,
            env=dict(os.environ),
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await asyncio.sleep(RAMP_SECONDS)
            meter = CpuMeter({**pids, "flood": process.pid}, tree=frozenset({"postgres"}))
            legitimate = await _legitimate(stub, legit, seconds)
            cores = _cores(meter)
            _, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if process.returncode != 0 or not out.exists():
            raise BenchError(f"the flood process failed ({process.returncode}): {err.decode()[-2000:]}")
        flood = json.loads(out.read_text())
    answered = sum(count for code, count in flood["codes"].items() if code != "unanswered")
    flood["calls_per_s"] = rate(answered, flood["seconds"])
    if not gateway.alive():
        raise BenchError(f"the gateway exited under the flood:\n{gateway.tail()}")
    calls = flood["calls_per_s"]
    per_call = round(cores.get("gateway", 0.0) / calls * 1000, 2) if calls else None
    return {"legitimate": legitimate, "cpu_cores": cores, "flood": flood, "gateway_cpu_ms_per_flood_call": per_call}


def _cores(meter: CpuMeter) -> dict[str, float]:
    return {name: usage["cores"] for name, usage in meter.stop().items()}
