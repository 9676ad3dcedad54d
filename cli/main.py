"""Entry point of the `agentorch` command (also `python -m cli.main`)."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TextIO

from cli.ports import DEFAULT_BASE_PORT, describe_layout


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one command; `out`/`err` (default: sys.stdout/sys.stderr) receive what a gateway command prints."""
    parser = build_parser()
    try:
        with contextlib.redirect_stderr(err) if err is not None else contextlib.nullcontext():
            args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for a usage error (already explained on stderr), 0 for --help
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "handler", None) is not None:  # a gateway command (cli/commands)
        from cli.commands import run

        try:
            return run(args, out or sys.stdout, err or sys.stderr)
        except BrokenPipeError:  # the reader went away (`agentorch runs list | head`): stop quietly, as `cat` does
            _silence_stdout()
            return 141
    try:
        if args.command == "version":
            print("\n".join(version_lines()))
            return 0
        if args.command == "migrate":
            from cli import migrate

            services = migrate.SERVICES if args.service == "all" else (args.service,)
            return migrate.run(services, args.data_dir)
        if args.command == "up":
            from cli import up
            from cli.restart import CrashPolicy

            crashes = CrashPolicy(max_crashes=args.max_crashes, window_seconds=args.crash_window)
            database = args.database_url
            options = up.UpOptions(args.data_dir, args.host, args.base_port, args.log_format, database, crashes)
            return up.run(options)
        if args.command == "token":
            from cli.client import Caller

            print(Caller(args.data_dir, args.org, frozenset(args.roles), args.subject).header_value())
            return 0
    except KeyboardInterrupt:  # Ctrl-C before `up` installs its own handlers, or during `migrate`
        return 130
    parser.print_help(sys.stderr)
    return 2


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail on the closed pipe too."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def version_lines() -> list[str]:
    return [
        f"agentorch {_version('agentorch')}",
        f"python {platform.python_version()}",
        f"grpcio {_version('grpcio')}",
        f"protobuf {_version('protobuf')}",
    ]


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _postgres_url(value: str) -> str:
    if not value.startswith("postgresql+asyncpg://"):
        # Never echo the value: it may hold a password.
        raise argparse.ArgumentTypeError("must be a postgresql+asyncpg://USER:PASS@HOST:PORT/DB URL")
    return value


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if number <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, not {value}")
        return number

    return parse


def build_parser() -> argparse.ArgumentParser:
    from cli.commands import add_global_options, register
    from cli.restart import CrashPolicy

    parser = argparse.ArgumentParser(prog="agentorch", description="Agent orchestration platform.")
    add_global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("version", help="print the versions of agentorch and its runtime")

    migrate = commands.add_parser(
        "migrate",
        help="apply database migrations",
        description="Apply each service's migrations and print the revision it is at. Without --data-dir the "
        "database comes from the services' environment (AGENTORCH_<SERVICE>_DATABASE__URL).",
    )
    migrate.add_argument("--service", choices=["all", "registry", "runs", "credentials", "gateway"], default="all")
    migrate.add_argument("--data-dir", type=Path, help="use the SQLite files DIR/<service>.db, as `up` does")

    crashes = CrashPolicy()
    up = commands.add_parser(
        "up",
        help="run the whole platform locally",
        description="Run registry, runs, credentials, the gateway and the reference agents on this machine (SQLite "
        "files, or PostgreSQL with --database-url), seed a demo agent, and stop everything on Ctrl-C. A service that "
        "crashes once the platform is up is restarted on its port after a back-off "
        f"({crashes.initial_backoff:g} s, doubling up to {crashes.max_backoff:g} s); one that crashes --max-crashes "
        "times within --crash-window seconds stops everything.",
    )
    up.add_argument("--data-dir", type=Path, default=Path(".agentorch"), help="where the SQLite files live")
    up.add_argument("--host", default="127.0.0.1", help="interface every service binds")
    up.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help=f"{describe_layout()} (default base {DEFAULT_BASE_PORT}); 0 picks free ports",
    )
    up.add_argument("--log-format", choices=["console", "json"], default="console")
    up.add_argument(
        "--database-url",
        type=_postgres_url,
        default=None,
        metavar="URL",
        help="run every service on this PostgreSQL (postgresql+asyncpg://USER:PASS@HOST:PORT/DB), a schema each, "
        "instead of SQLite files in the data dir",
    )

    up.add_argument(
        "--max-crashes",
        type=_positive(int),
        default=crashes.max_crashes,
        metavar="N",
        help=f"stop everything when one service crashes N times within --crash-window (default {crashes.max_crashes}; "
        "1: at the first crash)",
    )
    up.add_argument(
        "--crash-window",
        type=_positive(float),
        default=crashes.window_seconds,
        metavar="SECONDS",
        help=f"default {crashes.window_seconds:g}",
    )

    token = commands.add_parser(
        "token",
        help="print a signed principal for calling a local platform with buf curl or grpcurl",
        description="Print a short-lived principal token signed with DATA_DIR/principal-keys.json; send it as "
        "-H 'x-agentorch-principal-bin: TOKEN'. Without --org it is a platform principal.",
    )
    token.add_argument("--data-dir", type=Path, default=Path(".agentorch"))
    token.add_argument("--org", default="", help="organization to act in (default: platform-wide)")
    token.add_argument(
        "--roles", nargs="+", default=["admin"], choices=["viewer", "author", "operator", "approver", "admin"]
    )
    token.add_argument("--subject", default="cli", help="who the calls are recorded as")

    register(commands)  # the gateway commands: agents, orchestrations, plans, runs, checkpoints, ...
    return parser


if __name__ == "__main__":
    sys.exit(main())
