"""Where a credential may be sent: its binding to agents and hosts, set by admins, checked at every resolution.

A credential lists the agents whose calls may carry it (`allowed_agents`: agent resource names) and the hosts its
value may travel to (`allowed_hosts`: exact host names or addresses, or `*.suffix`, each with an optional port).
A resolution names the agent and the destination (`host:port` of the URL about to be called); it is allowed when
every non-empty list matches. A credential with both lists empty is *unbound*: no call may use it. That is the
default on purpose: a secret nobody said where to send goes nowhere, and the refusal tells an admin what to set.

Pure: no I/O. Validation reports every bad entry at once with its field path; messages never include a value.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from services.common import names
from services.common.errors import FieldViolation
from services.common.netpolicy import HOST_NAME_RE

MAX_ENTRIES = 20
MAX_ENTRY_LENGTH = 253
AGENT_RULE = (
    "must be an agent of this organization (organizations/{org}/agents/{slug}, or its slug) or a platform-wide "
    "agent (agents/{slug})"
)
HOST_RULE = "must be a host name, an IP address ([...] for IPv6) or *.suffix, with an optional :port"


@dataclass(frozen=True)
class HostPattern:
    """One allowed_hosts entry: `host`, `*.suffix` or an IP address, and a port (None: any)."""

    host: str  # lowercase; an IPv6 address without brackets; `*.suffix` for a wildcard
    port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.port is not None else host

    @classmethod
    def parse(cls, text: str) -> HostPattern | None:
        """The pattern, or None when `text` is not one (the caller names the field)."""
        if not text or len(text) > MAX_ENTRY_LENGTH or text != text.strip() or text != text.lower():
            return None
        host, port = _split_port(text)
        if host is None:
            return None
        if port is not None and not 1 <= port <= 65535:
            return None
        if host.startswith("*."):
            suffix = host[2:]
            # a wildcard covers names under a registered-looking domain (two labels at least), never an address
            if not HOST_NAME_RE.match(suffix) or "." not in suffix or _is_address(suffix):
                return None
            return cls(host, port)
        if _is_address(host):
            return cls(str(ipaddress.ip_address(host)), port)
        if not HOST_NAME_RE.match(host) or host.replace(".", "").isdigit():
            return None
        return cls(host, port)

    def matches(self, destination: Destination) -> bool:
        if self.port is not None and self.port != destination.port:
            return False
        if self.host.startswith("*."):
            return destination.host.endswith(self.host[1:])
        return destination.host == self.host


@dataclass(frozen=True)
class Destination:
    """Where a resolved value is about to be sent: the host (lowercase, IPv6 unbracketed) and port of the URL."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"{HostPattern(self.host, self.port)}"

    @classmethod
    def parse(cls, text: str) -> Destination | None:
        host, port = _split_port(text.lower()) if text else (None, None)
        if host is None or port is None or not 1 <= port <= 65535 or host.startswith("*."):
            return None
        if _is_address(host):
            return cls(str(ipaddress.ip_address(host)), port)
        if not HOST_NAME_RE.match(host):
            return None
        return cls(host, port)


@dataclass(frozen=True)
class CredentialBinding:
    """A credential's binding, normalized: agent resource names and host patterns (as stored and shown)."""

    agents: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()

    @property
    def bound(self) -> bool:
        return bool(self.agents or self.hosts)

    def refusal(self, agent: str, destination: Destination) -> str | None:
        """Why a call to `agent` at `destination` may not use the credential, or None when it may."""
        if not self.bound:
            return "it is bound to no agent and no host"
        if self.agents and agent not in self.agents:
            return "the agent is not in its allowed_agents"
        patterns = [p for p in (HostPattern.parse(h) for h in self.hosts) if p is not None]
        if self.hosts and not any(p.matches(destination) for p in patterns):
            return "the destination is not in its allowed_hosts"
        return None


def normalize_agents(
    organization_slug: str, entries: Sequence[str], field: str
) -> tuple[tuple[str, ...], list[FieldViolation]]:
    """allowed_agents as stored (a bare slug becomes the organization's agent name), with every violation."""
    violations = _count_violation(entries, field)
    names: list[str] = []
    for index, entry in enumerate(entries):
        path = f"{field}[{index}]"
        name = _agent_name(organization_slug, entry)
        if name is None:
            violations.append(FieldViolation(path, AGENT_RULE))
        elif name in names:
            violations.append(FieldViolation(path, "is listed twice"))
        else:
            names.append(name)
    return tuple(names), violations


def normalize_hosts(entries: Sequence[str], field: str) -> tuple[tuple[str, ...], list[FieldViolation]]:
    """allowed_hosts as stored (IP addresses in their canonical form), with every violation."""
    violations = _count_violation(entries, field)
    hosts: list[str] = []
    for index, entry in enumerate(entries):
        path = f"{field}[{index}]"
        pattern = HostPattern.parse(entry)
        if pattern is None:
            violations.append(FieldViolation(path, HOST_RULE))
        elif str(pattern) in hosts:
            violations.append(FieldViolation(path, "is listed twice"))
        else:
            hosts.append(str(pattern))
    return tuple(hosts), violations


def is_agent_name(text: str) -> bool:
    """A resolution's `agent`: an organization's or a platform-wide agent resource name."""
    return names.agent_of(text) is not None


def _agent_name(organization_slug: str, entry: str) -> str | None:
    if names.is_slug(entry):
        return names.AGENT.format(org=organization_slug, agent=entry)
    found = names.agent_of(entry)
    if found is None:
        return None
    org, _ = found
    return entry if org in ("", organization_slug) else None


def _count_violation(entries: Sequence[str], field: str) -> list[FieldViolation]:
    if len(entries) > MAX_ENTRIES:
        return [FieldViolation(field, f"at most {MAX_ENTRIES} entries (got {len(entries)})")]
    return []


def _split_port(text: str) -> tuple[str | None, int | None]:
    """(host, port) of `host`, `host:port`, `[v6]` or `[v6]:port`; (None, None) when malformed."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None, None
        host, rest = text[1:close], text[close + 1 :]
        if not _is_address(host) or ":" not in host:
            return None, None
        if not rest:
            return host, None
        if not rest.startswith(":"):
            return None, None
        return host, _port(rest[1:])
    if text.count(":") > 1:  # an unbracketed IPv6 address: no port possible
        return (text, None) if _is_address(text) else (None, None)
    host, sep, port = text.partition(":")
    if not sep:
        return host, None
    parsed = _port(port)
    return (host, parsed) if parsed is not None else (None, None)


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 5 else None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
