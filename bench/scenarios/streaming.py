"""Streaming: N concurrent WatchRun streams on runs that progress, then one deliberately stalled client.

1. Watchers live in their own process (`bench.watchers`): groups of `watchers_per_run` streams follow one run
   each from sequence 0 to its end, then a new run; the groups start at random moments over one run's duration
   (so they do not all reopen their streams in the same instant); the watched runs are chains of agent steps held
   0.5 s each by the reference agent, so every stream receives a steady trickle of live events. Over one window:
   delivered events/s and event_time → receipt latency p50/p99 (only events committed after the stream opened; replayed
   ones are counted apart), and how many of the watched runs' steps still progressed.
2. Then, under the step-throughput load (10-step noop chains, 20 in flight), alternating windows without and with
   one stalled client that never reads: on one HTTP/2 connection with BDP probing off (so the flow-control window
   stays 64 KiB), a WatchRun replaying a finished run with a long log (~900 events) and a WatchRuns of the whole
   organization. The executor's step rate with vs without shows whether a stalled reader slows the engine; the
   replica's RSS before/after each stalled window shows whether it buffers for it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from agentorch.runs.v1 import runs_service_pb2 as pb
from agentorch.runs.v1 import runs_service_pb2_grpc as pb_grpc
from bench.context import Context
from bench.load import SteadyLoad
from bench.platform import RunsCluster, agent_chain, noop_chain, noop_fan, run_id
from bench.postgres import BenchError
from bench.processes import REPO
from bench.procstat import rss_kb
from bench.stats import latency_ms, rate, ratio
from bench.window import Window, as_json, measure
from services.common.remote_errors import RemoteError

SLOW_SECONDS = 0.5
WATCHED_STEPS = 10
BIG_RUN_STEPS = 450
LOAD_CONCURRENCY = 20
STALL_SEND_TIMEOUT = 2.0


async def run(ctx: Context) -> None:
    session, profile = ctx.session, ctx.profile
    await session.start_agents()
    watched = await session.orchestration("watched", agent_chain(WATCHED_STEPS, SLOW_SECONDS))
    noop = await session.orchestration("noop10", noop_chain(10))
    big = await session.orchestration("fan450", noop_fan(BIG_RUN_STEPS))
    phase = profile.stream_phase_seconds
    # A short send timeout, so that within one stalled window the stalled client is told to resume (30 s default).
    async with session.runs("stream", 1, send_timeout=STALL_SEND_TIMEOUT) as cluster:
        big_run = await cluster.launch(big)
        await _until_ended(cluster, run_id(big_run), 60)
        big_events = int(await cluster.fetchval("SELECT last_sequence FROM runs WHERE id = $1", run_id(big_run)))

        ramp = profile.warmup_seconds + 2
        watch_window, seen = await _watchers(ctx, cluster, watched, ramp, phase)
        watchers = await _phase(cluster, watch_window, seen, profile.watchers)

        # The stalled client, in alternating windows (without, with, without, with…) under the step load.
        free: list[Window] = []
        stalled: list[Window] = []
        rss: list[tuple[int, int]] = []
        told: list[dict[str, Any]] = []
        async with SteadyLoad(cluster, noop, LOAD_CONCURRENCY) as load:
            await asyncio.sleep(profile.warmup_seconds)
            for _ in range(profile.stalled_rounds):
                free.append(await measure(cluster, phase / profile.stalled_rounds))
                client = _Stalled(cluster, big_run.name)
                await asyncio.sleep(1)
                before = rss_kb(cluster.replicas[0].pid)
                stalled.append(await measure(cluster, phase / profile.stalled_rounds))
                rss.append((before, rss_kb(cluster.replicas[0].pid)))
                told.append(await client.close())
            await load.stop()
        cluster.check_alive()
        without = await _executor(cluster, free)
        with_stalled = await _executor(cluster, stalled)

    ctx.results["streaming"] = {
        "watchers": profile.watchers,
        "watchers_per_run": profile.watchers_per_run,
        "watched_run": f"{WATCHED_STEPS} agent steps, each held {SLOW_SECONDS:g} s by the reference agent",
        "watchers_only": watchers,
        "watch_streams_opened": seen["streams"],
        "watched_runs": seen["runs"],
        "replayed_events": seen["replayed"],
        "errors": seen["errors"],
        "stalled_client": {
            "streams": [f"WatchRun replaying a finished run of {big_events} events", "WatchRuns of the organization"],
            "messages_read": 0,
            "load": f"10-step noop chains, {LOAD_CONCURRENCY} in flight",
            "windows": profile.stalled_rounds,
            "executor_steps_per_s_without": without,
            "executor_steps_per_s_with": with_stalled,
            "with_vs_without": ratio(with_stalled, without),
            "runs_rss_kb_before_after": rss,
            "send_timeout_seconds": STALL_SEND_TIMEOUT,
            "then_read": told,  # per window: what each stream gave once read again, and how it ended
        },
    }
    _rows(ctx, ctx.results["streaming"])


async def _watchers(
    ctx: Context, cluster: RunsCluster, orchestration: str, ramp: float, phase: float
) -> tuple[Window, dict[str, Any]]:
    """Run the watcher process for `ramp` + `phase` seconds; returns the measured window and what it saw."""
    session, profile = ctx.session, ctx.profile
    deadline = time.time() + ramp + phase + 0.5
    with tempfile.TemporaryDirectory(prefix="agentorch-bench-watch-") as tmp:
        out, spec_file = Path(tmp) / "watchers.json", Path(tmp) / "spec.json"
        spec = {
            "targets": cluster.client_targets,
            "channels": 8,
            "org": session.org,
            "orchestration": orchestration,
            "watchers": profile.watchers,
            "per_run": profile.watchers_per_run,
            "deadline": deadline,
            # Groups start at random moments over one watched run's duration (within the ramp): independent
            # dashboards do not open their streams in the same 100 ms, then again every time their runs end.
            "stagger_seconds": max(0.0, min(SLOW_SECONDS * WATCHED_STEPS, ramp - 1)),
            "out": str(out),
        }
        spec_file.write_text(json.dumps(spec))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.watchers",
            str(spec_file),
            cwd=REPO,
            env={
                **os.environ,
                "AGENTORCH_BENCH_KEYS": session.key_json,
                "AGENTORCH_BENCH_BEARER": session.bearer() if session.via_gateway else "",
            },
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await asyncio.sleep(ramp)
            window = await measure(cluster, phase, watchers=process.pid)
            _, err = await asyncio.wait_for(process.communicate(), max(deadline - time.time(), 0) + 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if process.returncode != 0 or not out.exists():
            raise BenchError(f"the watcher process failed ({process.returncode}): {err.decode()[-2000:]}")
        return window, json.loads(out.read_text())


async def _phase(cluster: RunsCluster, window: Window, seen: dict[str, Any], watchers: int) -> dict[str, Any]:
    lo, hi = window.start.timestamp(), window.end.timestamp()
    picked = [lat for t, lat in zip(seen["receipts"], seen["latencies"], strict=True) if lo <= t < hi]
    committed = await cluster.count_events("", window.start, window.end)
    return {
        "window": as_json(window),
        "watchers": watchers,
        "delivered_events_per_s": rate(len(picked), window.seconds),
        "committed_events_per_s": rate(committed, window.seconds),
        "latency": latency_ms(picked),
        "watched_agent_steps_per_s": rate(
            await cluster.count_events("step_succeeded", window.start, window.end, "a"), window.seconds
        ),
    }


async def _executor(cluster: RunsCluster, windows: list[Window]) -> float:
    steps = 0
    for window in windows:
        steps += await cluster.count_events("step_succeeded", window.start, window.end, "n")
    return rate(steps, sum(w.seconds for w in windows))


class _Stalled:
    """One client that opens its streams and never reads a message."""

    def __init__(self, cluster: RunsCluster, big_run: str) -> None:
        target = cluster.client_targets[0]
        self._channel = grpc.aio.insecure_channel(target, options=[("grpc.http2.bdp_probe", 0)])
        stub = pb_grpc.RunsServiceStub(self._channel)
        metadata = cluster.metadata
        self._calls = [
            stub.WatchRun(pb.WatchRunRequest(name=big_run, after_sequence=0), metadata=metadata),
            stub.WatchRuns(pb.WatchRunsRequest(parent=f"organizations/{cluster.session.org}"), metadata=metadata),
        ]

    async def close(self) -> dict[str, Any]:
        """Read what the stalled streams hold now: the messages sent before the stall, then (after the server's
        send timeout) how each ended. Then cancel what is still open."""
        told: dict[str, Any] = {}
        for kind, call in zip(("WatchRun", "WatchRuns"), self._calls, strict=True):
            read = 0
            try:
                async with asyncio.timeout(5):
                    async for _ in call:
                        read += 1
                told[kind] = {"read": read, "ended": "OK"}
            except grpc.aio.AioRpcError as exc:
                told[kind] = {"read": read, "ended": exc.code().name, "reason": _reason(exc)}
            except TimeoutError:
                told[kind] = {"read": read, "ended": "still open"}
        for call in self._calls:
            call.cancel()
        await self._channel.close(grace=None)
        return told


def _reason(error: grpc.aio.AioRpcError) -> str:
    return RemoteError.from_call(error).reason


async def _until_ended(cluster: RunsCluster, run: str, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await cluster.ended([run]):
            return
        await asyncio.sleep(0.05)
    raise BenchError(f"run {run} did not end within {within:.0f}s")


def _rows(ctx: Context, data: dict[str, Any]) -> None:
    phase = data["watchers_only"]
    lat = phase["latency"]
    runs_cpu = phase["window"]["cpu_cores"].get("runs-stream-0", 0)
    ctx.row(
        "streaming",
        f"{data['watchers']:,} watchers",
        "delivered events/s; event → client p50 / p99",
        f"{phase['delivered_events_per_s']:,.0f}/s; {lat['p50_ms']} / {lat['p99_ms']} ms",
        "target p99 ≤ 50 ms (1,000 watchers)",
    )
    ctx.row(
        "streaming",
        f"{data['watchers']:,} watchers",
        "watched agent steps/s; runs CPU",
        f"{phase['watched_agent_steps_per_s']:,.1f}/s; {runs_cpu:.2f} cores",
        f"the watched runs alone would make {data['watchers'] // data['watchers_per_run'] / SLOW_SECONDS:,.0f} steps/s",
    )
    stalled = data["stalled_client"]
    rss = stalled["runs_rss_kb_before_after"]
    watch = stalled["then_read"][-1]["WatchRun"] if stalled["then_read"] else {}
    ctx.row(
        "streaming",
        "stalled client",
        "then reads: WatchRun gave; ended with",
        f"{watch.get('read', 0)} messages; {watch.get('ended', '?')} {watch.get('reason', '')}".strip(),
        f"send timeout {stalled['send_timeout_seconds']:g} s; the run has more: the rest was never buffered",
    )
    ctx.row(
        "streaming",
        "stalled client + step load",
        "executor steps/s without → with",
        f"{stalled['executor_steps_per_s_without']:,.0f} → {stalled['executor_steps_per_s_with']:,.0f}",
        f"{stalled['with_vs_without']}x; runs RSS {rss[0][0] / 1024:.0f} → {rss[-1][1] / 1024:.0f} MiB",
    )
