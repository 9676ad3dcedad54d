"""Agent calls connect only to addresses the egress policy allows, checked on the address actually connected to.

Checking an endpoint's host when the agent is saved is not enough: a name can resolve to a public address then and
to 127.0.0.1 when the call is made (DNS rebinding), and a literal check misses names such as `localhost` or any
record pointing inside. So the HTTP client's network backend resolves the host itself, refuses the connection if
*any* address is refused (services.common.netpolicy), and connects to a checked address; TLS (SNI, certificate
check) and the Host header still use the name. A refusal happens before any connection is attempted, so the
error is the same whether something listens at that address and port or not: no port-scan oracle.

Wiring: `guarded_transport(policy)` is an httpx transport whose connection pool (httpcore) uses that backend;
`new_client` in executors.transport builds the agent client on it. Environment proxies and .netrc are not used
(`trust_env=False` on the client): through a proxy, the address checked would be the proxy's, not the agent's.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable

import httpcore
import httpx

from services.common.netpolicy import ALLOWLIST_SETTING, EgressPolicy, IPAddress, literal_address

#: host, port → the addresses to try, in order (getaddrinfo by default; tests map names to addresses).
Resolver = Callable[[str, int], Awaitable[list[str]]]


class DestinationRefused(Exception):
    """A connection the egress policy refuses; the message names the host and why, never anything it answered."""

    def __init__(self, host: str, problem: str, *, resolved: bool, setting: str = ALLOWLIST_SETTING) -> None:
        via = "resolves to" if resolved else "is"
        super().__init__(
            f"the agent's host {host} {via} {problem}, which agent calls may not reach (allow it with {setting})"
        )
        self.host = host


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address of `host` (IPv4 and IPv6), from the operating system's resolver, without blocking."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that checks where it connects: resolve, check every address, connect to one."""

    def __init__(
        self,
        policy: EgressPolicy,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolve = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int, limit: float | None) -> list[str]:
        """The checked addresses to connect to; DestinationRefused if any is refused, ConnectError if none."""
        literal = literal_address(host)
        if literal is not None:
            _check(self._policy, host, [literal], resolved=False)
            return [str(literal)]
        try:
            async with asyncio.timeout(limit):
                found = await self._resolve(host, port)
        except (OSError, UnicodeError):
            raise httpcore.ConnectError("the agent's host name does not resolve") from None
        except TimeoutError:
            raise httpcore.ConnectTimeout("resolving the agent's host name timed out") from None
        addresses = [a for a in (literal_address(text) for text in found) if a is not None]
        if not addresses:
            raise httpcore.ConnectError("the agent's host name does not resolve")
        if not self._policy.allowlist.allows_name(host):
            _check(self._policy, host, addresses, resolved=True)
        return [str(a) for a in addresses]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in await self.addresses(host, port, timeout):
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # try the next checked address, as a resolver-aware connect would
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused(path, "a Unix socket", resolved=False)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _check(policy: EgressPolicy, host: str, addresses: list[IPAddress], *, resolved: bool) -> None:
    for address in addresses:
        problem = policy.address_problem(address)
        if problem is not None:
            raise DestinationRefused(host, problem, resolved=resolved, setting=policy.setting)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request/response mapping, error mapping) over a pool that uses GuardedBackend."""

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx builds its pool without a network_backend argument; this one is the same pool with ours. The TLS
        # context still honours SSL_CERT_FILE / SSL_CERT_DIR (private CAs of agents inside the network).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=True),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def guarded_transport(
    policy: EgressPolicy, limits: httpx.Limits, resolver: Resolver | None = None
) -> httpx.AsyncBaseTransport:
    return GuardedTransport(GuardedBackend(policy, resolver), limits)
