"""Takeover: two replicas with a short lease; one is SIGKILLed while agent steps are in flight on it.

Built-in steps run inside the claiming transaction and hold no lease, so the runs here are chains of agent steps
calling the local OpenAI-compatible reference agent, each call held `SLOW_SECONDS` by the agent (`[slow:…]` in
the prompt): there are always leased steps in flight. Replica A starts first and runs a warm-up run alone, which
tells its engine's worker id; then replica B starts, the runs are launched through both, and A is killed once
both have steps in flight.

Reported: the steps A held at the kill (status running, lease owner A), the time from the kill to each one's
STEP_TAKEN_OVER and to its success by B, against the lease; that every run completed; and that no step succeeded
twice (STEP_SUCCEEDED counted per (run, step) in the run_events table).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.context import Context
from bench.platform import agent_chain, noop_chain, run_id
from bench.postgres import BenchError
from bench.stats import percentile

LEASE_SECONDS = 2.0
SLOW_SECONDS = 1.0
STEPS = 5


async def run(ctx: Context) -> None:
    session, profile = ctx.session, ctx.profile
    await session.start_agents()
    chain = await session.orchestration("takeover", agent_chain(STEPS, SLOW_SECONDS))
    noop = await session.orchestration("noop10", noop_chain(10))
    async with session.runs("takeover", 1, lease_seconds=LEASE_SECONDS) as cluster:
        warm = run_id(await cluster.launch(noop, stub=cluster.stubs[0]))
        await _until(lambda: cluster.ended([warm]), 30, "the warm-up run")
        worker_a = await cluster.worker_of(warm)
        await cluster.add_replica("runs-takeover-1")
        victim, survivor = cluster.replicas

        ids = [run_id(await cluster.launch(chain)) for _ in range(profile.takeover_runs)]

        async def both_busy() -> bool:
            rows = await cluster.fetch(
                "SELECT lease_owner, count(*) AS n FROM run_steps WHERE status = 'running' GROUP BY lease_owner"
            )
            return len(rows) >= 2

        await _until(both_busy, 30, "steps in flight on both replicas")
        await asyncio.sleep(SLOW_SECONDS / 2)
        victim.kill()
        killed = time.time()
        held = await cluster.fetch(
            "SELECT run_id, step_id, attempt FROM run_steps WHERE status = 'running' AND lease_owner = $1", worker_a
        )
        in_flight = int(await cluster.fetchval("SELECT count(*) FROM run_steps WHERE status = 'running'"))

        async def all_ended() -> bool:
            return len(await cluster.ended(ids)) == len(ids)

        await _until(all_ended, 60 + STEPS * SLOW_SECONDS * 4, "every run to end after the kill")
        if not survivor.alive():
            raise BenchError(f"the surviving replica exited:\n{survivor.tail()}")
        events = await cluster.fetch(
            "SELECT run_id, step_id, type, created_at, data FROM run_events"
            " WHERE run_id = ANY($1::varchar[]) AND type IN ('step_taken_over', 'step_succeeded')",
            ids,
        )
        duplicates = int(
            await cluster.fetchval(
                "SELECT count(*) FROM (SELECT run_id, step_id FROM run_events WHERE type = 'step_succeeded'"
                " GROUP BY run_id, step_id HAVING count(*) > 1) d"
            )
        )
        statuses = {
            row["status"]: row["n"]
            for row in await cluster.fetch(
                "SELECT status, count(*) AS n FROM runs WHERE id = ANY($1::varchar[]) GROUP BY status", ids
            )
        }

    taken: dict[tuple[str, str], float] = {}
    succeeded: dict[tuple[str, str], float] = {}
    for event in events:
        key, at = (event["run_id"], event["step_id"]), event["created_at"].timestamp()
        if at < killed:
            continue
        target = taken if event["type"] == "step_taken_over" else succeeded
        target[key] = min(target.get(key, at), at)
    held_keys = [(row["run_id"], row["step_id"]) for row in held]
    to_taken = [taken[k] - killed for k in held_keys if k in taken]
    to_done = [succeeded[k] - killed for k in held_keys if k in succeeded]
    held_runs = {k[0] for k in held_keys}
    data: dict[str, Any] = {
        "lease_seconds": LEASE_SECONDS,
        "runs": len(ids),
        "definition": f"{STEPS} agent steps, each held {SLOW_SECONDS:g} s by the reference agent",
        "steps_in_flight_at_kill": in_flight,
        "steps_held_by_killed_replica": len(held_keys),
        "runs_held_by_killed_replica": len(held_runs),
        "taken_over": len(to_taken),
        "kill_to_taken_over_p50_s": _s(percentile(to_taken, 50)),
        "kill_to_taken_over_max_s": _s(max(to_taken) if to_taken else None),
        "kill_to_step_succeeded_max_s": _s(max(to_done) if to_done else None),
        "runs_by_status": statuses,
        "steps_succeeded_twice": duplicates,
    }
    ctx.results["takeover"] = data
    _rows(ctx, data)


def _s(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def _until(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise BenchError(f"timed out waiting for {what} ({within:.0f}s)")


def _rows(ctx: Context, data: dict[str, Any]) -> None:
    case = f"lease {data['lease_seconds']:g} s, {data['steps_held_by_killed_replica']} steps on the killed replica"
    ctx.row(
        "takeover",
        case,
        "kill → taken over p50 / max",
        f"{data['kill_to_taken_over_p50_s']} / {data['kill_to_taken_over_max_s']} s",
        f"target ≤ lease ({data['lease_seconds']:g} s)",
    )
    ctx.row("takeover", case, "kill → held steps succeeded (max)", f"{data['kill_to_step_succeeded_max_s']} s")
    done = data["runs_by_status"].get("completed", 0)
    ctx.row(
        "takeover",
        case,
        "runs completed; steps succeeded twice",
        f"{done}/{data['runs']}; {data['steps_succeeded_twice']}",
        "must be all; 0",
    )
