"""The egress policy (SSRF): which agent URLs and addresses are refused, and what the allowlist lets through."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from services.common.netpolicy import EgressPolicy, NetworkAllowlist, category
from services.common.settings import AgentNetworkSettings

DENY = EgressPolicy()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "link-local (cloud metadata)"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private (unique-local)"),
        ("fd00:ec2::254", "private (unique-local)"),  # the AWS IPv6 metadata endpoint
        ("100.64.0.1", "shared (CGNAT)"),
        ("224.0.0.251", "multicast"),
        ("239.1.2.3", "multicast"),
        ("ff02::1", "multicast"),
        ("192.0.2.1", "reserved"),  # documentation range
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:169.254.169.254", "link-local (cloud metadata)"),
        ("2002:a00:1::", "private"),  # 6to4 wrapping 10.0.0.1
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 wrapping 127.0.0.1
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("172.32.0.1", None),
    ],
)
def test_addresses_are_classified(address: str, expected: str | None) -> None:
    assert category(ipaddress.ip_address(address)) == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://127.0.0.1:50063", "points at a loopback address"),  # the vault's port
        ("http://169.254.169.254/latest/meta-data/", "points at a link-local (cloud metadata) address"),
        ("http://[::1]:22", "points at a loopback address"),
        ("file:///etc/passwd", "must use http or https, not file:"),
        ("gopher://127.0.0.1:6379/_INFO", "must use http or https, not gopher:"),
        ("ftp://agents.example.com/", "must use http or https, not ftp:"),
        ("http://localhost:8080/", "points at a localhost name (loopback)"),
        ("http://LOCALHOST./", "points at a localhost name (loopback)"),
        ("http://api.localhost/", "points at a localhost name (loopback)"),
        ("http://2130706433/", "points at a loopback address"),  # 127.0.0.1 in decimal
        ("http://0x7f.0.0.1/", "points at a loopback address"),
        ("http://127.1/", "points at a loopback address"),
        ("http://0/", "points at an unspecified address"),
        ("http://10.0.0.5:5432/", "points at a private address"),
        ("http://[fe80::1%25eth0]/", "points at a link-local address"),
        ("http://[::ffff:10.0.0.1]/", "points at a private address"),
        ("http://100.100.100.200/", "points at a shared (CGNAT) address"),  # Alibaba Cloud metadata
        ("http://user:pass@agents.example.com/", "must not carry user information"),
        ("agents.example.com/v1", "must be an absolute http:// or https:// URL"),
        ("http://", "must be an absolute http:// or https:// URL with a host"),
        ("", "must be an absolute http:// or https:// URL"),
    ],
)
def test_internal_and_non_http_urls_are_refused(url: str, problem: str) -> None:
    found = DENY.url_problem(url) or ""
    assert found.startswith(problem), found


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1",
        "http://agents.example.com:9100/a2a",
        "https://8.8.8.8/",
        "http://[2606:4700:4700::1111]:8080/",
        "http://internal.example.com/",  # a name: checked on its addresses when called
    ],
)
def test_public_urls_pass(url: str) -> None:
    assert DENY.url_problem(url) is None


def test_the_allowlist_permits_networks_and_names() -> None:
    policy = EgressPolicy.from_entries(["127.0.0.0/8", "::1", "10.20.0.0/16", "*.agents.svc.cluster.local"])
    assert policy.url_problem("http://127.0.0.1:9100/") is None
    assert policy.url_problem("http://[::1]:9100/") is None
    assert policy.url_problem("http://localhost:9100/") is None  # both loopback addresses allowed
    assert policy.url_problem("http://[::ffff:127.0.0.1]/") is None
    assert policy.url_problem("http://10.20.3.4/") is None
    assert policy.url_problem("http://10.21.0.1/") is not None
    assert policy.url_problem("http://169.254.169.254/") is not None
    assert policy.allowlist.allows_name("scout.agents.svc.cluster.local")
    assert not policy.allowlist.allows_name("agents.svc.cluster.local")
    only_v4 = EgressPolicy.from_entries(["127.0.0.0/8"])
    assert only_v4.url_problem("http://localhost/") is not None  # localhost may resolve to ::1 too


def test_a_refusal_names_the_setting_that_would_allow_it() -> None:
    policy = EgressPolicy.from_entries([], setting="AGENTORCH_REGISTRY_AGENTS__ALLOWED_NETWORKS")
    problem = policy.url_problem("http://127.0.0.1/") or ""
    assert problem.endswith("unless AGENTORCH_REGISTRY_AGENTS__ALLOWED_NETWORKS allows it")


@pytest.mark.parametrize("entry", ["", "not a host", "http://10.0.0.0/8", "10.0.0.0/33", "*.", "1.2.3.4.5"])
def test_bad_allowlist_entries_are_refused_by_the_settings(entry: str) -> None:
    with pytest.raises(ValueError, match="neither a network"):
        NetworkAllowlist.parse([entry])
    with pytest.raises(ValidationError):
        AgentNetworkSettings(allowed_networks=[entry])


def test_the_allowlist_is_bounded() -> None:
    with pytest.raises(ValueError, match="at most 100"):
        NetworkAllowlist.parse([f"10.0.{i}.0/24" for i in range(101)])
