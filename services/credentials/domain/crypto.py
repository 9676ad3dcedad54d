"""Envelope encryption of credential values (pure computation with the `cryptography` library; no I/O).

Each value version gets a fresh random 256-bit data key. The value is encrypted with AES-256-GCM under the data
key, with a random 96-bit nonce and associated data binding it to (organization, alias, version). The data key is
itself encrypted ("wrapped") with AES-256-GCM under a key-ring key, with associated data binding it to
(organization, alias, version, key id). So a row copied to another organization, alias or version, or relabelled
with another key id, fails authentication; and re-wrapping under a new key-ring key touches only the wrapped data
key, never the value's ciphertext. Destroying the wrapped data key makes every copy of the ciphertext unreadable
(crypto-shredding).

Values are at most 64 KiB, so sealing costs microseconds and runs inline on the event loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.credentials.domain.errors import KeyRingInvalid

ALGORITHM = "AES-256-GCM/A256GCMKW"
KEY_BYTES = 32
NONCE_BYTES = 12


@dataclass(frozen=True)
class Binding:
    """What a ciphertext belongs to; authenticated, never encrypted."""

    organization_slug: str
    alias: str
    version: int

    def value_aad(self) -> bytes:
        return json.dumps(["agentorch-vault-value/1", self.organization_slug, self.alias, self.version]).encode()

    def key_aad(self, key_id: str) -> bytes:
        return json.dumps(["agentorch-vault-dek/1", self.organization_slug, self.alias, self.version, key_id]).encode()


@dataclass(frozen=True)
class Sealed:
    """A stored value version: everything needed to decrypt it given the key ring (and nothing secret)."""

    ciphertext: bytes
    nonce: bytes
    wrapped_key: bytes
    key_id: str
    algorithm: str = ALGORITHM

    def __repr__(self) -> str:
        return (
            f"Sealed(key_id={self.key_id!r}, algorithm={self.algorithm!r}, ciphertext=<{len(self.ciphertext)} bytes>)"
        )


class OpenFailed(Exception):
    """Authentication failed for the value or its wrapped key."""


class MissingKey(Exception):
    def __init__(self, key_id: str) -> None:
        super().__init__(key_id)
        self.key_id = key_id


class VaultKeyRing:
    """Key-encryption keys by id, and the one new data keys are wrapped with."""

    def __init__(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if not keys:
            raise KeyRingInvalid("the vault key ring is empty")
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise KeyRingInvalid(f"vault key {key_id!r} must be {KEY_BYTES} bytes (got {len(key)})")
        if active_key_id not in keys:
            raise KeyRingInvalid(f"active vault key id {active_key_id!r} is not in the key ring")
        self._keys = dict(keys)
        self.active_key_id = active_key_id

    def __repr__(self) -> str:
        return f"VaultKeyRing(active={self.active_key_id!r}, key_ids={sorted(self._keys)!r})"

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    def seal(self, plaintext: bytes, binding: Binding) -> Sealed:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, binding.value_aad())
        return Sealed(ciphertext, nonce, self._wrap(data_key, binding, self.active_key_id), self.active_key_id)

    def open(self, sealed: Sealed, binding: Binding) -> bytes:
        data_key = self._unwrap(sealed, binding)
        try:
            return AESGCM(data_key).decrypt(sealed.nonce, sealed.ciphertext, binding.value_aad())
        except (InvalidTag, ValueError):
            raise OpenFailed from None

    def rewrap(self, sealed: Sealed, binding: Binding) -> Sealed:
        """The same ciphertext with its data key wrapped under the active key (no-op if it already is)."""
        if sealed.key_id == self.active_key_id:
            return sealed
        data_key = self._unwrap(sealed, binding)
        wrapped = self._wrap(data_key, binding, self.active_key_id)
        return Sealed(sealed.ciphertext, sealed.nonce, wrapped, self.active_key_id, sealed.algorithm)

    def _wrap(self, data_key: bytes, binding: Binding, key_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self._keys[key_id]).encrypt(nonce, data_key, binding.key_aad(key_id))

    def _unwrap(self, sealed: Sealed, binding: Binding) -> bytes:
        if sealed.algorithm != ALGORITHM:
            raise OpenFailed
        key = self._keys.get(sealed.key_id)
        if key is None:
            raise MissingKey(sealed.key_id)
        nonce, body = sealed.wrapped_key[:NONCE_BYTES], sealed.wrapped_key[NONCE_BYTES:]
        try:
            data_key = AESGCM(key).decrypt(nonce, body, binding.key_aad(sealed.key_id))
        except (InvalidTag, ValueError):
            raise OpenFailed from None
        if len(data_key) != KEY_BYTES:
            raise OpenFailed
        return data_key
