"""The secrets of an agent call: the header values that present a resolved credential, and their scrubbing.

Every spelling of a resolved secret (the value, its base64, the whole header value) is scrubbed out of whatever
leaves the executor: outputs, metadata, errors, log lines and streamed text — where `StreamScrubber` catches a
secret split across pieces.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

from services.runs.clients.credentials import ResolvedCredential


def credential_value(header: str, scheme: str | None, credential: ResolvedCredential) -> str:
    """The header value that presents `credential`.

    `scheme` None picks by type: basic_auth → `Basic <base64(user:password)>`; otherwise `Bearer <value>` in an
    Authorization header and the bare value in any other header. "" sends the bare value; `Basic` base64-encodes.
    """
    value = credential.secret.reveal()
    if scheme is None:
        if credential.type == "basic_auth":
            scheme = "Basic"
        else:
            scheme = "Bearer" if header.lower() in ("authorization", "proxy-authorization") else ""
    if scheme.lower() == "basic":
        return f"{scheme} {base64.b64encode(value.encode()).decode()}"
    return f"{scheme} {value}" if scheme else value


class Redactor:
    """Replaces every known secret (and the header forms built from it) with `[redacted]`."""

    MASK = "[redacted]"

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._needles = sorted({s for s in secrets if s}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for needle in self._needles:
            if needle in value:
                value = value.replace(needle, self.MASK)
        return value

    def stream(self) -> StreamScrubber:
        """A scrubber for text that arrives in pieces (streamed output), where a secret may span pieces."""
        return StreamScrubber(self)

    @property
    def needles(self) -> tuple[str, ...]:
        return tuple(self._needles)

    def scrub(self, value: Any) -> Any:
        if not self._needles:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.scrub(v) for v in value)
        return value


class StreamScrubber:
    """Scrubs a stream of text pieces so that no secret gets through, even one split across pieces.

    Scrubbing each piece alone lets `sk-12` + `34` through. `feed` holds back the end of what it was given — at most
    one character less than the longest secret form, and never the middle of a secret seen whole — and returns the
    rest, scrubbed; `flush` returns what was held back once the stream ends. A secret in the stream is then always
    whole inside one returned piece: one that started before a cut and ended after it would either be complete in
    the buffer (and the cut moved before it) or longer than the longest secret form.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._needles = redactor.needles
        self._hold = max((len(n) for n in self._needles), default=1) - 1
        self._buffer = ""

    def feed(self, piece: str) -> str:
        if not self._needles:
            return piece
        self._buffer += piece
        cut = self._safe_cut(len(self._buffer) - self._hold)
        if cut <= 0:
            return ""
        ready, self._buffer = self._buffer[:cut], self._buffer[cut:]
        return self._redactor.text(ready)

    def flush(self) -> str:
        rest, self._buffer = self._buffer, ""
        return self._redactor.text(rest)

    def _safe_cut(self, cut: int) -> int:
        """Move `cut` left until no whole secret in the buffer straddles it."""
        moved = True
        while moved and cut > 0:
            moved = False
            for needle in self._needles:
                start = self._buffer.find(needle, max(0, cut - len(needle) + 1))
                while 0 <= start < cut:
                    if start + len(needle) > cut:
                        cut, moved = start, True
                        break
                    start = self._buffer.find(needle, start + 1)
        return cut


def secret_forms(credential: ResolvedCredential, header_value: str) -> list[str]:
    """Every spelling of a secret that could show up in text: the value, its base64, the full header value."""
    value = credential.secret.reveal()
    return [value, base64.b64encode(value.encode()).decode(), header_value]
