"""The API key peppers from the settings: a JSON file (a mounted Kubernetes Secret) and/or inline JSON.

The gateway refuses to start without one: there is no production flag to tell a laptop from a cluster, and a
built-in fallback pepper would be the one every deployment forgot to replace. `agentorch up` generates one for the
local platform, like its other keys.
"""

from __future__ import annotations

import base64
import binascii
import json

from gateway.config import ApiKeySettings
from gateway.domain.api_keys import PepperRing

SETTING = "AGENTORCH_GATEWAY_API_KEYS__PEPPERS_FILE"


class PepperConfigError(ValueError):
    """The pepper settings are unusable (raised at start-up, naming the setting or the pepper id, never a pepper)."""


def load_peppers(settings: ApiKeySettings) -> PepperRing:
    raw: dict[str, str] = {k: v.get_secret_value() for k, v in settings.peppers.items()}
    active = settings.active_pepper_id
    if settings.peppers_file is not None:
        try:
            document = json.loads(settings.peppers_file.read_text())
        except (OSError, ValueError) as exc:
            raise PepperConfigError(f"cannot read {SETTING} {settings.peppers_file}: {exc}") from None
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
            raise PepperConfigError(
                f'{SETTING} {settings.peppers_file} must hold {{"active": "<id>", "keys": {{"<id>": "<base64>"}}}}'
            )
        raw.update(keys)
        active = active or str(document.get("active") or "")
    if not raw:
        raise PepperConfigError(
            "API keys are stored as HMAC-SHA-256 under a server-side pepper, and none is configured: set "
            f'{SETTING} (a JSON file {{"active": "p1", "keys": {{"p1": "<base64 of 32 random bytes>"}}}}) or '
            "AGENTORCH_GATEWAY_API_KEYS__PEPPERS; `agentorch up` generates one for local use"
        )
    peppers: dict[str, bytes] = {}
    for pepper_id, encoded in raw.items():
        try:
            peppers[pepper_id] = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise PepperConfigError(f"API key pepper {pepper_id!r} is not valid base64") from None
    if not active:
        if len(peppers) > 1:
            raise PepperConfigError(
                "several API key peppers are configured: name the one new hashes use "
                "(the file's `active`, or AGENTORCH_GATEWAY_API_KEYS__ACTIVE_PEPPER_ID)"
            )
        active = next(iter(peppers))
    try:
        return PepperRing(peppers, active)
    except ValueError as exc:
        raise PepperConfigError(f"API key peppers: {exc}") from None
