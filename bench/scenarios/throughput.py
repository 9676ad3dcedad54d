"""Step throughput: a saved 10-step `noop` chain (every step its own transaction; `--chain echo` or `echo-loop`
for steps that render a template) launched at a steady concurrency, with 1 and 2 runs replicas on the same
PostgreSQL.

Per case: runs/s, step transitions/s (STEP_SUCCEEDED events committed in the window), launch → completed p50/p99,
database commits per step, CPU of each process, and the step rate as a fraction of the pgbench reference and of
the single-process asyncpg commit rate.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench import profiling
from bench.context import Context
from bench.load import SteadyLoad
from bench.platform import step_chain
from bench.stats import rate, ratio
from bench.window import as_json, measure, reset_statements, statements

STEPS = 10


async def run(ctx: Context) -> None:
    session, profile = ctx.session, ctx.profile
    orchestration = await session.orchestration(f"{ctx.chain}{STEPS}", step_chain(ctx.chain, STEPS))
    cases: list[dict[str, Any]] = []
    for replicas in profile.replicas:
        async with session.runs(f"tp{replicas}", replicas) as cluster:
            for concurrency in profile.concurrencies:
                async with SteadyLoad(cluster, orchestration, concurrency) as load:
                    await asyncio.sleep(profile.warmup_seconds)
                    await reset_statements(cluster)
                    window = await measure(cluster, profile.measure_seconds)
                    steps = await cluster.count_events("step_succeeded", window.start, window.end, "n")
                    sql = await statements(cluster, steps)
                    hot: dict[str, Any] | None = None
                    if ctx.profile_hot_path and replicas == 1 and concurrency == profile.concurrencies[0]:
                        hot = await profiling.record(
                            cluster.replicas[0].pid, min(profile.measure_seconds, 15), session.log_dir / "profile"
                        )
                await load.stop()
                cluster.check_alive()
                runs, latency, failed = load.window(window.start, window.end)
                step_rate = rate(steps, window.seconds)
                runs_cpu = sum(v["cpu_s"] for k, v in window.cpu.items() if k.startswith("runs-"))
                case = {
                    "replicas": replicas,
                    "concurrency": concurrency,
                    "window": as_json(window),
                    "runs_completed": runs,
                    "runs_failed": failed,
                    "runs_per_s": rate(runs, window.seconds),
                    "step_transitions_per_s": step_rate,
                    "launch_to_completed": latency,
                    "db_commits_per_step": round(window.commits / steps, 2) if steps else None,
                    "runs_cpu_ms_per_step": round(runs_cpu * 1000 / steps, 3) if steps else None,
                    "sql_statements": sql,
                    "vs_pgbench": ratio(step_rate, ctx.reference.pgbench_tps),
                    "vs_asyncpg": ratio(step_rate, ctx.reference.asyncpg_commits_per_s),
                    "errors": load.errors,
                }
                if hot is not None:
                    case["profile"] = hot
                    ctx.results["profile"] = hot
                cases.append(case)
                _rows(ctx, case)
    definition = f"saved orchestration, {STEPS} {ctx.chain} steps in a chain"
    ctx.results["throughput"] = {"definition": definition, "cases": cases}


def _rows(ctx: Context, case: dict[str, Any]) -> None:
    name = f"{case['replicas']} replica{'s' if case['replicas'] > 1 else ''}, {case['concurrency']} in flight"
    latency = case["launch_to_completed"]
    ctx.row(
        "step throughput",
        name,
        "step transitions/s",
        f"{case['step_transitions_per_s']:,.0f}",
        f"{_x(case['vs_pgbench'])} pgbench, {_x(case['vs_asyncpg'])} asyncpg",
    )
    ctx.row("step throughput", name, "runs/s", f"{case['runs_per_s']:,.1f}")
    ctx.row("step throughput", name, "launch → completed p50 / p99", f"{latency['p50_ms']} / {latency['p99_ms']} ms")
    cpu = case["window"]["cpu_cores"]
    runs = sum(v for k, v in cpu.items() if k.startswith("runs-"))
    rest = sum(v for k, v in cpu.items() if not k.startswith("runs-") and k != "postgres")
    sql = case["sql_statements"]
    ctx.row(
        "step throughput",
        name,
        "CPU cores: runs | postgres | others",
        f"{runs:.2f} | {cpu.get('postgres', 0):.2f} | {rest:.2f}",
        f"{case['runs_cpu_ms_per_step']} ms runs CPU, {case['db_commits_per_step']} commits"
        + (f", {sql['per_step']} SQL statements" if sql else "")
        + " per step",
    )


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}x"
