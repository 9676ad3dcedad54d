"""What the agent protocols share: the agent config, the call context, HTTP with bounded retries, SSE, redaction.

- `AgentConfig` is the registry agent's `config` JSON (docs/agents.md; the schema is `services.common.agent_config`,
  shared with the registry, which validates it when an agent is saved).
- `AgentCall` carries one step's call: request, config, the credential headers (secret; never logged) and a
  `Redactor` that scrubs every resolved secret out of text that leaves the executor.
- `post` sends one JSON POST and hands the 2xx response to a consumer. It retries 429, 5xx and connection errors
  (not timeouts, not other statuses) up to `max_attempts`, with exponential backoff or the server's Retry-After.
  Transport failures become fixed phrases and an error body is quoted only as the `message` of a JSON error
  from a well-formed HTTP answer: what an endpoint sends back (a banner, a page) never reaches the step's
  error, so an endpoint cannot be used to read or probe what answers at an address.
- `new_client` is the pooled client; its connections go only where the egress policy allows (executors.egress).
- `read_limited` and `iter_sse` read bodies, stopping at `max_response_bytes`.
"""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import email.utils
import json
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base

from services.common.agent_config import AgentConfig, InvalidAgentConfig, parse_agent_config
from services.common.logs import get_logger
from services.common.netpolicy import EgressPolicy
from services.runs.app.executor import StepFailed, StepRequest
from services.runs.clients.credentials import ResolvedCredential
from services.runs.executors.egress import DestinationRefused, Resolver, guarded_transport

log = get_logger("agentorch.runs.executors")

T = TypeVar("T")

ERROR_BODY_BYTES = 4096  # how much of an error response is read to explain it
ERROR_DETAIL_CHARS = 300


def parse_config(label: str, raw: Mapping[str, Any]) -> AgentConfig:
    """The agent's config, or a non-retryable StepFailed listing every problem (paths and reasons, no values).

    The registry refuses such configs when they are saved; one saved before it did is caught here."""
    try:
        return parse_agent_config(raw)
    except InvalidAgentConfig as exc:
        problems = "; ".join(
            f"config.{p.path}: {p.message}" if p.path else f"config: {p.message}" for p in exc.problems
        )
        raise StepFailed(f"{label}: invalid agent config: {problems}", retryable=False) from None


# --- secrets --------------------------------------------------------------------------------------------------------


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


# --- the call -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentCall:
    request: StepRequest
    config: AgentConfig
    headers: Mapping[str, str] = field(repr=False)  # credential headers: secret
    redactor: Redactor = field(repr=False, default_factory=Redactor)
    timeout: float = 60.0  # the whole call's budget, seconds
    url: str = ""  # where the call goes (the protocol's endpoint URL), fixed before credentials are resolved

    @property
    def label(self) -> str:
        return f"agent {self.request.agent_slug!r} (step {self.request.step_id!r})"

    def fail(self, what: str, *, retryable: bool) -> StepFailed:
        return StepFailed(f"{self.label}: {self.redactor.text(what)}", retryable=retryable)

    def request_headers(self, accept: str) -> dict[str, str]:
        return {
            **self.config.headers,
            **self.headers,
            "Content-Type": "application/json",
            "Accept": accept,
            "Idempotency-Key": self.request.idempotency_key,
        }


class RetryHere(StepFailed):
    """A retryable failure before any of the answer was read: `post` tries again (after `retry_after`, if set)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=True)
        self.retry_after = retry_after


def new_client(
    max_connections: int = 100, policy: EgressPolicy | None = None, resolver: Resolver | None = None
) -> httpx.AsyncClient:
    """The pooled client for every agent call of a replica. Redirects are not followed (credentials stay put);
    connections go only to addresses `policy` allows (default: public addresses only)."""
    # Keep every connection alive: with fewer, concurrent calls to one agent reconnect on every request.
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(
        transport=guarded_transport(policy or EgressPolicy(), limits, resolver),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "agentorch-runs"},
    )


def destination(url: str) -> str:
    """`host:port` of an agent URL, as the vault's allowed_hosts match it (IPv6 in brackets, port explicit).
    ValueError when `url` is not an absolute http(s) URL (an agent card saved before cards were validated)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError("is not a URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("is not an absolute http:// or https:// URL")
    host = parsed.host.lower().rstrip(".")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def post(
    call: AgentCall,
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    *,
    accept: str,
    consume: Callable[[httpx.Response], Awaitable[T]],
    headers: Mapping[str, str] | None = None,
) -> T:
    """POST `body` as JSON and return `consume(response)` for a 2xx answer, retrying what may be retried."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    config = call.config

    async def once() -> T:
        started = False
        try:
            async with client.stream(
                "POST",
                url,
                content=payload,
                headers={**(headers or {}), **call.request_headers(accept)},
                timeout=httpx.Timeout(call.timeout, connect=min(call.timeout, 10.0)),
            ) as response:
                await check_status(call, response)
                started = True
                return await consume(response)
        except DestinationRefused as exc:
            raise call.fail(str(exc), retryable=False) from None
        except httpx.ConnectTimeout:
            raise RetryHere(
                call.fail(f"cannot connect to the agent at {url} (timed out)", retryable=True).message
            ) from None
        except httpx.TimeoutException:
            raise call.fail(f"no complete answer within {call.timeout:g}s", retryable=True) from None
        except httpx.TransportError as exc:
            # Fixed phrases only: an exception's text can quote what the peer sent (a banner, a bad status line).
            if started:
                raise call.fail("the connection broke while reading the answer", retryable=True) from None
            raise RetryHere(call.fail(_transport_failure(exc, url), retryable=True).message) from None

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryHere) and error.retry_after is not None:
            return error.retry_after
        base = min(config.max_backoff_seconds, config.backoff_seconds * 2.0 ** (state.attempt_number - 1))
        return base * (1 + 0.1 * random.random())  # noqa: S311 - jitter, not cryptography

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "agent call will be retried",
            agent=call.request.agent_slug,
            step=call.request.step_id,
            idempotency_key=call.request.idempotency_key,
            try_number=state.attempt_number,
            wait_seconds=round(state.upcoming_sleep, 3),
            error=call.redactor.text(str(error)),
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(config.max_attempts) | _WaitTooLong(config.max_backoff_seconds),
        wait=wait,
        retry=retry_if_exception_type(RetryHere),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await once()
    except RetryHere as exc:
        tries = retrying.statistics.get("attempt_number", 1)
        if exc.retry_after is not None and exc.retry_after > config.max_backoff_seconds:
            note = f"asked to retry after {exc.retry_after:g}s, more than max_backoff_seconds; not waiting"
        else:
            note = f"gave up after {tries} tr{'y' if tries == 1 else 'ies'}"
        raise StepFailed(f"{exc.message} ({note})", retryable=True) from None
    raise AssertionError("unreachable")  # pragma: no cover


class _WaitTooLong(stop_base):
    """Stop retrying when the server asks for a longer wait than max_backoff_seconds."""

    def __init__(self, limit: float) -> None:
        self._limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(error, RetryHere) and error.retry_after is not None and error.retry_after > self._limit


def _transport_failure(exc: httpx.TransportError, url: str) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach the agent at {url}"
    if isinstance(exc, httpx.ProtocolError):
        return f"no valid HTTP answer from the agent at {url}"
    return f"the connection to the agent at {url} broke"


async def check_status(call: AgentCall, response: httpx.Response) -> None:
    """Raise for a non-2xx answer: RetryHere for 429/5xx, a non-retryable StepFailed for the rest."""
    status = response.status_code
    if 200 <= status < 300:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > call.config.max_response_bytes:
            raise too_large(call)
        return
    detail = await error_detail(call, response)
    if status == 429:
        raise RetryHere(call.fail(f"rate limited (HTTP 429){detail}", retryable=True).message, retry_after(response))
    if status >= 500:
        raise RetryHere(
            call.fail(f"agent error (HTTP {status}){detail}", retryable=True).message, retry_after(response)
        )
    if status in (401, 403):
        raise call.fail(
            f"the agent refused the request (HTTP {status}){detail}; check the step's credentials and the agent's "
            "credential_header / credential_scheme",
            retryable=False,
        )
    if status == 404:
        raise call.fail(f"no such endpoint (HTTP 404 at {response.request.url}){detail}", retryable=False)
    raise call.fail(f"the agent rejected the request (HTTP {status}){detail}", retryable=False)


async def error_detail(call: AgentCall, response: httpx.Response) -> str:
    """A short, redacted explanation from an error answer: the message of a JSON error body (`error.message`,
    `error` or `message`), nothing else. Other bodies (HTML pages, banners, text) are not quoted: the status says
    what happened, and an endpoint's own bytes must not reach the step's error."""
    if not _is_json(response):
        return ""
    try:
        raw = bytearray()
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) > ERROR_BODY_BYTES:
                return ""  # a JSON error message is short; a cut document would not parse anyway
    except httpx.HTTPError:
        return ""
    try:
        document = json.loads(bytes(raw))
    except ValueError:
        return ""
    text = ""
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
        elif isinstance(document.get("message"), str):
            text = document["message"]
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not text:
        return ""
    if len(text) > ERROR_DETAIL_CHARS:
        text = text[:ERROR_DETAIL_CHARS] + "…"
    return f": {call.redactor.text(text)}"


def _is_json(response: httpx.Response) -> bool:
    media = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def too_large(call: AgentCall) -> StepFailed:
    return call.fail(
        f"the answer is larger than max_response_bytes ({call.config.max_response_bytes} bytes); stopped reading",
        retryable=False,
    )


def malformed(call: AgentCall, what: str) -> StepFailed:
    return call.fail(f"malformed response: {what}", retryable=False)


# --- bodies ---------------------------------------------------------------------------------------------------------


async def read_limited(call: AgentCall, response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > call.config.max_response_bytes:
            raise too_large(call)
    return bytes(body)


def parse_json(call: AgentCall, body: bytes | str, what: str = "the body") -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise malformed(call, f"{what} is not JSON") from None


def is_event_stream(response: httpx.Response) -> bool:
    content_type = str(response.headers.get("content-type", ""))
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


@dataclass(frozen=True)
class SSEEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    """Incremental Server-Sent Events decoder (the WHATWG framing: `field: value` lines, a blank line dispatches;
    CRLF, LF or CR line ends; `:` comments). Text is fed as it arrives; events come out when complete."""

    _LINE_END = re.compile(r"\r\n|\r|\n")

    def __init__(self) -> None:
        self._buffer = ""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, text: str) -> list[SSEEvent]:
        self._buffer += text
        events: list[SSEEvent] = []
        position = 0
        while match := self._LINE_END.search(self._buffer, position):
            if match.group() == "\r" and match.end() == len(self._buffer):
                break  # a CR at the end may be the first half of a CRLF: wait for more
            event = self._line(self._buffer[position : match.start()])
            if event is not None:
                events.append(event)
            position = match.end()
        self._buffer = self._buffer[position:]
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: a last event without its blank line is still dispatched (lenient with servers)."""
        events = self.feed("\n") if self._buffer else []
        end = self._line("")
        return [*events, end] if end is not None else events

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            if not self._data:
                self._event = ""
                return None
            event = SSEEvent(data="\n".join(self._data), event=self._event or "message", id=self._id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


async def iter_sse(call: AgentCall, response: httpx.Response) -> AsyncIterator[SSEEvent]:
    """The events of an SSE response, stopping with a non-retryable StepFailed beyond max_response_bytes."""
    decoder = SSEDecoder()
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > call.config.max_response_bytes:
            raise too_large(call)
        for event in decoder.feed(text.decode(chunk)):
            yield event
    for event in decoder.feed(text.decode(b"", final=True)) + decoder.close():
        yield event
