"""The authenticated caller of the RPC being served, set by the gateway's edge interceptor."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Literal

from services.common.context import Principal
from services.common.errors import Unauthenticated

Authentication = Literal["jwt", "api_key"]


@dataclass(frozen=True)
class Caller:
    principal: Principal
    authentication: Authentication
    managed: bool = False  # roles and groups from the organization's member record (gateway.auth.membership)


_current: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("agentorch_gateway_caller", default=None)


def current() -> Caller | None:
    return _current.get()


def require() -> Caller:
    caller = _current.get()
    if caller is None:  # only reachable if a handler is wired without the edge interceptor
        raise Unauthenticated("this call needs credentials")
    return caller


def bind(caller: Caller | None) -> contextvars.Token[Caller | None]:
    return _current.set(caller)


def reset(token: contextvars.Token[Caller | None]) -> None:
    _current.reset(token)
