"""The authorization matrix covers every method the gateway could serve, and nothing else (fail closed)."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import struct_pb2

from agentorch.gateway.v1 import gateway_service_pb2
from agentorch.registry.v1 import agent_pb2, registry_service_pb2
from agentorch.runs.v1 import runs_service_pb2
from gateway.bootstrap import DESCRIPTOR
from gateway.bootstrap import REEXPOSED as DESCRIPTORS
from gateway.edge import escalations
from gateway.edge.authz_matrix import (
    BLOCKED,
    INVOKE_CREDENTIALS_ROLE,
    INVOKE_MODES,
    MATRIX,
    REEXPOSED,
    Rule,
    markdown_table,
    rule_for,
)
from gateway.edge.proxy import Proxy
from services.common import authz
from services.common.context import Principal
from services.common.principals import KeyRing
from services.registry.domain.agent import TUNING_CONFIG_KEYS

ALL_METHODS = {
    f"/{service.full_name}/{method.name}"
    for service in (*DESCRIPTORS.values(), DESCRIPTOR)
    for method in service.methods
}


def test_every_method_is_either_in_the_matrix_or_explicitly_blocked() -> None:
    missing = sorted(m for m in ALL_METHODS if m not in MATRIX and m not in BLOCKED)
    assert missing == [], f"decide a role for these methods in gateway/edge/authz_matrix.py: {missing}"
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


# --- requests that need more than their method's role ---------------------------------------------------------------


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


AD_HOC_WITH_CREDENTIALS = {
    "schema_version": 1,
    "phases": [{"id": "p", "steps": [{"id": "s", "kind": "agent", "agent": "x", "credentials": ["vendor.key"]}]}],
}


def test_the_escalated_methods_are_create_run_and_create_agent() -> None:
    escalated = {path for path, rule in MATRIX.items() if rule.escalation is not None}
    assert escalated == {
        "/agentorch.runs.v1.RunsService/CreateRun",
        "/agentorch.registry.v1.RegistryService/CreateAgent",
    }
    assert {MATRIX[p].escalation.role for p in escalated if MATRIX[p].escalation} == {"admin"}  # type: ignore[union-attr]


def test_an_ad_hoc_run_naming_credentials_needs_admin() -> None:
    rule = MATRIX["/agentorch.runs.v1.RunsService/CreateRun"]
    operator, admin = Principal("u", "acme", frozenset({"operator"})), Principal("u", "acme", frozenset({"admin"}))
    naming = runs_service_pb2.CreateRunRequest(
        parent="organizations/acme",
        ad_hoc=runs_service_pb2.AdHocDefinition(definition=_struct(AD_HOC_WITH_CREDENTIALS)),
    ).SerializeToString()
    plain = runs_service_pb2.CreateRunRequest(
        parent="organizations/acme",
        ad_hoc=runs_service_pb2.AdHocDefinition(definition=_struct({"phases": [{"id": "p", "steps": [{"id": "s"}]}]})),
    ).SerializeToString()
    saved = runs_service_pb2.CreateRunRequest(
        parent="organizations/acme", orchestration="organizations/acme/agents/a/orchestrations/o"
    ).SerializeToString()
    assert rule.escalated(operator, naming) is not None
    assert rule.escalated(admin, naming) is None
    assert rule.escalated(operator, plain) is None
    assert rule.escalated(operator, saved) is None  # a saved orchestration's credentials were reviewed with it
    assert rule.escalated(operator, b"\xff\xff\xff") is not None  # unreadable: fail closed


def test_creating_an_agent_with_a_destination_needs_admin() -> None:
    rule = MATRIX["/agentorch.registry.v1.RegistryService/CreateAgent"]
    author = Principal("u", "acme", frozenset({"author"}))

    def create(**fields: Any) -> bytes:
        agent = agent_pb2.Agent(organization_slug="acme", slug="a", display_name="A", **fields)
        return bytes(registry_service_pb2.CreateAgentRequest(agent=agent).SerializeToString())

    assert rule.escalated(author, create()) is None
    assert rule.escalated(author, create(config=_struct({"model": "m", "timeout_seconds": 5}))) is None
    assert rule.escalated(author, create(config=_struct({"endpoint": "https://x.example"}))) is not None
    assert rule.escalated(author, create(agent_card=_struct({"name": "a"}))) is not None
    assert rule.escalated(Principal("u", "acme", frozenset({"admin"})), create(agent_card=_struct({"x": 1}))) is None


def test_the_gateway_and_the_registry_agree_on_the_tuning_keys() -> None:
    assert escalations.TUNING_CONFIG_KEYS == TUNING_CONFIG_KEYS


def test_the_documentation_table_names_the_escalations() -> None:
    table = markdown_table()
    assert "admin for an ad hoc definition whose steps name credentials" in table
    assert INVOKE_CREDENTIALS_ROLE == "admin"
