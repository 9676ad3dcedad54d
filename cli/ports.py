"""Where `agentorch up` puts each process: a fixed, documented layout, or free loopback ports for tests."""

from __future__ import annotations

import socket
from contextlib import ExitStack

#: Offsets from --base-port. With the default base 50050 this is the services' own default ports
#: (gateway 50051 and its HTTP front 50052, registry 50061, runs 50062, credentials 50063), so `agentorch up` and
#: processes started by hand with no settings agree on addresses.
OFFSETS: dict[str, int] = {
    "gateway": 1,
    "http": 2,  # the gateway's HTTP/JSON + SSE front (same process as the gateway)
    "registry": 11,
    "runs": 12,
    "credentials": 13,
    "a2a-agent": 21,  # the local reference agents the demo calls
    "openai-agent": 22,
}
DEFAULT_BASE_PORT = 50050
#: What listens on each port of OFFSETS, as `agentorch up --help` lists them.
PURPOSES: dict[str, str] = {
    "gateway": "gateway (gRPC)",
    "http": "gateway HTTP/JSON + SSE",
    "registry": "registry",
    "runs": "runs",
    "credentials": "credentials",
    "a2a-agent": "reference A2A agent",
    "openai-agent": "reference OpenAI agent",
}


def describe_layout() -> str:
    """Every port `up` uses, relative to --base-port: `gateway (gRPC) BASE+1, ...`."""
    return ", ".join(f"{PURPOSES[name]} BASE+{offset}" for name, offset in OFFSETS.items())


Ports = dict[str, int]


def layout(base: int) -> Ports:
    """The port of each process for a base port; ValueError when a port would leave 1-65535."""
    if not 0 < base <= 65535 - max(OFFSETS.values()):
        raise ValueError(f"--base-port must be 0 or between 1 and {65535 - max(OFFSETS.values())}, not {base}")
    return {name: base + offset for name, offset in OFFSETS.items()}


def free_ports(host: str) -> Ports:
    """Distinct ports the kernel reports free on `host`, one per entry of OFFSETS (bound together, then released).

    Another process may take one before the child binds it; tests accept that tiny race to run in parallel.
    """
    with ExitStack() as stack:
        ports: Ports = {}
        for name in OFFSETS:
            sock = stack.enter_context(_socket(host))
            sock.bind(_sockaddr(host, 0))
            ports[name] = int(sock.getsockname()[1])
        return ports


def busy(host: str, ports: Ports) -> list[str]:
    """Names whose port cannot be bound now, checked up front so the error names the port, not a child's crash."""
    taken = []
    for name, port in ports.items():
        with _socket(host) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC does: ignore TIME_WAIT leftovers
            try:
                sock.bind(_sockaddr(host, port))
            except OSError:
                taken.append(name)
    return taken


def _socket(host: str) -> socket.socket:
    family = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    return socket.socket(family, socket.SOCK_STREAM)


def _sockaddr(host: str, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    info = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    return info[4]  # type: ignore[return-value]


def connect_host(host: str) -> str:
    """Where clients on this machine reach a server bound to `host` (a wildcard is not an address to dial)."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104


def address(host: str, port: int) -> str:
    """host:port as gRPC targets and URLs spell it (IPv6 literals in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
