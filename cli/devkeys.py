"""The local platform's keys, each generated once into the data dir, owner-only (0600).

The internal principal key ring: every process of `agentorch up` reads it
(AGENTORCH_<SERVICE>_AUTH__PRINCIPAL_KEYS_FILE) to verify the signed principals forwarded between them; the CLI
signs with it when it seeds the demo. The API key pepper: the gateway hashes API keys with it
(AGENTORCH_GATEWAY_API_KEYS__PEPPERS_FILE), so it must outlive restarts like the keys it verifies. Production
supplies both from Kubernetes Secrets instead.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from services.common.principals import KeyRing
from services.common.settings import AuthSettings

KEY_FILE = "principal-keys.json"


def ensure_key_file(data_dir: Path) -> Path:
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        document = {"dev-1": base64.b64encode(secrets.token_bytes(32)).decode()}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
    return path


def key_ring(data_dir: Path) -> KeyRing:
    return KeyRing.from_settings(AuthSettings(principal_keys_file=ensure_key_file(data_dir)))


PEPPER_FILE = "api-key-peppers.json"


def ensure_pepper_file(data_dir: Path) -> Path:
    """The gateway's API key pepper ring, in the shape production mounts: {"active": id, "keys": {id: base64}}."""
    path = data_dir / PEPPER_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        document = {"active": "dev-1", "keys": {"dev-1": base64.b64encode(secrets.token_bytes(32)).decode()}}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
    return path


DEMO_KEY_ENV = "AGENTORCH_DEMO_AGENT_KEY"
DEMO_KEY_FILE = "demo-agent-key"


def ensure_demo_agent_key(data_dir: Path) -> str:
    """The API key the local OpenAI-compatible reference agent demands; the demo stores it in the vault."""
    path = data_dir / DEMO_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"sk-demo-{secrets.token_hex(16)}")
    return path.read_text().strip()
