"""The gateway CLI: command groups that call the platform through the gateway, one module per group.

Global options (`--gateway`, `--token`, `--org`, `--output`, `--data-dir`, `--tls`) are accepted before the command
or after it. Exit codes: 0 success, 1 a failed call or a failed/cancelled run, 2 a usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

import grpc
from pydantic import ValidationError

from cli.commands import account, agents, credentials, identity, orchestrations, plans, runs
from cli.commands.base import Context
from cli.gateway_client import GatewayClient, UsageError, resolve_gateway, resolve_token
from cli.render import Output, error_lines
from cli.settings import DEFAULT_GATEWAY, CliSettings
from cli.watch import StreamLost

GROUPS = (agents, orchestrations, plans, runs, credentials, identity, account)


def add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """On the top-level parser (defaults None) and on every gateway command (SUPPRESS, so an option given before
    the command is not reset by the command's own parser)."""
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("gateway options")
    group.add_argument(
        "--gateway",
        default=default,
        metavar="HOST:PORT",
        help=f"default $AGENTORCH_GATEWAY, else the one `agentorch up` runs (DATA_DIR/gateway-address), else "
        f"{DEFAULT_GATEWAY}",
    )
    group.add_argument(
        "--token", default=default, help="bearer JWT or API key; default $AGENTORCH_TOKEN, else DATA_DIR/dev-token"
    )
    group.add_argument("--org", default=default, help="organization (default: your own, from WhoAmI)")
    group.add_argument("--output", "-o", default=default, choices=["table", "json"], help="default table")
    group.add_argument(
        "--data-dir",
        dest="cli_data_dir",
        default=default,
        metavar="DIR",
        help="where `agentorch up` keeps dev-token and gateway-address (default $AGENTORCH_DATA_DIR, else .agentorch)",
    )
    group.add_argument("--tls", action="store_true", default=default, help="connect with TLS")


def register(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, suppress=True)
    for group in GROUPS:
        group.register(commands, common)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        settings = CliSettings()
        env_token = settings.token.get_secret_value() if settings.token else None
        data_dir = Path(args.cli_data_dir or settings.data_dir)
        token = resolve_token(args.token, env_token, data_dir)
        client = GatewayClient(resolve_gateway(args.gateway, settings.gateway, data_dir), token, tls=bool(args.tls))
        try:
            context = Context(client, Output(args.output or "table", out), err, args.org)
            code: int = args.handler(context, args)
            return code
        finally:
            client.close()
    except UsageError as exc:
        print(f"agentorch: {exc}", file=err)
        return 2
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        print(f"agentorch: invalid AGENTORCH_ environment variables: {fields}", file=err)
        return 2
    except grpc.RpcError as exc:
        print("\n".join(error_lines(exc)), file=err)
        return 1
    except StreamLost as exc:
        print(f"agentorch: {exc}", file=err)
        return 1
    except KeyboardInterrupt:
        return 130
