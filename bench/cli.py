"""`python -m bench [--quick] [--dsn postgresql://...] [--only NAME[,NAME]]`: run the benchmarks, print a table,
write `bench/results/<mode>-<timestamp>.json` (and `--save-latest` copies it to bench/results/latest.json).

Exit status: 0 when every scenario ran (however slow), 1 when something broke (a process died, a call failed,
PostgreSQL or pgbench missing), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform as host
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.context import FULL, QUICK, Context
from bench.platform import Session
from bench.postgres import BenchError, Database, from_dsn, throwaway_cluster
from bench.report import print_table, targets
from bench.scenarios import auth, paused, reference, streaming, takeover, throughput

RESULTS = Path(__file__).resolve().parent / "results"
Scenario = Callable[[Context], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {
    "reference": reference.run,
    "throughput": throughput.run,
    "streaming": streaming.run,
    "paused": paused.run,
    "takeover": takeover.run,
    "auth": auth.run,
}
NEEDS_REFERENCE = {"throughput", "streaming"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows and small sizes (< 2 minutes in all)")
    parser.add_argument("--dsn", help="use this PostgreSQL (postgresql://…) instead of a throwaway cluster")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help=f"run only these scenarios ({', '.join(SCENARIOS)}); repeatable or comma-separated. The reference "
        "runs too when a scenario reports ratios against it",
    )
    parser.add_argument(
        "--via-gateway",
        action="store_true",
        help="clients call through a gateway process (JWT auth, proxy) in front of the first runs replica",
    )
    parser.add_argument("--durable", action="store_true", help="throwaway cluster with fsync/synchronous_commit on")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the hot path")
    parser.add_argument(
        "--chain",
        choices=("noop", "echo", "echo-loop"),
        default="noop",
        help="step kind of the throughput chain: noop (default), echo (a plain template, rendered inline) or "
        "echo-loop (a template with a loop, rendered on a worker thread)",
    )
    parser.add_argument(
        "--runs-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra runs-service setting for every replica, without the AGENTORCH_RUNS_ prefix (e.g. "
        "DATABASE__POOL_SIZE=40); repeatable",
    )
    parser.add_argument("--output", type=Path, help="where to write the JSON result (default bench/results/…)")
    parser.add_argument("--save-latest", action="store_true", help="also write bench/results/latest.json")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (printed at the end)")
    return parser.parse_args(argv)


def selected(args: argparse.Namespace) -> list[str]:
    names = [n.strip() for item in args.only for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"python -m bench: unknown scenario {', '.join(unknown)} (choose from {', '.join(SCENARIOS)})")
    chosen = set(names or SCENARIOS)
    if chosen & NEEDS_REFERENCE:
        chosen.add("reference")
    return [name for name in SCENARIOS if name in chosen]


def runs_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"python -m bench: --runs-env wants KEY=VALUE, not {pair!r}")
        env[key.removeprefix("AGENTORCH_RUNS_").upper()] = value
    return env


@contextmanager
def database(args: argparse.Namespace) -> Iterator[Database]:
    if args.dsn:
        yield from_dsn(args.dsn)
    else:
        with throwaway_cluster(durable=args.durable) as db:
            yield db


def _first(path: str, prefix: str) -> str:
    """The value of the first `prefix…: value` line of a /proc file ("" if none)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(prefix)), "")


def machine() -> dict[str, Any]:
    kb = _first("/proc/meminfo", "MemTotal").split()
    memory = f"{int(kb[0]) / 1024 / 1024:.1f} GiB" if kb else ""
    cpu = _first("/proc/cpuinfo", "model name")
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "python": sys.version.split()[0],
        "kernel": host.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    return out.stdout.strip()


async def run_all(args: argparse.Namespace, names: list[str], log_dir: Path) -> tuple[Context, list[str]]:
    profile = QUICK if args.quick else FULL
    failures: list[str] = []
    with database(args) as db:
        async with Session(db, log_dir, runs_env(args.runs_env), via_gateway=args.via_gateway) as session:
            ctx = Context(session, profile, profile_hot_path=not args.no_profile, chain=args.chain)
            ctx.results["postgresql"] = {"version": session.server_version, "settings": db.settings}
            for name in names:
                started = time.monotonic()
                print(f"… {name}", file=sys.stderr, flush=True)
                try:
                    await SCENARIOS[name](ctx)
                except Exception as exc:
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
                    ctx.results.setdefault("errors", {})[name] = traceback.format_exc()
                    print(f"!! {name} failed: {exc}", file=sys.stderr, flush=True)
                    if name == "reference":
                        break  # nothing to compare with
                ctx.results.setdefault("durations_s", {})[name] = round(time.monotonic() - started, 1)
    return ctx, failures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = selected(args)
    log_dir = Path(tempfile.mkdtemp(prefix="agentorch-bench-"))
    started = dt.datetime.now(dt.UTC)
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    try:
        ctx, failures = asyncio.run(run_all(args, names, log_dir))
    except BenchError as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("python -m bench: interrupted", file=sys.stderr)
        return 1
    finally:
        if not args.keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)
    elapsed = (dt.datetime.now(dt.UTC) - started).total_seconds()
    result = {
        "command": command.strip(),
        "mode": ctx.profile.name,
        "via_gateway": args.via_gateway,
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": round(elapsed, 1),
        "commit": commit(),
        "machine": machine(),
        "scenarios": names,
        **ctx.results,
        "targets": targets(ctx.results),
        "failures": failures,
    }
    print_table(ctx.rows, result)
    output = args.output or RESULTS / f"{ctx.profile.name}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    if args.save_latest:
        (RESULTS / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nresults: {output}  ({elapsed:.0f} s)")
    if args.keep_logs:
        print(f"logs: {log_dir}")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0
