"""`agentorch token`: a principal signed with the data dir's internal key ring, for calling a local platform's
services directly (buf curl, grpcurl), bypassing the gateway as the platform's own processes do.

Only someone who can read DATA_DIR/principal-keys.json can sign one. Every CLI command that manages resources goes
through the gateway instead (cli/gateway_client.py), as the signed-in user.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from cli.devkeys import key_ring
from services.common.context import Principal


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
