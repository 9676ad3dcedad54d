"""Envelope encryption: round trips, and every kind of tampering fails authentication."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from services.credentials.config import VaultSettings
from services.credentials.domain.credential import SecretValue
from services.credentials.domain.crypto import Binding, MissingKey, OpenFailed, Sealed, VaultKeyRing
from services.credentials.domain.errors import KeyRingInvalid
from tests.support.vault import random_key

SECRET = b"sk-live-0123456789abcdef"
BINDING = Binding("acme", "openai.api-key", 3)


def ring(**keys: bytes) -> VaultKeyRing:
    keys = keys or {"k1": os.urandom(32)}
    return VaultKeyRing(keys, list(keys)[-1])


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_round_trip_and_fresh_randomness() -> None:
    keys = ring()
    first, second = keys.seal(SECRET, BINDING), keys.seal(SECRET, BINDING)
    assert keys.open(first, BINDING) == SECRET
    assert first.ciphertext != second.ciphertext
    assert first.nonce != second.nonce
    assert first.wrapped_key != second.wrapped_key
    assert SECRET not in first.ciphertext


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: dataclasses.replace(s, ciphertext=flip(s.ciphertext, 0)),
        lambda s: dataclasses.replace(s, ciphertext=flip(s.ciphertext, len(s.ciphertext) - 1)),  # the GCM tag
        lambda s: dataclasses.replace(s, nonce=flip(s.nonce, 5)),
        lambda s: dataclasses.replace(s, wrapped_key=flip(s.wrapped_key, 0)),  # the wrap nonce
        lambda s: dataclasses.replace(s, wrapped_key=flip(s.wrapped_key, 20)),  # the wrapped data key
        lambda s: dataclasses.replace(s, wrapped_key=s.wrapped_key[:-1]),
        lambda s: dataclasses.replace(s, ciphertext=b""),
        lambda s: dataclasses.replace(s, algorithm="AES-128-CBC"),
    ],
    ids=["ciphertext", "tag", "nonce", "wrap-nonce", "wrapped-key", "truncated-wrap", "empty", "algorithm"],
)
def test_tampered_data_fails(tamper: object) -> None:
    keys = ring()
    sealed = keys.seal(SECRET, BINDING)
    with pytest.raises(OpenFailed):
        keys.open(tamper(sealed), BINDING)  # type: ignore[operator]


@pytest.mark.parametrize(
    "other",
    [
        Binding("evil-corp", "openai.api-key", 3),
        Binding("acme", "github.token", 3),
        Binding("acme", "openai.api-key", 2),
    ],
    ids=["other-org", "other-alias", "other-version"],
)
def test_a_row_copied_elsewhere_fails(other: Binding) -> None:
    keys = ring()
    with pytest.raises(OpenFailed):
        keys.open(keys.seal(SECRET, BINDING), other)


def test_relabelling_the_key_id_fails() -> None:
    key = os.urandom(32)
    keys = VaultKeyRing({"k1": key, "k2": key}, "k1")
    sealed = keys.seal(SECRET, BINDING)
    with pytest.raises(OpenFailed):
        keys.open(dataclasses.replace(sealed, key_id="k2"), BINDING)


def test_missing_key_is_named() -> None:
    sealed = ring(k1=os.urandom(32)).seal(SECRET, BINDING)
    with pytest.raises(MissingKey) as caught:
        ring(k2=os.urandom(32)).open(sealed, BINDING)
    assert caught.value.key_id == "k1"


def test_rewrap_moves_only_the_data_key() -> None:
    old, new = os.urandom(32), os.urandom(32)
    sealed = VaultKeyRing({"old": old}, "old").seal(SECRET, BINDING)
    both = VaultKeyRing({"old": old, "new": new}, "new")
    rewrapped = both.rewrap(sealed, BINDING)
    assert (rewrapped.key_id, rewrapped.ciphertext, rewrapped.nonce) == ("new", sealed.ciphertext, sealed.nonce)
    assert rewrapped.wrapped_key != sealed.wrapped_key
    assert VaultKeyRing({"new": new}, "new").open(rewrapped, BINDING) == SECRET
    assert both.rewrap(rewrapped, BINDING) is rewrapped


def test_reprs_never_show_secrets() -> None:
    key = os.urandom(32)
    keys = VaultKeyRing({"k1": key}, "k1")
    sealed = keys.seal(SECRET, BINDING)
    for text in (repr(keys), repr(sealed), str(SecretValue(SECRET.decode())), repr(SecretValue("hunter2"))):
        assert SECRET.decode() not in text
        assert "hunter2" not in text
        assert key.hex() not in text
    assert isinstance(sealed, Sealed)


@pytest.mark.parametrize(
    ("keys", "active", "message"),
    [({}, "", "empty"), ({"k1": b"short"}, "k1", "'k1' must be 32 bytes"), ({"k1": os.urandom(32)}, "k9", "'k9'")],
)
def test_bad_key_rings_are_refused_with_the_key_id(keys: dict[str, bytes], active: str, message: str) -> None:
    with pytest.raises(KeyRingInvalid, match=message):
        VaultKeyRing(keys, active)


def test_settings_without_keys_explain_what_to_set() -> None:
    with pytest.raises(KeyRingInvalid, match="AGENTORCH_CREDENTIALS_VAULT__KEYS"):
        VaultSettings().key_ring()


def test_settings_reject_bad_base64_naming_the_key() -> None:
    with pytest.raises(KeyRingInvalid, match="'broken'"):
        VaultSettings(keys={"broken": "not base64!!"}).key_ring()  # type: ignore[dict-item]


def test_dev_mode_generates_an_owner_only_key_file(tmp_path: Path) -> None:
    path = tmp_path / "vault" / "keys.json"
    settings = VaultSettings(keys_file=path, dev_mode=True)
    first = settings.key_ring()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = settings.key_ring()
    sealed = first.seal(SECRET, BINDING)
    assert second.open(sealed, BINDING) == SECRET
    assert VaultSettings(keys_file=path).key_ring().active_key_id == first.active_key_id


def test_without_dev_mode_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyRingInvalid, match="cannot read the vault key file"):
        VaultSettings(keys_file=tmp_path / "absent.json").key_ring()


def test_env_keys_and_active_id(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.credentials.config import CredentialsSettings

    k1, k2 = random_key(), random_key()
    monkeypatch.setenv(
        "AGENTORCH_CREDENTIALS_VAULT__KEYS", f'{{"k1": "{k1.get_secret_value()}", "k2": "{k2.get_secret_value()}"}}'
    )
    monkeypatch.setenv("AGENTORCH_CREDENTIALS_VAULT__ACTIVE_KEY_ID", "k1")
    keys = CredentialsSettings().vault.key_ring()
    assert (keys.active_key_id, keys.key_ids) == ("k1", ["k1", "k2"])
