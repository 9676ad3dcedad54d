"""The gateway's authorization matrix: the minimum role for every method it serves.

The gateway checks the caller's role here before anything is forwarded; the services then check again, on the
resource itself (organization boundary, the resource's own rules such as a checkpoint's role), from the signed
principal the gateway forwards. A method that is not listed here is denied (fail closed): adding an RPC to a
re-exposed service means deciding its role in this file, and a unit test fails until that is done.

Role ranks: viewer < author < operator < approver < admin; a role implies the ones below it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.edge import escalations
from services.common import authz
from services.common.context import Principal

REGISTRY = "agentorch.registry.v1.RegistryService"
RUNS = "agentorch.runs.v1.RunsService"
CREDENTIALS = "agentorch.credentials.v1.CredentialsService"
GATEWAY = "agentorch.gateway.v1.GatewayService"

#: The services the gateway re-exposes, by full name (their every method is in MATRIX or BLOCKED).
REEXPOSED = (REGISTRY, RUNS, CREDENTIALS)


@dataclass(frozen=True)
class Escalation:
    """Requests of a method that need a higher role: `applies(request bytes)` says whether this one does."""

    role: str
    applies: Callable[[bytes], bool]
    what: str  # says which requests, in the refusal and the documentation


@dataclass(frozen=True)
class Rule:
    """Who may call a method.

    `role`: the minimum role, or None for any authenticated caller. `public`: no credentials at all.
    `platform`: only platform principals (no organization) with `role`. `note`: shown in the documentation.
    `escalation`: requests of the method that need a higher role (gateway.edge.escalations), checked on the request.
    """

    role: str | None
    public: bool = False
    platform: bool = False
    note: str = ""
    escalation: Escalation | None = None

    def __post_init__(self) -> None:
        if self.role is not None and self.role not in authz.ROLES:
            raise ValueError(f"unknown role {self.role!r}")
        if self.escalation is not None and self.escalation.role not in authz.ROLES:
            raise ValueError(f"unknown role {self.escalation.role!r}")

    def allows(self, principal: Principal) -> bool:
        if self.platform and not authz.is_platform(principal):
            return False
        return self.role is None or authz.has_role(principal, self.role)

    def escalated(self, principal: Principal, request: Any) -> Escalation | None:
        """The escalation this request triggers and `principal` does not satisfy, if any (relayed methods only:
        their request is the client's bytes)."""
        escalation = self.escalation
        if escalation is None or not isinstance(request, bytes) or authz.has_role(principal, escalation.role):
            return None
        return escalation if escalation.applies(request) else None


PUBLIC = Rule(None, public=True, note="no credentials; reveals no tenant data")
AUTHENTICATED = Rule(None, note="any authenticated caller")
VIEWER = Rule("viewer")
AUTHOR = Rule("author")
OPERATOR = Rule("operator")
APPROVER = Rule("approver")
ADMIN = Rule("admin")
PLATFORM_ADMIN = Rule("admin", platform=True, note="platform principals only; the service checks again")


def _methods(service: str, rules: Mapping[str, Rule]) -> dict[str, Rule]:
    return {f"/{service}/{name}": rule for name, rule in rules.items()}


MATRIX: Mapping[str, Rule] = {
    **_methods(
        REGISTRY,
        {
            "CreateAgent": Rule(
                "author",
                escalation=Escalation(
                    "admin",
                    escalations.create_agent_sets_destination,
                    "an agent with a destination (an agent card, or config beyond the tuning keys)",
                ),
            ),
            "GetAgent": VIEWER,
            "ListAgents": VIEWER,
            "UpdateAgent": Rule("author", note="admin to change the destination; the registry checks"),
            "DeleteAgent": AUTHOR,
            "CreateOrchestration": AUTHOR,
            "GetOrchestration": VIEWER,
            "ListOrchestrations": VIEWER,
            "UpdateOrchestration": AUTHOR,
            "CreateOrchestrationVersion": AUTHOR,
            "ListOrchestrationVersions": VIEWER,
            "GetOrchestrationVersion": VIEWER,
            "DiffOrchestrationVersions": VIEWER,
            "SetOrchestrationStatus": AUTHOR,
            "TagOrchestration": AUTHOR,
            "UntagOrchestration": AUTHOR,
            "PromoteOrchestrationVersion": AUTHOR,
            "DeleteOrchestration": AUTHOR,
            "ValidateOrchestrationDefinition": VIEWER,
            "CreatePlan": AUTHOR,
            "GetPlan": VIEWER,
            "ListPlans": VIEWER,
            "ApprovePlan": APPROVER,
            "RejectPlan": APPROVER,
            "ConvertPlanToOrchestration": VIEWER,
            "SavePlanAsOrchestration": AUTHOR,
        },
    ),
    **_methods(
        RUNS,
        {
            "CreateRun": Rule(
                "operator",
                escalation=Escalation(
                    "admin",
                    escalations.create_run_names_credentials,
                    "an ad hoc definition whose steps name credentials",
                ),
            ),
            "GetRun": VIEWER,
            "ListRuns": VIEWER,
            "ListRunEvents": VIEWER,
            "WatchRun": VIEWER,
            "WatchRuns": VIEWER,
            "CancelRun": OPERATOR,
            "PauseRun": OPERATOR,
            "ResumeRun": OPERATOR,
            "RetryRun": OPERATOR,
            "GetCheckpoint": VIEWER,
            "ListCheckpoints": VIEWER,
            "DecideCheckpoint": Rule("approver", note="a checkpoint may demand more; the runs service checks"),
            "ListCheckpointVotes": VIEWER,  # i14-decisions: decision records with their evidence
            # issue 14, i14-routing: routing work is an operator's; the runs service refuses self-assignment
            "ReassignCheckpoint": Rule("operator", note="only an admin may route a checkpoint to themselves"),
            "ExtendCheckpoint": OPERATOR,
        },
    ),
    **_methods(
        CREDENTIALS,
        {
            "CreateCredential": ADMIN,
            "GetCredential": Rule("viewer", note="metadata only; values are never returned"),
            "ListCredentials": Rule("viewer", note="metadata only"),
            "UpdateCredential": ADMIN,
            "RotateCredentialValue": ADMIN,
            "DeleteCredential": ADMIN,
            "ListAuditEvents": ADMIN,
            "RewrapCredentials": PLATFORM_ADMIN,
            "GetKeyRingStatus": PLATFORM_ADMIN,
        },
    ),
    **_methods(
        GATEWAY,
        {
            "GetPlatformStatus": PUBLIC,
            "WhoAmI": AUTHENTICATED,
            "CreateApiKey": Rule("admin", note="the key's roles never exceed the creator's; not with an API key"),
            "ListApiKeys": ADMIN,
            "RevokeApiKey": ADMIN,
            "Invoke": Rule("viewer", note="minimum; each mode then needs its own role (INVOKE_MODES)"),
            # identity (issue 14): the use cases check the organization (another one's resources are NOT_FOUND)
            "CreateOrganization": Rule(
                "admin", note="platform principals only: checked after the request, so bad input is named first"
            ),
            "GetOrganization": VIEWER,
            "UpdateOrganization": Rule("admin", note="its own organization (or a platform admin)"),
            "ListOrganizations": Rule("viewer", note="platform principals see all; others their own"),
            "CreateMember": ADMIN,
            "GetMember": VIEWER,
            "UpdateMember": ADMIN,
            "DeleteMember": ADMIN,
            "ListMembers": VIEWER,
            "CreateGroup": ADMIN,
            "GetGroup": VIEWER,
            "UpdateGroup": ADMIN,
            "DeleteGroup": ADMIN,
            "ListGroups": VIEWER,
            "AddGroupMember": ADMIN,
            "RemoveGroupMember": ADMIN,
        },
    ),
}

#: Methods of re-exposed services that the gateway does not serve at all (UNIMPLEMENTED), with the reason.
BLOCKED: Mapping[str, str] = {
    f"/{CREDENTIALS}/ResolveCredential": "internal: only the runs service resolves secret values, inside the platform",
}

#: Invoke's modes (agentorch.gateway.v1.AgentMode names) → the role each needs, checked where the mode is routed.
#: The service each mode calls checks again (e.g. deciding a checkpoint needs the checkpoint's role). plan/build
#: launch a one-step run (the agent call happens in the runs service), so they need what CreateRun needs; like an
#: ad hoc CreateRun, naming credentials (plan/build `credentials`, an orchestrate_execute definition's steps)
#: needs INVOKE_CREDENTIALS_ROLE.
INVOKE_MODES: Mapping[str, str] = {
    "AGENT_MODE_PLAN": "operator",
    "AGENT_MODE_BUILD": "operator",
    "AGENT_MODE_ORCHESTRATE_CREATE": "author",
    "AGENT_MODE_ORCHESTRATE_EXECUTE": "operator",
    "AGENT_MODE_ORCHESTRATE_CONTINUE": "operator",
    "AGENT_MODE_ORCHESTRATE_SAVE_RECIPE": "author",
}


INVOKE_CREDENTIALS_ROLE = "admin"


def rule_for(method: str) -> Rule | None:
    """The rule of a full method path (`/package.Service/Method`); None means the method is denied."""
    return MATRIX.get(method)


def markdown_table() -> str:
    """The matrix as a Markdown table (documentation)."""
    rows = ["| method | minimum role | notes |", "| --- | --- | --- |"]
    for method, rule in MATRIX.items():
        role = "none (public)" if rule.public else (rule.role or "any authenticated")
        if rule.platform:
            role += " (platform)"
        if rule.escalation is not None:
            role += f"; {rule.escalation.role} for {rule.escalation.what}"
        rows.append(f"| `{method.lstrip('/')}` | {role} | {rule.note} |")
    for method, reason in BLOCKED.items():
        rows.append(f"| `{method.lstrip('/')}` | not served (UNIMPLEMENTED) | {reason} |")
    return "\n".join(rows)
