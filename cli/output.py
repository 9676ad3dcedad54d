"""Console output of `agentorch up`: each child's lines behind its padded name, coloured on a terminal."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import BinaryIO

_COLOURS = ("36", "32", "33", "35", "34", "31")  # cyan, green, yellow, magenta, blue, red


class Console:
    """Writes whole lines, flushed at once, so a piped reader (tests, `tee`) sees them as they happen.

    Output errors (a closed pipe, a vanished terminal) are swallowed: losing the log must not stop the platform.
    """

    def __init__(self, names: Sequence[str], out: BinaryIO | None = None, err: BinaryIO | None = None) -> None:
        self._out = out or sys.stdout.buffer
        self._err = err or sys.stderr.buffer
        colour = self._out.isatty() and "NO_COLOR" not in os.environ
        width = max(len(n) for n in names)
        self._prefixes = {
            name: _paint(f"{name:<{width}} | ", _COLOURS[i % len(_COLOURS)] if colour else None).encode()
            for i, name in enumerate(names)
        }

    def line(self, name: str, data: bytes) -> None:
        """One line a child printed (without its newline)."""
        self._write(self._out, self._prefixes[name] + data.rstrip(b"\r") + b"\n")

    def say(self, text: str) -> None:
        self._write(self._out, text.encode() + b"\n")

    def error(self, text: str) -> None:
        self._write(self._err, f"agentorch up: {text}".encode() + b"\n")

    @staticmethod
    def _write(stream: BinaryIO, data: bytes) -> None:
        try:
            stream.write(data)
            stream.flush()
        except (OSError, ValueError):
            pass


def _paint(text: str, code: str | None) -> str:
    return f"\033[{code}m{text}\033[0m" if code else text
