"""Where the platform may send agent calls: internal addresses are refused (SSRF), unless an allowlist permits them.

An agent endpoint is a URL someone typed into the registry; without a rule, it could point the runs service at
its own credentials port, a database, a cloud metadata endpoint (169.254.169.254) or anything else reachable from
inside the platform, and the call's error would tell the author what answered there. So only http and https are
accepted, and a host is refused when it is (or, at call time, resolves to) an address that is not globally
routable: loopback, private (RFC 1918, unique-local), link-local (cloud metadata included), shared (CGNAT),
unspecified, multicast or otherwise reserved; IPv4 addresses wrapped in IPv6 (mapped, 6to4, NAT64) are judged by
the IPv4 address inside. `localhost` names count as loopback. An `AGENTS__ALLOWED_NETWORKS` setting lists the
exceptions: CIDR ranges (or single addresses) and host names (exact or `*.suffix`; a listed name is trusted
whatever it resolves to).

The registry checks the URLs of an agent when it is saved (`url_problem`, literal addresses and localhost names);
the runs service checks every address a host name resolves to, right before connecting, and connects only to a
checked address (`address_problem`), which defeats DNS rebinding. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = ("http", "https")
ALLOWLIST_SETTING = "AGENTS__ALLOWED_NETWORKS"
MAX_ALLOWLIST = 100

#: Refused ranges with the word used to name them; anything else that is not globally routable is "reserved".
REFUSED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), category)
    for cidr, category in (
        ("127.0.0.0/8", "loopback"),
        ("::1/128", "loopback"),
        ("0.0.0.0/8", "unspecified"),
        ("::/128", "unspecified"),
        ("169.254.169.254/32", "link-local (cloud metadata)"),
        ("169.254.0.0/16", "link-local"),
        ("fe80::/10", "link-local"),
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("fc00::/7", "private (unique-local)"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("224.0.0.0/4", "multicast"),
        ("ff00::/8", "multicast"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCALHOST_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LOCALHOST_ADDRESSES = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")  # decimal, octal or hex IPv4 forms (`2130706433`, `0x7f.1`, `127.1`)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")  # a DNS name: dot-separated labels


def category(address: IPAddress) -> str | None:
    """The refused category of an address (`loopback`, `private`...), or None when it is globally routable."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return category(inner)
    for network, name in REFUSED:
        if address in network:
            return name
    if not address.is_global:
        return "reserved"
    return None


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, 6to4, NAT64 well-known prefix), if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def literal_address(host: str) -> IPAddress | None:
    """`host` as an IP address when it is one, including the numeric IPv4 spellings resolvers accept."""
    bare = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    return None


def is_localhost_name(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name in _LOCALHOST_NAMES or name.endswith(".localhost")


def name_matches(pattern: str, host: str) -> bool:
    """`pattern` is an exact name or `*.suffix` (a name under suffix, not suffix itself)."""
    name = host.lower().rstrip(".")
    if pattern.startswith("*."):
        return name.endswith(pattern[1:])
    return name == pattern


@dataclass(frozen=True)
class NetworkAllowlist:
    """Exceptions to the refused ranges: networks (any address inside is allowed) and trusted host names."""

    networks: tuple[IPNetwork, ...] = ()
    names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> NetworkAllowlist:
        """Raises ValueError naming the first entry that is neither a CIDR/address nor a host name pattern."""
        networks: list[IPNetwork] = []
        names: list[str] = []
        items = list(entries)
        if len(items) > MAX_ALLOWLIST:
            raise ValueError(f"at most {MAX_ALLOWLIST} entries")
        for raw in items:
            entry = raw.strip().lower()
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            name = entry.removeprefix("*.").rstrip(".")
            numeric = name.rsplit(".", 1)[-1].isdigit()  # not a name (a top-level label is never all digits)
            if not entry or not HOST_NAME_RE.match(name) or numeric or literal_address(name) is not None:
                raise ValueError(
                    f"{raw!r} is neither a network (CIDR such as 10.0.0.0/8 or an address) nor a host name "
                    "(exact, or *.suffix)"
                )
            names.append(("*." if entry.startswith("*.") else "") + name)
        return cls(tuple(networks), tuple(names))

    def allows_address(self, address: IPAddress) -> bool:
        candidates = [address, *([inner] if (inner := embedded_ipv4(address)) is not None else [])]
        return any(a in network for a in candidates for network in self.networks)

    def allows_name(self, host: str) -> bool:
        return any(name_matches(pattern, host) for pattern in self.names)


@dataclass(frozen=True)
class EgressPolicy:
    """Which agent destinations are refused: internal addresses, unless `allowlist` permits them."""

    allowlist: NetworkAllowlist = NetworkAllowlist()
    setting: str = ALLOWLIST_SETTING  # the setting that holds the allowlist, named in refusals

    @classmethod
    def from_entries(cls, entries: Iterable[str], setting: str = ALLOWLIST_SETTING) -> EgressPolicy:
        return cls(NetworkAllowlist.parse(entries), setting)

    def address_problem(self, address: IPAddress) -> str | None:
        """Why connecting to `address` is refused (`a loopback address`), or None."""
        refused = category(address)
        if refused is None or self.allowlist.allows_address(address):
            return None
        return f"{'an' if refused[0] in 'aeiou' else 'a'} {refused} address"

    def host_problem(self, host: str) -> str | None:
        """Save-time check of a URL's host: literal addresses and localhost names (names are checked when called)."""
        address = literal_address(host)
        if address is not None:
            return self.address_problem(address)
        if self.allowlist.allows_name(host):
            return None
        if is_localhost_name(host) and any(self.address_problem(a) for a in _LOCALHOST_ADDRESSES):
            return "a localhost name (loopback)"
        return None

    def url_problem(self, url: str) -> str | None:
        """Why `url` cannot be an agent endpoint (a short phrase naming no secret), or None.

        Refused: anything but an absolute http(s) URL with a host, user information in the URL (credentials
        belong in the vault), and hosts refused by `host_problem`.
        """
        parsed = _split(url)
        if parsed is None:
            return "must be an absolute http:// or https:// URL"
        scheme, userinfo, host = parsed
        if scheme not in SCHEMES:
            return f"must use http or https, not {scheme}:" if scheme else "must be an absolute http(s) URL"
        if not host:
            return "must be an absolute http:// or https:// URL with a host"
        if userinfo:
            return "must not carry user information (keep credentials in the vault)"
        problem = self.host_problem(host)
        if problem is not None:
            return f"points at {problem}; agents may not call internal addresses unless {self.setting} allows it"
        return None


def _split(url: str) -> tuple[str, str, str] | None:
    """(scheme, userinfo, host) of an absolute URL, parsed as the runs service's HTTP client (httpx) parses it."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    if not parsed.scheme:
        return None
    return parsed.scheme.lower(), parsed.userinfo.decode(errors="replace"), parsed.host
