"""Per-request data (request id, principal), held in contextvars set by the server interceptor."""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass, field

REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID_LENGTH = 128


@dataclass(frozen=True)
class OrganizationPolicy:
    """The organization's governance defaults, carried (signed) with each of its principals."""

    forbid_self_approval: bool = False


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, verified from signed metadata (services.common.principals).

    `organization_slug` empty means a platform principal (a platform service or operator) acting across
    organizations. `roles` holds role names (viewer, author, operator, approver, admin); `groups` the slugs of the
    organization's groups the caller belongs to (human checkpoints are routed to them).
    """

    subject: str
    organization_slug: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    kind: str = "user"
    groups: frozenset[str] = field(default_factory=frozenset)
    policy: OrganizationPolicy = field(default_factory=OrganizationPolicy)
    signed_by: str = ""  # the internal key id that signed the token this principal came from


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    principal: Principal | None = None

    @property
    def actor(self) -> str:
        """Subject recorded as created_by/updated_by; `anonymous` until a principal is forwarded."""
        return self.principal.subject if self.principal else "anonymous"


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("agentorch_request", default=None)


def current() -> RequestContext:
    """The context of the request being served, or a fresh one outside of any request (jobs, CLI)."""
    ctx = _current.get()
    return ctx if ctx is not None else RequestContext(request_id=new_request_id())


def bind(ctx: RequestContext) -> contextvars.Token[RequestContext | None]:
    return _current.set(ctx)


def reset(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex


def sanitize_request_id(value: str | None) -> str:
    """Accept a caller's request id if it is short printable ASCII; otherwise mint one (ids end up in logs)."""
    if value and len(value) <= MAX_REQUEST_ID_LENGTH and value.isascii() and value.isprintable():
        return value
    return new_request_id()
