"""Invoke: the agent-mode entry point (PRD §6), routed to the registry and the runs service.

Order: an unknown mode is INVALID_ARGUMENT on `mode`; then the mode's role (authz_matrix.INVOKE_MODES) is checked
here, before anything else (PERMISSION_DENIED naming it); then the request is validated as a whole
(gateway.domain.invoke.route) so that a bad one changes nothing; only then are the services called, by
gateway.clients.invoke (which holds everything gRPC about it).
"""

from __future__ import annotations

from gateway.clients.invoke import InvokeBackends, InvokeResult
from gateway.domain import invoke as modes
from gateway.domain.invoke import InvokeCommand
from gateway.edge.authz_matrix import INVOKE_CREDENTIALS_ROLE, INVOKE_MODES
from gateway.edge.escalations import definition_credentials
from services.common import authz
from services.common.context import Principal
from services.common.errors import PermissionDenied

__all__ = ["InvokeResult", "InvokeService", "authorize", "authorize_credentials"]


class InvokeService:
    def __init__(self, backends: InvokeBackends) -> None:
        self._backends = backends

    async def invoke(self, principal: Principal, command: InvokeCommand, time_remaining: float | None) -> InvokeResult:
        """Run one mode for `principal`. Raises InvalidInvoke, PermissionDenied, RecipeUnavailable, or the backend's
        grpc.aio.AioRpcError."""
        if command.mode not in modes.MODES:
            modes.route(command)  # raises: INVALID_ARGUMENT on `mode`
        authorize(principal, command.mode)
        authorize_credentials(principal, command)
        action = modes.route(command)
        result = await self._backends.run(principal, action, time_remaining)
        result.mode = command.mode
        return result


def authorize(principal: Principal, mode: str) -> None:
    role = INVOKE_MODES[mode]
    if not authz.has_role(principal, role):
        raise PermissionDenied(
            f"Invoke mode {modes.short(mode)} needs the {role} role",
            metadata={"required_role": role, "enforced_by": "gateway", "mode": modes.short(mode)},
        )


def authorize_credentials(principal: Principal, command: InvokeCommand) -> None:
    """Naming credentials outside a saved orchestration needs admin, as an ad hoc CreateRun does (the runs service
    checks again)."""
    named = command.credentials if command.mode in (modes.PLAN, modes.BUILD) else ()
    if command.mode == modes.EXECUTE:
        named = definition_credentials(command.definition)
    if named and not authz.has_role(principal, INVOKE_CREDENTIALS_ROLE):
        raise PermissionDenied(
            f"Invoke mode {modes.short(command.mode)} naming credentials ({', '.join(named)}) needs the "
            f"{INVOKE_CREDENTIALS_ROLE} role",
            metadata={
                "required_role": INVOKE_CREDENTIALS_ROLE,
                "enforced_by": "gateway",
                "mode": modes.short(command.mode),
            },
        )
