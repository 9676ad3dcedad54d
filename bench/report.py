"""The printed table and the targets of issue 9, checked against the figures (reported, never enforced)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.context import Row


def print_table(rows: Sequence[Row], result: dict[str, Any]) -> None:
    machine = result["machine"]
    pg = result.get("postgresql", {})
    print(
        f"\nagentorch bench ({result['mode']}{', via the gateway' if result.get('via_gateway') else ''}) — "
        f"{machine['nproc']} CPUs, {machine['memory']}, "
        f"Python {machine['python']}, PostgreSQL {pg.get('version', '?')} ({pg.get('settings', '?')})"
    )
    header = Row("scenario", "case", "metric", "value", "versus")
    table = [header, *rows]
    widths = [max(len(getattr(r, f)) for r in table) for f in ("scenario", "case", "metric", "value")]
    line = "  ".join("-" * w for w in widths) + "  " + "-" * 20
    print(line)
    previous = ""
    for row in table:
        scenario = row.scenario if row.scenario != previous else ""
        previous = row.scenario
        cells = (scenario, row.case, row.metric)
        text = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False))
        print(f"{text}  {row.value.rjust(widths[3])}  {row.versus}".rstrip())
        if row is header:
            print(line)
    print(line)
    hot = result.get("profile")
    if hot and not hot.get("error"):
        print(f"\nhot path (py-spy, runs replica under the step-throughput load, {hot['samples']} samples):")
        for title, key, limit in (("where", "areas", 8), ("self time by library", "self_by_library", 8)):
            parts = [f"{f['frame']} {f['percent']}%" for f in hot[key][:limit]]
            print(f"  {title}: " + "; ".join(parts))
        print(f"  top self frames ({hot.get('idle_percent', 0)}% of samples idle in epoll; % of the busy ones):")
        for frame in hot.get("self_busy", hot["self"])[:12]:
            print(f"    {frame['percent']:5.1f}%  {frame['frame']}")
    elif hot:
        print(f"\nhot path: {hot['error']}")
    goals = result.get("targets", [])
    if goals:
        print("\nissue 9 targets:")
        for goal in goals:
            status = {True: "met", False: "NOT met", None: "not measured"}[goal["met"]]
            print(f"  {goal['target']:<52} {goal['measured']:<44} {status}")


def _get(data: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of issue 9 with the figure it is judged on and whether it is met (None: not measured)."""
    goals: list[dict[str, Any]] = []

    def goal(target: str, measured: str, met: bool | None) -> None:
        goals.append({"target": target, "measured": measured, "met": met})

    cases = _get(results, "throughput", "cases") or []
    if cases:
        best = max(cases, key=lambda c: c["step_transitions_per_s"])
        label = f"{best['replicas']} replica(s), {best['concurrency']} in flight"
        rate, share = best["step_transitions_per_s"], best.get("vs_pgbench")
        goal("≥ 3,000 step transitions/s", f"{rate:,.0f}/s ({label})", rate >= 3000)
        goal("≥ 0.15 x pgbench TPS", f"{share}x pgbench" if share else "n/a", share is not None and share >= 0.15)
    else:
        goal("≥ 3,000 step transitions/s", "", None)
    watch = _get(results, "streaming", "watchers_only")
    if watch:
        p99 = _get(watch, "latency", "p99_ms")
        met = p99 is not None and p99 <= 50
        goal(
            "event p99 ≤ 50 ms with 1,000 watchers",
            f"p99 {p99} ms with {watch['watchers']} watchers",
            None if met and watch["watchers"] < 1000 else met,  # fewer watchers can only show it is not met
        )
    paused = results.get("paused")
    if paused:
        kb = paused.get("kb_per_paused_run")
        goal("≤ 2 KB per paused run", f"{kb} KB/run ({paused['runs']:,} runs)", kb is not None and kb <= 2)
        cpu = paused.get("idle_cpu_percent")
        goal("~0 CPU per paused run (idle)", f"{cpu}% of a core, all runs", cpu is not None and cpu < 1)
        p50 = _get(paused, "approval_sequential", "approval_to_next_step", "p50_ms")
        goal("approval → next step p50 ≤ 10 ms", f"p50 {p50} ms (one at a time)", p50 is not None and p50 <= 10)
    take = results.get("takeover")
    if take:
        worst, lease = take.get("kill_to_taken_over_max_s"), take.get("lease_seconds")
        goal(
            "takeover ≤ lease",
            f"{worst} s worst (lease {lease} s)",
            worst is not None and lease is not None and worst <= lease,
        )
    return goals
