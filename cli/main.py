"""Entry point of the `agentorch` command (also `python -m cli.main`)."""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from cli.ports import DEFAULT_BASE_PORT


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
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

            options = up.UpOptions(args.data_dir, args.host, args.base_port, args.log_format)
            return up.run(options)
    except KeyboardInterrupt:  # Ctrl-C before `up` installs its own handlers, or during `migrate`
        return 130
    parser.print_help(sys.stderr)
    return 2


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentorch", description="Agent orchestration platform.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("version", help="print the versions of agentorch and its runtime")

    migrate = commands.add_parser(
        "migrate",
        help="apply database migrations",
        description="Apply each service's migrations and print the revision it is at. Without --data-dir the "
        "database comes from the services' environment (AGENTORCH_<SERVICE>_DATABASE__URL).",
    )
    migrate.add_argument("--service", choices=["all", "registry", "runs", "credentials"], default="all")
    migrate.add_argument("--data-dir", type=Path, help="use the SQLite files DIR/<service>.db, as `up` does")

    up = commands.add_parser(
        "up",
        help="run the whole platform locally",
        description="Run registry, runs, credentials and the gateway on this machine with SQLite databases, "
        "seed a demo agent, and stop everything on Ctrl-C.",
    )
    up.add_argument("--data-dir", type=Path, default=Path(".agentorch"), help="where the SQLite files live")
    up.add_argument("--host", default="127.0.0.1", help="interface every service binds")
    up.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help="gateway on BASE+1, registry/runs/credentials on BASE+11..13; 0 picks free ports",
    )
    up.add_argument("--log-format", choices=["console", "json"], default="console")
    return parser


if __name__ == "__main__":
    sys.exit(main())
