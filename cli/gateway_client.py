"""The CLI's connection to the gateway: one channel, the service stubs, and the bearer token on every call.

The CLI is a plain synchronous program, so it uses grpc's blocking API: each command makes a few calls and
`runs watch` reads one server stream. Every unary call has a deadline; streams have none (they end with the run).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import grpc

from agentorch.credentials.v1 import credentials_service_pb2_grpc as cred_grpc
from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from agentorch.registry.v1 import registry_service_pb2_grpc as reg_grpc
from agentorch.runs.v1 import runs_service_pb2_grpc as runs_grpc
from cli.devtoken import DEV_TOKEN_FILE, GATEWAY_ADDRESS_FILE
from cli.settings import DEFAULT_GATEWAY
from services.common.channels import channel_options

DEFAULT_TIMEOUT = 30.0

Response = TypeVar("Response")


class UsageError(Exception):
    """A problem with how the command was called (exit code 2), reported as one line."""


def resolve_gateway(flag: str | None, env: str | None, data_dir: Path) -> str:
    """--gateway, else AGENTORCH_GATEWAY, else the address a running `agentorch up` wrote into its data dir (it
    follows --base-port), else the default port layout's gateway."""
    for candidate in (flag, env):
        if candidate and candidate.strip():
            return candidate.strip()
    try:
        written = (data_dir / GATEWAY_ADDRESS_FILE).read_text().strip()
    except OSError:
        written = ""
    return written or DEFAULT_GATEWAY


def resolve_token(flag: str | None, env: str | None, data_dir: Path) -> str:
    """--token, else AGENTORCH_TOKEN, else the dev token `agentorch up` wrote into its data dir."""
    for candidate in (flag, env):
        if candidate and candidate.strip():
            return candidate.strip()
    path = data_dir / DEV_TOKEN_FILE
    try:
        token = path.read_text().strip()
    except OSError:
        token = ""
    if not token:
        raise UsageError(f"no credentials: pass --token, set AGENTORCH_TOKEN, or run `agentorch up` (it writes {path})")
    return token


class GatewayClient:
    def __init__(self, target: str, token: str, *, tls: bool = False, timeout: float = DEFAULT_TIMEOUT) -> None:
        options = channel_options()  # a call that met the database restarting is retried, not shown as an error
        if tls:
            self._channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(), options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout
        self.gateway = gw_grpc.GatewayServiceStub(self._channel)
        self.registry = reg_grpc.RegistryServiceStub(self._channel)
        self.runs = runs_grpc.RunsServiceStub(self._channel)
        self.credentials = cred_grpc.CredentialsServiceStub(self._channel)
        self._organization: str | None = None

    def call(self, method: Callable[..., Response], request: Any, *, timeout: float | None = None) -> Response:
        return method(request, metadata=self._metadata, timeout=timeout or self._timeout)

    def stream(self, method: Callable[..., Iterator[Any]], request: Any, *, wait_for_ready: bool = False) -> Any:
        """A server stream (a grpc call that is also an iterator; `.cancel()` ends it)."""
        return method(request, metadata=self._metadata, wait_for_ready=wait_for_ready)

    def organization(self, flag: str | None) -> str:
        """--org, else the caller's own organization (WhoAmI)."""
        if flag:
            return flag
        if self._organization is None:
            self._organization = self.call(self.gateway.WhoAmI, gw.WhoAmIRequest()).organization_slug
        if not self._organization:
            raise UsageError("a platform principal has no organization of its own: pass --org")
        return self._organization

    def close(self) -> None:
        self._channel.close()
