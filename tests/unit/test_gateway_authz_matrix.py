"""The authorization matrix covers every method the gateway could serve, and nothing else (fail closed)."""

from __future__ import annotations

import pytest

from agentorch.gateway.v1 import gateway_service_pb2
from gateway.authz_matrix import BLOCKED, INVOKE_MODES, MATRIX, REEXPOSED, Rule, markdown_table, rule_for
from gateway.bootstrap import DESCRIPTOR
from gateway.bootstrap import REEXPOSED as DESCRIPTORS
from gateway.proxy import Proxy
from services.common import authz
from services.common.context import Principal
from services.common.principals import KeyRing

ALL_METHODS = {
    f"/{service.full_name}/{method.name}"
    for service in (*DESCRIPTORS.values(), DESCRIPTOR)
    for method in service.methods
}


def test_every_method_is_either_in_the_matrix_or_explicitly_blocked() -> None:
    missing = sorted(m for m in ALL_METHODS if m not in MATRIX and m not in BLOCKED)
    assert missing == [], f"decide a role for these methods in gateway/authz_matrix.py: {missing}"
    assert set(MATRIX) & set(BLOCKED) == set()


def test_the_matrix_names_only_real_methods() -> None:
    assert set(MATRIX) | set(BLOCKED) <= ALL_METHODS
    assert {d.full_name for d in DESCRIPTORS.values()} == set(REEXPOSED)


def test_resolving_credentials_is_blocked_and_not_proxied() -> None:
    path = "/agentorch.credentials.v1.CredentialsService/ResolveCredential"
    assert path in BLOCKED
    assert rule_for(path) is None
    proxy = Proxy(DESCRIPTORS["credentials"], channel=None, signer=KeyRing({}, "", None), blocked=BLOCKED)  # type: ignore[arg-type]
    assert path not in proxy.paths()
    assert len(proxy.paths()) == len(DESCRIPTORS["credentials"].methods) - 1


def test_an_unknown_method_has_no_rule() -> None:
    assert rule_for("/agentorch.runs.v1.RunsService/DropAllTables") is None


@pytest.mark.parametrize("role", authz.ROLES)
def test_a_role_implies_the_ones_below(role: str) -> None:
    principal = Principal("u", "acme", frozenset({role}))
    rank = authz.ROLES.index(role)
    assert [Rule(r).allows(principal) for r in authz.ROLES] == [i <= rank for i in range(len(authz.ROLES))]


def test_platform_rules_need_a_platform_principal() -> None:
    rule = MATRIX["/agentorch.credentials.v1.CredentialsService/RewrapCredentials"]
    assert rule.platform
    assert rule.role == "admin"
    assert not rule.allows(Principal("u", "acme", frozenset({"admin"})))
    assert not rule.allows(Principal("u", "", frozenset({"approver"})))
    assert rule.allows(Principal("u", "", frozenset({"admin"})))


def test_reads_need_viewer_and_secrets_are_admin_business() -> None:
    for path, rule in MATRIX.items():
        verb = path.rsplit("/", 1)[1]
        admin_reads = ("ListApiKeys", "GetKeyRingStatus", "ListAuditEvents")
        if verb.startswith(("Get", "List", "Watch")) and verb not in admin_reads and not rule.public:
            assert rule.role == "viewer", path
        if "Credential" in verb and not verb.startswith(("Get", "List")):
            assert rule.role == "admin", path
    assert MATRIX["/agentorch.gateway.v1.GatewayService/GetPlatformStatus"].public
    assert MATRIX["/agentorch.gateway.v1.GatewayService/WhoAmI"] == Rule(None, note="any authenticated caller")


def test_every_invoke_mode_has_a_role() -> None:
    modes = {name for name, value in gateway_service_pb2.AgentMode.items() if value}
    assert set(INVOKE_MODES) == modes
    assert set(INVOKE_MODES.values()) <= set(authz.ROLES)


def test_unknown_roles_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        Rule("owner")


def test_the_documentation_table_lists_every_method() -> None:
    table = markdown_table()
    for path in ALL_METHODS:
        assert f"`{path.lstrip('/')}`" in table
