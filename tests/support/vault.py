"""Vault settings for tests: a random key ring per test session."""

from __future__ import annotations

import base64
import os

from pydantic import SecretStr

from services.credentials.config import VaultSettings


def random_key() -> SecretStr:
    return SecretStr(base64.b64encode(os.urandom(32)).decode())


def vault_settings(**keys: SecretStr) -> VaultSettings:
    """A key ring with the given keys (default: one random key `k1`); the last one named is active."""
    ring = keys or {"k1": random_key()}
    return VaultSettings(keys=ring, active_key_id=list(ring)[-1])


VAULT = vault_settings()
