"""Credentials (vault) settings: environment variables prefixed AGENTORCH_CREDENTIALS_ (nested with `__`)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.common.settings import DatabaseSettings, ServerSettings, ServiceSettings
from services.credentials.domain.crypto import KEY_BYTES, VaultKeyRing
from services.credentials.domain.errors import KeyRingInvalid

DEFAULT_PORT = 50063


class VaultSettings(BaseModel):
    """The vault's key ring and who may resolve values."""

    keys: dict[str, SecretStr] = Field(
        default_factory=dict, description='Key-ring keys as JSON {"key-id": "<base64 of 32 bytes>"}.'
    )
    keys_file: Path | None = Field(
        None,
        description='A JSON file {"active": "key-id", "keys": {"key-id": "<base64>"}} (e.g. a mounted Kubernetes '
        "Secret); merged with `keys`.",
    )
    active_key_id: str = Field("", description="Key id that wraps new data keys; default: the file's `active`.")
    dev_mode: bool = Field(
        False, description="Generate a key file at keys_file (0600) when it does not exist. Never in production."
    )
    resolvers: list[str] = Field(
        default_factory=lambda: ["service:runs"],
        description="Subjects of the service principals allowed to resolve values.",
    )
    resolver_key_ids: list[str] = Field(
        default_factory=list,
        description="If set, a resolver's principal must be signed with one of these internal key ids, so that "
        "a process holding only another key (e.g. the gateway) cannot pose as the runs service.",
    )

    def key_ring(self) -> VaultKeyRing:
        """Load the key ring, or raise KeyRingInvalid with a message saying what to configure."""
        raw = {k: v.get_secret_value() for k, v in self.keys.items()}
        active = self.active_key_id
        if self.keys_file is not None:
            if self.dev_mode and not self.keys_file.exists():
                _generate(self.keys_file)
            try:
                document = json.loads(self.keys_file.read_text())
            except (OSError, ValueError) as exc:
                raise KeyRingInvalid(f"cannot read the vault key file {self.keys_file}: {exc}") from None
            raw.update(document.get("keys", {}))
            active = active or document.get("active", "")
        if not raw:
            raise KeyRingInvalid(
                "the vault key ring is empty: set AGENTORCH_CREDENTIALS_VAULT__KEYS or "
                "AGENTORCH_CREDENTIALS_VAULT__KEYS_FILE (see the README, 'Key ring')"
            )
        keys = {}
        for key_id, encoded in raw.items():
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise KeyRingInvalid(f"vault key {key_id!r} is not valid base64") from None
        return VaultKeyRing(keys, active or sorted(keys)[-1])


def _generate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"active": "dev-1", "keys": {"dev-1": base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle)


class CredentialsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTORCH_CREDENTIALS_", env_nested_delimiter="__", extra="ignore")

    server: ServerSettings = Field(default_factory=lambda: ServerSettings(port=DEFAULT_PORT))
    database: DatabaseSettings = Field(
        default_factory=lambda: DatabaseSettings(url=SecretStr("sqlite+aiosqlite:///.agentorch/credentials.db"))
    )
    vault: VaultSettings = Field(default_factory=VaultSettings)
