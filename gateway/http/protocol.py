"""uvicorn's h11 protocol with a deadline on the request head: a slow-header (Slowloris) guard.

uvicorn (0.54) has no header-read timeout: `timeout_keep_alive` only covers the idle time between requests and is
cancelled by the first byte of the next one, so a client trickling header bytes holds its connection for as long
as it likes (ASGI middleware cannot help: it runs once the head is complete). Here a timer is armed when a
connection opens and when the first byte of a next request arrives on a kept-alive one, and disarmed when h11 has
parsed a complete request head; if it fires first the connection is closed. Request bodies and responses (SSE
streams) are not bounded by it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadTimeoutProtocol(H11Protocol):
    """Set `head_timeout` (seconds) on a subclass (see `with_head_timeout`); uvicorn builds one per connection."""

    head_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self._between_requests():
            self._arm()  # the first byte of a next request on a kept-alive connection
        super().data_received(data)
        if not self._between_requests():
            self._disarm()  # h11 parsed a complete request head: the request is the app's now

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._between_requests() and not self.transport.is_closing():
            self.transport.close()


def with_head_timeout(seconds: float) -> type[HeadTimeoutProtocol]:
    """A protocol class for `uvicorn.Config(http=...)` whose connections must send a request head within `seconds`."""
    return type("BoundedHeadProtocol", (HeadTimeoutProtocol,), {"head_timeout": seconds})
