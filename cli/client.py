"""How CLI commands reach a local platform: the registry's address and a principal signed with the data dir's key.

Until the gateway authenticates external callers, local commands sign their own principal with the key ring that
`agentorch up` generated (DATA_DIR/principal-keys.json), so they only work for someone who can read that file.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from cli.devkeys import key_ring
from services.common.context import Principal
from services.common.principals import METADATA_KEY

DEFAULT_REGISTRY = "127.0.0.1:50061"


@dataclass(frozen=True)
class Caller:
    data_dir: Path
    organization: str = ""
    roles: frozenset[str] = field(default_factory=lambda: frozenset({"admin"}))
    subject: str = "cli"

    def principal(self) -> Principal:
        kind = "user" if self.organization else "service"
        return Principal(self.subject, self.organization, self.roles, kind=kind)

    def metadata(self) -> tuple[tuple[str, bytes], ...]:
        return key_ring(self.data_dir).metadata(self.principal(), issuer="cli")

    def header_value(self) -> str:
        """The token as text, for `-H "x-agentorch-principal-bin: ..."` in buf curl or grpcurl."""
        ((_, token),) = self.metadata()
        return base64.b64encode(token).decode()


HEADER = METADATA_KEY
